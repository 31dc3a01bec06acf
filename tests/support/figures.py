"""Figures that fault tests and benchmarks print, also kept for the docs to quote."""

from __future__ import annotations

import json
from pathlib import Path

from harness.paths import REPO

FIGURES = REPO / "test-artifacts" / "faults.jsonl"


def report(case: str, **figures: object) -> None:
    print(f"\n[{case}] " + "  ".join(f"{k}={v}" for k, v in figures.items()))
    FIGURES.parent.mkdir(exist_ok=True)
    with Path(FIGURES).open("a") as out:
        out.write(json.dumps({"case": case, **figures}) + "\n")
