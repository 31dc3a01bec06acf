"""The relay's settings as the environment variables of its container.

Names come from the relay's contract (contract.settings; service/config.py reads them),
values from the stage's relay settings, the load balancer's idle timeout and the cache's
topology, each written as the contract's setting writes it.
"""

from __future__ import annotations

from contract import metrics, settings
from stacks.config import RelaySettings

# One EMF line per task per CloudWatch period: the per-task Average stays exact.
METRICS_EMF_INTERVAL_SECONDS = 60
# Prometheus text on a port the target group does not forward (the OpenTelemetry Prometheus
# exporter's customary port): no spelling of /metrics reaches it through the load balancer.
METRICS_PORT = 9464
# How much longer than the ALB's idle timeout the relay keeps an idle HTTP connection.
KEEPALIVE_MARGIN_SECONDS = 5


def relay_environment(
    relay: RelaySettings,
    *,
    redis_url: str,
    redis_cluster: bool,
    redis_iam_user: str,
    redis_iam_cache_name: str,
    region: str,
    target_group_arn: str,
    idle_timeout_seconds: int,
    domain_name: str | None,
    service_name: str,
    event_bus_name: str,
) -> dict[str, str]:
    """The relay's settings as environment variables (contract: contract.settings)."""
    s = settings
    if relay.port == METRICS_PORT:
        raise ValueError(f"the relay's port {relay.port} is its METRICS_PORT; choose another")
    environment = {
        s.PORT.name: s.PORT.env_value(relay.port),
        s.REDIS_URL.name: s.REDIS_URL.env_value(redis_url),
        # IAM authentication: a token per connection, signed with the task role for this
        # user and replication group in this region (no secret in the task).
        s.REDIS_IAM_USER.name: s.REDIS_IAM_USER.env_value(redis_iam_user),
        s.REDIS_IAM_CACHE_NAME.name: s.REDIS_IAM_CACHE_NAME.env_value(redis_iam_cache_name),
        s.AWS_REGION.name: s.AWS_REGION.env_value(region),
        s.HISTORY_SIZE.name: s.HISTORY_SIZE.env_value(relay.history_size),
        s.HISTORY_MAX_LEN.name: s.HISTORY_MAX_LEN.env_value(relay.history_max_len),
        s.PING_INTERVAL.name: s.PING_INTERVAL.env_value(relay.ping_interval_seconds),
        s.PING_TIMEOUT.name: s.PING_TIMEOUT.env_value(relay.ping_timeout_seconds),
        s.JOIN_TIMEOUT.name: s.JOIN_TIMEOUT.env_value(relay.join_timeout_seconds),
        s.RATE_LIMIT.name: s.RATE_LIMIT.env_value(relay.rate_limit),
        s.RATE_BURST.name: s.RATE_BURST.env_value(relay.rate_burst),
        s.MAX_CONNECTIONS.name: s.MAX_CONNECTIONS.env_value(relay.max_connections),
        s.DRAIN_SECONDS.name: s.DRAIN_SECONDS.env_value(relay.drain_seconds),
        # The relay drains when this target group reports its task `draining`.
        s.DRAIN_TARGET_GROUP_ARN.name: s.DRAIN_TARGET_GROUP_ARN.env_value(target_group_arn),
        s.DRAIN_POLL_SECONDS.name: s.DRAIN_POLL_SECONDS.env_value(relay.drain_poll_seconds),
        s.PRESENCE_TTL.name: s.PRESENCE_TTL.env_value(relay.presence_ttl_seconds),
        # Longer than the load balancer's idle timeout: the ALB, not the relay, closes an
        # idle kept-alive connection, so it never reuses one the relay is closing (a 502).
        s.HTTP_KEEPALIVE_SECONDS.name: s.HTTP_KEEPALIVE_SECONDS.env_value(
            idle_timeout_seconds + KEEPALIVE_MARGIN_SECONDS
        ),
        s.LOG_LEVEL.name: s.LOG_LEVEL.env_value(relay.log_level),
        # Where the relay publishes its metrics (EMF through awslogs); the Connections
        # scaling policy and the monitoring stack read exactly this namespace and dimension.
        s.METRICS_NAMESPACE.name: s.METRICS_NAMESPACE.env_value(metrics.NAMESPACE),
        s.METRICS_SERVICE_NAME.name: s.METRICS_SERVICE_NAME.env_value(service_name),
        s.METRICS_EMF_INTERVAL.name: s.METRICS_EMF_INTERVAL.env_value(METRICS_EMF_INTERVAL_SECONDS),
        # The stage's bus (stacks/relay/events.py); the task role may put events on it only.
        s.EVENT_BUS_NAME.name: s.EVENT_BUS_NAME.env_value(event_bus_name),
        s.METRICS_PORT.name: s.METRICS_PORT.env_value(METRICS_PORT),
        # Python's own, not the relay's: no .pyc on the read-only root, logs unbuffered.
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
    }
    if relay.publish_format != s.REDIS_PUBLISH_FORMAT.default:
        # Only a stage's own choice: the default leaves the task as it was before it existed.
        environment[s.REDIS_PUBLISH_FORMAT.name] = s.REDIS_PUBLISH_FORMAT.env_value(
            relay.publish_format
        )
    for field, variable in (
        ("trusted_proxy_hops", s.TRUSTED_PROXY_HOPS),
        ("new_identities_per_minute", s.NEW_IDENTITIES_PER_MINUTE),
        ("new_rooms_per_minute", s.NEW_ROOMS_PER_MINUTE),
        ("history_ttl_days", s.HISTORY_TTL_DAYS),
    ):
        value = getattr(relay, field)
        if value != variable.default:  # only a stage's own choice (prod): others unchanged
            environment[variable.name] = variable.env_value(value)
    if redis_cluster:
        # Sharded Pub/Sub and slot-aware commands against the configuration endpoint.
        environment[s.REDIS_CLUSTER.name] = s.REDIS_CLUSTER.env_value(True)
    if domain_name:
        environment[s.ALLOWED_ORIGINS.name] = s.ALLOWED_ORIGINS.env_value(f"https://{domain_name}")
    return environment
