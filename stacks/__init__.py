"""CDK stacks of chat-relay: network, cache, service (ALB + Fargate + monitoring), pipeline."""

from stacks.chat_relay import ChatRelayStage, stack_name
from stacks.config import StageConfig, StageConfigError, load_stage_config

__all__ = [
    "ChatRelayStage",
    "StageConfig",
    "StageConfigError",
    "load_stage_config",
    "stack_name",
]
