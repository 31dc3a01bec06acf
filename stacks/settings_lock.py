"""`make settings-lock STAGE=...`: record a stage's create-only settings in stages.lock.toml
(stacks/config/lock.py says which and why)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from stacks.assembly import settings_file
from stacks.config.context import load_stage_config
from stacks.config.lock import lock_path, write_stage


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stacks.settings_lock", description=__doc__)
    parser.add_argument("stage")
    parser.add_argument("--if-missing", action="store_true", help="keep an existing entry")
    parser.add_argument("--settings-file", default=None, help="default: stages.toml")
    args = parser.parse_args(argv)
    repo_root = Path(__file__).resolve().parents[1]
    context = {"stage": args.stage, "settingsFile": args.settings_file}
    settings = settings_file(context, repo_root)
    config = load_stage_config(context, os.environ, settings, check_lock=False)
    path = lock_path(settings.path)
    written = write_stage(path, config, if_missing=args.if_missing)
    print(f"{path.name}: stage {args.stage} {'recorded' if written else 'already recorded'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
