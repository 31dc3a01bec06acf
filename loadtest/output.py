"""The end of every command that produces a report: gates, summary, JSON file, plot."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import orjson

from loadtest.gates import evaluate_gates
from loadtest.plan import Gates
from loadtest.report import format_summary

EXIT_OK, EXIT_GATE_FAILED, EXIT_USAGE, EXIT_RUN_FAILED, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
PLOT_NEEDS = "--plot needs matplotlib: pip install -r requirements-dev.txt (or matplotlib==3.11.2)"


def plot_available() -> bool:
    try:
        import matplotlib  # noqa: F401 - only whether it imports
    except ImportError:
        return False
    return True


def apply_gates(report: dict[str, Any], gates: Gates) -> None:
    report["gates"] = evaluate_gates(gates, report)
    report["passed"] = all(gate["passed"] for gate in report["gates"])


def write_json(report: dict[str, Any], path: Path) -> None:
    # A shard's report is mostly histograms for `merge` to read: compact, a third the size.
    option = 0 if "shard" in report else orjson.OPT_INDENT_2
    path.write_bytes(orjson.dumps(report, option=option) + b"\n")


def publish(report: dict[str, Any], json_path: Path | None, plot_path: Path | None) -> None:
    """Print the summary, then write the files asked for."""
    print(format_summary(report), flush=True)
    if json_path is not None:
        write_json(report, json_path)
    if plot_path is not None:
        if not plot_available():
            print(f"python -m loadtest: {PLOT_NEEDS}; no plot written", file=sys.stderr)
            return
        from loadtest.plot import write_plot

        write_plot(report, plot_path)
