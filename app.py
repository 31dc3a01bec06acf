#!/usr/bin/env python3
"""The CDK app: `cdk synth -c stage=dev|staging|prod` (or `make synth STAGE=...`).

Settings come from stages.toml (the committed per-stage settings), overridden by CDK
context (-c certificateArn=..., domainName, alarmEmail, ...); see docs/infrastructure.md.
Writes the stage `chat-relay-<stage>` and the pipeline stack `chat-relay-pipeline`.
"""

import os
import sys
from pathlib import Path

from aws_cdk import App

from stacks.assembly import build_app
from stacks.config import CONTEXT_KEYS, StageConfigError

REPO_ROOT = Path(__file__).resolve().parent


def main() -> None:
    app = App()
    context = {key: app.node.try_get_context(key) for key in CONTEXT_KEYS}
    try:
        build_app(app, context, os.environ, repo_root=REPO_ROOT)
    except StageConfigError as error:
        sys.exit(f"chat-relay: {error}")
    app.synth()


if __name__ == "__main__":
    main()
