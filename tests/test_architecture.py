"""Each module imports on its own, and imports only point down the layers."""

from __future__ import annotations

import ast
import concurrent.futures
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ["core", "audit", "scheduling", "signalling", "media", "web"]


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


@pytest.mark.allow_blocking
@pytest.mark.parametrize("layer", LAYERS)
def test_imports_only_point_down(layer: str) -> None:
    allowed = set(LAYERS[: LAYERS.index(layer) + 1])
    for path in sorted((ROOT / layer).rglob("*.py")):
        bad = _our_imports(path) - allowed
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)} (above {layer})"


@pytest.mark.allow_blocking
@pytest.mark.timeout(600)
def test_every_module_imports_on_its_own() -> None:
    """Like aiohttp's test_circular_imports: a fresh interpreter per module."""

    def check(module: str) -> tuple[str, str] | None:
        result = subprocess.run(
            [sys.executable, "-W", "error", "-c", f"import {module}"],
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        if result.returncode:
            return module, (result.stderr.strip().splitlines() or ["?"])[-1]
        return None

    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        failures = [f for f in pool.map(check, _modules()) if f is not None]
    assert failures == []
