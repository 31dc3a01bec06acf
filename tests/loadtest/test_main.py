"""`python -m loadtest` hands each subcommand its own arguments (loadtest/__main__.py)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from harness.paths import REPO
from loadtest.__main__ import main


@pytest.mark.parametrize(
    ("argv", "prog", "message"),
    [
        (["merge"], "python -m loadtest merge", "the following arguments are required: FILE"),
        (["aws", "--shards=2"], "python -m loadtest aws", "required: --stage"),
        (["--clients=3"], "python -m loadtest", "the following arguments are required: URL"),
    ],
)
def test_each_subcommand_gets_its_arguments(
    argv: list[str], prog: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"{prog}: "), err
    assert message in err


def test_the_package_runs_as_a_module() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "loadtest", "merge", "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: python -m loadtest merge")
