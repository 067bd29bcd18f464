"""The page's upstream budget (web/static/js/upstream.js, issue 18), run under Node.

Whatever links a page has, the caps it puts on their senders add up to at most 1,500 kbit/s;
the device's worst case (the health worker, two third parties and the recorder) keeps video
on every link, the health worker's the largest, the third parties' at half the resolution.
The browser test (tests/browser/test_four_people.py) checks the caps are on the senders and
measures what goes out.
"""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

UPSTREAM = Path(__file__).resolve().parents[2] / "web" / "static" / "js" / "upstream.js"
KINDS = ("main", "recorder", "party", "third", "participant")

SCRIPT = """
const m = await import(process.argv[1]);
const cases = JSON.parse(process.argv[2]);
const out = cases.map((kinds) => m.allocate(kinds));
process.stdout.write(JSON.stringify({ out, budget: m.UPSTREAM_KBPS - m.HEADROOM_KBPS }));
"""


def allocate(cases: list[list[str]]) -> tuple[list[list[dict[str, Any]]], int]:
    node = shutil.which("node")
    if node is None:
        pytest.fail("Node is missing: scripts/install --test installs it (npm for axe-core)")
    done = subprocess.run(
        [
            node,
            "--no-warnings",
            "--input-type=module",
            "-e",
            SCRIPT,
            UPSTREAM.as_uri(),
            json.dumps(cases),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    found = json.loads(done.stdout)
    return found["out"], found["budget"]


def total(caps: list[dict[str, Any]]) -> int:
    return sum(c["audioKbps"] + (c["videoKbps"] if c["video"] else 0) for c in caps)


def test_no_set_of_links_gets_more_than_the_budget() -> None:
    cases = [
        list(kinds)
        for n in range(1, 7)
        for kinds in itertools.combinations_with_replacement(KINDS, n)
    ] + [["third"] * 40]
    found, budget = allocate(cases)
    assert 1000 <= budget <= 1500  # the caps leave room for headers and retransmissions
    for kinds, caps in zip(cases, found, strict=True):
        assert len(caps) == len(kinds)
        assert total(caps) <= budget, (kinds, caps)
        assert all(c["audioKbps"] > 0 for c in caps), (kinds, caps)
        # A video link always has a real cap, never "unlimited".
        assert all(c["videoKbps"] > 0 for c in caps if c["video"]), (kinds, caps)


def test_the_devices_worst_case_keeps_video_and_gives_the_health_worker_the_most() -> None:
    [alone, three, worst, many], _ = allocate(
        [
            ["main"],
            ["main", "third", "third"],
            ["main", "third", "third", "recorder"],
            ["main", *["third"] * 7, "recorder"],
        ]
    )
    assert alone[0]["video"] and alone[0]["videoKbps"] == 700
    main, interpreter, chaperone, recorder = worst
    assert all(c["video"] for c in worst)
    assert main["videoKbps"] > recorder["videoKbps"] > interpreter["videoKbps"]
    assert interpreter == chaperone and interpreter["scaleDown"] == 2
    assert main["scaleDown"] == recorder["scaleDown"] == 1
    assert three[0]["videoKbps"] >= main["videoKbps"]  # the recorder's share comes from the rest
    # More third parties than a room allows: some go to sound only, the others keep a picture.
    thirds = many[1:-1]
    assert not all(c["video"] for c in thirds) and any(c["video"] for c in thirds)
    assert many[0]["video"] and many[-1]["video"]
