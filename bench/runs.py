"""One `python -m loadtest` run as an operator would start it, for every bench scenario."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

REPO = Path(__file__).resolve().parents[1]
JOINED = re.compile(r"joined (\d+)/(\d+)")  # the tool's progress line


class BenchError(RuntimeError):
    pass


def run_loadtest(
    urls: list[str],
    args: list[str],
    name: str,
    results: Path,
    on_progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run the tool as an operator would; return its JSON report."""
    json_path, plot_path = results / f"{name}.json", results / f"{name}.png"
    command = [
        sys.executable,
        "-m",
        "loadtest",
        *urls,
        *args,
        "--json",
        str(json_path),
        "--plot",
        str(plot_path),
        "--progress-every",
        "0.5" if on_progress else "5",
    ]
    print(f"\n=== {name}: loadtest {' '.join(args)}", flush=True)
    process = subprocess.Popen(
        command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    stderr_lines: list[str] = []

    def follow_progress() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            stderr_lines.append(line)
            if on_progress is not None:
                on_progress(line)
            elif "joined" in line:
                print("   ", line.rstrip(), flush=True)

    reader = threading.Thread(target=follow_progress, daemon=True)
    reader.start()
    try:
        stdout, _ = process.communicate(timeout=900)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise BenchError(f"{name}: loadtest did not finish in 15 minutes") from None
    reader.join(timeout=5)
    print(stdout, end="", flush=True)
    if process.returncode not in (0, 1):
        raise BenchError(f"{name}: loadtest exited {process.returncode}: {''.join(stderr_lines)}")
    report: dict[str, Any] = orjson.loads(json_path.read_bytes())  # our own JSON object
    return report
