"""The stacks against the relay's contract (contract/): every relay metric a dashboard,
alarm or scaling policy reads is one the relay publishes, with the dimensions it
publishes; every variable the task sets is one the relay reads, with a value it accepts;
the relay's defaults are the contract's, not copies."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from typing import Any

import pytest

from contract import metrics, settings
from contract.settings import BoolSetting, ChoiceSetting, FloatSetting, IntSetting
from stacks.config import RelaySettings, StageConfigError, validate
from stacks.config.relay_contract import RELAY_VARIABLES
from tests.stacks.conftest import Synthesized, load

PUBLISHED = {m.name: m for m in metrics.EMF_METRICS}
# Set for Python itself in the image, not read by the relay.
NOT_RELAY_VARIABLES = {"PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED"}


def dashboard_metrics(stage: Synthesized) -> Iterator[tuple[str, str, dict[str, str]]]:
    """(namespace, metric, dimensions) of every metric graphed on the stage's dashboard."""
    (dashboard,) = stage.resources("service", "AWS::CloudWatch::Dashboard").values()
    body = dashboard["Properties"]["DashboardBody"]
    if isinstance(body, dict):  # Fn::Join of text and tokens (the region)
        body = "".join(p if isinstance(p, str) else "TOKEN" for p in body["Fn::Join"][1])
    for widget in json.loads(body)["widgets"]:
        for line in widget["properties"].get("metrics", []):
            names = [part for part in line if isinstance(part, str)]
            if len(names) >= 2:
                namespace, metric, *pairs = names
                yield namespace, metric, dict(zip(pairs[::2], pairs[1::2], strict=True))


def alarm_metrics(stage: Synthesized) -> Iterator[tuple[str, str, dict[str, str]]]:
    for alarm in stage.resources("service", "AWS::CloudWatch::Alarm").values():
        props = alarm["Properties"]
        found = [props] if "MetricName" in props else []
        found += [q["MetricStat"]["Metric"] for q in props.get("Metrics", []) if "MetricStat" in q]
        for metric in found:
            dimensions = {d["Name"]: d["Value"] for d in metric.get("Dimensions", [])}
            yield metric["Namespace"], metric["MetricName"], dimensions


def scaling_metrics(stage: Synthesized) -> Iterator[tuple[str, str, dict[str, str]]]:
    for policy in stage.resources("service", "AWS::ApplicationAutoScaling::ScalingPolicy").values():
        config = policy["Properties"]["TargetTrackingScalingPolicyConfiguration"]
        spec = config.get("CustomizedMetricSpecification")
        if spec is not None:
            dimensions = {d["Name"]: d["Value"] for d in spec["Dimensions"]}
            yield spec["Namespace"], spec["MetricName"], dimensions


def relay_metrics_read(stage: Synthesized) -> list[tuple[str, str, dict[str, str]]]:
    every = [*dashboard_metrics(stage), *alarm_metrics(stage), *scaling_metrics(stage)]
    # AWS's own namespaces, or the relay's: a metric in a misspelled one would never fill.
    others = {ns for ns, _, _ in every if not ns.startswith("AWS/")} - {metrics.NAMESPACE}
    assert not others, f"no one publishes to {sorted(others)}"
    return [m for m in every if m[0] == metrics.NAMESPACE]


def environment(stage: Synthesized) -> dict[str, Any]:
    (task,) = stage.resources("service", "AWS::ECS::TaskDefinition").values()
    (container,) = task["Properties"]["ContainerDefinitions"]
    return {e["Name"]: e["Value"] for e in container["Environment"]}


def test_every_relay_metric_read_is_published_with_its_dimensions(stage: Synthesized) -> None:
    read = relay_metrics_read(stage)
    # The dashboard's relay row, three alarms and the Connections scaling policy at least.
    assert len(read) >= 15
    service_name = environment(stage)[settings.METRICS_SERVICE_NAME.name]
    for _, name, dimensions in read:
        assert name in PUBLISHED, f"{name}: the relay publishes no such EMF metric"
        published = [metrics.SERVICE_DIMENSIONS]
        if PUBLISHED[name].per_task:
            published.append(metrics.TASK_DIMENSIONS)
        assert tuple(dimensions) in published, (name, dimensions)
        assert dimensions[metrics.SERVICE_NAME_DIMENSION] == service_name


def test_the_scaling_policy_tracks_the_relay_s_connections(stage: Synthesized) -> None:
    assert [(ns, name) for ns, name, _ in scaling_metrics(stage)] == [
        (metrics.NAMESPACE, metrics.CONNECTIONS.name)
    ]


def test_the_task_publishes_where_the_stacks_read(stage: Synthesized) -> None:
    env = environment(stage)
    assert env[settings.METRICS_NAMESPACE.name] == metrics.NAMESPACE
    assert env[settings.METRICS_SERVICE_NAME.name] == f"chat-relay-{stage.stage}"
    assert float(env[settings.METRICS_EMF_INTERVAL.name]) > 0  # EMF on


def accepted(setting: settings.Setting, value: str) -> bool:
    """Would the relay take `value` (as the environment holds it) for `setting`?"""
    if isinstance(setting, IntSetting):
        return value.lstrip("-").isdigit() and setting.accepts(int(value))
    if isinstance(setting, FloatSetting):
        return setting.accepts(float(value))
    if isinstance(setting, BoolSetting):
        return value.strip().lower() in (*settings.TRUE_WORDS, *settings.FALSE_WORDS)
    if isinstance(setting, ChoiceSetting):
        return setting.accepts(value.lower())
    return bool(value)  # text: a token or a non-empty value the relay checks itself


@pytest.mark.parametrize("variant", ["stage", "cluster", "cognito", "oidc"])
def test_every_variable_the_task_sets_is_one_the_relay_accepts(
    variant: str,
    stage: Synthesized,
    cluster: Synthesized,
    sign_in: dict[str, Synthesized],
) -> None:
    assembly = {"stage": stage, "cluster": cluster, **sign_in}[variant]
    env = environment(assembly)
    unknown = set(env) - set(settings.BY_NAME) - NOT_RELAY_VARIABLES
    assert not unknown, f"the relay reads no {sorted(unknown)}"
    for name, value in env.items():
        if name in settings.BY_NAME and isinstance(value, str):
            assert accepted(settings.BY_NAME[name], value), (name, value)


def test_the_stage_writes_values_as_the_contract_does(stage: Synthesized) -> None:
    relay = load(stage.stage).relay
    env = environment(stage)
    for field, variable in RELAY_VARIABLES.items():
        assert env[variable.name] == variable.env_value(getattr(relay, field)), field


@pytest.mark.parametrize("level", settings.LOG_LEVEL.choices)
def test_the_stacks_accept_every_log_level_the_relay_does(level: str) -> None:
    config = load("staging")
    validate(dataclasses.replace(config, relay=dataclasses.replace(config.relay, log_level=level)))


def test_a_value_the_relay_would_refuse_fails_synth_naming_its_variable() -> None:
    config = load("staging")
    relay = dataclasses.replace(config.relay, history_size=20_000, log_level="verbose")
    with pytest.raises(StageConfigError) as error:
        validate(dataclasses.replace(config, relay=relay))
    message = str(error.value)
    assert "relay.history_size=20000: the relay accepts 0 to 10000 (HISTORY_SIZE)" in message
    assert "relay.log_level='verbose': the relay accepts debug, info" in message
    assert "(LOG_LEVEL)" in message


def test_every_relay_variable_field_is_a_relay_setting() -> None:
    fields = {f.name for f in dataclasses.fields(RelaySettings)}
    assert set(RELAY_VARIABLES) <= fields
    assert all(v.name in settings.BY_NAME for v in RELAY_VARIABLES.values())


def test_the_relay_s_defaults_are_the_contract_s_not_copies() -> None:
    # Required fields (sizes, counts) have no relay counterpart; the rest default as the
    # relay does, so a stage that sets nothing runs the relay as `python -m service` would.
    defaults = {f.name: f.default for f in dataclasses.fields(RelaySettings)}
    for field, variable in RELAY_VARIABLES.items():
        assert variable.accepts(defaults[field]), field
        assert defaults[field] == variable.default, (field, variable.name)


def test_the_task_runs_the_relay_s_presence_ttl(stage: Synthesized) -> None:
    assert float(environment(stage)[settings.PRESENCE_TTL.name]) == settings.PRESENCE_TTL.default
