"""cdk-nag, AWS Solutions and NIST 800-53 rev 5 packs: no unacknowledged finding, every
acknowledgement reviewed."""

from __future__ import annotations

import json

from stacks.compliance import NAG_PLUGINS
from tests.stacks.conftest import Synthesized, load

# (construct path below the stage prefix, rule): the reviewed acknowledgements. A new one
# must be added here, which puts it in front of a reviewer.
REVIEWED = {
    ("network/AlbFromInternet80", "AwsSolutions-EC23"),
    ("cache/ReplicationGroup", "AwsSolutions-AEC6"),
    ("service/AccessLogs", "AwsSolutions-S1"),
    ("service/TaskDefinition", "AwsSolutions-ECS2"),
    # Each role's one wildcard, acknowledged on that role alone.
    ("service/TaskDefinition/ExecutionRole", "AwsSolutions-IAM5[Resource::*]"),
    ("service/TaskDefinition/TaskRole", "AwsSolutions-IAM5[Resource::*]"),
    ("loadgen/ResultsBucket", "AwsSolutions-S1"),
    ("loadgen/TaskDefinition/ExecutionRole", "AwsSolutions-IAM5[Resource::*]"),
    (
        "loadgen/TaskDefinition",
        "AwsSolutions-IAM5[Resource::<ResultsBucketA95A2103.Arn>/results/*]",
    ),
    ("network/Vpc", "NIST.800.53.R5-VPCDefaultSecurityGroupClosed"),
    ("network/Vpc", "NIST.800.53.R5-VPCNoUnrestrictedRouteToIGW"),
    ("network/Vpc/FlowLog", "NIST.800.53.R5-IAMNoInlinePolicy"),
    # The server API keys and the room token secret: rotated with two values valid at once.
    ("service/ServerApiKeys", "AwsSolutions-SMG4"),
    ("service/ServerApiKeys", "NIST.800.53.R5-SecretsManagerRotationEnabled"),
    ("service/RoomTokenSecret", "AwsSolutions-SMG4"),
    ("service/RoomTokenSecret", "NIST.800.53.R5-SecretsManagerRotationEnabled"),
    ("cache/ReplicationGroup", "NIST.800.53.R5-ElastiCacheRedisClusterAutomaticBackup"),
    ("service/AccessLogs", "NIST.800.53.R5-S3BucketLoggingEnabled"),
    ("service/AccessLogs", "NIST.800.53.R5-S3DefaultEncryptionKMS"),
    ("service/AccessLogs", "NIST.800.53.R5-S3BucketReplicationEnabled"),
    ("service/TaskDefinition", "NIST.800.53.R5-IAMNoInlinePolicy"),
    ("loadgen/TaskDefinition", "NIST.800.53.R5-IAMNoInlinePolicy"),
    ("loadgen/ResultsBucket", "NIST.800.53.R5-S3BucketLoggingEnabled"),
    ("loadgen/ResultsBucket", "NIST.800.53.R5-S3BucketReplicationEnabled"),
    ("loadgen/ResultsBucket", "NIST.800.53.R5-S3DefaultEncryptionKMS"),
    # Attachments (stacks/attachments.py): SSE-S3, no replication, each role's prefix.
    ("service/Attachments/Bucket", "NIST.800.53.R5-S3BucketReplicationEnabled"),
    ("service/Attachments/Bucket", "NIST.800.53.R5-S3DefaultEncryptionKMS"),
    ("service/Attachments/ScanRole", "NIST.800.53.R5-IAMNoInlinePolicy"),
    (
        "service/Attachments/ScanRole",
        "AwsSolutions-IAM5[Resource::<AttachmentsBucket134755D7.Arn>/attachments/*]",
    ),
    (
        "service/TaskDefinition/TaskRole",
        "AwsSolutions-IAM5[Resource::<AttachmentsBucket134755D7.Arn>/attachments/*]",
    ),
}
# Per stage: what its settings switch off (dev: no certificate, no WAF; only prod has
# deletion protection) or on (a redirect listener where there is HTTPS).
DEV_ONLY = {
    ("service/LoadBalancer", "NIST.800.53.R5-ALBWAFEnabled"),
    ("service/LoadBalancer/Http", "NIST.800.53.R5-ELBv2ACMCertificateRequired"),
    ("service/LoadBalancer/Http", "NIST.800.53.R5-ALBHttpToHttpsRedirection"),
}
HTTPS_ONLY = {
    ("network/AlbFromInternet443", "AwsSolutions-EC23"),
    ("service/LoadBalancer/Redirect80To443", "NIST.800.53.R5-ELBv2ACMCertificateRequired"),
}
NOT_PROD = {("service/LoadBalancer", "NIST.800.53.R5-ELBDeletionProtectionEnabled")}


def test_no_unacknowledged_finding(stage: Synthesized) -> None:
    assert stage.nag_findings == [], "new cdk-nag findings:\n" + "\n".join(stage.nag_findings)


def managed_rule(stage: str) -> tuple[str, str]:
    """GuardDuty's own EventBridge rule, by name prefix, in the stage's account (dev's is
    left to deploy time)."""
    config = load(stage)
    account = config.account or "<AWS::AccountId>"
    rule = "rule/DO-NOT-DELETE-AmazonGuardDutyMalwareProtectionS3*"
    arn = f"arn:aws:events:{config.region}:{account}:{rule}"
    return ("service/Attachments/ScanRole", f"AwsSolutions-IAM5[Resource::{arn}]")


def reviewed(stage: str) -> set[tuple[str, str]]:
    """The reviewed (path, rule) acknowledgements of a stage."""
    expected = REVIEWED | {managed_rule(stage)}
    expected |= DEV_ONLY if stage == "dev" else HTTPS_ONLY
    return expected | NOT_PROD if stage != "prod" else expected


def acknowledged(assembly: Synthesized, stage: str) -> set[tuple[str, str]]:
    """(path below the stage, rule) of every cdk-nag acknowledgement in the assembly."""
    return {
        (path.removeprefix(f"/chat-relay-{stage}/"), rule.split("::", 1)[1])
        for path, rule, _ in assembly.acknowledgements()
        if rule.split("::", 1)[0] in NAG_PLUGINS
    }


def test_acknowledgements_are_the_reviewed_ones(stage: Synthesized) -> None:
    assert acknowledged(stage, stage.stage) == reviewed(stage.stage)


def test_every_acknowledgement_names_rule_resource_and_reason(stage: Synthesized) -> None:
    acknowledgements = stage.acknowledgements()
    assert acknowledgements
    for path, rule, reason in acknowledgements:
        plugin = rule.split("::", 1)[0]
        if plugin not in NAG_PLUGINS:
            continue  # CDK's own built-in acknowledgements (e.g. its cfn validation)
        assert path.startswith(f"/chat-relay-{stage.stage}/"), path
        assert rule.startswith(f"{plugin}::{plugin}-"), rule
        assert len(reason) >= 60, f"{rule} on {path}: reason too thin: {reason!r}"


def test_both_packs_run_on_every_stage(stage: Synthesized) -> None:
    """The report lists each pack: a pack that silently stopped running would pass above."""
    report = json.loads((stage.outdir / "validation-report.json").read_text())
    assert {p["pluginName"] for p in report["pluginReports"]} >= set(NAG_PLUGINS)
