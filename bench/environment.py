"""What the figures were measured on: machine, versions, date, and how busy the host was."""

from __future__ import annotations

import os
import platform
import subprocess
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil

PACKAGES = ("starlette", "uvicorn", "websockets", "uvloop", "orjson", "redis", "hiredis")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _command_output(*command: str) -> str:
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"


def describe(repo: Path) -> dict[str, Any]:
    versions = {}
    for package in PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    redis_version = _command_output("redis-server", "--version").split(" v=")[-1].split(" ")[0]
    commit = _command_output("git", "-C", str(repo), "rev-parse", "--short", "HEAD")
    dirty = _command_output("git", "-C", str(repo), "status", "--porcelain", "--", "service")
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "redis_server": redis_version,
        "packages": versions,
        "commit": (commit or "no commit") + (" (service/ modified)" if dirty else ""),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }
