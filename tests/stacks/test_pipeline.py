"""The delivery pipeline: stage order, the gate's command and thresholds, one image for
every stage, and roles that can do no more than their step needs."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from stacks.assembly import check_one_architecture
from stacks.config import StageConfigError
from stacks.config.pipeline import GateSettings, load_pipeline_settings
from stacks.pipeline.steps import BUILD_IMAGE, gate_command
from tests.stacks.conftest import PIPELINE, Synthesized, load, shipped_settings, stack_templates

# What every CodeBuild step may do in its own account: write its logs and test reports,
# read (and for synth/source, write) the artifact bucket, use the artifact key.
STEP_ACTIONS = {
    "codebuild:BatchPutCodeCoverages",
    "codebuild:BatchPutTestCases",
    "codebuild:CreateReport",
    "codebuild:CreateReportGroup",
    "codebuild:UpdateReport",
    "kms:Decrypt",
    "kms:DescribeKey",
    "kms:Encrypt",
    "kms:GenerateDataKey*",
    "kms:ReEncrypt*",
    "logs:CreateLogGroup",
    "logs:CreateLogStream",
    "logs:PutLogEvents",
    "s3:GetBucket*",
    "s3:GetObject*",
    "s3:List*",
}


def pipeline_resource(pipeline: Synthesized) -> dict[str, Any]:
    (resource,) = pipeline.resources("pipeline", "AWS::CodePipeline::Pipeline").values()
    return resource["Properties"]


def actions(pipeline: Synthesized, stage_name: str) -> list[dict[str, Any]]:
    (stage,) = [s for s in pipeline_resource(pipeline)["Stages"] if s["Name"] == stage_name]
    return sorted(stage["Actions"], key=lambda a: a["RunOrder"])


def project(pipeline: Synthesized, step: str) -> dict[str, Any]:
    (found,) = [
        r["Properties"]
        for logical_id, r in pipeline.resources("pipeline", "AWS::CodeBuild::Project").items()
        if step in logical_id
    ]
    return found


def build_commands(pipeline: Synthesized, step: str) -> list[str]:
    spec = json.loads(project(pipeline, step)["Source"]["BuildSpec"])
    return spec["phases"]["build"]["commands"]


def role_actions(pipeline: Synthesized, step: str) -> set[str]:
    """Every action the policies attached to `step`'s CodeBuild role allow."""
    role = project(pipeline, step)["ServiceRole"]["Fn::GetAtt"][0]
    allowed = set()
    for policy in pipeline.resources("pipeline", "AWS::IAM::Policy").values():
        if {"Ref": role} in policy["Properties"]["Roles"]:
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
                assert statement["Effect"] == "Allow"
                action = statement["Action"]
                allowed |= set(action if isinstance(action, list) else [action])
    return allowed


def test_stages_run_synth_staging_gate_approval_prod(pipeline: Synthesized) -> None:
    names = [stage["Name"] for stage in pipeline_resource(pipeline)["Stages"]]
    assert names == [
        "Source",
        "Build",
        "UpdatePipeline",
        "Assets",
        "chat-relay-staging",
        "chat-relay-prod",
    ]
    staging = [a["Name"] for a in actions(pipeline, "chat-relay-staging")]
    # Every stack deployed, then the smoke check, then the load test, one after the other.
    assert staging[-2:] == ["SmokeCheck", "LoadTestGate"]
    stacks = {name.split(".")[0] for name in staging[:-2]}
    assert stacks == {"network", "cache", "service", "loadgen"}
    orders = {a["Name"]: a["RunOrder"] for a in actions(pipeline, "chat-relay-staging")}
    # The checks start only when every stack is deployed, and one after the other (stacks
    # that depend on nothing but the network may deploy side by side).
    last_deploy = max(order for name, order in orders.items() if name.endswith(".Deploy"))
    assert last_deploy < orders["SmokeCheck"] < orders["LoadTestGate"]
    prod = actions(pipeline, "chat-relay-prod")
    assert (prod[0]["Name"], prod[0]["ActionTypeId"]["Category"]) == ("PromoteToProd", "Approval")
    assert all(a["RunOrder"] > prod[0]["RunOrder"] for a in prod[1:])


def test_source_is_the_connection_from_the_settings_file(pipeline: Synthesized) -> None:
    settings = load_pipeline_settings(shipped_settings())
    (source,) = actions(pipeline, "Source")
    assert source["ActionTypeId"]["Provider"] == "CodeStarSourceConnection"
    assert source["Configuration"]["ConnectionArn"] == settings.connection_arn
    assert source["Configuration"]["FullRepositoryId"] == settings.repository
    assert source["Configuration"]["BranchName"] == settings.branch


def test_source_role_may_use_the_connection_under_its_arns_prefix(pipeline: Synthesized) -> None:
    """An IAM action's service prefix must match the resource ARN's since the
    CodeConnections rename: arn:aws:codeconnections needs codeconnections:UseConnection."""
    arn = load_pipeline_settings(shipped_settings()).connection_arn
    assert arn.startswith("arn:aws:codeconnections:")
    granted = {
        action
        for policy in pipeline.resources(PIPELINE, "AWS::IAM::Policy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if statement["Resource"] == arn
        for action in (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
    }
    assert "codeconnections:UseConnection" in granted


def test_synth_runs_the_project_test_command(pipeline: Synthesized) -> None:
    assert build_commands(pipeline, "Synth") == ["make test", "make synth"]
    assert project(pipeline, "Synth")["Environment"]["Image"] == BUILD_IMAGE


def test_gate_runs_the_load_test_with_the_file_thresholds(pipeline: Synthesized) -> None:
    gate = load_pipeline_settings(shipped_settings()).gate
    (command,) = build_commands(pipeline, "LoadTestGate")
    assert command == gate_command(gate)
    assert 'python -m loadtest "$WS_URL" --origin "$ORIGIN"' in command
    for flag, value in (
        ("--max-p99-ms", "250"),
        ("--max-loss", "0"),
        ("--min-delivered", "1000000"),
        ("--clients", "2000"),
        ("--duration", "120s"),
    ):
        assert f" {flag} {value} " in f"{command} ", flag
    (gate_action,) = [
        a for a in actions(pipeline, "chat-relay-staging") if a["Name"] == "LoadTestGate"
    ]
    variables = json.loads(gate_action["Configuration"]["EnvironmentVariables"])
    (url,) = variables
    assert url["name"] == "RELAY_URL"
    assert url["value"].endswith(".Url}")  # staging's service stack output, at run time


def test_smoke_check_covers_readyz_and_the_websocket(pipeline: Synthesized) -> None:
    (command,) = build_commands(pipeline, "SmokeCheck")
    assert 'python -m loadtest.smoke "$WS_URL" --origin "$ORIGIN"' in command


def test_post_deploy_steps_read_the_commit_not_the_assembly(pipeline: Synthesized) -> None:
    """loadtest/ and requirements.lock are in the checkout; cdk.out has neither."""
    for step in ("SmokeCheck", "LoadTestGate"):
        (action,) = [a for a in actions(pipeline, "chat-relay-staging") if a["Name"] == step]
        (source,) = actions(pipeline, "Source")
        assert action["InputArtifacts"] == source["OutputArtifacts"]


def test_gate_thresholds_change_with_the_file() -> None:
    command = gate_command(GateSettings(max_p99_ms=120.5, max_loss=0.001, min_delivered=5))
    assert "--max-p99-ms 120.5 --max-loss 0.001 --min-delivered 5 " in command


def pipeline_stage(pipeline: Synthesized, stage: str) -> dict[str, dict[str, Any]]:
    """The pipeline's own copy of a stage: part -> template."""
    prefix = f"chat-relay-{stage}"
    files = stack_templates(pipeline.outdir / f"assembly-chat-relay-pipeline-{prefix}", prefix)
    return {part: json.loads(path.read_text()) for part, path in files.items()}


@pytest.mark.parametrize("stage_name", ["staging", "prod"])
def test_pipeline_deploys_what_a_hand_deploy_deploys(
    pipeline: Synthesized, assemblies: dict[str, Synthesized], stage_name: str
) -> None:
    """Same ChatRelayStage, same settings file: the same templates, apart from the
    construct path (`chat-relay-pipeline/chat-relay-staging/...`), which CDK writes into
    metadata and into the VPC resources' Name tags."""
    in_pipeline = f"chat-relay-pipeline/chat-relay-{stage_name}/"
    by_hand = f"chat-relay-{stage_name}/"
    for part, template in pipeline_stage(pipeline, stage_name).items():
        text = json.dumps(template).replace(in_pipeline, by_hand)
        assert json.loads(text) == assemblies[stage_name].templates[part], part


def test_each_image_built_once_for_every_stage(pipeline: Synthesized) -> None:
    """The relay's image and the load generator's: each built by one asset action and
    published under one hash to every stage's account, the tag its stages' tasks run."""
    names = sorted(a["Name"] for a in actions(pipeline, "Assets"))
    assert names == ["TaskDefinition_loadtest_AssetImage", "TaskDefinition_relay_AssetImage"]
    dockers = [
        r["Properties"]
        for logical_id, r in pipeline.resources("pipeline", "AWS::CodeBuild::Project").items()
        if "DockerAsset" in logical_id
    ]
    published = set()
    for docker in dockers:
        commands = json.loads(docker["Source"]["BuildSpec"])["phases"]["build"]["commands"]
        # One project publishes one asset hash to each stage's account: cdk-assets builds
        # the image on the first publish and pushes the same local image on the second.
        hashes = {c.rsplit('"', 2)[-2].split(":")[0] for c in commands}
        destinations = {c.rsplit('"', 2)[-2].split(":")[1].split("-")[0] for c in commands}
        assert len(hashes) == 1
        assert destinations == {"111111111111", "222222222222"}
        published |= hashes
    assert len(published) == 2
    for part in ("service", "loadgen"):
        tags = set()
        for stage_name in ("staging", "prod"):
            (task,) = [
                r
                for r in pipeline_stage(pipeline, stage_name)[part]["Resources"].values()
                if r["Type"] == "AWS::ECS::TaskDefinition"
            ]
            image = json.dumps(task["Properties"]["ContainerDefinitions"][0]["Image"])
            tags.add(image.rsplit(":", 1)[-1].split('"')[0])
        (tag,) = tags  # staging and prod run the same image...
        assert tag in published, part  # ...the one the asset action built


def test_post_deploy_roles_have_no_aws_permissions(pipeline: Synthesized) -> None:
    for step in ("SmokeCheck", "LoadTestGate"):
        assert role_actions(pipeline, step) <= STEP_ACTIONS, step


def test_synth_role_cannot_deploy_or_assume_anything(pipeline: Synthesized) -> None:
    allowed = role_actions(pipeline, "Synth")
    assert not {a for a in allowed if a.split(":")[0] in ("sts", "iam", "cloudformation")}


def test_no_role_is_admin_and_assume_role_targets_only_bootstrap_roles(
    pipeline: Synthesized,
) -> None:
    for role in pipeline.resources("pipeline", "AWS::IAM::Role").values():
        assert "ManagedPolicyArns" not in role["Properties"]
    for policy in pipeline.resources("pipeline", "AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            action = statement["Action"]
            assert action != "*" and "*" not in (action if isinstance(action, list) else [])
            if "sts:AssumeRole" in (action if isinstance(action, list) else [action]):
                resource = json.dumps(statement["Resource"])
                tagged = "aws-cdk:bootstrap-role" in json.dumps(statement.get("Condition", {}))
                assert "cdk-hnb659fds-" in resource or tagged, resource


def test_pipeline_passes_cdk_nag(pipeline: Synthesized) -> None:
    assert pipeline.nag_findings == [], "\n".join(pipeline.nag_findings)


def test_every_pipeline_acknowledgement_has_a_reason(pipeline: Synthesized) -> None:
    acknowledged = [
        a
        for a in pipeline.acknowledgements()
        if a[1].startswith(("AwsSolutions::", "NIST.800.53.R5::"))
        and not a[0].startswith(
            ("/chat-relay-pipeline/chat-relay-staging/", "/chat-relay-pipeline/chat-relay-prod/")
        )
    ]
    assert {rule.split("[")[0] for _, rule, _ in acknowledged} == {
        "AwsSolutions::AwsSolutions-IAM5",
        "AwsSolutions::AwsSolutions-CB5",
        "AwsSolutions::AwsSolutions-S1",
        "NIST.800.53.R5::NIST.800.53.R5-IAMNoInlinePolicy",
        "NIST.800.53.R5::NIST.800.53.R5-S3BucketLoggingEnabled",
        "NIST.800.53.R5::NIST.800.53.R5-S3BucketVersioningEnabled",
        "NIST.800.53.R5::NIST.800.53.R5-S3BucketReplicationEnabled",
    }
    for path, rule, reason in acknowledged:
        assert len(reason) >= 50, f"{rule} on {path}: reason too thin: {reason!r}"


# (the [pipeline] table, words the message must contain)
BAD_PIPELINE = [
    (
        {"account": "1", "region": "us-east-1"},
        ["connection_arn is missing", "repository is missing"],
    ),
    (
        {
            "account": "333333333333",
            "region": "eu-west-1",
            "repository": "org/repo",
            "connection_arn": "arn:aws:codeconnections:us-east-1:333333333333:connection/"
            "00000000-0000-0000-0000-000000000000",
        },
        ["connection_arn is in us-east-1 but the pipeline runs in eu-west-1"],
    ),
    (
        {
            "account": "33",
            "region": "us-east-1",
            "repository": "just-a-name",
            "connection_arn": "github.com/org/repo",
            "gate": {"max_loss": 2, "min_delivered": 0, "max_p99": 5},
        },
        [
            'account = "33": use the 12-digit',
            "not a CodeConnections connection ARN",
            'repository = "just-a-name": use owner/name',
            "max_p99: unknown key",
        ],
    ),
    (
        {
            "account": "333333333333",
            "region": "us-east-1",
            "repository": "org/repo",
            "connection_arn": "arn:aws:codestar-connections:us-east-1:333333333333:connection/"
            "00000000-0000-0000-0000-000000000000",
            "gate": {"max_loss": 2, "min_delivered": 0},
        },
        ["max_loss = 2.0: use a fraction", "min_delivered = 0: use at least 1"],
    ),
]


@pytest.mark.parametrize(("table", "expected"), BAD_PIPELINE)
def test_bad_pipeline_settings_fail_with_the_fix(table: dict, expected: list[str]) -> None:
    settings = shipped_settings()
    settings = type(settings)(path=settings.path, stages=settings.stages, pipeline=table)
    with pytest.raises(StageConfigError) as raised:
        load_pipeline_settings(settings)
    for words in expected:
        assert words in str(raised.value)
    assert "stages.toml [pipeline" in str(raised.value)


def test_the_image_is_built_natively_on_the_stages_architecture(pipeline: Synthesized) -> None:
    environments = [
        r["Properties"]["Environment"]
        for logical_id, r in pipeline.resources("pipeline", "AWS::CodeBuild::Project").items()
        if "DockerAsset" in logical_id
    ]
    assert len(environments) == 2  # the relay and the load generators
    for environment in environments:
        # staging and prod run Graviton (arm64) tasks: an ARM build machine, no emulation.
        assert environment["Type"] == "ARM_CONTAINER"
        assert environment["Image"] == "aws/codebuild/amazonlinux-aarch64-standard:3.0"
        assert environment["PrivilegedMode"] is True
    assert {load("staging").relay.cpu_architecture, load("prod").relay.cpu_architecture} == {
        "arm64"
    }


def test_stages_of_different_architectures_fail_with_the_fix() -> None:
    staging = load("staging")
    x86 = dataclasses.replace(
        staging, relay=dataclasses.replace(staging.relay, cpu_architecture="x86_64")
    )
    with pytest.raises(StageConfigError) as raised:
        check_one_architecture([x86, load("prod")])
    message = str(raised.value)
    assert "staging: 'x86_64', prod: 'arm64'" in message
    assert "[stages.staging.relay] and [stages.prod.relay]" in message
