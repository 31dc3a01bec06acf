"""Monitoring: one dashboard and the alarms an operator is paged for.

A construct inside the service stack, beside the load balancer, target group and service
it watches: a listener or target group that is replaced (dev turning HTTPS, a new port)
updates its alarms in the same stack update. As a stack of its own it imported their
names as CloudFormation exports, and CloudFormation refuses to change or remove an
export another stack imports, so such a change deadlocked the service stack's update.

Alarms publish to an encrypted SNS topic per stage (alarm_email in stages.toml).
The cache alarms take the maximum over every node (over each group of up to 10 nodes
in a large cluster), so a failover, which moves the primary role, changes no alarm. The
relay alarms read the relay's own EMF metrics (names, namespace and dimension from
contract.metrics); docs/operations.md says what each means and what to do.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from aws_cdk import CfnOutput, Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from contract import metrics
from stacks.cache_metrics import alarm_node_groups, cache_metrics
from stacks.config import MonitoringSettings, StageIdentity
from stacks.dashboard import add_dashboard
from stacks.log_groups import removal_policy
from stacks.relay.metrics import relay_metric

ONE_MINUTE = Duration.minutes(1)
FIVE_MINUTES = Duration.minutes(5)
# Far above what the relay's per-task pools open, far below the engine's 65,000 maxclients:
# crossing it means a connection leak.
CACHE_CONNECTIONS_THRESHOLD = 5000


@dataclass(frozen=True)
class MonitoringProps:
    """What the alarms and the dashboard watch, and whom they tell."""

    stage: StageIdentity
    # The alarm thresholds.
    limits: MonitoringSettings
    # Who the alarm topic mails, if anyone.
    alarm_email: str | None
    load_balancer: elbv2.ApplicationLoadBalancer
    target_group: elbv2.ApplicationTargetGroup
    service: ecs.FargateService
    # CacheClusterId of every cache node, shard by shard.
    cache_node_ids: list[str]
    cache_nodes_per_shard: int
    # Attachments' scan verdicts that were never applied (None: attachments are off).
    scan_dead_letters: sqs.IQueue | None = None


class Monitoring(Construct):
    def __init__(self, scope: Construct, construct_id: str, props: MonitoringProps) -> None:
        super().__init__(scope, construct_id)
        stage, limits, alarm_email = props.stage, props.limits, props.alarm_email
        load_balancer, target_group = props.load_balancer, props.target_group
        service = props.service
        cache_node_ids, cache_nodes_per_shard = props.cache_node_ids, props.cache_nodes_per_shard
        self.stage, self.limits = stage, limits

        topic_key = kms.Key(
            self,
            "AlarmTopicKey",
            description=f"{stage.prefix}: alarm topic encryption",
            enable_key_rotation=True,
            removal_policy=removal_policy(stage),
        )
        # CloudWatch must encrypt what it publishes to the topic.
        topic_key.grant(
            iam.ServicePrincipal("cloudwatch.amazonaws.com"), "kms:Decrypt", "kms:GenerateDataKey*"
        )
        self.topic = sns.Topic(
            self,
            "AlarmTopic",
            display_name=f"{stage.prefix} alarms",
            master_key=topic_key,
            enforce_ssl=True,
        )
        if alarm_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(alarm_email))

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
        node_groups = alarm_node_groups(cache_node_ids, cache_nodes_per_shard)
        cache = cache_metrics(cache_node_ids, node_groups)

        self.alarms: dict[str, cloudwatch.Alarm] = {}
        self._alarm("AlbElb5xx", elb_5xx, 10, "ALB returned 5XX itself (no healthy target?)")
        self._alarm("AlbTarget5xx", target_5xx, 10, "Relay tasks answered 5XX")
        self._alarm("AlbRejectedConnections", rejected, 1, "ALB rejected connections (capacity)")
        self._alarm("UnhealthyHosts", unhealthy, 1, "A relay task fails /healthz", periods=3)
        self._alarm("ServiceCpu", cpu, 85, "Relay CPU above 85% (autoscaling at max?)", periods=5)
        self._alarm("ServiceMemory", memory, 85, "Relay memory above 85%", periods=5)
        for construct_id, metric, threshold, description in (
            ("CacheEngineCpu", "EngineCPUUtilization", 80, "Cache engine CPU"),
            ("CacheMemory", "DatabaseMemoryUsagePercentage", 80, "Cache memory above 80%"),
            ("CacheEvictions", "Evictions", 1, "Cache evicts keys: memory full"),
            ("CacheReplicationLag", "ReplicationLag", 5, "A replica lags by 5 s or more"),
            (
                "CacheConnections",
                "CurrConnections",
                CACHE_CONNECTIONS_THRESHOLD,
                "Cache client connections: a leak in the relay?",
            ),
        ):
            for index, group_metric in enumerate(cache[metric]):
                # More nodes than one alarm may watch: one alarm per group of whole shards.
                suffix = f"Group{index + 1}" if len(node_groups) > 1 else ""
                self._alarm(f"{construct_id}{suffix}", group_metric, threshold, description)

        relay = self._relay_alarms()
        if props.scan_dead_letters is not None:
            # Any message here is an attachment that stays "scanning" (operations.md).
            unapplied = props.scan_dead_letters.metric_approximate_number_of_messages_visible(
                period=FIVE_MINUTES, statistic="Maximum"
            )
            self._alarm("ScanResultsDeadLetters", unapplied, 1, "Scan verdicts never applied")

        self.dashboard = add_dashboard(
            self,
            prefix=stage.prefix,
            load_balancer=load_balancer,
            target_group=target_group,
            alb_errors=[elb_5xx, target_5xx, rejected],
            targets=[healthy, unhealthy],
            cpu=cpu,
            memory=memory,
            relay=relay,
            cache=cache,
            alarms=list(self.alarms.values()),
        )

        CfnOutput(self, "AlarmTopicArn", value=self.topic.topic_arn)
        CfnOutput(self, "DashboardName", value=stage.prefix)

    def _relay_alarms(self) -> dict[str, cloudwatch.IMetric]:
        """The relay's metrics for the dashboard, and the alarms on them."""
        limits = self.limits
        metric = functools.partial(relay_metric, self.stage.prefix)
        relay: dict[str, cloudwatch.IMetric] = {
            "clients": metric(metrics.CONNECTIONS, "Sum", label="clients (sum over tasks)"),
            "messages_in": metric(metrics.MESSAGES_IN, "Sum", label="in (sent by clients)"),
            "messages_out": metric(metrics.MESSAGES_OUT, "Sum", label="out (fanned out, per task)"),
            "deliveries": metric(metrics.DELIVERIES, "Sum"),
            "fanout_p99": metric(metrics.FANOUT_LATENCY_P99, "Maximum"),
            "fanout_max": metric(metrics.FANOUT_LATENCY_MAX, "Maximum"),
            "reconnects": metric(metrics.REDIS_RECONNECTS, "Sum"),
            "probes": metric(metrics.PROBE_FAILURES, "Sum"),
            "backfilled": metric(metrics.BACKFILLED_MESSAGES, "Sum"),
            "slow": metric(metrics.SLOW_CONSUMER_CLOSES, "Sum", label="1013 slow consumer"),
            "rate_limited": metric(metrics.RATE_LIMITED_FRAMES, "Sum", label="rate-limited frames"),
            "loop_lag": metric(metrics.EVENT_LOOP_LAG_MAX, "Maximum"),
        }
        # Alarmed metrics carry no label: the alarm then names the metric itself.
        # Worst task's p99 for 3 minutes in a row: a one-minute spike (the backfill after a
        # failover counts with its real delay) does not page, a saturated relay does.
        self._alarm(
            "RelayFanoutLatencyP99",
            relay["fanout_p99"],
            limits.fanout_p99_threshold_ms,
            f"Fan-out p99 at or above {limits.fanout_p99_threshold_ms} ms on a relay task "
            "for 3 minutes: messages arrive late (CPU saturated, Redis slow?)",
        )
        # One deaf subscriber is what a failover looks like; repeats in 3 of 5 minutes mean
        # something keeps silencing the subscriber (output-buffer limit, network path).
        self._alarm(
            "RelayProbeFailures",
            relay["probes"],
            1,
            "Deaf Redis subscribers detected in 3 of 5 minutes: live messages keep "
            "stalling until backfill",
            periods=5,
            datapoints=3,
        )
        self._alarm(
            "RelayRedisReconnectStorm",
            relay["reconnects"],
            limits.redis_reconnects_per_minute,
            f"{limits.redis_reconnects_per_minute}+ Redis subscriber reconnects a minute "
            "over the service for 3 minutes: Redis keeps dropping the relays",
        )
        # Any event lost is one a product's backend never hears of: page on the first.
        self._alarm(
            "RelayEventsDropped",
            metric(metrics.EVENTS_DROPPED, "Sum"),
            1,
            "Chat events dropped on their way to the stage's EventBridge bus: the bus failed "
            "(or refused them) longer than EVENT_BUFFER_SIZE could hold; the relay logs each "
            "as 'event dropped'",
            periods=1,
        )
        hours = limits.zero_clients_hours_utc
        if hours is not None:
            # Outside the hours the expression answers 1 (fine): CloudWatch alarms have no
            # schedule, metric math does (HOUR() is UTC).
            busiest = metric(metrics.CONNECTIONS, "Maximum")
            in_hours = cloudwatch.MathExpression(
                expression=f"IF(HOUR(m) >= {hours[0]} AND HOUR(m) < {hours[1]}, m, 1)",
                using_metrics={"m": busiest},
                label=f"clients on the busiest task, {hours[0]:02d}-{hours[1]:02d} UTC",
                period=ONE_MINUTE,
            )
            minutes = limits.zero_clients_minutes
            self._alarm(
                "RelayZeroClients",
                in_hours,
                1,
                f"No client connected to any task for {minutes} minutes between "
                f"{hours[0]:02d}:00 and {hours[1]:02d}:00 UTC: the chat is unreachable "
                "(DNS, certificate, ALB, origin check) or the relays do not report",
                periods=minutes,
                comparison=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
                # No data is no task reporting (at any hour): the very outage this catches.
                missing=cloudwatch.TreatMissingData.BREACHING,
            )
        return relay

    def _alarm(
        self,
        construct_id: str,
        metric: cloudwatch.IMetric,
        threshold: float,
        description: str,
        *,
        periods: int = 3,
        datapoints: int | None = None,
        comparison: cloudwatch.ComparisonOperator = (
            cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD
        ),
        # No data = nothing bad happened: no 5XX, no replica lag on the primary.
        missing: cloudwatch.TreatMissingData = cloudwatch.TreatMissingData.NOT_BREACHING,
    ) -> cloudwatch.Alarm:
        alarm = cloudwatch.Alarm(
            self,
            construct_id,
            alarm_name=f"{self.stage.prefix}-{construct_id}",
            alarm_description=description,
            metric=metric,
            threshold=threshold,
            comparison_operator=comparison,
            evaluation_periods=periods,
            datapoints_to_alarm=datapoints or periods,
            treat_missing_data=missing,
        )
        alarm.add_alarm_action(actions.SnsAction(self.topic))
        alarm.add_ok_action(actions.SnsAction(self.topic))
        self.alarms[construct_id] = alarm
        return alarm
