"""Issue 24 in the stacks: the stage's EventBridge bus (the task may put events on it and
nothing else), the alarm on dropped events, the relay's secrets (Secrets Manager, injected
as ECS secrets, never a value in a template) and `/api/*` open at the ALB only to the
networks a stage lists."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from contract import metrics
from stacks.config import STAGES, ApiSettings, StageConfigError, load_stage_config, validate
from stacks.config.settings_file import read_settings_file
from stacks.load_balancer import API_ALLOW_PRIORITY, API_DENY_PRIORITY
from stacks.relay.secrets import ROOM_TOKEN_SECRET, SERVER_API_KEYS
from tests.stacks.conftest import API_OPEN_TABLE, Synthesized, load, settings_with


def props(stage: Synthesized, resource_type: str) -> dict[str, dict[str, Any]]:
    return {k: v["Properties"] for k, v in stage.resources("service", resource_type).items()}


def container(stage: Synthesized) -> dict[str, Any]:
    (definition,) = props(stage, "AWS::ECS::TaskDefinition").values()
    (relay,) = definition["ContainerDefinitions"]
    return relay


def api_rules(stage: Synthesized) -> dict[int, dict[str, Any]]:
    """The listener rules whose path condition is /api/*, by priority."""
    return {
        rule["Priority"]: rule
        for rule in props(stage, "AWS::ElasticLoadBalancingV2::ListenerRule").values()
        if {"Field": "path-pattern", "PathPatternConfig": {"Values": ["/api/*"]}}
        in rule["Conditions"]
    }


def test_each_stage_has_its_bus_and_the_relay_sends_to_it(stage: Synthesized) -> None:
    (bus,) = props(stage, "AWS::Events::EventBus").values()
    assert bus["Name"] == f"chat-relay-{stage.stage}-events"
    environment = {e["Name"]: e["Value"] for e in container(stage)["Environment"]}
    assert environment["EVENT_BUS_NAME"] == bus["Name"]


def test_nothing_else_in_the_stage_may_put_events(stage: Synthesized) -> None:
    (bus_id,) = stage.resources("service", "AWS::Events::EventBus")
    grants = []
    for part in stage.parts:
        for policy in stage.resources(part, "AWS::IAM::Policy").values():
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
                actions = statement["Action"]
                actions = [actions] if isinstance(actions, str) else actions
                # PutEvents only: GuardDuty's scan role manages its own rule (events:PutRule).
                if "events:PutEvents" in actions:
                    grants.append((policy["Properties"]["Roles"], actions, statement["Resource"]))
    roles = props(stage, "AWS::IAM::Role")
    (task_role,) = [i for i in roles if i.startswith("TaskDefinitionTaskRole")]
    assert grants == [([{"Ref": task_role}], ["events:PutEvents"], {"Fn::GetAtt": [bus_id, "Arn"]})]


def test_dropped_events_page_at_the_first_one(stage: Synthesized) -> None:
    (alarm,) = [
        a
        for a in props(stage, "AWS::CloudWatch::Alarm").values()
        if a.get("MetricName") == metrics.EVENTS_DROPPED.name
    ]
    assert alarm["Namespace"] == metrics.NAMESPACE
    assert alarm["Dimensions"] == [
        {"Name": metrics.SERVICE_NAME_DIMENSION, "Value": f"chat-relay-{stage.stage}"}
    ]
    assert (alarm["Statistic"], alarm["Period"], alarm["Threshold"]) == ("Sum", 60, 1)
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert alarm["EvaluationPeriods"] == 1 and alarm["AlarmActions"]


def test_the_relay_secrets_are_generated_injected_and_never_in_a_template(
    stage: Synthesized,
) -> None:
    relay = container(stage)
    variables = {e["Name"] for e in relay["Environment"]}
    assert not {SERVER_API_KEYS, ROOM_TOKEN_SECRET} & variables
    injected = {s["Name"]: s["ValueFrom"] for s in relay["Secrets"]}
    secrets = props(stage, "AWS::SecretsManager::Secret")
    expected = ((SERVER_API_KEYS, "ServerApiKeys"), (ROOM_TOKEN_SECRET, "RoomTokenSecret"))
    for variable, construct in expected:
        (logical_id,) = [i for i in secrets if i.startswith(construct)]
        secret = secrets[logical_id]
        assert injected[variable] == {"Ref": logical_id}
        assert "SecretString" not in secret  # Secrets Manager generates the value
        generator = secret["GenerateSecretString"]
        assert generator["ExcludePunctuation"] is True and generator["PasswordLength"] >= 32
        assert "KmsKeyId" in secret
    # The execution role (which starts the task) reads them; the task role does not.
    text = {
        role: json.dumps(policy["PolicyDocument"])
        for policy in props(stage, "AWS::IAM::Policy").values()
        for role in [policy["Roles"][0]["Ref"]]
    }
    execution = next(r for r in text if r.startswith("TaskDefinitionExecutionRole"))
    task = next(r for r in text if r.startswith("TaskDefinitionTaskRole"))
    for construct in ("ServerApiKeys", "RoomTokenSecret"):
        assert construct in text[execution] and construct not in text[task]


def test_the_api_is_off_at_the_load_balancer_by_default(stage: Synthesized) -> None:
    rules = api_rules(stage)
    assert list(rules) == [API_DENY_PRIORITY]
    (action,) = rules[API_DENY_PRIORITY]["Actions"]
    assert action["Type"] == "fixed-response"
    assert action["FixedResponseConfig"]["StatusCode"] == "403"


def test_listed_networks_reach_the_api_without_sign_in_and_others_get_403(
    api_open: Synthesized,
) -> None:
    assert api_open.nag_findings == []
    rules = api_rules(api_open)
    assert sorted(rules) == [API_ALLOW_PRIORITY, API_ALLOW_PRIORITY + 1, API_DENY_PRIORITY]
    sources = []
    (target_group,) = api_open.resources("service", "AWS::ElasticLoadBalancingV2::TargetGroup")
    for priority in (API_ALLOW_PRIORITY, API_ALLOW_PRIORITY + 1):
        rule = rules[priority]
        (source,) = [c for c in rule["Conditions"] if c["Field"] == "source-ip"]
        sources += source["SourceIpConfig"]["Values"]
        assert len(rule["Conditions"]) == 2  # the path and the sources: within 5 values
        assert len(source["SourceIpConfig"]["Values"]) <= 4
        # Straight to the relays: no authenticate action (the API checks its own keys).
        (action,) = rule["Actions"]
        assert action["Type"] == "forward" and action["TargetGroupArn"] == {"Ref": target_group}
    assert sources == [
        "203.0.113.7/32",
        "198.51.100.0/24",
        "192.0.2.0/28",
        "2001:db8::/48",
        "203.0.113.9/32",
        "203.0.113.10/32",
    ]
    (deny,) = rules[API_DENY_PRIORITY]["Actions"]
    assert deny["FixedResponseConfig"]["StatusCode"] == "403"
    # Sign-in still guards everything else, and the web ACL still covers the ALB.
    listeners = props(api_open, "AWS::ElasticLoadBalancingV2::Listener").values()
    (listener,) = [each for each in listeners if each["Port"] == 443]
    assert listener["DefaultActions"][0]["Type"] == "authenticate-cognito"
    assert props(api_open, "AWS::WAFv2::WebACLAssociation")


@pytest.mark.parametrize(
    ("cidrs", "message"),
    [
        (("203.0.113.7/24",), "is not a network"),
        (("0.0.0.0/0",), "opens the server API to much of the internet"),
        (("2000::/8",), "opens the server API to much of the internet"),
        (("203.0.113.7/32", "203.0.113.7/32"), "lists a network twice"),
        (tuple(f"203.0.113.{n}/32" for n in range(41)), "at most 40"),
    ],
)
def test_a_bad_api_allow_list_fails_naming_the_setting(
    cidrs: tuple[str, ...], message: str
) -> None:
    config = dataclasses.replace(load("staging"), api=ApiSettings(allow_cidrs=cidrs))
    with pytest.raises(StageConfigError, match=r"\[stages\.staging\.api\] allow_cidrs") as error:
        validate(config)
    assert message in str(error.value)


def test_the_api_needs_https_at_the_load_balancer() -> None:
    config = dataclasses.replace(load("dev"), api=ApiSettings(allow_cidrs=("203.0.113.7/32",)))
    with pytest.raises(StageConfigError, match="API keys would cross the internet in clear"):
        validate(config)


def test_the_allow_list_comes_from_the_stage_s_api_table(tmp_path: Path) -> None:
    path = settings_with(tmp_path, API_OPEN_TABLE)
    config = load_stage_config({"stage": "staging"}, {}, read_settings_file(path, STAGES))
    assert config.api.enabled and len(config.api.allow_cidrs) == 6
    assert not load("prod").api.enabled  # shipped: off everywhere
