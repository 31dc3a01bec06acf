"""Stage settings: one typed config per stage, with defaults in one place.

- `model`: the frozen dataclasses a stage's config is made of (`StageConfig` and its parts).
- `defaults`: one base config and each stage's overrides of it.
- `context`: `load_stage_config`, which lays stages.toml and `-c` context over the defaults.
- `validation`, `relay_checks`: every check, each problem naming the setting and its fix.
- `limits`: the AWS limits and fixed values the checks use.

The stage (stacks/chat_relay.py) maps a `StageConfig` to each stack's own narrow props.
"""

from stacks.config.context import (
    CONTEXT_KEYS,
    CONTEXT_SETTINGS_FILE,
    apply_settings_file,
    load_stage_config,
)
from stacks.config.defaults import default_config
from stacks.config.limits import DEFAULT_REGION, DRAIN_MARGIN_SECONDS, STAGES
from stacks.config.model import (
    ApiSettings,
    AttachmentSettings,
    CacheSettings,
    LoadBalancerSettings,
    MonitoringSettings,
    NetworkSettings,
    RelaySettings,
    StageConfig,
    StageConfigError,
    StageIdentity,
    WafSettings,
)
from stacks.config.validation import validate

__all__ = [
    "CONTEXT_KEYS",
    "CONTEXT_SETTINGS_FILE",
    "DEFAULT_REGION",
    "DRAIN_MARGIN_SECONDS",
    "STAGES",
    "ApiSettings",
    "AttachmentSettings",
    "CacheSettings",
    "LoadBalancerSettings",
    "MonitoringSettings",
    "NetworkSettings",
    "RelaySettings",
    "StageConfig",
    "StageConfigError",
    "StageIdentity",
    "WafSettings",
    "apply_settings_file",
    "default_config",
    "load_stage_config",
    "validate",
]
