"""Ending a process the harness started: SIGTERM, a grace period, then SIGKILL."""

from __future__ import annotations

import subprocess
from typing import Any

KILL_WAIT_SECONDS = 10


def terminate_then_kill(process: subprocess.Popen[Any] | None, grace: float) -> None:
    """SIGTERM, up to `grace` seconds to exit on its own, then SIGKILL; nothing for a
    process that is not running."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(KILL_WAIT_SECONDS)
