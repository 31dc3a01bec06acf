"""What every stack of a stage shares: its name, description and deletion protection,
each derived from the stage, so a stack's props carry only what is its own."""

from __future__ import annotations

from aws_cdk import Stack
from constructs import Construct

from stacks.config import StageIdentity


def stack_name(stage: StageIdentity, part: str) -> str:
    """`chat-relay-<stage>-<part>`: fixed, so a hand deploy and the pipeline deploy to the
    same CloudFormation stacks."""
    return f"{stage.prefix}-{part}"


class StageStack(Stack):
    """One part of a stage (`part` is its construct id): named `<prefix>-<part>`, and
    protected from deletion where the stage retains data (prod)."""

    def __init__(self, scope: Construct, part: str, *, stage: StageIdentity, summary: str) -> None:
        super().__init__(
            scope,
            part,
            stack_name=stack_name(stage, part),
            description=f"chat-relay {stage.name}: {summary}",
            termination_protection=stage.retain_data,
        )
