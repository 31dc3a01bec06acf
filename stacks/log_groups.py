"""Encrypted, retention-bound CloudWatch log groups: the pieces every stack shares."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.config import StageIdentity

# A deleted dev/staging key is gone after the shortest window KMS allows.
_SHORT_PENDING_WINDOW = Duration.days(7)

_RETENTION = {
    1: logs.RetentionDays.ONE_DAY,
    3: logs.RetentionDays.THREE_DAYS,
    5: logs.RetentionDays.FIVE_DAYS,
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS,
    90: logs.RetentionDays.THREE_MONTHS,
    120: logs.RetentionDays.FOUR_MONTHS,
    150: logs.RetentionDays.FIVE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
    400: logs.RetentionDays.THIRTEEN_MONTHS,
    545: logs.RetentionDays.EIGHTEEN_MONTHS,
    731: logs.RetentionDays.TWO_YEARS,
    1096: logs.RetentionDays.THREE_YEARS,
    1827: logs.RetentionDays.FIVE_YEARS,
    2192: logs.RetentionDays.SIX_YEARS,
    2557: logs.RetentionDays.SEVEN_YEARS,
    2922: logs.RetentionDays.EIGHT_YEARS,
    3288: logs.RetentionDays.NINE_YEARS,
    3653: logs.RetentionDays.TEN_YEARS,
}


def retention(days: int) -> logs.RetentionDays:
    """The RetentionDays member for a day count that config validation accepted."""
    return _RETENTION[days]


def removal_policy(stage: StageIdentity) -> RemovalPolicy:
    """Kept on update and delete (CloudFormation's RetainExceptOnCreate) where the stage
    retains data: a first create that rolls back still deletes what it made, so a retry
    does not fail on a fixed name (the WAF log group) that a plain Retain left behind."""
    return RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE if stage.retain_data else RemovalPolicy.DESTROY


def encrypted_log_group(
    scope: Construct,
    construct_id: str,
    stage: StageIdentity,
    *,
    retention_days: int,
    key: kms.IKey,
    log_group_name: str | None = None,
) -> logs.LogGroup:
    """A log group under a customer-managed key, kept ``retention_days``, removed with the
    stack only where the stage does not retain data."""
    return logs.LogGroup(
        scope,
        construct_id,
        log_group_name=log_group_name,
        retention=retention(retention_days),
        encryption_key=key,
        removal_policy=removal_policy(stage),
    )


def logs_key(scope: Construct, construct_id: str, stage: StageIdentity, purpose: str) -> kms.Key:
    """A customer-managed key that CloudWatch Logs in this region may use for a log group."""
    key = kms.Key(
        scope,
        construct_id,
        description=f"{stage.prefix}: {purpose}",
        enable_key_rotation=True,
        removal_policy=removal_policy(stage),
        pending_window=None if stage.retain_data else _SHORT_PENDING_WINDOW,
    )
    key.grant_encrypt_decrypt(iam.ServicePrincipal(f"logs.{stage.region}.amazonaws.com"))
    return key
