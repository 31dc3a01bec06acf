"""contract/ imports the standard library only, so every side can import it for free."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CONTRACT = REPO / "contract"


def _imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_every_module_imports_only_the_standard_library_and_itself() -> None:
    modules = sorted(CONTRACT.rglob("*.py"))
    names = {str(p.relative_to(CONTRACT)) for p in modules}
    assert names >= {"__init__.py", "settings/__init__.py", "settings/kinds.py", "metrics.py"}
    for path in modules:
        foreign = _imported_roots(path) - set(sys.stdlib_module_names) - {"contract"}
        assert not foreign, f"{path.relative_to(CONTRACT)} imports {sorted(foreign)}"


def test_importing_it_loads_nothing_outside_the_standard_library() -> None:
    # In a fresh interpreter, so a test that imported service/ earlier cannot hide anything.
    probe = (
        "import sys\n"
        f"sys.path.insert(0, {str(REPO)!r})\n"
        "before = set(sys.modules)\n"
        "import contract, contract.metrics, contract.protocol, contract.settings\n"
        "roots = {m.split('.')[0] for m in set(sys.modules) - before}\n"
        "print(' '.join(sorted(roots - set(sys.stdlib_module_names) - {'contract'})))\n"
    )
    result = subprocess.run(
        [sys.executable, "-I", "-c", probe], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""
