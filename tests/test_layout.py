"""The layout's rules. tests/ mirrors the source tree: `tests/<package>/` for every Python
package at the top of the repository, and every sub-folder of tests there names a
sub-package of its source. And no module (the packages', app.py, web/'s scripts) is much
over 300 lines."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NOT_SOURCES = {".venv", "node_modules", "tests", "cdk.out"}


def source_packages() -> list[Path]:
    """Top-level folders with an __init__.py (the relay, the stacks, the tools, ...)."""
    return sorted(
        path.parent.relative_to(REPO)
        for path in REPO.glob("*/__init__.py")
        if path.parent.name not in NOT_SOURCES
    )


def unmirrored(tests: Path, repo: Path, sources: list[Path]) -> list[str]:
    """Folders under tests/<package>/ that name no folder of the sources (relative to tests/)."""
    wrong = []
    for package in sources:
        for folder in sorted(p for p in (tests / package).rglob("*") if p.is_dir()):
            relative = folder.relative_to(tests)
            if {"__pycache__", "__snapshots__"} & set(relative.parts):
                continue
            if not (repo / relative).is_dir():
                wrong.append(str(relative))
    return wrong


def test_every_package_has_its_test_folder() -> None:
    packages = source_packages()
    assert {"service", "stacks", "contract", "loadtest", "harness", "bench"} <= {
        str(p) for p in packages
    }
    assert [str(p) for p in packages if not (REPO / "tests" / p).is_dir()] == []


def test_test_sub_folders_name_source_sub_packages() -> None:
    assert unmirrored(REPO / "tests", REPO, source_packages()) == []


def test_a_folder_without_a_source_is_found(tmp_path: Path) -> None:
    tests = tmp_path / "tests"
    (tests / "loadtest" / "aws").mkdir(parents=True)
    (tests / "loadtest" / "nowhere").mkdir()
    assert unmirrored(tests, REPO, [Path("loadtest")]) == ["loadtest/nowhere"]


# "Small modules with one job each" (docs/architecture.md): about 300 lines at most, with a
# little room so a module that grows a line is not a failure; past it, split by its seams.
MAX_MODULE_LINES = 320


def oversized(files: list[Path], limit: int = MAX_MODULE_LINES) -> list[str]:
    """The files longer than ``limit`` lines, each with its count."""
    counted = ((path, len(path.read_text().splitlines())) for path in files)
    return [f"{path.relative_to(REPO)}: {lines}" for path, lines in counted if lines > limit]


def test_no_module_is_over_about_300_lines() -> None:
    modules = [path for package in source_packages() for path in (REPO / package).rglob("*.py")]
    modules += [REPO / "app.py", *sorted((REPO / "web").glob("*.js"))]
    assert len(modules) > 100
    assert oversized(modules) == []


def test_an_oversized_module_is_named(tmp_path: Path) -> None:
    long = REPO / "tests" / "test_layout.py"  # any file of the repository, with a low limit
    assert oversized([long], limit=10) == [
        f"tests/test_layout.py: {len(long.read_text().splitlines())}"
    ]
