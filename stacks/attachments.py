"""Attachments on AWS (issue 28): the bucket browsers upload to, GuardDuty Malware
Protection for S3 on it, and the queue its verdicts reach the relay through.

The browser POSTs a file straight to the bucket with a form the relay signed (the task
role may put and get objects below `attachments/` only); GuardDuty scans each new object
and sends "Object Scan Result" to the account's default event bus; a rule forwards this
bucket's results to an SQS queue the relay reads (service/attachments/scan_queue.py) and
only then hands out download links. Reasons and costs: docs/infrastructure.md.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import CfnOutput, Duration, RemovalPolicy, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from contract import settings
from stacks.buckets import private_bucket
from stacks.compliance import acknowledge_nag, nag_logical_id, skip_checkov
from stacks.config import AttachmentSettings, StageIdentity
from stacks.malware_scan import malware_protection

# The relay signs keys below this prefix only (service/attachments/s3_store.py KEY_PREFIX).
KEY_PREFIX = "attachments/"
SCAN_RESULT = "GuardDuty Malware Protection Object Scan Result"
# Server access logs of this bucket, in the stage's access-log bucket.
ACCESS_LOG_PREFIX = "s3-access/attachments/"
MIB = 2**20


@dataclass(frozen=True)
class AttachmentsProps:
    stage: StageIdentity
    settings: AttachmentSettings
    # Objects (and their old versions) expire with the rooms' history (HISTORY_TTL_DAYS).
    expire_after_days: int
    # The page's origin (https://<domain_name>, or the ALB's own name on dev): CORS allows
    # uploads and downloads from it only.
    page_origin: str
    access_logs: s3.IBucket
    task_role: iam.IRole


class Attachments(Construct):
    def __init__(self, scope: Construct, construct_id: str, props: AttachmentsProps) -> None:
        super().__init__(scope, construct_id)
        self.bucket = _bucket(self, props)
        self.plan = malware_protection(self, self.bucket, KEY_PREFIX)
        self.queue, self.dead_letters = _scan_queue(self, self.bucket)
        _allow_relay(props.task_role, self.bucket, self.queue)
        # What the operations guide's steps for an infected file name.
        CfnOutput(scope, "AttachmentsBucketName", value=self.bucket.bucket_name)
        CfnOutput(scope, "ScanResultsQueueUrl", value=self.queue.queue_url)
        self.relay_environment = {
            settings.ATTACHMENT_BUCKET.name: self.bucket.bucket_name,
            settings.ATTACHMENT_SCAN_QUEUE_URL.name: self.queue.queue_url,
            settings.ATTACHMENT_MAX_BYTES.name: settings.ATTACHMENT_MAX_BYTES.env_value(
                props.settings.max_mb * MIB
            ),
        }


def _bucket(scope: Construct, props: AttachmentsProps) -> s3.Bucket:
    days = Duration.days(props.expire_after_days)
    # SSE-S3 (private_bucket's): GuardDuty's role and the relay's presigned URLs need no key
    # grants, and S3 requests cost no KMS calls; SSE-KMS would add a key policy for both
    # roles and an audit trail that the server access logs below already give.
    bucket = private_bucket(
        scope,
        "Bucket",
        cors=[
            s3.CorsRule(
                # The presigned POST (upload, XHR with progress) and presigned GETs.
                allowed_methods=[s3.HttpMethods.POST, s3.HttpMethods.GET],
                allowed_origins=[props.page_origin],
                max_age=3000,
            )
        ],
        lifecycle_rules=[
            s3.LifecycleRule(
                id="expire-with-history",
                expiration=days,
                noncurrent_version_expiration=days,
                abort_incomplete_multipart_upload_after=Duration.days(1),
            ),
            # The delete markers the rule above leaves, once no version is behind them.
            s3.LifecycleRule(id="remove-expired-delete-markers", expired_object_delete_marker=True),
        ],
        # prod keeps members' files on a stack delete; elsewhere CloudFormation could not
        # delete a bucket that still holds files, and `make destroy` would stop there.
        removal_policy=(
            RemovalPolicy.RETAIN
            if props.stage.retain_data
            else RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE
        ),
    )
    # GuardDuty turns EventBridge notifications on for the bucket; saying so in the template
    # keeps a later stack update from turning them off again (as the L1 property: the L2's
    # `event_bridge_enabled` would add a custom-resource Lambda to set it).
    cfn = bucket.node.default_child
    assert isinstance(cfn, s3.CfnBucket)
    cfn.notification_configuration = s3.CfnBucket.NotificationConfigurationProperty(
        event_bridge_configuration=s3.CfnBucket.EventBridgeConfigurationProperty(
            event_bridge_enabled=True
        )
    )
    _log_access(bucket, cfn, props.access_logs)
    acknowledge_nag(
        bucket,
        "NIST.800.53.R5-S3BucketReplicationEnabled",
        "Chat attachments that expire with the rooms' history (days); a copy in another "
        "region would outlive the lifecycle rule meant to delete them and double the scans.",
    )
    acknowledge_nag(
        bucket,
        "NIST.800.53.R5-S3DefaultEncryptionKMS",
        "SSE-S3: GuardDuty's scan role and the relay's presigned POST/GET URLs work without "
        "KMS key grants; server access logs record every object access already.",
    )
    return bucket


def _log_access(bucket: s3.Bucket, cfn: s3.CfnBucket, access_logs: s3.IBucket) -> None:
    """Server access logs into the stage's access-log bucket, granted by its bucket policy
    (what the L2's `server_access_logs_bucket` does under the
    `@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy` flag; without the flag it would
    switch that bucket to ACLs, which its owner-enforced ownership refuses)."""
    cfn.logging_configuration = s3.CfnBucket.LoggingConfigurationProperty(
        destination_bucket_name=access_logs.bucket_name, log_file_prefix=ACCESS_LOG_PREFIX
    )
    access_logs.add_to_resource_policy(
        iam.PolicyStatement(
            principals=[iam.ServicePrincipal("logging.s3.amazonaws.com")],
            actions=["s3:PutObject"],
            resources=[access_logs.arn_for_objects(f"{ACCESS_LOG_PREFIX}*")],
            conditions={
                "ArnLike": {"aws:SourceArn": bucket.bucket_arn},
                "StringEquals": {"aws:SourceAccount": Stack.of(bucket).account},
            },
        )
    )


def _scan_queue(scope: Construct, bucket: s3.Bucket) -> tuple[sqs.Queue, sqs.Queue]:
    """This bucket's scan results, from the default bus, for the relay to read; and the
    dead-letter queue of those no relay applied or EventBridge could not deliver."""
    dead_letters = sqs.Queue(
        scope,
        "ScanResultsDeadLetters",
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
        retention_period=Duration.days(14),
    )
    queue = sqs.Queue(
        scope,
        "ScanResults",
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
        # A verdict no relay deleted after 5 reads (a relay that dies mid-batch) is kept.
        dead_letter_queue=sqs.DeadLetterQueue(max_receive_count=5, queue=dead_letters),
    )
    for encrypted in (queue, dead_letters):
        skip_checkov(
            encrypted,
            "CKV_AWS_27",
            "Encrypted at rest with SSE-SQS (SqsManagedSseEnabled), which this check does not "
            "recognise; a KMS key would need a key policy for EventBridge to send to it.",
        )
    rule = events.Rule(
        scope,
        "ScanResultRule",
        description="GuardDuty Malware Protection scan results of the attachments bucket",
        event_pattern=events.EventPattern(
            source=["aws.guardduty"],
            detail_type=[SCAN_RESULT],
            detail={"s3ObjectDetails": {"bucketName": [bucket.bucket_name]}},
        ),
        targets=[targets.SqsQueue(queue)],
    )
    _undelivered_to(rule, dead_letters)
    return queue, dead_letters


def _undelivered_to(rule: events.Rule, dead_letters: sqs.Queue) -> None:
    """Events EventBridge could not deliver land beside the unread ones. Set by hand: the
    target's own `dead_letter_queue` names its grant after the construct path, so the
    pipeline's copy of a stage would deploy another template than a hand deploy."""
    cfn = rule.node.default_child
    assert isinstance(cfn, events.CfnRule)
    cfn.add_property_override("Targets.0.DeadLetterConfig.Arn", dead_letters.queue_arn)
    dead_letters.add_to_resource_policy(
        iam.PolicyStatement(
            sid="UndeliveredScanResults",
            principals=[iam.ServicePrincipal("events.amazonaws.com")],
            actions=["sqs:SendMessage"],
            resources=[dead_letters.queue_arn],
            conditions={"ArnEquals": {"aws:SourceArn": rule.rule_arn}},
        )
    )


def _allow_relay(task_role: iam.IRole, bucket: s3.Bucket, queue: sqs.Queue) -> None:
    """The relay signs upload forms (PutObject) and links below the prefix (GetObjectVersion:
    a link names the version the clean verdict was about), checks an upload landed
    (HeadObject is GetObject), and reads then deletes verdicts."""
    task_role.add_to_principal_policy(
        iam.PolicyStatement(
            actions=["s3:PutObject", "s3:GetObject", "s3:GetObjectVersion"],
            resources=[bucket.arn_for_objects(f"{KEY_PREFIX}*")],
        )
    )
    queue.grant(task_role, "sqs:ReceiveMessage", "sqs:DeleteMessage")
    acknowledge_nag(
        task_role,
        f"AwsSolutions-IAM5[Resource::<{nag_logical_id(bucket)}.Arn>/{KEY_PREFIX}*]",
        "The relay signs upload forms and download links for new attachment ids below "
        "attachments/ of this bucket only; it can list, delete and tag nothing.",
    )


def page_origin(*, domain_name: str | None, https: bool, region: str) -> str:
    """The origin the page is served from, for the bucket's CORS rule.

    Without a domain (dev) the page is the ALB's own generated name, which has upper-case
    letters while browsers send the origin lower-case: allow the region's ALB names.
    """
    scheme = "https" if https else "http"
    if domain_name:
        return f"{scheme}://{domain_name}"
    return f"{scheme}://*.{region}.elb.amazonaws.com"
