"""CDK stacks of chat-relay: network, cache, service (ALB + Fargate), monitoring."""

from stacks.chat_relay import ChatRelay, build_chat_relay, stack_name
from stacks.config import StageConfig, StageConfigError, load_stage_config

__all__ = [
    "ChatRelay",
    "StageConfig",
    "StageConfigError",
    "build_chat_relay",
    "load_stage_config",
    "stack_name",
]
