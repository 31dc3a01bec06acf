"""What `cdk synth` builds: the selected stage for hand deploys, and the pipeline.

app.py and the tests both call `build_app`, so the tests synthesize exactly what the CLI
deploys. The hand-deployed stage is the top-level `cdk.Stage` `chat-relay-<stage>`
(`make deploy STAGE=x` deploys `chat-relay-x/*`); the pipeline stack `chat-relay-pipeline`
holds its own staging and prod stages, built by the same `ChatRelayStage`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_cdk import App

from stacks.chat_relay import ChatRelayStage
from stacks.config import (
    CONTEXT_SETTINGS_FILE,
    STAGES,
    StageConfig,
    StageConfigError,
    load_stage_config,
)
from stacks.config.pipeline import load_pipeline_settings
from stacks.config.settings_file import (
    DEFAULT_SETTINGS_FILE,
    SettingsFile,
    SettingsFileError,
    read_settings_file,
)
from stacks.pipeline import PIPELINE_STACK_NAME, PipelineProps, PipelineStack

# The environments the pipeline promotes through, in order.
PIPELINE_STAGES = ("staging", "prod")


@dataclass(frozen=True)
class BuiltApp:
    stage: ChatRelayStage
    pipeline: PipelineStack | None


def settings_file(context: Mapping[str, Any], repo_root: Path) -> SettingsFile:
    """stages.toml, or the file `-c settingsFile=<path>` names (relative to the repo)."""
    name = context.get(CONTEXT_SETTINGS_FILE) or DEFAULT_SETTINGS_FILE
    try:
        return read_settings_file(repo_root / str(name), STAGES)
    except SettingsFileError as error:
        raise StageConfigError(str(error)) from None


def build_app(
    app: App, context: Mapping[str, Any], environ: Mapping[str, str], *, repo_root: Path
) -> BuiltApp:
    """Add the selected stage and (when stages.toml has [pipeline]) the pipeline to `app`.

    Raises StageConfigError before any construct exists when a setting is wrong.
    """
    settings = settings_file(context, repo_root)
    config = load_stage_config(context, environ, settings)
    pipeline_settings = load_pipeline_settings(settings)

    stage = ChatRelayStage(app, config.prefix, config=config, image_directory=repo_root)
    pipeline = None
    if pipeline_settings is not None:
        # The pipeline's stages come from the file alone: a `-c` override typed for one
        # hand deploy must not change what the pipeline ships.
        promoted = [load_stage_config({"stage": s}, {}, settings) for s in PIPELINE_STAGES]
        check_one_architecture(promoted)
        check_gate_is_anonymous(promoted)
        pipeline = PipelineStack(
            app,
            PIPELINE_STACK_NAME,
            PipelineProps(settings=pipeline_settings, stages=promoted, image_directory=repo_root),
        )
    return BuiltApp(stage, pipeline)


def check_one_architecture(promoted: list[StageConfig]) -> None:
    """Staging and prod run one image, built once: they need one CPU architecture."""
    architectures = {config.name: config.relay.cpu_architecture for config in promoted}
    if len(set(architectures.values())) > 1:
        found = ", ".join(f"{name}: {arch!r}" for name, arch in architectures.items())
        raise StageConfigError(
            f"relay.cpu_architecture differs between the pipeline's stages ({found}): prod "
            "runs the image staging tested, built once for one architecture; set the same "
            "cpu_architecture in [stages.staging.relay] and [stages.prod.relay] of stages.toml."
        )


def check_gate_is_anonymous(promoted: list[StageConfig]) -> None:
    """The pipeline's smoke check and load-test gate connect to staging anonymously; behind
    sign-in at the load balancer they get 401 and the pipeline could never pass."""
    gated = [c.name for c in promoted if c.name != "prod" and c.sign_in.enabled]
    if gated:
        names = ", ".join(gated)
        raise StageConfigError(
            f"sign_in is set for {names}, which the pipeline smoke-checks and load-tests "
            "without signing in: every request would get 401 and no build could reach prod. "
            f"Remove [stages.{gated[0]}.sign_in] from stages.toml (sign-in belongs in prod), or "
            "remove [pipeline] and deploy that stage by hand (make deploy STAGE=...)."
        )
