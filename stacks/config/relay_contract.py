"""The stage's relay settings against the relay's own contract (contract.settings).

Each `RelaySettings` field that becomes an environment variable maps to the contract's
setting: its default is the relay's default (not a copy that can drift), and a stage's
value must be one the relay accepts, or its tasks would stop at start and never turn
healthy (checked by relay_checks.contract_problems). A stage may still choose another
value on purpose (stages.toml).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from contract import settings
from contract.settings import ChoiceSetting, FloatSetting, IntSetting

RelayVariable = IntSetting | FloatSetting | ChoiceSetting

# RelaySettings field -> the environment variable it sets.
RELAY_VARIABLES: Final[Mapping[str, RelayVariable]] = {
    "port": settings.PORT,
    "history_size": settings.HISTORY_SIZE,
    "history_max_len": settings.HISTORY_MAX_LEN,
    "ping_interval_seconds": settings.PING_INTERVAL,
    "ping_timeout_seconds": settings.PING_TIMEOUT,
    "join_timeout_seconds": settings.JOIN_TIMEOUT,
    "rate_limit": settings.RATE_LIMIT,
    "rate_burst": settings.RATE_BURST,
    "max_connections": settings.MAX_CONNECTIONS,
    "drain_seconds": settings.DRAIN_SECONDS,
    "drain_poll_seconds": settings.DRAIN_POLL_SECONDS,
    "presence_ttl_seconds": settings.PRESENCE_TTL,
    "log_level": settings.LOG_LEVEL,
}
# Fields whose variable the task gets only when the stage sets another value than the
# relay's default, so that adding the setting left every stage's template as it was.
RELAY_VARIABLES_UNLESS_DEFAULT: Final[Mapping[str, RelayVariable]] = {
    "publish_format": settings.REDIS_PUBLISH_FORMAT,
    "trusted_proxy_hops": settings.TRUSTED_PROXY_HOPS,
    "new_identities_per_minute": settings.NEW_IDENTITIES_PER_MINUTE,
    "new_rooms_per_minute": settings.NEW_ROOMS_PER_MINUTE,
    "history_ttl_days": settings.HISTORY_TTL_DAYS,
}
# Every field checked against the relay's contract.
ALL_RELAY_VARIABLES: Final[Mapping[str, RelayVariable]] = {
    **RELAY_VARIABLES,
    **RELAY_VARIABLES_UNLESS_DEFAULT,
}


def whole_default(setting: IntSetting | FloatSetting) -> int:
    """The relay's default as the whole number a stage setting holds (stages.toml takes
    whole seconds); a fractional default would need the stage field to become a float."""
    value = setting.default
    if value != int(value):
        raise ValueError(f"{setting.name} defaults to {value}: not a whole number")
    return int(value)
