"""Recorded exceptions to the compliance scanners, each with its reason.

Every cdk-nag acknowledgement and checkov skip in the stacks goes through these two
functions, so a reviewer finds them by name, and tests can check that each has a reason.
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, CfnResource, Validations
from constructs import IConstruct

MIN_REASON_LENGTH = 20


# cdk-nag 3 reports through CDK's policy validation; its findings are acknowledged under
# the plugin's name, as the synth report prints them: `AwsSolutions::AwsSolutions-EC23`.
NAG_PLUGIN = "AwsSolutions"


def acknowledge_nag(construct: IConstruct, rule: str, reason: str) -> None:
    """Acknowledge a cdk-nag finding (`AwsSolutions-XX` or `AwsSolutions-XX[finding]`)
    on `construct` and everything below it."""
    _check_reason(rule, reason)
    Validations.of(construct).acknowledge(Acknowledgment(id=f"{NAG_PLUGIN}::{rule}", reason=reason))


def skip_checkov(construct: IConstruct, check: str, reason: str) -> None:
    """Skip a checkov check on one resource, through the resource's Metadata."""
    _check_reason(check, reason)
    resource = _cfn_resource(construct)
    metadata = resource.get_metadata("checkov") or {}
    skips = [*metadata.get("skip", []), {"id": check, "comment": reason}]
    resource.add_metadata("checkov", {"skip": skips})


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
