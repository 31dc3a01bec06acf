"""contract.settings: every relay environment variable once, with a default it accepts."""

from __future__ import annotations

import re

import pytest

from contract import metrics, settings
from contract.settings import (
    BoolSetting,
    ChoiceSetting,
    FloatSetting,
    IntSetting,
    Setting,
    TextSetting,
)

NAME = re.compile(r"[A-Z][A-Z0-9_]*")


def _module_settings() -> list[Setting]:
    kinds = (IntSetting, FloatSetting, BoolSetting, ChoiceSetting, TextSetting)
    return [value for value in vars(settings).values() if isinstance(value, kinds)]


def test_names_are_unique_environment_variable_names() -> None:
    names = [s.name for s in settings.ALL]
    assert len(names) == len(set(names))
    assert all(NAME.fullmatch(name) for name in names)
    assert list(settings.BY_NAME) == names


def test_every_setting_in_the_module_is_registered_under_its_own_name() -> None:
    registered = {id(s) for s in settings.ALL}
    for setting in _module_settings():
        assert id(setting) in registered, setting.name
        assert getattr(settings, setting.name) is setting


@pytest.mark.parametrize("setting", settings.ALL, ids=lambda s: s.name)
def test_the_default_is_accepted(setting: Setting) -> None:
    assert setting.meaning.strip()
    if isinstance(setting, IntSetting):
        assert setting.low <= setting.high
        assert setting.accepts(setting.default)
    elif isinstance(setting, FloatSetting):
        assert setting.low <= setting.high
        assert setting.off is None or setting.off < setting.low  # "off" is outside the range
        assert setting.accepts(setting.default)
    elif isinstance(setting, ChoiceSetting):
        assert setting.default in setting.choices
        assert all(choice == choice.lower() for choice in setting.choices)
        assert len(set(setting.choices)) == len(setting.choices)
    elif isinstance(setting, BoolSetting):
        assert setting.accepts(setting.default)
    else:
        assert setting.example.strip()


def test_bounds_and_choices_reject_what_is_outside() -> None:
    assert not settings.PORT.accepts(0)
    assert not settings.PORT.accepts(65536)
    assert not settings.PRESENCE_TTL.accepts(2.9)
    assert settings.METRICS_EMF_INTERVAL.accepts(0)  # off
    assert not settings.METRICS_EMF_INTERVAL.accepts(0.5)
    assert settings.METRICS_EMF_INTERVAL.accepts(60)
    assert not settings.LOG_LEVEL.accepts("verbose")
    assert not settings.AUTH_MODE.accepts("cognito")


def test_environment_values_read_back_as_written() -> None:
    assert settings.PORT.env_value(8000) == "8000"
    assert settings.PRESENCE_TTL.env_value(30) == "30"
    assert settings.PRESENCE_TTL.env_value(20.0) == "20"
    assert settings.JOIN_TIMEOUT.env_value(0.1) == "0.1"
    assert float(settings.RATE_LIMIT.env_value(1_000_000)) == 1_000_000
    assert settings.REDIS_CLUSTER.env_value(True) in settings.TRUE_WORDS
    assert settings.REDIS_CLUSTER.env_value(False) in settings.FALSE_WORDS
    assert not set(settings.TRUE_WORDS) & set(settings.FALSE_WORDS)


def test_the_metrics_namespace_default_is_the_metrics_contract() -> None:
    assert settings.METRICS_NAMESPACE.default == metrics.NAMESPACE


def test_a_join_gets_no_more_history_than_is_stored_by_default() -> None:
    # The relay refuses HISTORY_SIZE > HISTORY_MAX_LEN; the defaults must start it.
    assert settings.HISTORY_SIZE.default <= settings.HISTORY_MAX_LEN.default
