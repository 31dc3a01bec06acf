"""Who may import whom, read from the sources with `ast` (nothing is imported to check).

- `service` is imported only inside service/ and by its tests: the relay meets the stacks,
  the load-test tool, the harness and the benchmarks at its process boundary, never in code.
- `stacks` is imported only inside stacks/, by app.py and by its tests; service/ imports
  none of the other top-level packages (stacks/, tests/, bench/, harness/, loadtest/).
- `tests` is imported only inside tests/: bench/ and harness/ stand on their own.
- harness/ imports neither `tests` nor `bench`.
- contract/ imports only the standard library (and itself), so every side
  can depend on it.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TOP_LEVEL = ("service", "stacks", "tests", "bench", "harness", "loadtest", "contract")
NOT_SOURCES = {".venv", "node_modules", ".git"}


def imported_roots(source: str) -> set[str]:
    """The top-level names a module's absolute imports name, wherever they sit (functions,
    `if TYPE_CHECKING:` blocks included); relative imports stay inside their own package."""
    roots: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def sources() -> dict[Path, set[str]]:
    """Every Python file of the repository (relative path) -> the top-level names it imports."""
    found = {}
    for path in sorted(REPO.rglob("*.py")):
        relative = path.relative_to(REPO)
        if NOT_SOURCES & set(relative.parts):
            continue
        found[relative] = imported_roots(path.read_text())
    return found


def home(path: Path) -> str:
    """The top-level directory a file lives in, or the file's own name at the root."""
    return path.parts[0] if len(path.parts) > 1 else path.name


def importers_of(package: str, allowed: set[str]) -> list[str]:
    return [
        str(path)
        for path, roots in sources().items()
        if package in roots and home(path) not in allowed
    ]


def test_the_scanner_sees_every_kind_of_import() -> None:
    source = (
        "import service.hub\n"
        "from tests.support import figures\n"
        "from . import sibling\n"
        "def late():\n"
        "    import bench.scenarios\n"
        "if TYPE_CHECKING:\n"
        "    from harness.client import ChatClient\n"
    )
    assert imported_roots(source) == {"service", "tests", "bench", "harness"}


def test_the_sources_are_found() -> None:
    homes = {home(path) for path in sources()}
    assert {"service", "stacks", "tests", "bench", "harness", "loadtest", "app.py"} <= homes
    assert not any(NOT_SOURCES & set(path.parts) for path in sources())


def test_only_service_and_its_tests_import_service() -> None:
    assert importers_of("service", {"service", "tests"}) == []


def test_only_stacks_the_cdk_app_and_their_tests_import_stacks() -> None:
    assert importers_of("stacks", {"stacks", "app.py", "tests"}) == []


def test_service_imports_no_other_top_level_package() -> None:
    others = set(TOP_LEVEL) - {"service", "contract"}
    wrong = {
        str(path): sorted(roots & others)
        for path, roots in sources().items()
        if home(path) == "service" and roots & others
    }
    assert wrong == {}


def test_only_tests_import_tests() -> None:
    assert importers_of("tests", {"tests"}) == []


def test_harness_imports_neither_tests_nor_bench() -> None:
    wrong = {
        str(path): sorted(roots & {"tests", "bench"})
        for path, roots in sources().items()
        if home(path) == "harness" and roots & {"tests", "bench"}
    }
    assert wrong == {}


def test_contract_imports_only_the_standard_library() -> None:
    allowed = set(sys.stdlib_module_names) | {"contract", "__future__"}
    wrong = {
        str(path): sorted(roots - allowed)
        for path, roots in sources().items()
        if home(path) == "contract" and roots - allowed
    }
    assert wrong == {}
