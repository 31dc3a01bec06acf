"""The stage's EventBridge bus: where the relays send the chat's events (docs/events.md).

The task role may put events on this bus and nothing else; consumers add their own rules
on it (docs/events.md has one that forwards `message.posted` to a Lambda).
"""

from __future__ import annotations

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam

from stacks.config import StageIdentity


def event_bus_name(stage: StageIdentity) -> str:
    return f"{stage.prefix}-events"


def chat_event_bus(
    scope: Stack, stage: StageIdentity, task_role: iam.IGrantable
) -> events.EventBus:
    bus = events.EventBus(
        scope,
        "EventBus",
        event_bus_name=event_bus_name(stage),
        description=f"{stage.prefix}: chat events (message.posted, member.joined, ...)",
    )
    bus.grant_put_events_to(task_role)
    CfnOutput(scope, "EventBusName", value=bus.event_bus_name)
    CfnOutput(scope, "EventBusArn", value=bus.event_bus_arn)
    return bus
