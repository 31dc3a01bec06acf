"""One environment value parsed by its setting's kind: a whole number or a number within
its bounds, a boolean, one of its choices. Each error names the variable, what was wrong
and what to write instead."""

from __future__ import annotations

from contract import settings as contract
from contract.settings import BoolSetting, ChoiceSetting, FloatSetting, IntSetting

from .config_formats import ConfigError


def whole_number(setting: IntSetting, raw: str) -> int:
    name, low, high = setting.name, setting.low, setting.high
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a whole number; e.g. {name}={low}") from None
    if not setting.accepts(value):
        raise ConfigError(f"{name}={value} is out of range; use {low}..{high}")
    return value


def number(setting: FloatSetting, raw: str) -> float:
    name, low, high, off = setting.name, setting.low, setting.high, setting.off
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number; e.g. {name}={high / 2:g}") from None
    if setting.accepts(value):
        return value
    allowed = f"{low:g}..{high:g}" if off is None else f"{off:g} (off) or {low:g}..{high:g}"
    if off is not None and off < value < low:
        raise ConfigError(f"{name}={value:g} is too short; use {allowed}")
    raise ConfigError(f"{name}={value:g} is out of range; use {allowed}")


def boolean(setting: BoolSetting, raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in contract.TRUE_WORDS:
        return True
    if lowered in contract.FALSE_WORDS:
        return False
    raise ConfigError(f"{setting.name}={raw!r} is not a boolean; use true or false")


# What a ChoiceSetting's value is, for its error message, and the hint that follows "use".
_CHOICE_WORDS = {
    contract.LOG_LEVEL.name: ("a log level", "|".join(contract.LOG_LEVEL.choices)),
    contract.REDIS_PUBLISH_FORMAT.name: (
        "a publish format",
        "frame (client frames, which relays of earlier releases read) or compact "
        "(once no earlier release runs on this Redis)",
    ),
    contract.AUTH_MODE.name: (
        "a sign-in mode",
        "none (anonymous, chosen names) or alb "
        "(the load balancer signs people in and the relay verifies x-amzn-oidc-data)",
    ),
}


def choice(setting: ChoiceSetting, raw: str) -> str:
    value = raw.strip().lower()
    if not setting.accepts(value):
        what, hint = _CHOICE_WORDS.get(setting.name, ("a valid value", "|".join(setting.choices)))
        raise ConfigError(f"{setting.name}={raw!r} is not {what}; use {hint}")
    return value
