"""Stage settings: defaults, the shipped stages.toml, -c overrides, and wrong settings
failing synth with a clear fix."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from stacks.config import (
    DEFAULT_REGION,
    DRAIN_MARGIN_SECONDS,
    STAGES,
    StageConfig,
    StageConfigError,
    default_config,
    load_stage_config,
    validate,
)
from stacks.config.settings_file import SettingsFileError, read_settings_file
from tests.stacks.conftest import REPO_ROOT, load, shipped_settings

TEST_CERTIFICATE_ARN = (
    "arn:aws:acm:us-east-1:123456789012:certificate/12345678-1234-1234-1234-123456789012"
)


@pytest.mark.parametrize("stage", STAGES)
def test_every_stage_loads_from_the_shipped_file_alone(stage: str) -> None:
    config = load(stage)
    assert config.name == stage
    assert config.prefix == f"chat-relay-{stage}"
    assert config.region == DEFAULT_REGION


def test_shipped_file_pins_staging_and_prod_to_accounts() -> None:
    assert load("dev").account is None  # a sandbox: wherever the credentials point
    staging, prod = load("staging"), load("prod")
    assert (staging.account, prod.account) == ("111111111111", "222222222222")
    for config in (staging, prod):
        assert config.load_balancer.https
        assert config.load_balancer.certificate_arn.startswith(
            f"arn:aws:acm:us-east-1:{config.account}:certificate/"
        )
        assert config.alarm_email == "oncall@example.com"
    assert prod.load_balancer.domain_name == "chat.example.com"


def test_placeholders_are_marked_in_the_file() -> None:
    """Each fake value says so on its line, or (an ARN too long for a trailing comment)
    on the comment line right above it."""
    lines = (REPO_ROOT / "stages.toml").read_text().splitlines()
    fake = ("111111111111", "222222222222", "333333333333", "example.com", "example-org")
    marked = 0
    for index, line in enumerate(lines):
        if any(value in line for value in fake) and not line.startswith("#"):
            assert "PLACEHOLDER" in line or "PLACEHOLDER" in lines[index - 1], line
            marked += 1
    assert marked >= 10


def test_file_values_reach_the_config() -> None:
    prod = load("prod")
    assert (prod.relay.cpu, prod.relay.memory_mib, prod.relay.min_tasks) == (1024, 2048, 3)
    assert (prod.relay.rate_limit, prod.relay.max_connections) == (10, 10000)
    assert (prod.cache.cluster_mode, prod.cache.replicas_per_shard) == (False, 2)


def test_a_pinned_stage_ignores_the_credentials_environment() -> None:
    environ = {"CDK_DEFAULT_ACCOUNT": "210987654321", "CDK_DEFAULT_REGION": "eu-west-1"}
    config = load("staging", environ)
    assert (config.account, config.region) == ("111111111111", "us-east-1")


def test_context_overrides_the_file() -> None:
    config = load(
        "staging",
        alarmEmail="team@example.org",
        domainName="qa.example.org",
        account="444444444444",
        certificateArn=TEST_CERTIFICATE_ARN.replace("123456789012", "444444444444"),
        cacheClusterMode="true",
    )
    assert config.alarm_email == "team@example.org"
    assert config.load_balancer.domain_name == "qa.example.org"
    assert config.account == "444444444444"
    assert config.cache.cluster_mode


def settings_from(tmp_path, text: str):

    path = tmp_path / "stages.toml"
    path.write_text(text)
    return read_settings_file(path, STAGES)


# (file text, the words the message must contain)
BAD_FILES = [
    (
        "[stages.dev.relay]\ncpus = 256\n",
        ["stages.toml [stages.dev.relay] cpus: unknown key", "memory_mib"],
    ),
    (
        '[stages.dev.relay]\ncpu = "big"\n',
        ['[stages.dev.relay] cpu = "big": expected a whole number', "e.g. cpu = 256"],
    ),
    (
        '[stages.dev.cache]\ncluster_mode = "yes"\n',
        ["cluster_mode", "expected true or false", "e.g. cluster_mode = false"],
    ),
    (
        "[stages.dev]\naccount = 123456789012\n",
        ["[stages.dev] account = 123456789012: expected a non-empty string in quotes"],
    ),
    (
        '[stages.dev]\ncertificate = "x"\n',
        ["[stages.dev] certificate: unknown key", "certificate_arn"],
    ),
    (
        "[stages.dev.relay]\nmin_tasks = 1\n",
        ["(from stages.toml and -c context)", "relay.min_tasks=1"],
    ),
    (
        '[stages.prod]\nregion = "eu-west-1"\n',
        ["certificate_arn is in us-east-1 but the stack deploys to eu-west-1"],
    ),
]


@pytest.mark.parametrize(("text", "expected"), BAD_FILES, ids=[b[1][0][:40] for b in BAD_FILES])
def test_bad_file_fails_naming_file_key_and_fix(
    tmp_path: Path, text: str, expected: list[str]
) -> None:
    settings = settings_from(tmp_path, text)
    stage = text.split("[stages.")[1].split("]")[0].split(".")[0]
    base = shipped_settings().stage(stage)
    # The shipped stage with the bad table laid over it (so only the bad key is wrong).
    merged = dict(base)
    for key, value in settings.stage(stage).items():
        merged[key] = {**base.get(key, {}), **value} if isinstance(value, dict) else value
    settings = type(settings)(path=settings.path, stages={stage: merged})
    with pytest.raises(StageConfigError) as raised:
        load_stage_config({"stage": stage}, {}, settings)
    for words in expected:
        assert words in str(raised.value)


def test_unknown_stage_or_table_in_the_file_fails(tmp_path: Path) -> None:
    with pytest.raises(SettingsFileError, match=r"unknown stage\(s\) qa: name stages dev"):
        settings_from(tmp_path, "[stages.qa]\n")
    with pytest.raises(SettingsFileError, match=r"unknown table\(s\) stage: use"):
        settings_from(tmp_path, "[stage.dev]\n")
    with pytest.raises(SettingsFileError, match="is not valid TOML"):
        settings_from(tmp_path, "[stages.dev\n")


def test_environment_sets_account_and_region_of_an_unpinned_stage() -> None:
    environ = {"CDK_DEFAULT_ACCOUNT": "210987654321", "CDK_DEFAULT_REGION": "eu-west-1"}
    config = load("dev", environ, availabilityZones="eu-west-1a,eu-west-1c")
    assert (config.account, config.region) == ("210987654321", "eu-west-1")
    assert config.network.availability_zones == ("eu-west-1a", "eu-west-1c")


def test_zones_must_be_named_outside_us_east_1() -> None:
    """Fargate runs in every us-east-1 zone, not in every zone elsewhere (us-west-1 and
    ap-northeast-1 list only some zone ids): a guessed `{region}a..` could lack it."""
    with pytest.raises(StageConfigError) as raised:
        load("dev", {"CDK_DEFAULT_REGION": "ap-northeast-1"})
    message = str(raised.value)
    assert "network.availability_zones is not set for region ap-northeast-1" in message
    assert "[stages.dev.network]" in message and "-c availabilityZones=" in message
    assert load("dev").network.availability_zones == ("us-east-1a", "us-east-1b")


def test_availability_zones_follow_the_stage_and_can_be_named() -> None:
    assert load("prod").network.availability_zones == ("us-east-1a", "us-east-1b", "us-east-1c")
    named = load("dev", availabilityZones="us-east-1c, us-east-1d")
    assert named.network.availability_zones == ("us-east-1c", "us-east-1d")


def test_stages_grow_from_dev_to_prod() -> None:
    dev, staging, prod = (default_config(s) for s in STAGES)
    assert dev.network.nat_gateways == 1 and not dev.network.interface_endpoints
    # The relay reaches AWS through interface endpoints in staging and prod; staging keeps
    # a NAT for its load generators, prod's service subnets are isolated.
    assert staging.network.interface_endpoints and prod.network.interface_endpoints
    assert (staging.network.nat_gateways, prod.network.nat_gateways) == (1, 0)
    assert prod.network.az_count == 3
    # staging runs prod's image: the same architecture and no Spot by default.
    assert staging.relay.cpu_architecture == prod.relay.cpu_architecture == "arm64"
    assert dev.relay.spot_percent == 100 and prod.relay.spot_percent == 0
    assert staging.waf.enabled and prod.waf.enabled and not dev.waf.enabled
    assert prod.load_balancer.deletion_protection and not dev.load_balancer.deletion_protection
    assert prod.retain_data and not dev.retain_data and not staging.retain_data
    assert prod.cache.replicas_per_shard == 2
    assert prod.relay.min_tasks >= staging.relay.min_tasks >= dev.relay.min_tasks >= 2
    # staging measures what prod will do: same cache node and task size.
    assert staging.cache.node_type == prod.cache.node_type
    assert (staging.relay.cpu, staging.relay.memory_mib) == (prod.relay.cpu, prod.relay.memory_mib)


def test_websocket_numbers_hold_together() -> None:
    for stage in STAGES:
        config = default_config(stage)
        lb, relay = config.load_balancer, config.relay
        assert lb.idle_timeout_seconds >= 2 * relay.ping_interval_seconds
        assert relay.drain_seconds + 10 <= relay.stop_timeout_seconds <= 120
        drain_window = relay.drain_poll_seconds + relay.drain_seconds + DRAIN_MARGIN_SECONDS
        assert lb.deregistration_delay_seconds >= drain_window
        assert relay.min_healthy_percent == 100 and relay.max_healthy_percent == 200
        assert lb.health_check_path == "/healthz"


def test_domain_sets_https_origin() -> None:
    config = load("prod")
    assert config.load_balancer.https
    assert config.load_balancer.domain_name == "chat.example.com"


# (context or environment, the words the message must contain)
BAD_CONTEXT = [
    ({"stage": "qa"}, {}, ["Unknown stage 'qa'", "-c stage=dev|staging|prod"]),
    ({"stage": " "}, {}, ["No stage selected", "-c stage=dev|staging|prod"]),
    (
        {"stage": "prod"},
        {},
        ["certificate_arn is missing", "in [stages.prod] of stages.toml", "-c certificateArn="],
    ),
    ({"stage": "staging"}, {}, ["certificate_arn is missing", "stage 'staging'"]),
    (
        {"stage": "prod", "certificateArn": "arn:aws:iam::123456789012:role/x"},
        {},
        ["is not an ACM certificate ARN"],
    ),
    (
        {"stage": "prod", "certificateArn": TEST_CERTIFICATE_ARN},
        {"CDK_DEFAULT_REGION": "eu-west-1"},
        ["certificate_arn is in us-east-1 but the stack deploys to eu-west-1"],
    ),
    (
        {"stage": "prod", "certificateArn": TEST_CERTIFICATE_ARN, "account": "222222222222"},
        {},
        ["certificate_arn belongs to account 123456789012 but stage 'prod' deploys to 2222"],
    ),
    ({"stage": "dev"}, {"CDK_DEFAULT_REGION": "Europe"}, ["region 'Europe'", "[stages.dev]"]),
    ({"stage": "dev"}, {"CDK_DEFAULT_ACCOUNT": "12345"}, ["12-digit AWS account id"]),
    ({"stage": "dev", "alarmEmail": "oncall"}, {}, ["alarm_email 'oncall'"]),
    ({"stage": "dev", "domainName": "Chat Example"}, {}, ["domain_name 'Chat Example'"]),
    ({"stage": "dev", "domainName": "chat.example.com"}, {}, ["domain_name needs certificate_arn"]),
    (
        {"stage": "dev", "availabilityZones": "us-east-1a"},
        {},
        ["names 1 zone(s) but stage 'dev' uses 2", "-c availabilityZones=us-east-1a,us-east-1b"],
    ),
    (
        {"stage": "dev", "availabilityZones": "us-east-1a,eu-west-1b"},
        {},
        ["availabilityZones eu-west-1b not in region us-east-1"],
    ),
]


@pytest.mark.parametrize(
    ("context", "environ", "expected"),
    BAD_CONTEXT,
    ids=[c[2][0][:40] for c in BAD_CONTEXT],
)
def test_bad_context_fails_with_a_fix(
    context: dict[str, str], environ: dict[str, str], expected: list[str]
) -> None:
    with pytest.raises(StageConfigError) as raised:
        load_stage_config(context, environ)
    for words in expected:
        assert words in str(raised.value)


def replace(config: StageConfig, part: str, **changes: object) -> StageConfig:
    return dataclasses.replace(
        config, **{part: dataclasses.replace(getattr(config, part), **changes)}
    )


# (section, change, the words the message must contain)
BAD_SETTINGS = [
    ("relay", {"stop_timeout_seconds": 121}, "relay.stop_timeout_seconds=121"),
    ("relay", {"stop_timeout_seconds": 25}, "needs relay.drain_seconds (20 s) + 10 s"),
    ("relay", {"drain_seconds": 30}, "use 40 to 3600 s (relay.drain_poll_seconds 5"),
    ("relay", {"drain_poll_seconds": 0}, "relay.drain_poll_seconds=0: use 1 to 60 s"),
    ("relay", {"min_healthy_percent": 50}, "relay.min_healthy_percent=50: use 100"),
    ("relay", {"max_healthy_percent": 100}, "could start no replacement; use at least 150"),
    ("relay", {"min_tasks": 1}, "run at least 2 tasks across AZs"),
    ("relay", {"max_tasks": 1}, "relay.max_tasks=1 is below relay.min_tasks=2"),
    ("relay", {"cpu": 256, "memory_mib": 4096}, "is not a Fargate size"),
    ("relay", {"log_retention_days": 10}, "relay.log_retention_days=10"),
    ("relay", {"connections_target_per_task": 20000}, "relay.connections_target_per_task"),
    ("load_balancer", {"idle_timeout_seconds": 30}, "twice the relay's ping interval (40 s)"),
    ("load_balancer", {"deregistration_delay_seconds": 20}, "ALB would cut clients before"),
    ("load_balancer", {"health_check_path": "/"}, "use /healthz or /readyz"),
    ("cache", {"shards": 2}, "cache.shards=2 needs cluster mode: pass -c cacheClusterMode=true"),
    ("cache", {"cluster_mode": True, "shards": 0}, "use 1 or more shards"),
    ("cache", {"cluster_mode": True, "shards": 200, "replicas_per_shard": 2}, "600 nodes"),
    (
        "cache",
        {"cluster_mode": True, "engine_version": "7.1", "engine": "valkey"},
        "sharded Pub/Sub (cluster mode) needs Valkey 7.2+",
    ),
    ("cache", {"replicas_per_shard": 0}, "Multi-AZ failover needs 1 to 5 replicas"),
    ("cache", {"port": 6379}, "non-default port"),
    ("cache", {"engine": "memcached"}, "cache.engine='memcached'"),
    ("network", {"nat_gateways": 3}, "network.nat_gateways=3"),
    ("network", {"az_count": 1, "availability_zones": ("us-east-1a",)}, "at least 2 AZs"),
    ("network", {"nat_gateways": 0}, "network.nat_gateways=0 without interface_endpoints"),
    ("network", {"nat_gateways": 3}, "or 0 with interface_endpoints = true"),
    ("network", {"flow_log_retention_days": 1000}, "3653"),
    ("relay", {"cpu_architecture": "arm"}, "relay.cpu_architecture='arm': use \"arm64\""),
    ("relay", {"cpu_architecture": "arm64"}, "Fargate Spot runs only x86_64 tasks"),
    ("relay", {"spot_percent": 101}, "relay.spot_percent=101: use 0 (no Spot) to 100"),
    ("relay", {"on_demand_base": 5}, "relay.on_demand_base=5: use 0 to relay.max_tasks (4)"),
    ("waf", {"upgrade_rate_limit": 5}, "AWS WAF's lowest rate limit is 10"),
    ("waf", {"evaluation_window_seconds": 30}, "AWS WAF accepts 60, 120, 300, 600"),
    ("waf", {"allow_cidrs": ("203.0.113.7/24",)}, "is not an IPv4 network"),
    ("waf", {"allow_cidrs": ("0.0.0.0/4",)}, "list the load generators' own addresses"),
    ("waf", {"log_retention_days": 2}, "waf.log_retention_days=2"),
    ("waf", {"upgrade_rate_action": "captcha"}, "waf.upgrade_rate_action='captcha': use"),
]


@pytest.mark.parametrize(
    ("section", "change", "expected"), BAD_SETTINGS, ids=[b[2][:40] for b in BAD_SETTINGS]
)
def test_bad_setting_fails_with_a_fix(section: str, change: dict, expected: str) -> None:
    with pytest.raises(StageConfigError, match="Invalid settings for stage 'dev'") as raised:
        validate(replace(load("dev"), section, **change))
    assert expected in str(raised.value)


@pytest.mark.parametrize("days", [1096, 1827, 2192, 2557, 2922, 3288, 3653])
def test_long_log_retention_is_accepted(days: int) -> None:
    """CloudWatch Logs also takes 3 to 10 years (PutRetentionPolicy)."""
    validate(replace(load("prod"), "relay", log_retention_days=days))


def test_waf_allow_list_from_the_file_reaches_the_config(tmp_path: Path) -> None:
    settings = settings_from(
        tmp_path, '[stages.staging.waf]\nallow_cidrs = ["203.0.113.7/32", "198.51.100.0/24"]\n'
    )
    merged = {**shipped_settings().stage("staging"), **settings.stage("staging")}
    settings = type(settings)(path=settings.path, stages={"staging": merged})
    config = load_stage_config({"stage": "staging"}, {}, settings)
    assert config.waf.allow_cidrs == ("203.0.113.7/32", "198.51.100.0/24")
    assert config.waf.enabled


def test_sign_in_needs_a_route_to_the_alb_public_keys() -> None:
    prod = load("prod")
    with_sign_in = dataclasses.replace(
        prod, sign_in=dataclasses.replace(prod.sign_in, mode="cognito")
    )
    with pytest.raises(StageConfigError) as raised:
        validate(with_sign_in)
    assert "public-keys.auth.elb.<region>.amazonaws.com" in str(raised.value)
    assert "set nat_gateways = 1 (or more) in [stages.prod.network]" in str(raised.value)
    validate(replace(with_sign_in, "network", nat_gateways=3))


def test_every_problem_is_reported_at_once() -> None:
    config = replace(load("dev"), "relay", min_tasks=1, stop_timeout_seconds=500)
    with pytest.raises(StageConfigError) as raised:
        validate(replace(config, "cache", port=6379))
    assert str(raised.value).count("\n  - ") == 3


def test_app_exits_with_the_message_on_a_bad_stage() -> None:
    """What `cdk synth -c stage=qa` runs: app.py, context in CDK_CONTEXT_JSON."""
    env = {**os.environ, "CDK_CONTEXT_JSON": json.dumps({"stage": "qa"})}
    env.pop("CDK_DEFAULT_REGION", None)
    done = subprocess.run(
        [sys.executable, "app.py"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert "chat-relay: Unknown stage 'qa': pass -c stage=dev|staging|prod" in done.stderr
    assert "Traceback" not in done.stderr
