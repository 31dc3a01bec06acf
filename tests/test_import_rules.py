"""Who may import whom, read from the sources with `ast` (nothing is imported to check).

- `service` is imported only inside service/ and by its tests: the relay meets the stacks,
  the load-test tool, the harness and the benchmarks at its process boundary, never in code.
- `stacks` is imported only inside stacks/, by app.py and by its tests; service/ imports
  none of the other top-level packages (stacks/, tests/, bench/, harness/, loadtest/).
- `tests` is imported only inside tests/: bench/ and harness/ stand on their own.
- harness/ imports neither `tests` nor `bench`.
- contract/ imports only the standard library (and itself), so every side
  can depend on it.
- No import circle anywhere: the modules of every package, joined by their imports, form no
  strongly connected component of more than one module (Tarjan's algorithm).
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Mapping
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


# The one tool that must run the relay in-process: the benchmarks' variant of
# `python -m service`, with another uvicorn WebSocket implementation or tracemalloc on.
RELAY_VARIANT = "bench/relay_variant.py"


def test_only_service_and_its_tests_import_service() -> None:
    assert importers_of("service", {"service", "tests"}) == [RELAY_VARIANT]


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


def module_name(path: Path) -> str:
    """loadtest/aws/command.py -> loadtest.aws.command; a package's __init__.py -> its name."""
    parts = path.with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(name: str, source: str, known: set[str], is_package: bool) -> set[str]:
    """The project modules a module imports: every import statement wherever it sits.

    Deliberately included: imports inside functions (a lazy import is a dependency all the
    same: the circle loadtest.cli <-> loadtest.aws.command ran through one) and imports under
    `if TYPE_CHECKING:` (an annotation-only circle still ties two modules together for a
    reader and for mypy). Deliberately left out: the parent packages Python runs on the way
    (`import a.b.c` runs a/__init__.py and a/b/__init__.py), or every package whose
    __init__.py imports its own modules would count as a circle. `from a.b import c` names
    the module a.b.c when there is one, else a.b; a module importing itself is no circle.
    """
    package = name if is_package else name.rpartition(".")[0]

    def nearest_known(target: str) -> str:
        while target and target not in known:
            target = target.rpartition(".")[0]
        return target

    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(nearest_known(alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                found.add(submodule if submodule in known else nearest_known(base))
    return found - {"", name}


def import_graph(files: Mapping[Path, str]) -> dict[str, set[str]]:
    """Module -> the project modules it imports, for relative paths and their sources."""
    known = {module_name(path) for path in files}
    return {
        module_name(path): imported_modules(
            module_name(path), source, known, path.name == "__init__.py"
        )
        for path, source in files.items()
    }


def circles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components with more than one module, each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for target in sorted(graph.get(module, ())):
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in on_stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)  # depth is bounded by the number of modules (a few hundred)
    return sorted(found)


def project_files() -> dict[Path, str]:
    return {path: (REPO / path).read_text() for path in sources()}


def test_the_circle_finder_sees_a_circle_through_a_lazy_import() -> None:
    # The shape of the circle issue 23 broke: cli imported the aws command inside main(),
    # and the aws command imported cli's parser at its top.
    files = {
        Path("loadtest/__init__.py"): "",
        Path("loadtest/cli.py"): (
            "def main():\n    from loadtest.aws.command import aws_main\n    return aws_main()\n"
        ),
        Path("loadtest/aws/__init__.py"): "",
        Path("loadtest/aws/command.py"): "from loadtest.cli import build_parser\n",
        Path("loadtest/aws/task.py"): "from ..cli import run_main\nfrom . import command\n",
    }
    assert circles(import_graph(files)) == [["loadtest.aws.command", "loadtest.cli"]]
    files[Path("loadtest/cli.py")] = "import argparse\n"
    assert circles(import_graph(files)) == []
    # An import for annotations only still ties the two modules: counted on purpose.
    files[Path("loadtest/cli.py")] = (
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .aws import command\n"
    )
    assert circles(import_graph(files)) == [["loadtest.aws.command", "loadtest.cli"]]


def test_relative_and_from_imports_name_the_module_they_load() -> None:
    known = {"pkg", "pkg.sub", "pkg.sub.leaf", "pkg.other"}
    source = (
        "from .sub import leaf\nfrom . import other, sub\nfrom pkg.sub import NAME\n"
        "import os, pkg.sub.leaf.attr\n"
    )
    assert imported_modules("pkg.mod", source, known, is_package=False) == {
        "pkg.sub.leaf",
        "pkg.other",
        "pkg.sub",
    }
    assert imported_modules("pkg.sub", "from . import leaf\n", known, is_package=True) == {
        "pkg.sub.leaf"
    }


def test_no_import_circle_anywhere() -> None:
    graph = import_graph(project_files())
    assert {"loadtest.cli", "loadtest.aws.command", "service.app"} <= set(graph)
    assert circles(graph) == []
