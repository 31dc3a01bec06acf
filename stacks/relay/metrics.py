"""The relay's own CloudWatch metrics (EMF lines on stdout) as CDK metrics.

Names, namespace and dimensions are the relay's contract (contract.metrics), so a metric
renamed there breaks an import here instead of blanking a dashboard. The autoscaling
policy tracks the average open WebSockets per task; the dashboard and alarms read the
rest, each over the whole service (the ServiceName dimension the stacks set).
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch

from contract import metrics
from contract.metrics import EmfMetric


def connections_metric(service_name: str) -> cloudwatch.Metric:
    """Open WebSockets per task, averaged over the service's tasks."""
    return relay_metric(service_name, metrics.CONNECTIONS, "Average")


def relay_metric(
    service_name: str, metric: EmfMetric, statistic: str, *, label: str | None = None
) -> cloudwatch.Metric:
    """One of the relay's EMF metrics over the whole service (dimension ServiceName).

    Each task sends one value per minute, so Average is per task, Sum the service total
    and Maximum the busiest task.
    """
    return cloudwatch.Metric(
        namespace=metrics.NAMESPACE,
        metric_name=metric.name,
        dimensions_map={metrics.SERVICE_NAME_DIMENSION: service_name},
        statistic=statistic,
        period=Duration.minutes(1),
        label=label,
    )
