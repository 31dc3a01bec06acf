"""Issue 28 in the stacks: the attachments bucket, GuardDuty Malware Protection for S3 on
it, the scan-result rule and queue, and what the relay's task may do with them."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App

from service.attachments.s3_store import KEY_PREFIX as RELAY_KEY_PREFIX
from stacks.attachments import ACCESS_LOG_PREFIX, KEY_PREFIX, SCAN_RESULT
from stacks.chat_relay import ChatRelayStage
from stacks.config import StageConfig, StageConfigError, validate
from tests.stacks.conftest import REPO_ROOT, Synthesized, feature_flags, load, stack_templates

Templates = dict[str, dict[str, Any]]


def resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def one(template: dict[str, Any], kind: str) -> tuple[str, dict[str, Any]]:
    (found,) = resources(template, kind).items()
    return found


def the_bucket(template: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    (found,) = [
        (k, v) for k, v in resources(template, "AWS::S3::Bucket").items() if "Attachments" in k
    ]
    return found


def environment(template: dict[str, Any]) -> dict[str, Any]:
    (_, definition) = one(template, "AWS::ECS::TaskDefinition")
    (relay,) = definition["Properties"]["ContainerDefinitions"]
    return {e["Name"]: e["Value"] for e in relay["Environment"]}


def synth(config: StageConfig, outdir: Path) -> Templates:
    """The stage's templates for a config the shipped file does not hold (nag elsewhere)."""
    app = App(outdir=str(outdir), context=feature_flags(), analytics_reporting=False)
    ChatRelayStage(app, config.prefix, config=config, image_directory=REPO_ROOT, checks=False)
    app.synth()
    files = stack_templates(outdir / f"assembly-{config.prefix}", config.prefix)
    return {part: json.loads(path.read_text()) for part, path in files.items()}


def changed(stage: str, section: str, **values: Any) -> StageConfig:
    config = load(stage)
    return dataclasses.replace(
        config, **{section: dataclasses.replace(getattr(config, section), **values)}
    )


@pytest.fixture(scope="module")
def variants(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Templates]:
    """staging with a longer history, and staging without attachments."""
    longer = changed("staging", "relay", history_ttl_days=30)
    off = changed("staging", "attachments", enabled=False)
    return {
        "history 30 days": synth(longer, tmp_path_factory.mktemp("ttl")),
        "off": synth(off, tmp_path_factory.mktemp("off")),
    }


def test_the_relay_signs_keys_below_the_prefix_the_stacks_grant() -> None:
    assert KEY_PREFIX == RELAY_KEY_PREFIX


def test_the_bucket_is_private_encrypted_versioned_and_logged(stage: Synthesized) -> None:
    template = stage.templates["service"]
    _, bucket = the_bucket(template)
    p = bucket["Properties"]
    (encryption,) = p["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert encryption["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    assert p["VersioningConfiguration"] == {"Status": "Enabled"}
    assert set(p["PublicAccessBlockConfiguration"].values()) == {True}
    assert p["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    access_logs = [k for k in resources(template, "AWS::S3::Bucket") if k.startswith("AccessLogs")]
    assert p["LoggingConfiguration"] == {
        "DestinationBucketName": {"Ref": access_logs[0]},
        "LogFilePrefix": ACCESS_LOG_PREFIX,
    }
    # GuardDuty enables it too; the template must not turn it off on the next update.
    assert p["NotificationConfiguration"] == {
        "EventBridgeConfiguration": {"EventBridgeEnabled": True}
    }


def test_the_bucket_refuses_plain_http(stage: Synthesized) -> None:
    template = stage.templates["service"]
    bucket_id, _ = the_bucket(template)
    policies = [
        p["Properties"]["PolicyDocument"]["Statement"]
        for p in resources(template, "AWS::S3::BucketPolicy").values()
        if p["Properties"]["Bucket"] == {"Ref": bucket_id}
    ]
    (statements,) = policies
    assert {
        "Action": "s3:*",
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        "Effect": "Deny",
        "Principal": {"AWS": "*"},
        "Resource": [
            {"Fn::GetAtt": [bucket_id, "Arn"]},
            {"Fn::Join": ["", [{"Fn::GetAtt": [bucket_id, "Arn"]}, "/*"]]},
        ],
    } in statements
    assert all(s["Effect"] == "Deny" for s in statements), "nothing granted by bucket policy"


def test_files_expire_with_the_rooms_history(
    stage: Synthesized, variants: dict[str, Templates]
) -> None:
    days = load(stage.stage).relay.history_ttl_days
    for template, expected in (
        (stage.templates["service"], days),
        (variants["history 30 days"]["service"], 30),
    ):
        _, bucket = the_bucket(template)
        expiring = bucket["Properties"]["LifecycleConfiguration"]["Rules"][0]
        assert expiring["ExpirationInDays"] == expected
        assert expiring["NoncurrentVersionExpiration"] == {"NoncurrentDays": expected}
        assert expiring["Status"] == "Enabled"
    # The relay's rooms expire after as many days (set only when not its default).
    assert environment(variants["history 30 days"]["service"])["HISTORY_TTL_DAYS"] == "30"
    assert "HISTORY_TTL_DAYS" not in environment(stage.templates["service"])


def test_cors_allows_the_page_origin_only(stage: Synthesized) -> None:
    _, bucket = the_bucket(stage.templates["service"])
    (rule,) = bucket["Properties"]["CorsConfiguration"]["CorsRules"]
    assert sorted(rule["AllowedMethods"]) == ["GET", "POST"]
    assert "AllowedHeaders" not in rule
    domain = load(stage.stage).load_balancer.domain_name
    if domain:
        assert rule["AllowedOrigins"] == [f"https://{domain}"]
        assert environment(stage.templates["service"])["ALLOWED_ORIGINS"] == f"https://{domain}"
    else:  # dev: the ALB's generated name (plain HTTP)
        assert rule["AllowedOrigins"] == ["http://*.us-east-1.elb.amazonaws.com"]


def test_prod_keeps_the_files_when_its_stack_goes(stage: Synthesized) -> None:
    _, bucket = the_bucket(stage.templates["service"])
    expected = "Retain" if stage.stage == "prod" else "RetainExceptOnCreate"
    assert bucket["DeletionPolicy"] == expected
    assert bucket["UpdateReplacePolicy"] == "Retain"


def test_guardduty_scans_the_prefix_and_tags_the_verdict(stage: Synthesized) -> None:
    template = stage.templates["service"]
    bucket_id, _ = the_bucket(template)
    _, plan = one(template, "AWS::GuardDuty::MalwareProtectionPlan")
    p = plan["Properties"]
    assert p["ProtectedResource"] == {
        "S3Bucket": {"BucketName": {"Ref": bucket_id}, "ObjectPrefixes": [KEY_PREFIX]}
    }
    assert p["Actions"] == {"Tagging": {"Status": "ENABLED"}}
    role_id = p["Role"]["Fn::GetAtt"][0]
    role = template["Resources"][role_id]["Properties"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "malware-protection-plan.guardduty.amazonaws.com"}
    # Created after the role's policy: GuardDuty checks the permissions on create.
    (policy_id,) = [
        k
        for k, v in resources(template, "AWS::IAM::Policy").items()
        if v["Properties"]["Roles"] == [{"Ref": role_id}]
    ]
    assert policy_id in plan["DependsOn"]
    statements = template["Resources"][policy_id]["Properties"]["PolicyDocument"]["Statement"]
    actions = {
        a
        for s in statements
        for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    }
    assert actions == {
        "events:PutRule",
        "events:DeleteRule",
        "events:PutTargets",
        "events:RemoveTargets",
        "events:DescribeRule",
        "events:ListTargetsByRule",
        "s3:GetObject",
        "s3:GetObjectVersion",
        "s3:GetObjectTagging",
        "s3:GetObjectVersionTagging",
        "s3:PutObjectTagging",
        "s3:PutObjectVersionTagging",
        "s3:PutObject",
        "s3:ListBucket",
        "s3:GetBucketNotification",
        "s3:PutBucketNotification",
    }
    (put,) = [s for s in statements if s["Action"] == "s3:PutObject"]
    assert put["Resource"]["Fn::Join"][1][1] == "/malware-protection-resource-validation-object"


def test_this_buckets_scan_results_go_to_an_encrypted_queue_with_dead_letters(
    stage: Synthesized,
) -> None:
    template = stage.templates["service"]
    bucket_id, _ = the_bucket(template)
    (rule,) = [
        r["Properties"]
        for r in resources(template, "AWS::Events::Rule").values()
        if r["Properties"].get("EventPattern", {}).get("source") == ["aws.guardduty"]
    ]
    assert "EventBusName" not in rule  # the default bus, where GuardDuty sends them
    assert rule["EventPattern"] == {
        "source": ["aws.guardduty"],
        "detail-type": [SCAN_RESULT],
        "detail": {"s3ObjectDetails": {"bucketName": [{"Ref": bucket_id}]}},
    }
    (target,) = rule["Targets"]
    queue_id = target["Arn"]["Fn::GetAtt"][0]
    queue = template["Resources"][queue_id]["Properties"]
    dead_letters_id = queue["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": [dead_letters_id, "Arn"]}}
    for queue_id_ in (queue_id, dead_letters_id):
        assert template["Resources"][queue_id_]["Properties"]["SqsManagedSseEnabled"] is True
        (policy,) = [
            q["Properties"]["PolicyDocument"]["Statement"]
            for q in resources(template, "AWS::SQS::QueuePolicy").values()
            if q["Properties"]["Queues"] == [{"Ref": queue_id_}]
        ]
        assert policy[0]["Effect"] == "Deny"
        assert policy[0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert environment(template)["ATTACHMENT_SCAN_QUEUE_URL"] == {"Ref": queue_id}
    # A verdict in the dead letters is an attachment that stays "scanning": an operator hears.
    (alarm,) = [
        a["Properties"]
        for a in resources(template, "AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("Namespace") == "AWS/SQS"
    ]
    assert alarm["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert alarm["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": [dead_letters_id, "QueueName"]}}
    ]
    assert (alarm["Statistic"], alarm["Period"], alarm["Threshold"]) == ("Maximum", 300, 1)
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert alarm["AlarmActions"] and alarm["OKActions"]


def test_the_task_may_sign_for_the_prefix_and_read_verdicts_only(stage: Synthesized) -> None:
    template = stage.templates["service"]
    bucket_id, _ = the_bucket(template)
    (task_role,) = [k for k in resources(template, "AWS::IAM::Role") if "TaskRole" in k]
    (policy,) = [
        v["Properties"]["PolicyDocument"]["Statement"]
        for v in resources(template, "AWS::IAM::Policy").values()
        if v["Properties"]["Roles"] == [{"Ref": task_role}]
    ]
    s3_or_sqs = [
        s for s in policy if str(s["Action"]).startswith(("['s3:", "['sqs:", "s3:", "sqs:"))
    ]
    (queue_id,) = [
        k
        for k, v in resources(template, "AWS::SQS::Queue").items()
        if "RedrivePolicy" in v["Properties"]
    ]
    assert s3_or_sqs == [
        {
            "Action": ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"],
            "Effect": "Allow",
            "Resource": {"Fn::Join": ["", [{"Fn::GetAtt": [bucket_id, "Arn"]}, f"/{KEY_PREFIX}*"]]},
        },
        {
            "Action": ["sqs:DeleteMessage", "sqs:ReceiveMessage"],
            "Effect": "Allow",
            "Resource": {"Fn::GetAtt": [queue_id, "Arn"]},
        },
    ]


def test_the_relay_gets_the_bucket_and_the_size_limit(stage: Synthesized) -> None:
    template = stage.templates["service"]
    bucket_id, _ = the_bucket(template)
    env = environment(template)
    assert env["ATTACHMENT_BUCKET"] == {"Ref": bucket_id}
    assert env["ATTACHMENT_MAX_BYTES"] == str(load(stage.stage).attachments.max_mb * 2**20)


def test_stages_without_nat_reach_sqs_through_an_endpoint(stage: Synthesized) -> None:
    endpoints = resources(stage.templates["network"], "AWS::EC2::VPCEndpoint")
    sqs = [e for e in endpoints.values() if "sqs" in json.dumps(e["Properties"]["ServiceName"])]
    assert len(sqs) == (1 if load(stage.stage).network.interface_endpoints else 0)


def test_a_stage_without_attachments_has_none_of_it(variants: dict[str, Templates]) -> None:
    off = variants["off"]
    service = off["service"]
    assert resources(service, "AWS::GuardDuty::MalwareProtectionPlan") == {}
    assert resources(service, "AWS::SQS::Queue") == {}
    assert [k for k in resources(service, "AWS::S3::Bucket") if "Attachments" in k] == []
    assert not any(name.startswith("ATTACHMENT_") for name in environment(service))
    endpoints = json.dumps(resources(off["network"], "AWS::EC2::VPCEndpoint"))
    assert "sqs" not in endpoints


@pytest.mark.parametrize("max_mb", [0, 5121])
def test_the_size_limit_is_one_a_presigned_post_can_carry(max_mb: int) -> None:
    with pytest.raises(StageConfigError, match=r"attachments\] max_mb"):
        validate(changed("staging", "attachments", max_mb=max_mb))
    validate(changed("staging", "attachments", max_mb=5120))
