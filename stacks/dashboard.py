"""The stage's CloudWatch dashboard: ALB, relay tasks, the relay's own metrics, cache.

Built by stacks/monitoring.py from the metrics its alarms watch, so a graph and the
alarm on it always read the same metric.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from constructs import Construct

from stacks.relay.metrics import connections_metric

ONE_MINUTE = Duration.minutes(1)


def add_dashboard(
    scope: Construct,
    *,
    prefix: str,
    load_balancer: elbv2.ApplicationLoadBalancer,
    target_group: elbv2.ApplicationTargetGroup,
    alb_errors: list[cloudwatch.IMetric],
    targets: list[cloudwatch.IMetric],
    cpu: cloudwatch.IMetric,
    memory: cloudwatch.IMetric,
    relay: Mapping[str, cloudwatch.IMetric],
    cache: Mapping[str, list[cloudwatch.IMetric]],
    alarms: Sequence[cloudwatch.IAlarm],
) -> cloudwatch.Dashboard:
    """`relay`: the relay's metrics by key (stacks/monitoring.py); `cache`: per cache
    metric, one max-over-nodes expression per group of nodes."""
    lb_metrics, tg_metrics = load_balancer.metrics, target_group.metrics
    connections = connections_metric(prefix)
    dashboard = cloudwatch.Dashboard(
        scope,
        "Dashboard",
        dashboard_name=prefix,
        default_interval=Duration.hours(3),
    )
    dashboard.add_widgets(
        cloudwatch.TextWidget(
            markdown=f"# {prefix}\nALB, relay tasks on Fargate, Valkey cache. "
            "Alarms go to the SNS topic in the service stack's outputs.",
            width=24,
            height=2,
        )
    )
    dashboard.add_widgets(
        _graph("ALB connections", [lb_metrics.active_connection_count(period=ONE_MINUTE)]),
        _graph("New connections / min", [lb_metrics.new_connection_count(period=ONE_MINUTE)]),
        _graph("ALB 5XX and rejected", alb_errors),
        _graph("Targets", targets),
    )
    dashboard.add_widgets(
        _graph("Relay CPU %", [cpu]),
        _graph("Relay memory %", [memory]),
        _graph("WebSockets per task", [connections]),
        _graph(
            "Response time p99 (s)",
            [tg_metrics.target_response_time(period=ONE_MINUTE, statistic="p99")],
        ),
    )
    dashboard.add_widgets(
        cloudwatch.TextWidget(
            markdown="## Relay (EMF metrics, one value per task per minute)",
            width=24,
            height=1,
        ),
    )
    dashboard.add_widgets(
        _graph("Clients connected (all tasks)", [relay["clients"]]),
        _graph("Messages / min", [relay["messages_in"], relay["messages_out"]]),
        _graph("Deliveries / min", [relay["deliveries"]]),
        _graph("Fan-out latency (ms, worst task)", [relay["fanout_p99"], relay["fanout_max"]]),
    )
    dashboard.add_widgets(
        _graph("Redis reconnects, probe failures", [relay["reconnects"], relay["probes"]]),
        _graph("Backfilled messages", [relay["backfilled"]]),
        _graph("Slow-consumer closes, rate-limited", [relay["slow"], relay["rate_limited"]]),
        _graph("Event-loop lag max (ms)", [relay["loop_lag"]]),
    )
    dashboard.add_widgets(
        _graph("Cache engine CPU %", cache["EngineCPUUtilization"]),
        _graph("Cache memory %", cache["DatabaseMemoryUsagePercentage"]),
        _graph("Cache evictions", cache["Evictions"]),
        _graph("Replication lag (s)", cache["ReplicationLag"]),
        _graph("Cache connections", cache["CurrConnections"]),
        cloudwatch.AlarmStatusWidget(title="Alarms", alarms=list(alarms), width=6, height=6),
    )
    return dashboard


def _graph(title: str, metrics: Sequence[cloudwatch.IMetric]) -> cloudwatch.GraphWidget:
    return cloudwatch.GraphWidget(title=title, left=list(metrics), width=6, height=6)
