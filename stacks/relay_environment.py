"""The relay's settings as the environment variables of its container.

The variables are the relay's contract (service/config.py reads them); the stage's
relay settings, the load balancer's idle timeout and the cache's topology set them.
"""

from __future__ import annotations

from stacks.config import RelaySettings
from stacks.relay_metrics import CONNECTIONS_METRIC_NAMESPACE

# One EMF line per task per CloudWatch period: the per-task Average stays exact.
METRICS_EMF_INTERVAL_SECONDS = 60
# How much longer than the ALB's idle timeout the relay keeps an idle HTTP connection.
KEEPALIVE_MARGIN_SECONDS = 5


def relay_environment(
    relay: RelaySettings,
    *,
    redis_url: str,
    redis_cluster: bool,
    target_group_arn: str,
    idle_timeout_seconds: int,
    domain_name: str | None,
    service_name: str,
) -> dict[str, str]:
    """The relay's settings as environment variables (contract: service/config.py)."""
    environment = {
        "PORT": str(relay.port),
        "REDIS_URL": redis_url,
        "HISTORY_SIZE": str(relay.history_size),
        "HISTORY_MAX_LEN": str(relay.history_max_len),
        "PING_INTERVAL": str(relay.ping_interval_seconds),
        "PING_TIMEOUT": str(relay.ping_timeout_seconds),
        "JOIN_TIMEOUT": str(relay.join_timeout_seconds),
        "RATE_LIMIT": str(relay.rate_limit),
        "RATE_BURST": str(relay.rate_burst),
        "MAX_CONNECTIONS": str(relay.max_connections),
        "DRAIN_SECONDS": str(relay.drain_seconds),
        # The relay drains when this target group reports its task `draining`.
        "DRAIN_TARGET_GROUP_ARN": target_group_arn,
        "DRAIN_POLL_SECONDS": str(relay.drain_poll_seconds),
        "PRESENCE_TTL": str(relay.presence_ttl_seconds),
        # Longer than the load balancer's idle timeout: the ALB, not the relay, closes an
        # idle kept-alive connection, so it never reuses one the relay is closing (a 502).
        "HTTP_KEEPALIVE_SECONDS": str(idle_timeout_seconds + KEEPALIVE_MARGIN_SECONDS),
        "LOG_LEVEL": relay.log_level,
        # Where the relay publishes its metrics (EMF through awslogs); the Connections
        # scaling policy and the monitoring stack read exactly this namespace and dimension.
        "METRICS_NAMESPACE": CONNECTIONS_METRIC_NAMESPACE,
        "METRICS_SERVICE_NAME": service_name,
        "METRICS_EMF_INTERVAL": str(METRICS_EMF_INTERVAL_SECONDS),
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
    }
    if redis_cluster:
        # Sharded Pub/Sub and slot-aware commands against the configuration endpoint.
        environment["REDIS_CLUSTER"] = "true"
    if domain_name:
        environment["ALLOWED_ORIGINS"] = f"https://{domain_name}"
    return environment
