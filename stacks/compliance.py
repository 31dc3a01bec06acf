"""Recorded exceptions to the compliance scanners, each with its reason.

Every cdk-nag acknowledgement and checkov skip in the stacks goes through these two
functions, so a reviewer finds them by name, and tests can check that each has a reason.
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, CfnResource, Stack, Validations
from constructs import IConstruct

MIN_REASON_LENGTH = 20

# NIST.800.53.R5-IAMNoInlinePolicy, on every role CDK grants to: the same reason everywhere.
INLINE_POLICY_REASON = (
    "CDK's generated DefaultPolicy is a separate AWS::IAM::Policy attached to exactly one "
    "role, holding only what that role's grants name (least privilege per role); a managed "
    "policy would be shared surface with no second user."
)


# cdk-nag 3 reports through CDK's policy validation; its findings are acknowledged under
# the plugin's name, as the synth report prints them: `AwsSolutions::AwsSolutions-EC23`,
# `NIST.800.53.R5::NIST.800.53.R5-ALBWAFEnabled`. A rule id starts with its pack's name.
NAG_PLUGINS = ("AwsSolutions", "NIST.800.53.R5")


def acknowledge_nag(construct: IConstruct, rule: str, reason: str) -> None:
    """Acknowledge a cdk-nag finding (`AwsSolutions-XX`, `AwsSolutions-XX[finding]` or
    `NIST.800.53.R5-XX`) on `construct` and everything below it."""
    _check_reason(rule, reason)
    plugin = rule.split("-", 1)[0]
    if plugin not in NAG_PLUGINS:
        raise ValueError(f"{rule}: not a rule of the packs in use ({', '.join(NAG_PLUGINS)})")
    Validations.of(construct).acknowledge(Acknowledgment(id=f"{plugin}::{rule}", reason=reason))


def skip_checkov(construct: IConstruct, check: str, reason: str) -> None:
    """Skip a checkov check on one resource, through the resource's Metadata."""
    _check_reason(check, reason)
    resource = _cfn_resource(construct)
    metadata = resource.get_metadata("checkov") or {}
    skips = [*metadata.get("skip", []), {"id": check, "comment": reason}]
    resource.add_metadata("checkov", {"skip": skips})


def nag_logical_id(construct: IConstruct) -> str:
    """The logical id of `construct`'s resource, as cdk-nag names it in a finding
    (`<Bucket1A2B3C4D.Arn>/prefix/*`)."""
    resource = _cfn_resource(construct)
    stack = Stack.of(resource)
    return str(stack.resolve(stack.get_logical_id(resource)))


def _cfn_resource(construct: IConstruct) -> CfnResource:
    if isinstance(construct, CfnResource):
        return construct
    child = construct.node.default_child
    if not isinstance(child, CfnResource):
        raise TypeError(f"{construct.node.path} has no CloudFormation resource to annotate")
    return child


def _check_reason(rule: str, reason: str) -> None:
    if len(reason.strip()) < MIN_REASON_LENGTH:
        raise ValueError(f"{rule}: give a real reason (at least {MIN_REASON_LENGTH} characters)")
