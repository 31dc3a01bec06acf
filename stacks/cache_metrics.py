"""The cache's metrics for the alarms and the dashboard: each one the maximum over every node,
so a failover, which moves the primary role, changes nothing; over groups of whole shards
when the cluster has more nodes than one alarm's math expression may watch."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch

ONE_MINUTE = Duration.minutes(1)
# CloudWatch allows at most 10 metrics in one alarm's math expression.
MAX_METRICS_PER_ALARM = 10
# The metrics watched, each with the statistic its alarm reads.
CACHE_METRICS = (
    ("EngineCPUUtilization", "Average"),
    ("DatabaseMemoryUsagePercentage", "Average"),
    ("Evictions", "Sum"),
    ("ReplicationLag", "Maximum"),
    ("CurrConnections", "Maximum"),
)


def cache_metrics(
    node_ids: list[str], node_groups: list[list[str]]
) -> dict[str, list[cloudwatch.IMetric]]:
    """Each watched metric's maximum over each group of nodes."""
    return {
        name: [_cache_max(node_ids, group, name, statistic) for group in node_groups]
        for name, statistic in CACHE_METRICS
    }


def alarm_node_groups(node_ids: list[str], nodes_per_shard: int) -> list[list[str]]:
    """`node_ids` (ordered shard by shard) cut into groups of whole shards that one alarm
    can watch."""
    per_group = max(1, MAX_METRICS_PER_ALARM // nodes_per_shard) * nodes_per_shard
    return [node_ids[start : start + per_group] for start in range(0, len(node_ids), per_group)]


def _cache_max(
    all_node_ids: list[str], node_ids: list[str], metric: str, statistic: str
) -> cloudwatch.IMetric:
    # Ids unique over all nodes: a dashboard graph may hold several groups' expressions.
    per_node = {
        f"n{all_node_ids.index(node_id)}": cloudwatch.Metric(
            namespace="AWS/ElastiCache",
            metric_name=metric,
            dimensions_map={"CacheClusterId": node_id},
            statistic=statistic,
            period=ONE_MINUTE,
        )
        for node_id in node_ids
    }
    covered = "nodes" if node_ids == all_node_ids else f"{node_ids[0]} to {node_ids[-1]}"
    return cloudwatch.MathExpression(
        expression=f"MAX([{', '.join(per_node)}])",
        using_metrics=per_node,
        label=f"{metric} (max over {covered})",
        period=ONE_MINUTE,
    )
