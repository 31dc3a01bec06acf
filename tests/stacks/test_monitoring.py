"""Monitoring stack: the alarms an operator is paged for, their topic, the dashboard."""

from __future__ import annotations

import json
from typing import Any

from tests.stacks.conftest import Synthesized, load

# metric name -> where it comes from; the list, one alarm each.
ALARMED_METRICS = {
    "HTTPCode_ELB_5XX_Count": "AWS/ApplicationELB",
    "HTTPCode_Target_5XX_Count": "AWS/ApplicationELB",
    "UnHealthyHostCount": "AWS/ApplicationELB",
    "RejectedConnectionCount": "AWS/ApplicationELB",
    "CPUUtilization": "AWS/ECS",
    "MemoryUtilization": "AWS/ECS",
    "EngineCPUUtilization": "AWS/ElastiCache",
    "DatabaseMemoryUsagePercentage": "AWS/ElastiCache",
    "Evictions": "AWS/ElastiCache",
    "ReplicationLag": "AWS/ElastiCache",
    "CurrConnections": "AWS/ElastiCache",
    # The relay's own EMF metrics (service/observability/emf.py).
    "FanoutLatencyP99": "ChatRelay",
    "ProbeFailures": "ChatRelay",
    "RedisReconnects": "ChatRelay",
    # Chat events lost on their way to the stage's EventBridge bus (issue 24).
    "EventsDropped": "ChatRelay",
}
# prod only: nobody connected during production hours.
PROD_ONLY = {"Connections": "ChatRelay"}
# With attachments on (every committed stage): scan verdicts that reached the dead letters.
ATTACHMENTS = {"ApproximateNumberOfMessagesVisible": "AWS/SQS"}
# What the relay emits (service/observability/emf.py) and the dashboard shows.
RELAY_DASHBOARD_METRICS = (
    "Connections",
    "MessagesIn",
    "MessagesOut",
    "Deliveries",
    "FanoutLatencyP99",
    "FanoutLatencyMax",
    "RedisReconnects",
    "ProbeFailures",
    "BackfilledMessages",
    "SlowConsumerCloses",
    "RateLimitedFrames",
    "EventLoopLagMax",
)


def alarms(stage: Synthesized) -> list[dict[str, Any]]:
    return [a["Properties"] for a in stage.resources("service", "AWS::CloudWatch::Alarm").values()]


def alarmed_metrics(alarm: dict[str, Any]) -> set[tuple[str, str]]:
    """(namespace, metric) pairs an alarm watches, plain or through metric math."""
    if "MetricName" in alarm:
        return {(alarm["Namespace"], alarm["MetricName"])}
    return {
        (q["MetricStat"]["Metric"]["Namespace"], q["MetricStat"]["Metric"]["MetricName"])
        for q in alarm["Metrics"]
        if "MetricStat" in q
    }


def test_every_listed_metric_has_an_alarm(stage: Synthesized) -> None:
    watched = set().union(*(alarmed_metrics(a) for a in alarms(stage)))
    expected = {**ALARMED_METRICS, **ATTACHMENTS, **(PROD_ONLY if stage.stage == "prod" else {})}
    assert {(ns, name) for name, ns in expected.items()} <= watched
    assert len(alarms(stage)) == len(expected)


def relay_alarm(stage: Synthesized, name: str) -> dict[str, Any]:
    (alarm,) = (a for a in alarms(stage) if a["AlarmName"] == f"chat-relay-{stage.stage}-{name}")
    return alarm


def test_relay_alarms_read_what_the_relay_emits(stage: Synthesized) -> None:
    service = [{"Name": "ServiceName", "Value": f"chat-relay-{stage.stage}"}]
    for name, metric, statistic, threshold, periods, datapoints in (
        ("RelayFanoutLatencyP99", "FanoutLatencyP99", "Maximum", 250, 3, 3),
        ("RelayProbeFailures", "ProbeFailures", "Sum", 1, 5, 3),
        ("RelayRedisReconnectStorm", "RedisReconnects", "Sum", 10, 3, 3),
    ):
        alarm = relay_alarm(stage, name)
        assert (alarm["Namespace"], alarm["MetricName"]) == ("ChatRelay", metric)
        assert alarm["Dimensions"] == service
        assert (alarm["Statistic"], alarm["Period"]) == (statistic, 60)
        assert alarm["Threshold"] == threshold
        assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
        assert (alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"]) == (periods, datapoints)


def test_zero_clients_alarm_only_in_prod_and_only_in_production_hours(stage: Synthesized) -> None:
    names = {a["AlarmName"] for a in alarms(stage)}
    if stage.stage != "prod":
        assert f"chat-relay-{stage.stage}-RelayZeroClients" not in names
        return
    alarm = relay_alarm(stage, "RelayZeroClients")
    assert alarm["ComparisonOperator"] == "LessThanThreshold"
    assert alarm["Threshold"] == 1
    assert alarm["EvaluationPeriods"] == alarm["DatapointsToAlarm"] == 15
    (expression,) = (q for q in alarm["Metrics"] if "Expression" in q)
    assert expression["Expression"] == "IF(HOUR(m) >= 8 AND HOUR(m) < 20, m, 1)"
    (stat,) = (q["MetricStat"] for q in alarm["Metrics"] if "MetricStat" in q)
    assert stat["Metric"]["MetricName"] == "Connections"
    assert stat["Stat"] == "Maximum"  # every task at zero
    # No task reporting is the outage it names, not a quiet period.
    assert alarm["TreatMissingData"] == "breaching"


def test_alarms_notify_the_topic_and_are_named(stage: Synthesized) -> None:
    (topic_id,) = stage.resources("service", "AWS::SNS::Topic")
    for alarm in alarms(stage):
        assert alarm["AlarmActions"] == [{"Ref": topic_id}]
        assert alarm["OKActions"] == [{"Ref": topic_id}]
        assert alarm["AlarmName"].startswith(f"chat-relay-{stage.stage}-")
        assert alarm["AlarmDescription"]
        if not alarm["AlarmName"].endswith("RelayZeroClients"):
            assert alarm["TreatMissingData"] == "notBreaching"


def test_cache_alarms_watch_every_node(stage: Synthesized) -> None:
    nodes = {
        f"chat-relay-{stage.stage}-{n:03d}" for n in range(1, (4 if stage.stage == "prod" else 3))
    }
    for alarm in alarms(stage):
        if "Metrics" not in alarm or alarm["AlarmName"].endswith("RelayZeroClients"):
            continue
        watched = {
            d["Value"]
            for q in alarm["Metrics"]
            if "MetricStat" in q
            for d in q["MetricStat"]["Metric"]["Dimensions"]
        }
        assert watched == nodes
        (expression,) = (q for q in alarm["Metrics"] if "Expression" in q)
        assert expression["Expression"].startswith("MAX([")
        assert expression["ReturnData"] is True


def test_alarm_topic_is_encrypted_and_ssl_only(stage: Synthesized) -> None:
    template = stage.template("service")
    (key_id,) = (k for k in stage.resources("service", "AWS::KMS::Key") if "AlarmTopicKey" in k)
    template.has_resource_properties(
        "AWS::SNS::Topic", {"KmsMasterKeyId": {"Fn::GetAtt": [key_id, "Arn"]}}
    )
    (policy,) = stage.resources("service", "AWS::SNS::TopicPolicy").values()
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    assert any(
        s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        for s in statements
    )
    key_policy = json.dumps(stage.resources("service", "AWS::KMS::Key")[key_id])
    assert "cloudwatch.amazonaws.com" in key_policy


def test_email_subscription_only_when_named(dev: Synthesized, prod: Synthesized) -> None:
    dev.template("service").resource_count_is("AWS::SNS::Subscription", 0)
    prod.template("service").has_resource_properties(
        "AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": load("prod").alarm_email}
    )


def test_dashboard_covers_alb_service_and_cache(stage: Synthesized) -> None:
    (dashboard,) = stage.resources("service", "AWS::CloudWatch::Dashboard").values()
    assert dashboard["Properties"]["DashboardName"] == f"chat-relay-{stage.stage}"
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    for metric in (*ALARMED_METRICS, "ActiveConnectionCount", "NewConnectionCount", "Connections"):
        assert metric in body, metric
    for metric in RELAY_DASHBOARD_METRICS:
        assert f'\\"{metric}\\"' in body or f'"{metric}"' in body, metric
    assert "ChatRelay" in body
