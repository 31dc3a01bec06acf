"""The kinds of setting: an integer or a number within bounds, a boolean, one of some
choices, or a text whose format the relay checks; each knows its default and meaning."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

# The spellings the relay accepts for a boolean (case-insensitive, surrounding blanks ignored).
TRUE_WORDS: Final = ("1", "true", "yes", "on")
FALSE_WORDS: Final = ("0", "false", "no", "off", "")


def _number_text(value: float) -> str:
    """20.0 -> "20", 0.5 -> "0.5": what a person (or a stack) would write."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


@dataclass(frozen=True, slots=True)
class IntSetting:
    name: str
    default: int
    low: int
    high: int
    meaning: str

    def accepts(self, value: int) -> bool:
        return self.low <= value <= self.high

    def env_value(self, value: int) -> str:
        return str(value)


@dataclass(frozen=True, slots=True)
class FloatSetting:
    name: str
    default: float
    low: float
    high: float
    meaning: str
    # A value below ``low`` that means "off" (METRICS_EMF_INTERVAL=0); None: no such value.
    off: float | None = None

    def accepts(self, value: float) -> bool:
        return value == self.off or self.low <= value <= self.high

    def env_value(self, value: float) -> str:
        return _number_text(value)


@dataclass(frozen=True, slots=True)
class BoolSetting:
    name: str
    default: bool
    meaning: str

    def accepts(self, value: bool) -> bool:
        return isinstance(value, bool)

    def env_value(self, value: bool) -> str:
        return "true" if value else "false"


@dataclass(frozen=True, slots=True)
class ChoiceSetting:
    name: str
    default: str
    choices: tuple[str, ...]  # lower case; the relay lower-cases what it reads
    meaning: str

    def accepts(self, value: str) -> bool:
        return value in self.choices

    def env_value(self, value: str) -> str:
        return value


@dataclass(frozen=True, slots=True)
class TextSetting:
    name: str
    default: str | None  # None: unset
    meaning: str
    example: str  # a valid value, for error messages and docs

    def env_value(self, value: str) -> str:
        return value


Setting = IntSetting | FloatSetting | BoolSetting | ChoiceSetting | TextSetting
