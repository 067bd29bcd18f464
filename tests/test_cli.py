"""The `throughcare` command as an administrator uses it, in a fresh folder."""

from __future__ import annotations

import asyncio
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
from typing import Any

import pytest

from tests.smtp import smtp_server

pytestmark = [pytest.mark.allow_blocking, pytest.mark.slow]
BIN = str(Path(sys.executable).parent / "throughcare")
# Tests that run the command many times, each run starting the whole program: minutes on a
# loaded machine.
MANY_RUNS = pytest.mark.timeout(900)


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
    for command in (
        "serve",
        "db",
        "demo",
        "accounts",
        "devices",
        "places",
        "departments",
        "staff",
    ):
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
        "department_staff",
        "department_staff",
        "department_staff",
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
    # Issue 16 item 3: sessions and a booked visit to show.
    assert data["visits"]["sessions"] > 0 and data["visits"]["booked"]["reference"][0] == "V"
    # Issue 17: three programmes, the first prisoner on one with three checks of two scores.
    assert len(data["programmes"]["programmes"]) == 3
    assert data["programmes"]["enrolled"] == data["prisoners"][0]["prison_number"]
    # Issue 17: the campus's two courses, a learner part-way and one with a certificate.
    assert len(data["campus"]["courses"]) == 2
    assert data["campus"]["completed"] == data["prisoners"][1]["prison_number"]
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


def _refused(result: subprocess.CompletedProcess[str], words: str) -> None:
    assert result.returncode == 2, result.stdout
    assert words in result.stderr, result.stderr


@MANY_RUNS
def test_departments_are_kept_from_the_shell(seeded: Path) -> None:
    run(seeded, "demo", "--json")
    made = run(seeded, "departments", "add", "--establishment", "DEMO", "--code", "library")
    assert made.returncode == 2  # --name is required
    made = run(
        seeded,
        "departments",
        "add",
        "--establishment",
        "DEMO",
        "--code",
        "library",
        "--name",
        "Library",
    )
    assert made.returncode == 0, made.stderr
    member = ("--establishment", "DEMO", "--department", "library")
    added = run(seeded, "departments", "add-member", *member, "--username", "officer.demo")
    assert added.returncode == 0, added.stderr
    assert "library: 1 member(s)" in added.stdout

    def listed() -> dict[str, Any]:
        out = run(seeded, "departments", "list", "--establishment", "DEMO", "--json")
        assert out.returncode == 0, out.stderr
        found: dict[str, Any] = json.loads(out.stdout)["departments"]
        return found

    before = listed()
    assert before["library"] == {"name": "Library", "built_in": False, "members": ["officer.demo"]}
    assert before["chaplaincy"]["built_in"] is True
    # Someone who does not serve DEMO: a new officer of the demo's second establishment.
    east = run(
        seeded,
        "accounts",
        "create",
        "--role",
        "officer",
        "--establishment",
        "DEMO-EAST",
        "--username",
        "officer.east",
        "--name",
        "Olu East",
        "--secret-stdin",
        stdin="a long enough password\n",
    )
    assert east.returncode == 0, east.stderr
    for args, words in (
        (("add", "--code", "library", "--name", "Again"), "has a department with this code"),
        (("add", "--code", "Not A Code!", "--name", "X"), "A department code is 2 to 32"),
        (
            ("add-member", *member[2:], "--username", "officer.east"),
            "Members are staff who serve the department's establishment.",
        ),
        (("add-member", *member[2:], "--username", "nobody.here"), "No such account."),
        (("add-member", *member[2:], "--username", "officer.demo"), "is in library already"),
        (
            ("add-member", "--department", "nope", "--username", "officer.demo"),
            "no department with code 'nope'",
        ),
        (("remove-member", *member[2:], "--username", "dr.demo"), "is not in library"),
    ):
        _refused(run(seeded, "departments", args[0], "--establishment", "DEMO", *args[1:]), words)
    _refused(
        run(seeded, "departments", "list", "--establishment", "NOWHERE"),
        "no establishment with code 'NOWHERE'",
    )
    assert listed() == before
    gone = run(seeded, "departments", "remove-member", *member, "--username", "officer.demo")
    assert gone.returncode == 0, gone.stderr
    assert listed()["library"]["members"] == []
    text = run(seeded, "departments", "list", "--establishment", "DEMO")
    assert "library: Library - (no members)" in text.stdout


@MANY_RUNS
def test_staff_serve_several_establishments_from_the_shell(seeded: Path) -> None:
    run(seeded, "demo", "--json")
    made = run(seeded, "establishments", "create", "--code", "HMP-WEST", "--name", "HMP West")
    assert made.returncode == 0, made.stderr

    def shown(username: str) -> dict[str, Any]:
        out = run(seeded, "staff", "show", "--username", username, "--json")
        assert out.returncode == 0, out.stderr
        found: dict[str, Any] = json.loads(out.stdout)
        return found

    assert shown("dr.demo")["serves"] == ["DEMO", "DEMO-EAST"]
    served = run(seeded, "staff", "serve", "--username", "dr.demo", "--establishment", "HMP-WEST")
    assert served.returncode == 0, served.stderr
    assert "dr.demo serves: DEMO DEMO-EAST HMP-WEST" in served.stdout
    assert shown("dr.demo")["serves"] == ["DEMO", "DEMO-EAST", "HMP-WEST"]
    for args, words in (
        (
            ("serve", "--username", "officer.demo", "--establishment", "HMP-WEST"),
            "Only clinicians and keyworkers serve several establishments.",
        ),
        (("serve", "--username", "nobody.here", "--establishment", "HMP-WEST"), "No such account."),
        (
            ("serve", "--username", "dr.demo", "--establishment", "HMP-NOWHERE"),
            "no establishment with code 'HMP-NOWHERE'",
        ),
        (("serve", "--username", "dr.demo", "--establishment", "HMP-WEST"), "serves HMP-WEST"),
        (("unserve", "--username", "dr.demo", "--establishment", "DEMO"), "home establishment"),
    ):
        _refused(run(seeded, "staff", *args), words)
    assert shown("officer.demo")["serves"] == ["DEMO"]
    assert shown("dr.demo")["serves"] == ["DEMO", "DEMO-EAST", "HMP-WEST"]
    back = run(seeded, "staff", "unserve", "--username", "dr.demo", "--establishment", "HMP-WEST")
    assert back.returncode == 0, back.stderr
    assert shown("dr.demo")["serves"] == ["DEMO", "DEMO-EAST"]
    _refused(
        run(seeded, "staff", "unserve", "--username", "dr.demo", "--establishment", "HMP-WEST"),
        "dr.demo does not serve HMP-WEST",
    )
    keyworker = run(
        seeded, "staff", "serve", "--username", "keyworker.demo", "--establishment", "HMP-WEST"
    )
    assert keyworker.returncode == 0, keyworker.stderr


@MANY_RUNS
async def test_staff_email_is_sent_by_smtp_from_the_shell_and_verified_by_its_link(
    seeded: Path,
) -> None:
    await asyncio.to_thread(run, seeded, "demo", "--json")
    port = _free_port()
    async with smtp_server() as inbox:
        env = {
            "THROUGHCARE_SMTP_HOST": "127.0.0.1",
            "THROUGHCARE_SMTP_PORT": str(inbox.port),
            "THROUGHCARE_SMTP_TLS": "NONE",
            "THROUGHCARE_PUBLIC_ORIGINS": f"http://127.0.0.1:{port}",
        }

        async def shell(*args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
            return await asyncio.to_thread(run, seeded, *args, env={**env, **kw})

        async def shown() -> dict[str, Any]:
            out = await shell("staff", "show", "--username", "hca.demo", "--json")
            assert out.returncode == 0, out.stderr
            found: dict[str, Any] = json.loads(out.stdout)
            return found

        assert (await shown())["email"] is None
        sent = await shell("staff", "email", "--username", "hca.demo", "--email", "hca@example.org")
        assert sent.returncode == 0, sent.stderr
        assert "a verification link was sent to hca@example.org" in sent.stdout
        assert [m["To"] for m in inbox.messages] == ["hca@example.org"]
        link = inbox.link_in()
        assert link.startswith(f"http://127.0.0.1:{port}/verify-email#token=tce_")
        pending = await shown()
        assert (pending["email"], pending["email_verified"], pending["email_pending"]) == (
            None,
            False,
            "hca@example.org",
        )
        text = (await shell("staff", "show", "--username", "hca.demo")).stdout
        assert "email: none verified" in text
        assert "waiting for the link sent to hca@example.org to be opened" in text

        # Refused by the server, a bad address, an unknown person, no server: nothing changes.
        inbox.refuse = True
        _refused(
            await shell("staff", "email", "--username", "hca.demo", "--email", "new@example.org"),
            "The mail server refused the message; the address was not changed.",
        )
        inbox.refuse = False
        _refused(
            await shell("staff", "email", "--username", "hca.demo", "--email", "not an address"),
            "An email address looks like name@example.org.",
        )
        _refused(
            await shell("staff", "email", "--username", "nobody.here", "--email", "a@example.org"),
            "No such account.",
        )
        _refused(
            await shell(
                "staff",
                "email",
                "--username",
                "hca.demo",
                "--email",
                "b@example.org",
                THROUGHCARE_SMTP_HOST="",
            ),
            "Email is not set up on this service (THROUGHCARE_SMTP_HOST).",
        )
        assert len(inbox.messages) == 1
        assert await shown() == pending

    # The person opens the link (the verify page posts its token): the address is verified.
    token = link.split("#token=", 1)[1]
    server_env = {k: v for k, v in os.environ.items() if not k.startswith("THROUGHCARE_")}
    server_env.update({**env, "THROUGHCARE_PORT": str(port), "THROUGHCARE_LOG_LEVEL": "WARNING"})
    proc = await asyncio.create_subprocess_exec(
        BIN, "serve", cwd=seeded, env=server_env, stdout=subprocess.DEVNULL
    )
    try:
        opened = await asyncio.to_thread(_post_when_ready, port, "/api/email/verify", token)
        assert opened["email"] == "hca@example.org"
    finally:
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), 20)
    done = await shown()
    assert (done["email"], done["email_verified"], done["email_pending"]) == (
        "hca@example.org",
        True,
        None,
    )
    text = (await asyncio.to_thread(run, seeded, "staff", "show", "--username", "hca.demo")).stdout
    assert "email: hca@example.org (verified)" in text


def _post_when_ready(port: int, path: str, token: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2):
                break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=json.dumps({"token": token}).encode(),
        headers={"Content-Type": "application/json", "Origin": f"http://127.0.0.1:{port}"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (http, loopback)
        found: dict[str, Any] = json.loads(response.read())
        return found


@MANY_RUNS
def test_places_are_renamed_and_removed_from_the_shell_unless_in_use(seeded: Path) -> None:
    run(seeded, "demo", "--json")

    def wings() -> dict[str, list[str]]:
        out = run(seeded, "places", "list", "--establishment", "DEMO", "--json")
        found: dict[str, list[str]] = json.loads(out.stdout)["wings"]
        return found

    est = ("--establishment", "DEMO")
    assert run(seeded, "places", "add-wing", *est, "--wing", "M").returncode == 0
    assert run(seeded, "places", "add-cell", *est, "--wing", "M", "M1-01", "M1-02").returncode == 0
    # A new prisoner placed in M1-02 as their account is made.
    made = run(
        seeded,
        "accounts",
        "create",
        "--role",
        "prisoner",
        *est,
        "--prison-number",
        "M1212MM",
        "--name",
        "Mo Placed",
        "--cell",
        "M1-02",
        "--secret-stdin",
        stdin="2468\n",
    )
    assert made.returncode == 0, made.stderr
    renamed = run(seeded, "places", "rename-cell", *est, "--cell", "M1-01", "--to", "M1-11")
    assert renamed.returncode == 0, renamed.stderr
    assert "cell M1-01 on wing M is now M1-11" in renamed.stdout
    renamed = run(seeded, "places", "rename-wing", *est, "--wing", "M", "--to", "N")
    assert renamed.returncode == 0, renamed.stderr
    before = wings()
    assert before["N"] == ["M1-02", "M1-11"] and "M" not in before
    for args, words in (
        (("remove-cell", "--cell", "M1-02"), "A prisoner is in that cell: move them first."),
        (("remove-cell", "--cell", "A1-01"), "A prisoner is in that cell: move them first."),
        (("remove-wing", "--wing", "N"), "That wing still has cells: remove them first."),
        (("remove-cell", "--cell", "Z9-99"), "No such cell in this establishment."),
        (("rename-cell", "--cell", "M1-11", "--to", "M1-02"), "That cell exists already."),
        (("rename-wing", "--wing", "N", "--to", "A"), "That wing exists already."),
        (("rename-wing", "--wing", "N", "--to", "<b>"), "A wing is up to 32 letters"),
    ):
        _refused(run(seeded, "places", args[0], *est, *args[1:]), words)
    assert wings() == before
    _refused(
        run(
            seeded,
            "accounts",
            "create",
            "--role",
            "prisoner",
            *est,
            "--prison-number",
            "M3434MM",
            "--name",
            "Mo Nowhere",
            "--cell",
            "Z9-99",
            "--secret-stdin",
            stdin="2468\n",
        ),
        "No such cell in this establishment.",
    )
    gone = run(seeded, "places", "remove-cell", *est, "--cell", "M1-11")
    assert gone.returncode == 0, gone.stderr
    assert "cell M1-11 on wing N removed" in gone.stdout
    assert wings()["N"] == ["M1-02"]
    assert run(seeded, "places", "add-wing", *est, "--wing", "P").returncode == 0
    gone = run(seeded, "places", "remove-wing", *est, "--wing", "P")
    assert gone.returncode == 0, gone.stderr
    assert "P" not in wings()


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
