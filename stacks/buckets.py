"""Private, SSL-only, versioned S3 buckets whose objects expire: the shape every bucket here has."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_s3 as s3
from constructs import Construct


def private_bucket(
    scope: Construct,
    construct_id: str,
    *,
    lifecycle_rules: Sequence[s3.LifecycleRule],
    removal_policy: RemovalPolicy,
    cors: Sequence[s3.CorsRule] | None = None,
) -> s3.Bucket:
    """SSE-S3 (the only encryption ALB access logs accept; enough for the others), SSL
    only, public access blocked, owner-enforced, versioned, with its lifecycle rules."""
    return s3.Bucket(
        scope,
        construct_id,
        encryption=s3.BucketEncryption.S3_MANAGED,
        enforce_ssl=True,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        versioned=True,
        cors=cors,
        lifecycle_rules=lifecycle_rules,
        removal_policy=removal_policy,
    )


def expiring_bucket(
    scope: Construct,
    construct_id: str,
    *,
    expire_after_days: int,
    rule_id: str,
    removal_policy: RemovalPolicy,
) -> s3.Bucket:
    """A private bucket whose objects expire after `expire_after_days`, old versions and
    unfinished uploads after a day."""
    return private_bucket(
        scope,
        construct_id,
        lifecycle_rules=[
            s3.LifecycleRule(
                id=rule_id,
                expiration=Duration.days(expire_after_days),
                noncurrent_version_expiration=Duration.days(1),
                abort_incomplete_multipart_upload_after=Duration.days(1),
            )
        ],
        removal_policy=removal_policy,
    )
