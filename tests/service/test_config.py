from dataclasses import fields

import pytest

from contract import settings as contract
from harness.ecs import TARGET_GROUP_ARN
from service.config import SETTINGS, ConfigError, Settings, load_settings


def test_defaults_are_single_server() -> None:
    settings = load_settings({})
    assert settings.single_server
    assert settings.port == 8000
    assert settings.history_size == 100
    assert settings.allowed_origins == ()
    assert settings.rate_limit == 10
    assert settings.max_frame_bytes == 65536


def test_values_are_parsed() -> None:
    settings = load_settings(
        {
            "REDIS_URL": "rediss://cache.example.internal:6380/0",
            "REDIS_AUTH_TOKEN": "s3cret",
            "HISTORY_SIZE": "50",
            "ALLOWED_ORIGINS": "https://chat.example.com, http://127.0.0.1:8000/",
            "RATE_LIMIT": "2.5",
            "LOG_LEVEL": "WARNING",
        }
    )
    assert not settings.single_server
    assert settings.redis_auth_token == "s3cret"
    assert settings.history_size == 50
    assert settings.allowed_origins == ("https://chat.example.com", "http://127.0.0.1:8000")
    assert settings.rate_limit == 2.5
    assert settings.log_level == "warning"


def test_cli_overrides_win() -> None:
    assert load_settings({"PORT": "9000"}, port=9100).port == 9100


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PORT": "eighty"}, "PORT='eighty' is not a whole number"),
        ({"PORT": "70000"}, "PORT=70000 is out of range"),
        ({"HISTORY_SIZE": "-1"}, "HISTORY_SIZE=-1 is out of range"),
        ({"REDIS_URL": "http://localhost:6379"}, "is not a Redis URL"),
        ({"REDIS_URL": "redis://localhost:notaport"}, "has a bad port"),
        ({"ALLOWED_ORIGINS": "chat.example.com"}, "is not an origin"),
        ({"ALLOWED_ORIGINS": "https://chat.example.com/app"}, "is not an origin"),
        ({"RATE_LIMIT": "fast"}, "RATE_LIMIT='fast' is not a number"),
        ({"LOG_LEVEL": "loud"}, "is not a log level"),
        ({"REDIS_CLUSTER": "maybe"}, "is not a boolean"),
        ({"REDIS_CLUSTER": "true"}, "REDIS_CLUSTER=true needs REDIS_URL"),
        (
            {"REDIS_CLUSTER": "true", "REDIS_URL": "redis://127.0.0.1:7000/2"},
            "a Redis Cluster has only database 0",
        ),
        ({"HISTORY_SIZE": "500", "HISTORY_MAX_LEN": "100"}, "exceeds HISTORY_MAX_LEN"),
        ({"REQUEST_HEAD_MAX_BYTES": "64k"}, "REQUEST_HEAD_MAX_BYTES='64k' is not a whole number"),
        ({"REQUEST_HEAD_MAX_BYTES": "100"}, "REQUEST_HEAD_MAX_BYTES=100 is out of range"),
        ({"REQUEST_HEAD_MAX_HEADERS": "0"}, "REQUEST_HEAD_MAX_HEADERS=0 is out of range"),
        ({"REQUEST_HEAD_TIMEOUT": "0"}, "REQUEST_HEAD_TIMEOUT=0 is out of range"),
        ({"MAX_HTTP_CONNECTIONS": "0"}, "MAX_HTTP_CONNECTIONS=0 is out of range"),
        ({"DRAIN_TARGET_GROUP_ARN": "my-target-group"}, "is not a target group ARN"),
        ({"DRAIN_TARGET_GROUP_ARN": TARGET_GROUP_ARN}, "needs ECS_CONTAINER_METADATA_URI_V4"),
        ({"DRAIN_POLL_SECONDS": "0"}, "DRAIN_POLL_SECONDS=0 is out of range"),
    ],
)
def test_bad_values_say_what_and_how(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_settings(env)


def test_the_drain_watches_the_target_group_on_ecs_only() -> None:
    on_ecs = load_settings(
        {
            "DRAIN_TARGET_GROUP_ARN": TARGET_GROUP_ARN,
            "DRAIN_POLL_SECONDS": "2.5",
            "ECS_CONTAINER_METADATA_URI_V4": "http://169.254.170.2/v4/abc",
        }
    )
    assert on_ecs.drain_target_group_arn == TARGET_GROUP_ARN
    assert on_ecs.drain_poll_seconds == 2.5
    laptop = load_settings({})
    assert laptop.drain_target_group_arn is None and laptop.drain_poll_seconds == 5


def test_empty_redis_url_means_single_server() -> None:
    assert load_settings({"REDIS_URL": ""}).single_server


ARN = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/chat/0123456789abcdef"
ALB = {"AUTH_MODE": "alb", "ALB_ARN": ARN}


def test_sign_in_settings() -> None:
    assert load_settings({}).auth_mode == "none"
    settings = load_settings(
        {
            "AUTH_MODE": "ALB",
            "ALB_ARN": ARN,
            "ALB_PUBLIC_KEY_URL": "http://127.0.0.1:9999/",
            "AUTH_LOGOUT_URL": "https://chat.auth.eu-west-1.amazoncognito.com/logout?client_id=x",
        }
    )
    assert (settings.auth_mode, settings.alb_arn) == ("alb", ARN)
    assert settings.auth_session_cookie == "AWSELBAuthSessionCookie"
    gov = ARN.replace("aws:", "aws-us-gov:").replace("eu-west-1", "us-gov-west-1")
    assert load_settings({"AUTH_MODE": "alb", "ALB_ARN": gov}).alb_arn == gov


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"AUTH_MODE": "cognito"}, "AUTH_MODE='cognito' is not a sign-in mode; use none"),
        ({"AUTH_MODE": "alb"}, "AUTH_MODE=alb needs ALB_ARN"),
        ({**ALB, "ALB_ARN": "arn:aws:elasticloadbalancing:eu-west-1:1:x"}, "not an Application"),
        ({"ALB_ARN": ARN}, "ALB_ARN set but AUTH_MODE=none"),
        ({**ALB, "ALB_PUBLIC_KEY_URL": "http://keys.example.com/"}, "http:// only on loopback"),
        ({**ALB, "ALB_PUBLIC_KEY_URL": "https://keys.example.com"}, "ending in '/'"),
        ({**ALB, "AUTH_LOGOUT_URL": "http://idp.example.com/logout"}, "not an https:// URL"),
        ({"AUTH_SESSION_COOKIE": "a;b"}, "not a cookie name"),
    ],
)  # fmt: skip
def test_bad_sign_in_settings_say_what_and_how(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(env)
    assert message in str(caught.value)


def test_every_contract_setting_is_read_into_a_field_with_its_default() -> None:
    defaults = Settings()
    field_names = {f.name for f in fields(Settings)}
    assert {field for field, _ in SETTINGS.values()} == field_names
    assert list(SETTINGS) == [s.name for s in contract.ALL]
    for setting in contract.ALL:
        value = getattr(defaults, SETTINGS[setting.name][0])
        if setting in (contract.ALLOWED_ORIGINS, contract.SERVER_API_KEYS):
            assert value == ()  # unset: the relay's own host only; no API keys (API off)
        elif setting is contract.ATTACHMENT_TYPES:
            assert value == tuple(str(setting.default).split(","))  # the list, parsed
        else:
            assert value == setting.default, setting.name
    assert load_settings({}) == defaults


NUMBERS = [s for s in contract.ALL if isinstance(s, contract.IntSetting | contract.FloatSetting)]


@pytest.mark.parametrize("setting", NUMBERS, ids=lambda s: s.name)
def test_numbers_are_bounded_as_the_contract_says(
    setting: contract.IntSetting | contract.FloatSetting,
) -> None:
    field, _ = SETTINGS[setting.name]
    # HISTORY_SIZE may not exceed HISTORY_MAX_LEN: give the one tested room to move.
    environ = {"HISTORY_SIZE": "0", "HISTORY_MAX_LEN": "1000000"}
    for edge in (setting.low, setting.high):
        value = getattr(load_settings({**environ, setting.name: setting.env_value(edge)}), field)
        assert value == edge
    step = 1 if isinstance(setting, contract.IntSetting) else 0.01
    for outside in (setting.low - step, setting.high + step):
        with pytest.raises(ConfigError, match=f"^{setting.name}="):
            load_settings({**environ, setting.name: setting.env_value(outside)})


def test_booleans_and_choices_take_what_the_contract_lists() -> None:
    for word in contract.TRUE_WORDS:
        assert load_settings({"METRICS_ENDPOINT": word.upper()}).metrics_endpoint is True
    for word in contract.FALSE_WORDS:
        assert load_settings({"METRICS_ENDPOINT": f" {word} "}).metrics_endpoint is False
    for level in contract.LOG_LEVEL.choices:
        assert load_settings({"LOG_LEVEL": level.upper()}).log_level == level


def test_emf_interval_is_off_or_at_least_a_second() -> None:
    assert load_settings({"METRICS_EMF_INTERVAL": "0"}).metrics_emf_interval == 0
    with pytest.raises(ConfigError, match=r"METRICS_EMF_INTERVAL=0.5 is too short; use 0 \(off\)"):
        load_settings({"METRICS_EMF_INTERVAL": "0.5"})


def test_server_api_keys_are_a_list_of_usable_bearer_keys() -> None:
    keys = load_settings(
        {"SERVER_API_KEYS": " old-key-0123456789abcdef , new-key-0123456789abcdef "}
    )
    assert keys.server_api_keys == ("old-key-0123456789abcdef", "new-key-0123456789abcdef")
    assert load_settings({"SERVER_API_KEYS": ""}).server_api_keys == ()
    for bad in ("short", "has space in it 0123456789", "ok-key-0123456789abcdef,tiny"):
        with pytest.raises(ConfigError, match=r"SERVER_API_KEYS: key .*openssl rand"):
            load_settings({"SERVER_API_KEYS": bad})


def test_the_room_token_secret_is_long_enough_for_hs256() -> None:
    secret = "s" * 32
    assert load_settings({"ROOM_TOKEN_SECRET": secret}).room_token_secret == secret
    assert load_settings({"ROOM_TOKEN_SECRET": ""}).room_token_secret is None
    with pytest.raises(ConfigError, match=r"ROOM_TOKEN_SECRET is 31 characters; .* at least 32"):
        load_settings({"ROOM_TOKEN_SECRET": "s" * 31})


def test_attachment_types_are_a_list_of_media_types() -> None:
    loaded = load_settings({"ATTACHMENT_TYPES": " Image/PNG , text/plain ,"})
    assert loaded.attachment_types == ("image/png", "text/plain")
    for bad in ("", "png", "image/png;charset=x", "text/html,<script>"):
        with pytest.raises(ConfigError, match=r"ATTACHMENT_TYPES=.*e\.g\. ATTACHMENT_TYPES="):
            load_settings({"ATTACHMENT_TYPES": bad})
