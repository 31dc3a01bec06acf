"""Monitoring: one dashboard and the alarms an operator is paged for.

Alarms publish to an encrypted SNS topic (subscribe with -c alarmEmail=...). The cache
alarms take the maximum over every node, so a failover, which moves the primary role,
changes no alarm.
"""

from __future__ import annotations

from aws_cdk import CfnOutput, Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from stacks.config import StageConfig
from stacks.log_groups import removal_policy
from stacks.service import connections_metric

ONE_MINUTE = Duration.minutes(1)
FIVE_MINUTES = Duration.minutes(5)
# Far above what the relay's per-task pools open, far below the engine's 65,000 maxclients:
# crossing it means a connection leak.
CACHE_CONNECTIONS_THRESHOLD = 5000


class MonitoringStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        load_balancer: elbv2.ApplicationLoadBalancer,
        target_group: elbv2.ApplicationTargetGroup,
        service: ecs.FargateService,
        cache_node_ids: list[str],
        **kwargs,
    ):
        super().__init__(scope, construct_id, **kwargs)
        self.config = config

        topic_key = kms.Key(
            self,
            "AlarmTopicKey",
            description=f"{config.prefix}: alarm topic encryption",
            enable_key_rotation=True,
            removal_policy=removal_policy(config),
        )
        # CloudWatch must encrypt what it publishes to the topic.
        topic_key.grant(
            iam.ServicePrincipal("cloudwatch.amazonaws.com"), "kms:Decrypt", "kms:GenerateDataKey*"
        )
        self.topic = sns.Topic(
            self,
            "AlarmTopic",
            display_name=f"{config.prefix} alarms",
            master_key=topic_key,
            enforce_ssl=True,
        )
        if config.alarm_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(config.alarm_email))

        lb_metrics = load_balancer.metrics
        tg_metrics = target_group.metrics
        elb_5xx = lb_metrics.http_code_elb(
            elbv2.HttpCodeElb.ELB_5XX_COUNT, period=ONE_MINUTE, statistic="Sum"
        )
        target_5xx = lb_metrics.http_code_target(
            elbv2.HttpCodeTarget.TARGET_5XX_COUNT, period=ONE_MINUTE, statistic="Sum"
        )
        rejected = lb_metrics.rejected_connection_count(period=ONE_MINUTE, statistic="Sum")
        unhealthy = tg_metrics.unhealthy_host_count(period=ONE_MINUTE, statistic="Maximum")
        healthy = tg_metrics.healthy_host_count(period=ONE_MINUTE, statistic="Minimum")
        cpu = service.metric_cpu_utilization(period=ONE_MINUTE, statistic="Average")
        memory = service.metric_memory_utilization(period=ONE_MINUTE, statistic="Average")
        cache = {
            name: self._cache_max(cache_node_ids, name, statistic)
            for name, statistic in (
                ("EngineCPUUtilization", "Average"),
                ("DatabaseMemoryUsagePercentage", "Average"),
                ("Evictions", "Sum"),
                ("ReplicationLag", "Maximum"),
                ("CurrConnections", "Maximum"),
            )
        }

        self.alarms: dict[str, cloudwatch.Alarm] = {}
        self._alarm("AlbElb5xx", elb_5xx, 10, "ALB returned 5XX itself (no healthy target?)")
        self._alarm("AlbTarget5xx", target_5xx, 10, "Relay tasks answered 5XX")
        self._alarm("AlbRejectedConnections", rejected, 1, "ALB rejected connections (capacity)")
        self._alarm("UnhealthyHosts", unhealthy, 1, "A relay task fails /healthz", periods=3)
        self._alarm("ServiceCpu", cpu, 85, "Relay CPU above 85% (autoscaling at max?)", periods=5)
        self._alarm("ServiceMemory", memory, 85, "Relay memory above 85%", periods=5)
        self._alarm("CacheEngineCpu", cache["EngineCPUUtilization"], 80, "Cache engine CPU")
        self._alarm(
            "CacheMemory", cache["DatabaseMemoryUsagePercentage"], 80, "Cache memory above 80%"
        )
        self._alarm("CacheEvictions", cache["Evictions"], 1, "Cache evicts keys: memory full")
        self._alarm(
            "CacheReplicationLag", cache["ReplicationLag"], 5, "A replica lags by 5 s or more"
        )
        self._alarm(
            "CacheConnections",
            cache["CurrConnections"],
            CACHE_CONNECTIONS_THRESHOLD,
            "Cache client connections: a leak in the relay?",
        )

        connections = connections_metric(config)
        self.dashboard = cloudwatch.Dashboard(
            self,
            "Dashboard",
            dashboard_name=config.prefix,
            default_interval=Duration.hours(3),
        )
        self.dashboard.add_widgets(
            cloudwatch.TextWidget(
                markdown=f"# {config.prefix}\nALB, relay tasks on Fargate, Valkey cache. "
                "Alarms go to the SNS topic in this stack's outputs.",
                width=24,
                height=2,
            )
        )
        self.dashboard.add_widgets(
            _graph("ALB connections", [lb_metrics.active_connection_count(period=ONE_MINUTE)]),
            _graph("New connections / min", [lb_metrics.new_connection_count(period=ONE_MINUTE)]),
            _graph("ALB 5XX and rejected", [elb_5xx, target_5xx, rejected]),
            _graph("Targets", [healthy, unhealthy]),
        )
        self.dashboard.add_widgets(
            _graph("Relay CPU %", [cpu]),
            _graph("Relay memory %", [memory]),
            _graph("WebSockets per task", [connections]),
            _graph(
                "Response time p99 (s)",
                [tg_metrics.target_response_time(period=ONE_MINUTE, statistic="p99")],
            ),
        )
        self.dashboard.add_widgets(
            _graph("Cache engine CPU %", [cache["EngineCPUUtilization"]]),
            _graph("Cache memory %", [cache["DatabaseMemoryUsagePercentage"]]),
            _graph("Cache evictions", [cache["Evictions"]]),
            _graph("Replication lag (s)", [cache["ReplicationLag"]]),
            _graph("Cache connections", [cache["CurrConnections"]]),
            cloudwatch.AlarmStatusWidget(
                title="Alarms", alarms=list(self.alarms.values()), width=6, height=6
            ),
        )

        CfnOutput(self, "AlarmTopicArn", value=self.topic.topic_arn)
        CfnOutput(self, "DashboardName", value=config.prefix)

    def _cache_max(self, node_ids: list[str], metric: str, statistic: str) -> cloudwatch.IMetric:
        per_node = {
            f"n{index}": cloudwatch.Metric(
                namespace="AWS/ElastiCache",
                metric_name=metric,
                dimensions_map={"CacheClusterId": node_id},
                statistic=statistic,
                period=ONE_MINUTE,
            )
            for index, node_id in enumerate(node_ids)
        }
        return cloudwatch.MathExpression(
            expression=f"MAX([{', '.join(per_node)}])",
            using_metrics=per_node,
            label=f"{metric} (max over nodes)",
            period=ONE_MINUTE,
        )

    def _alarm(
        self,
        construct_id: str,
        metric: cloudwatch.IMetric,
        threshold: float,
        description: str,
        *,
        periods: int = 3,
    ) -> cloudwatch.Alarm:
        alarm = cloudwatch.Alarm(
            self,
            construct_id,
            alarm_name=f"{self.config.prefix}-{construct_id}",
            alarm_description=description,
            metric=metric,
            threshold=threshold,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=periods,
            datapoints_to_alarm=periods,
            # No data = nothing bad happened: no 5XX, no replica lag on the primary.
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        alarm.add_alarm_action(actions.SnsAction(self.topic))
        alarm.add_ok_action(actions.SnsAction(self.topic))
        self.alarms[construct_id] = alarm
        return alarm


def _graph(title: str, metrics: list[cloudwatch.IMetric]) -> cloudwatch.GraphWidget:
    return cloudwatch.GraphWidget(title=title, left=metrics, width=6, height=6)
