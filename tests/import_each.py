"""Import each of our modules on its own, for tests/test_architecture.py.

Run as `python -W error -m tests.import_each LAYER...` with module names on stdin, one a
line. This interpreter first imports the standard and third-party modules that our modules
import at their top level, and none of ours; then each module is imported in a child forked
from it, so that it finds none of our modules loaded, as in a fresh interpreter, without
importing SQLAlchemy, aiohttp and aiortc again for each of them. A module that cannot be
imported first (a circular import, a name it takes from a module that is not loaded yet, a
warning, which -W error makes an error) prints `module<TAB>the error's last line`, and
`module<TAB>(exit status N)`; the exit status is the number of those modules, at most 100.
"""

from __future__ import annotations

import ast
import importlib
import os
import sys
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
JOBS = min(4, os.cpu_count() or 2)


def _top_level_imports(path: Path) -> set[str]:
    """Modules imported by statements at the top of the file (not in a function, nor under
    `if TYPE_CHECKING:` or `try:`, which a fresh import may not run)."""
    names: set[str] = set()
    for node in ast.parse(path.read_text("utf-8")).body:
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def preload(layers: list[str]) -> None:
    """Import what ours import that is not ours; one that fails is left for each child to
    fail on in its own import, as it would in a fresh interpreter."""
    wanted: set[str] = set()
    for layer in layers:
        for path in (ROOT / layer).rglob("*.py"):
            wanted |= _top_level_imports(path)
    for name in sorted(wanted):
        if name.split(".")[0] in layers or name == "__future__":
            continue
        try:
            importlib.import_module(name)
        except Exception:  # noqa: S112  (the child that needs it reports it)
            continue
    ours = sorted(m for m in sys.modules if m.split(".")[0] in layers)
    if ours:
        raise SystemExit(f"third-party imports loaded our modules: {ours[:5]}")


def _child(module: str) -> None:
    try:
        importlib.import_module(module)
    except BaseException as exc:
        last = traceback.format_exception_only(type(exc), exc)[-1].strip()
        os.write(1, f"{module}\t{last}\n".encode())
        os._exit(1)
    os._exit(0)


def main() -> int:
    layers = sys.argv[1:]
    modules = [line.strip() for line in sys.stdin if line.strip()]
    preload(layers)
    sys.stdout.flush()
    sys.stderr.flush()
    running: dict[int, str] = {}
    failed = 0

    def reap() -> None:
        nonlocal failed
        pid, status = os.wait()
        module = running.pop(pid)
        if status:
            failed += 1
            os.write(1, f"{module}\t(exit status {status})\n".encode())

    for module in modules:
        if len(running) >= JOBS:
            reap()
        pid = os.fork()
        if pid == 0:
            _child(module)
        running[pid] = module
    while running:
        reap()
    return min(failed, 100)


if __name__ == "__main__":
    sys.exit(main())
