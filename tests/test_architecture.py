"""Each module imports on its own, and imports only point down the layers."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# What each package may import of ours: the graph ../shared/DESIGN.md draws. The kiosk,
# campus and interventions are peers that never import each other (what one needs of
# another goes through scheduling or core); nothing imports web, the composition root.
# media also reads scheduling (appointment windows for TURN credentials and the test
# call), which its place below scheduling in DESIGN.md's list allows.
GRAPH: dict[str, set[str]] = {
    "core": set(),
    "audit": {"core"},
    "scheduling": {"core", "audit"},
    "kiosk": {"core", "audit", "scheduling"},
    "campus": {"core", "audit", "scheduling"},
    "interventions": {"core", "audit", "scheduling"},
    "signalling": {"core", "audit", "scheduling"},
    "media": {"core", "audit", "scheduling", "signalling"},
    "web": {
        "core",
        "audit",
        "scheduling",
        "kiosk",
        "campus",
        "interventions",
        "signalling",
        "media",
    },
}
LAYERS = list(GRAPH)


def _modules() -> list[str]:
    found = []
    for layer in LAYERS:
        for path in sorted((ROOT / layer).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            rel = path.relative_to(ROOT).with_suffix("")
            parts = list(rel.parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found.append(".".join(parts))
    return found


def _our_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names & set(LAYERS)


def test_the_graph_has_no_cycle_and_the_peers_stay_apart() -> None:
    seen: set[str] = set()
    for layer, allowed in GRAPH.items():
        assert allowed <= seen, f"{layer} may import {sorted(allowed - seen)}, not above it"
        seen.add(layer)
    for peer in ("kiosk", "campus", "interventions"):
        assert not GRAPH[peer] & {"kiosk", "campus", "interventions"}


def test_every_package_is_built_and_type_checked() -> None:
    text = (ROOT / "pyproject.toml").read_text()
    for layer in LAYERS:
        assert f'"{layer}*"' in text, f"{layer} is not in the build"
        assert f'"{layer}",' in text or f'"{layer}"]' in text, f"{layer} is not in mypy"


@pytest.mark.allow_blocking
@pytest.mark.parametrize("layer", LAYERS)
def test_imports_follow_the_graph(layer: str) -> None:
    allowed = GRAPH[layer] | {layer}
    for path in sorted((ROOT / layer).rglob("*.py")):
        bad = _our_imports(path) - allowed
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)} ({layer} may not)"


@pytest.mark.allow_blocking
@pytest.mark.timeout(600)
def test_every_module_imports_on_its_own() -> None:
    """Like aiohttp's test_circular_imports: each module is imported first, with none of ours
    loaded before it (tests/import_each.py: a child per module, forked from an interpreter that
    holds only the standard and third-party modules; a fresh interpreter per module spent most
    of its time importing SQLAlchemy, aiohttp and aiortc again, 270 times)."""
    result = subprocess.run(
        [sys.executable, "-W", "error", "-m", "tests.import_each", *LAYERS],
        input="\n".join(_modules()),
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    failures = result.stdout.splitlines()
    assert (result.returncode, failures) == (0, []), result.stderr[-2000:]
