"""One alternative valid value per stage setting, for the settings-change matrix.

Each `Change` names a setting (a field of stacks/config/model.py, dotted), the value it
changes to, the baseline it starts from (staging as shipped, or staging in cluster mode or
with sign-in, where the setting only means something there), and the companion values a
valid config needs with it (az_count 3 needs three zones). test_settings_matrix.py checks
that every field of the model is here or in `NOT_UPDATES`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from stacks.config import StageConfig
from stacks.config.sign_in import SignInSettings
from tests.stacks.conftest import load

CERTIFICATE = "arn:aws:acm:us-east-1:111111111111:certificate/11111111-1111-1111-1111-111111111111"
OIDC = {
    "mode": "oidc",
    "issuer": "https://idp.example.com",
    "authorization_endpoint": "https://idp.example.com/oauth2/authorize",
    "token_endpoint": "https://idp.example.com/oauth2/token",
    "user_info_endpoint": "https://idp.example.com/oauth2/userinfo",
    "client_id": "chat-relay-staging",
    "client_secret_name": "chat-relay/staging/oidc-client-secret",
}


def _with(config: StageConfig, values: Mapping[str, Any]) -> StageConfig:
    """`config` with dotted settings replaced (`cache.port`: 6390)."""
    sections: dict[str, dict[str, Any]] = {}
    top: dict[str, Any] = {}
    for name, value in values.items():
        section, _, key = name.partition(".")
        if key:
            sections.setdefault(section, {})[key] = value
        else:
            top[name] = value
    for section, changes in sections.items():
        top[section] = dataclasses.replace(getattr(config, section), **changes)
    return dataclasses.replace(config, **top)


def baselines() -> dict[str, StageConfig]:
    """staging as shipped, and staging in the shapes some settings need."""
    staging = load("staging")
    return {
        "staging": staging,
        "staging, cluster mode": _with(staging, {"cache.cluster_mode": True, "cache.shards": 2}),
        "staging, cognito": _with(staging, {"sign_in": SignInSettings(mode="cognito")}),
        "staging, oidc": _with(staging, {"sign_in": SignInSettings(**OIDC)}),
    }


@dataclass(frozen=True)
class Change:
    setting: str
    value: Any
    baseline: str = "staging"
    # Other settings a valid config needs changed together with this one.
    with_: Mapping[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        where = "" if self.baseline == "staging" else f" ({self.baseline.split(', ')[1]})"
        return f"{self.setting}{where}"

    def apply(self, config: StageConfig) -> StageConfig:
        return _with(config, {self.setting: self.value, **self.with_})


CLUSTER, COGNITO, OIDC_BASE = "staging, cluster mode", "staging, cognito", "staging, oidc"

CHANGES: tuple[Change, ...] = (
    Change("network.cidr", "10.50.0.0/16"),
    Change(
        "network.az_count",
        3,
        with_={"network.availability_zones": ("us-east-1a", "us-east-1b", "us-east-1c")},
    ),
    Change("network.availability_zones", ("us-east-1a", "us-east-1c")),
    Change("network.nat_gateways", 2),
    Change("network.flow_log_retention_days", 30),
    Change("network.interface_endpoints", False),
    Change("cache.node_type", "cache.m7g.xlarge"),
    Change("cache.replicas_per_shard", 2),
    Change("cache.replicas_per_shard", 2, baseline=CLUSTER),
    Change("cache.snapshot_retention_days", 7),
    Change("cache.cluster_mode", True),
    Change("cache.shards", 3, baseline=CLUSTER),
    Change("cache.engine", "redis", with_={"cache.engine_version": "7.1"}),
    Change("cache.engine_version", "8.0"),
    Change("cache.port", 6390),
    Change("cache.slow_log_retention_days", 60),
    Change("load_balancer.deletion_protection", True),
    Change("load_balancer.access_log_retention_days", 60),
    Change("load_balancer.certificate_arn", CERTIFICATE),
    Change("load_balancer.domain_name", "chat.staging.example.com"),
    Change("load_balancer.idle_timeout_seconds", 300),
    Change("load_balancer.deregistration_delay_seconds", 60),
    Change("load_balancer.stickiness_seconds", 300),
    Change("load_balancer.health_check_path", "/readyz"),
    Change("relay.cpu", 512),
    Change("relay.memory_mib", 4096),
    Change("relay.min_tasks", 3),
    Change("relay.max_tasks", 12),
    Change("relay.cpu_target_percent", 70),
    Change("relay.connections_target_per_task", 3000),
    Change("relay.log_retention_days", 60),
    Change("relay.log_level", "debug"),
    Change("relay.port", 8080),
    Change("relay.ping_interval_seconds", 25),
    Change("relay.ping_timeout_seconds", 15),
    Change("relay.join_timeout_seconds", 20),
    Change("relay.drain_seconds", 10),
    Change("relay.drain_poll_seconds", 2),
    Change("relay.stop_timeout_seconds", 60),
    Change("relay.min_healthy_percent", 150),
    Change("relay.max_healthy_percent", 150),
    Change("relay.history_size", 100),
    Change("relay.history_max_len", 2000),
    Change("relay.history_ttl_days", 14),
    Change("relay.rate_limit", 5),
    Change("relay.rate_burst", 10),
    Change("relay.max_connections", 8000),
    Change("relay.presence_ttl_seconds", 60),
    Change("relay.publish_format", "compact"),
    Change("relay.scale_out_cooldown_seconds", 120),
    Change("relay.scale_in_cooldown_seconds", 1200),
    Change("relay.cpu_architecture", "x86_64"),
    Change("relay.spot_percent", 30, with_={"relay.cpu_architecture": "x86_64"}),
    Change("relay.on_demand_base", 2),
    Change("relay.trusted_proxy_hops", 1),
    Change("relay.new_identities_per_minute", 30),
    Change("relay.new_rooms_per_minute", 10),
    Change("retain_data", True),
    Change("alarm_email", "pager@example.com"),
    Change("tags", {"team": "chat"}),
    Change("monitoring.fanout_p99_threshold_ms", 300),
    Change("monitoring.redis_reconnects_per_minute", 20),
    Change("monitoring.zero_clients_hours_utc", (9, 17)),
    Change(
        "monitoring.zero_clients_minutes", 30, with_={"monitoring.zero_clients_hours_utc": (8, 20)}
    ),
    Change("sign_in.mode", "cognito"),
    Change("sign_in.session_timeout_seconds", 3600, baseline=OIDC_BASE),
    Change("sign_in.scope", "openid email", baseline=OIDC_BASE),
    Change("sign_in.cognito_domain_prefix", "chat-relay-staging-2", baseline=COGNITO),
    Change("sign_in.issuer", "https://login.example.com", baseline=OIDC_BASE),
    Change(
        "sign_in.authorization_endpoint", "https://idp.example.com/authorize", baseline=OIDC_BASE
    ),
    Change("sign_in.token_endpoint", "https://idp.example.com/token", baseline=OIDC_BASE),
    Change("sign_in.user_info_endpoint", "https://idp.example.com/userinfo", baseline=OIDC_BASE),
    Change("sign_in.client_id", "chat-relay-staging-2", baseline=OIDC_BASE),
    Change("sign_in.client_secret_name", "chat-relay/staging/oidc-2", baseline=OIDC_BASE),
    Change("sign_in.logout_url", "https://idp.example.com/logout", baseline=OIDC_BASE),
    Change("waf.enabled", False),
    Change("waf.upgrade_rate_limit", 600),
    Change("waf.evaluation_window_seconds", 120),
    Change("waf.upgrade_rate_action", "block"),
    Change("waf.allow_cidrs", ("203.0.113.0/24",)),
    Change("waf.log_retention_days", 90),
    Change("api.allow_cidrs", ("203.0.113.0/24",)),
    Change("attachments.enabled", False),
    Change("attachments.max_mb", 50),
)

# Fields that are not updates of a stage: another value is another deployment.
NOT_UPDATES: Mapping[str, str] = {
    "name": "another stage: its own stacks (chat-relay-<name>-*), nothing of this one changes",
    "region": "new stacks in the other region; this region's stacks stay until destroyed",
    "account": "new stacks in the other account; this account's stacks stay until destroyed",
}
