"""Where the repository is: processes run from it, artifacts are written under it."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
