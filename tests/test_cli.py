"""The `throughcare` command as an administrator uses it, in a fresh folder."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = [pytest.mark.allow_blocking, pytest.mark.slow]
BIN = str(Path(sys.executable).parent / "throughcare")


def run(
    cwd: Path,
    *args: str,
    stdin: str = "",
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("THROUGHCARE_")}
    full_env["THROUGHCARE_LOG_LEVEL"] = "WARNING"
    full_env.update(env or {})
    return subprocess.run(
        [BIN, *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        env=full_env,
        timeout=60,
    )


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("fresh")
    assert run(home, "db", "upgrade").returncode == 0
    return home


def test_help_explains_every_command(tmp_path: Path) -> None:
    top = run(tmp_path, "--help")
    assert top.returncode == 0
    for command in ("serve", "db", "demo", "accounts", "devices", "places"):
        assert command in top.stdout
    assert "THROUGHCARE_DATABASE_URL" in top.stdout
    for args in (
        ["serve"],
        ["db", "upgrade"],
        ["demo"],
        ["accounts", "create"],
        ["devices", "enrol"],
        ["places", "add-cell"],
    ):
        result = run(tmp_path, *args, "--help")
        assert result.returncode == 0, args
        assert "usage: throughcare" in result.stdout


def test_demo_seeds_once_and_prints_the_same_sign_ins(seeded: Path) -> None:
    first = run(seeded, "demo", "--json")
    assert first.returncode == 0, first.stderr
    data = json.loads(first.stdout)
    roles = sorted(p["role"] for p in data["staff"])
    assert roles == [
        "admin",
        "clinician",
        "governor",
        "healthcare_admin",
        "interpreter",
        "keyworker",
        "manager",
        "officer",
    ]
    assert len(data["prisoners"]) == 3
    assert [p["incentive_level"] for p in data["prisoners"]] == ["enhanced", "standard", "basic"]
    # Issue 13: departments, a keyworker with a caseload, staff serving two establishments.
    assert "wing-office" in data["access"]["departments"]
    assert sorted(data["access"]["caseload"]) == sorted(
        p["prison_number"] for p in data["prisoners"]
    )
    assert data["access"]["second_establishment"]["code"] == "DEMO-EAST"
    assert all(p["device_credential"].startswith("tcd_") for p in data["prisoners"])
    again = run(seeded, "demo", "--json")
    assert json.loads(again.stdout) == data
    text = run(seeded, "demo")
    assert "dr.demo" in text.stdout and "A1234BC" in text.stdout


def test_keys_are_generated_owner_only(seeded: Path) -> None:
    run(seeded, "demo", "--json")
    keys = seeded / "var" / "keys"
    assert stat.S_IMODE(keys.stat().st_mode) == 0o700
    files = list(keys.iterdir())
    assert files
    for key in files:
        assert stat.S_IMODE(key.stat().st_mode) == 0o600, key.name


def test_accounts_create_and_devices_enrol(seeded: Path) -> None:
    run(seeded, "demo", "--json")
    made = run(
        seeded,
        "accounts",
        "create",
        "--role",
        "clinician",
        "--establishment",
        "DEMO",
        "--username",
        "nurse.new",
        "--name",
        "Nia Nurse",
        "--secret-stdin",
        "--json",
        stdin="a long enough password\n",
    )
    assert made.returncode == 0, made.stderr
    assert len(json.loads(made.stdout)["totp_secret"]) >= 16
    dup = run(
        seeded,
        "accounts",
        "create",
        "--role",
        "clinician",
        "--establishment",
        "DEMO",
        "--username",
        "nurse.new",
        "--name",
        "Nia Nurse",
        "--secret-stdin",
        stdin="a long enough password\n",
    )
    assert dup.returncode == 2
    assert "username is taken" in dup.stderr
    prisoner = run(
        seeded,
        "accounts",
        "create",
        "--role",
        "prisoner",
        "--establishment",
        "DEMO",
        "--prison-number",
        "Z9876YX",
        "--name",
        "Pat Person",
        "--secret-stdin",
        stdin="4321\n",
    )
    assert prisoner.returncode == 0, prisoner.stderr
    enrol = run(seeded, "devices", "enrol", "--establishment", "DEMO", "--cell", "A1-03", "--json")
    assert enrol.returncode == 0, enrol.stderr
    code = json.loads(enrol.stdout)["enrolment_code"]
    assert len(code) == 14 and code.count("-") == 2


def test_places_are_kept_from_the_shell_and_enrolment_needs_a_listed_cell(seeded: Path) -> None:
    run(seeded, "demo", "--json")
    assert (
        run(seeded, "places", "add-wing", "--establishment", "DEMO", "--wing", "H").returncode == 0
    )
    added = run(
        seeded, "places", "add-cell", "--establishment", "DEMO", "--wing", "H", "H1-01", "H1-02"
    )
    assert added.returncode == 0, added.stderr
    assert "cell H1-02 on wing H" in added.stdout
    listed = run(seeded, "places", "list", "--establishment", "DEMO", "--json")
    wings = json.loads(listed.stdout)["wings"]
    assert wings["H"] == ["H1-01", "H1-02"] and "A1-01" in wings["A"]
    # A wing the establishment does not have, a cell twice, and enrolling to an unlisted cell.
    for args, words in (
        (("add-cell", "--wing", "Q", "Q1-01"), "No such wing in this establishment."),
        (("add-cell", "--wing", "H", "H1-01"), "That cell exists already."),
        (("add-wing", "--wing", "H"), "That wing exists already."),
    ):
        refused = run(seeded, "places", args[0], "--establishment", "DEMO", *args[1:])
        assert refused.returncode == 2 and words in refused.stderr, refused.stderr
    enrol = run(seeded, "devices", "enrol", "--establishment", "DEMO", "--cell", "H9-99")
    assert enrol.returncode == 2
    assert "No such cell in this establishment." in enrol.stderr
    assert json.loads(run(seeded, "places", "list", "--establishment", "DEMO", "--json").stdout)[
        "wings"
    ]["H"] == ["H1-01", "H1-02"]
    born = run(
        seeded,
        "accounts",
        "create",
        "--role",
        "prisoner",
        "--establishment",
        "DEMO",
        "--prison-number",
        "Y8765XW",
        "--name",
        "Bo Born",
        "--date-of-birth",
        "31/01/1990",
        "--secret-stdin",
        stdin="4321\n",
    )
    assert born.returncode == 2
    assert "A date of birth is a past date written YYYY-MM-DD." in born.stderr
    born = run(
        seeded,
        "accounts",
        "create",
        "--role",
        "prisoner",
        "--establishment",
        "DEMO",
        "--prison-number",
        "Y8765XW",
        "--name",
        "Bo Born",
        "--date-of-birth",
        "1990-01-31",
        "--secret-stdin",
        stdin="4321\n",
    )
    assert born.returncode == 0, born.stderr


def test_bad_configuration_stops_with_one_line_naming_the_variable(tmp_path: Path) -> None:
    result = run(tmp_path, "demo", env={"THROUGHCARE_PORT": "eighty"})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "THROUGHCARE_PORT" in lines[0]


def test_a_key_file_others_can_read_stops_start_up(tmp_path: Path) -> None:
    assert run(tmp_path, "db", "upgrade").returncode == 0
    assert run(tmp_path, "demo").returncode == 0
    key = tmp_path / "var" / "keys" / "field.key"
    key.chmod(0o644)
    result = run(tmp_path, "demo")
    assert result.returncode == 2
    assert "field.key" in result.stderr and "chmod 600" in result.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_starts_reports_ready_and_stops_on_sigterm(seeded: Path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("THROUGHCARE_")}
    env.update({"THROUGHCARE_PORT": str(port), "THROUGHCARE_LOG_LEVEL": "WARNING"})
    proc = subprocess.Popen(
        [BIN, "serve"],
        cwd=seeded,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
                    assert json.loads(r.read())["status"] == "ready"
                    break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
        assert proc.returncode == 0, err
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def test_serve_refuses_an_unmigrated_database(tmp_path: Path) -> None:
    result = run(tmp_path, "serve", "--port", str(_free_port()))
    assert result.returncode == 2
    assert "throughcare db upgrade" in result.stderr


def test_the_community_endpoint_is_kept_from_the_shell(seeded: Path) -> None:
    run(seeded, "demo", "--json")
    where = ("establishments", "community-endpoint", "--establishment", "DEMO")
    assert "(none" in run(seeded, *where).stdout
    set_ = run(seeded, *where, "--url", "https://community.invalid/fhir")
    assert set_.returncode == 0, set_.stderr
    assert run(seeded, *where).stdout.strip() == "https://community.invalid/fhir"
    refused = run(seeded, *where, "--url", "ftp://community.invalid/")
    assert refused.returncode == 2 and "The endpoint is an http or https URL." in refused.stderr
    assert run(seeded, *where).stdout.strip() == "https://community.invalid/fhir"
    assert "(none" in run(seeded, *where, "--clear").stdout
