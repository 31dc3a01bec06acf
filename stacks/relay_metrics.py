"""The relay's own CloudWatch metrics (EMF lines on stdout, service/emf.py) as CDK metrics.

The autoscaling policy tracks the average open WebSockets per task; the dashboard and
alarms read the rest. The relay publishes them under one namespace with the dimension
ServiceName, which the stacks set (relay_environment.py).
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch

CONNECTIONS_METRIC_NAMESPACE = "ChatRelay"
CONNECTIONS_METRIC_NAME = "Connections"


def connections_metric(service_name: str) -> cloudwatch.Metric:
    """Open WebSockets per task, averaged over the service's tasks."""
    return relay_metric(service_name, CONNECTIONS_METRIC_NAME, "Average")


def relay_metric(
    service_name: str, name: str, statistic: str, *, label: str | None = None
) -> cloudwatch.Metric:
    """One of the relay's EMF metrics over the whole service (dimension ServiceName).

    Each task sends one value per minute, so Average is per task, Sum the service total
    and Maximum the busiest task (metric names: service/emf.py).
    """
    return cloudwatch.Metric(
        namespace=CONNECTIONS_METRIC_NAMESPACE,
        metric_name=name,
        dimensions_map={"ServiceName": service_name},
        statistic=statistic,
        period=Duration.minutes(1),
        label=label,
    )
