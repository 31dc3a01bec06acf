"""A benchmark run as an operator starts it (`python -m bench.<module> ...`), at a tiny size,
for the tests that check its result files' shape."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson

from harness.paths import REPO


def run_bench(
    module: str,
    arguments: list[str],
    results: Path,
    timeout: float,
    env: dict[str, str] | None = None,
) -> tuple[dict[str, Any], str]:
    """Run ``python -m bench.<module>`` writing into ``results``; its ``<module>.json`` and
    its stdout. Fails the test, with the run's output, when it does not exit 0."""
    done = subprocess.run(
        [sys.executable, "-m", f"bench.{module}", *arguments, f"--results={results}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return orjson.loads((results / f"{module}.json").read_bytes()), done.stdout
