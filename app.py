#!/usr/bin/env python3
"""The CDK app: `cdk synth -c stage=dev|staging|prod` (or `make synth STAGE=...`).

Settings come from the stage's defaults in stacks/config.py, CDK context
(-c certificateArn=..., domainName, alarmEmail, availabilityZones) and
CDK_DEFAULT_ACCOUNT / CDK_DEFAULT_REGION; see docs/infrastructure.md.
"""

import os
import sys
from pathlib import Path

from aws_cdk import App

from stacks import StageConfigError, build_chat_relay, load_stage_config
from stacks.config import CONTEXT_KEYS

REPO_ROOT = Path(__file__).resolve().parent


def main() -> None:
    app = App()
    context = {key: app.node.try_get_context(key) for key in CONTEXT_KEYS}
    try:
        config = load_stage_config(context, os.environ)
    except StageConfigError as error:
        sys.exit(f"chat-relay: {error}")
    build_chat_relay(app, config, image_directory=REPO_ROOT)
    app.synth()


if __name__ == "__main__":
    main()
