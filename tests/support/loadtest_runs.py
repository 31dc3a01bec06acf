"""Short real runs of `python -m loadtest`, shared by the load-test, AWS and benchmark tests."""

from __future__ import annotations

import subprocess
import sys

from harness.paths import REPO

SHORT = ["--duration=3s", "--warm-up=1s", "--ramp-up=1s", "--drain=2s", "--progress-every=1s"]


def run_loadtest(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "loadtest", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
