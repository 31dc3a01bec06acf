"""The delivery pipeline (CDK Pipelines): commit -> synth -> staging -> gate -> approval -> prod.

- Source: the repository through a CodeConnections (CodeStar) connection, from stages.toml.
- Synth: the project's own `make test`, then `make synth` (the cloud assembly it deploys).
- Assets: the relay image is built once, in one asset action, and pushed under one asset
  hash to each stage's bootstrap repository; staging and prod run that very image.
- Staging: the same `ChatRelayStage` as a hand deploy, then two post-deploy steps, in
  order: a smoke check of /readyz and the WebSocket path (`python -m loadtest.smoke`), and
  the load-test gate (`python -m loadtest` with the thresholds from [pipeline.gate]). A
  failed step fails the stage, and CodePipeline stops there.
- Prod: behind a manual approval, the same stage class with prod's settings.

The post-deploy steps need no AWS permissions at all: their roles get CodeBuild's logs,
reports and artifact access and nothing else (no role_policy_statements).
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Sequence
from pathlib import Path

from aws_cdk import CfnResource, Duration, Environment, Stack, pipelines
from aws_cdk import aws_codebuild as codebuild
from constructs import Construct

from stacks.chat_relay import ChatRelayStage
from stacks.compliance import INLINE_POLICY_REASON, acknowledge_nag, skip_checkov
from stacks.config import StageConfig
from stacks.pipeline_config import GateSettings, PipelineSettings

PIPELINE_STACK_NAME = "chat-relay-pipeline"
# Debian, like the relay image and a developer's machine: `make test` installs
# redis-server and chromium with apt-get (Ubuntu's chromium is a snap stub). ECR Public's
# mirror of the Docker official image: no Docker Hub pull limits.
BUILD_IMAGE = "public.ecr.aws/docker/library/python:3.11.14-bookworm"
# The asset publisher CodeBuild installs (`npm install -g cdk-assets@...`); pinned, not
# "latest", so a new release cannot change how the image is pushed between two runs.
CDK_ASSETS_VERSION = "4.7.3"
# Where post-deploy steps find staging's URL (the service stack's `Url` output).
URL_VARIABLE = "RELAY_URL"
# The steps' Python: the relay's own locked dependencies (websockets, orjson, uvloop).
# CDK Pipelines' grants on its artifact bucket and key, and why each wildcard is needed.
_ARTIFACT_OBJECTS = "on this pipeline's artifact bucket only: "
PIPELINE_ACTION_WILDCARDS = {
    "s3:GetObject*": _ARTIFACT_OBJECTS + "steps read their input artifacts (object and version).",
    "s3:GetBucket*": _ARTIFACT_OBJECTS + "steps read the bucket's location and encryption.",
    "s3:List*": _ARTIFACT_OBJECTS + "steps list artifact prefixes they read.",
    "s3:DeleteObject*": _ARTIFACT_OBJECTS + "steps replace the output artifacts they write.",
    "s3:Abort*": _ARTIFACT_OBJECTS + "a failed upload of an output artifact is aborted.",
    "kms:GenerateDataKey*": "On the pipeline's artifact key only: encrypting artifacts.",
    "kms:ReEncrypt*": "On the pipeline's artifact key only: artifacts passed across accounts.",
}
INSTALL_LOCKED = "pip install --require-hashes --no-deps -r requirements.lock"


class PipelineStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: PipelineSettings,
        stages: Sequence[StageConfig],
        image_directory: Path,
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            env=Environment(account=settings.account, region=settings.region),
            description="chat-relay delivery pipeline: commit -> staging -> load test -> prod",
        )
        self.settings = settings
        source = pipelines.CodePipelineSource.connection(
            settings.repository, settings.branch, connection_arn=settings.connection_arn
        )
        debian = codebuild.BuildEnvironment(
            build_image=codebuild.LinuxBuildImage.from_docker_registry(BUILD_IMAGE),
            compute_type=codebuild.ComputeType.MEDIUM,
        )
        synth = pipelines.CodeBuildStep(
            "Synth",
            input=source,
            build_environment=debian,
            # make installs everything it needs (.venv, Node from its wheel, the pinned CDK
            # CLI, apt packages): the same two commands a developer runs.
            commands=["make test", "make synth"],
            primary_output_directory="cdk.out",
            timeout=Duration.minutes(60),
        )
        self.pipeline = pipelines.CodePipeline(
            self,
            "Pipeline",
            pipeline_name=PIPELINE_STACK_NAME,
            synth=synth,
            # Stages live in other accounts: artifacts are encrypted with a KMS key those
            # accounts' deploy roles may use.
            cross_account_keys=True,
            enable_key_rotation=True,
            cli_version=cdk_cli_version(image_directory),
            cdk_assets_cli_version=CDK_ASSETS_VERSION,
            # One asset action per asset: the relay image is built exactly once.
            publish_assets_in_parallel=True,
            # ...natively, on a CodeBuild machine of the tasks' architecture: no emulation.
            asset_publishing_code_build_defaults=pipelines.CodeBuildOptions(
                build_environment=asset_build_environment(stages)
            ),
        )

        self.stages: dict[str, ChatRelayStage] = {}
        for config in stages:
            stage = ChatRelayStage(
                self, config.prefix, config=config, image_directory=image_directory
            )
            self.stages[config.name] = stage
            if config.name == "prod":
                self.pipeline.add_stage(
                    stage,
                    pre=[
                        pipelines.ManualApprovalStep(
                            "PromoteToProd",
                            comment="Staging passed the smoke check and the load-test gate: "
                            "promote this build (the same image) to prod?",
                        )
                    ],
                )
                continue
            smoke = self._post_deploy_step("SmokeCheck", stage, source, [smoke_command()], debian)
            gate = self._post_deploy_step(
                "LoadTestGate", stage, source, [gate_command(settings.gate)], _gate_environment()
            )
            gate.add_step_dependency(smoke)
            self.pipeline.add_stage(stage, post=[smoke, gate])
        self.pipeline.build_pipeline()
        self._drop_redundant_dependency()
        self._acknowledge_findings()

    def _drop_redundant_dependency(self) -> None:
        """CodePipeline names its role both in RoleArn (a GetAtt) and in DependsOn; cfn-lint
        W3005 flags the duplicate. The GetAtt alone orders the two."""
        cfn_pipeline = self.pipeline.pipeline.node.default_child
        policy = self.pipeline.pipeline.role.node.find_child("DefaultPolicy").node.default_child
        assert isinstance(cfn_pipeline, CfnResource) and isinstance(policy, CfnResource)
        # The policy must exist before the pipeline starts its first run; the role need not
        # be repeated.
        cfn_pipeline.add_override("DependsOn", [self.get_logical_id(policy)])

    def _acknowledge_findings(self) -> None:
        """cdk-nag findings on what CDK Pipelines generates, each with its reason.

        cdk-nag names every wildcard it finds; they are acknowledged one by one (by the
        resource names CDK generates), so a new wildcard is a new finding, not hidden.
        """
        for action, grant in PIPELINE_ACTION_WILDCARDS.items():
            acknowledge_nag(self.pipeline, f"AwsSolutions-IAM5[Action::{action}]", grant)
        bucket = self.resolve(
            Stack.of(self).get_logical_id(self.pipeline.pipeline.artifact_bucket.node.default_child)
        )
        acknowledge_nag(
            self.pipeline,
            f"AwsSolutions-IAM5[Resource::<{bucket}.Arn>/*]",
            "Objects of this pipeline's own artifact bucket: every step reads its input "
            "artifacts and writes its outputs there.",
        )
        arn = f"arn:aws:{{service}}:{self.settings.region}:{self.settings.account}"
        builds = (
            f"{arn.format(service='logs')}:log-group:/aws/codebuild/{{}}",
            f"{arn.format(service='codebuild')}:report-group/{{}}",
        )
        for project in self.node.find_all():
            if isinstance(project, codebuild.CfnProject):
                name = self.resolve(self.get_logical_id(project))
                for resource in (builds[0].format(f"<{name}>:*"), builds[1].format(f"<{name}>-*")):
                    acknowledge_nag(
                        self.pipeline,
                        f"AwsSolutions-IAM5[Resource::{resource}]",
                        "A CodeBuild project's own log streams and report groups, whose "
                        "names CodeBuild derives from the project name at build time.",
                    )
        for resource in builds:
            acknowledge_nag(
                self.pipeline,
                f"AwsSolutions-IAM5[Resource::{resource.format('*')}]",
                "The asset-publishing role serves one CodeBuild project per asset, created "
                "by CDK Pipelines: logs and reports of those projects, in this account only.",
            )
        acknowledge_nag(
            self.pipeline,
            f"AwsSolutions-IAM5[Resource::arn:*:iam::{self.settings.account}:role/*]",
            "Self-mutation assumes only roles tagged aws-cdk:bootstrap-role = deploy, "
            "file-publishing or image-publishing (a condition on the statement): the CDK "
            "bootstrap roles, to update this pipeline stack.",
        )
        acknowledge_nag(
            self.pipeline,
            "AwsSolutions-IAM5[Resource::*]",
            "cloudformation:DescribeStacks and s3:ListBucket (self-mutation reading the "
            "bootstrap stack), codebuild:StartBuild/BatchGetBuilds/StopBuild (the asset "
            "action starting its project): CDK Pipelines' fixed grants.",
        )
        acknowledge_nag(
            self.pipeline,
            "AwsSolutions-CB5",
            f"Synth and the staging checks run in {BUILD_IMAGE} (ECR Public's copy of the "
            "Docker official image), Debian like the relay image: `make test` installs "
            "redis-server and Chromium from Debian, which CodeBuild's Ubuntu images lack.",
        )
        bucket = self.pipeline.pipeline.artifact_bucket
        logging = (
            "The artifact bucket holds only the pipeline's own intermediate artifacts, "
            "encrypted with its KMS key; CloudTrail records every access to it already."
        )
        acknowledge_nag(bucket, "AwsSolutions-S1", logging)
        acknowledge_nag(bucket, "NIST.800.53.R5-S3BucketLoggingEnabled", logging)
        skip_checkov(bucket, "CKV_AWS_18", logging)
        versions = (
            "Artifacts are written once per execution under a new key and never "
            "overwritten, so versions would only keep copies of build outputs."
        )
        skip_checkov(bucket, "CKV_AWS_21", versions)
        acknowledge_nag(bucket, "NIST.800.53.R5-S3BucketVersioningEnabled", versions)
        acknowledge_nag(
            bucket,
            "NIST.800.53.R5-S3BucketReplicationEnabled",
            "Intermediate build artifacts, rebuilt from the commit by any run; a copy in "
            "another region would restore nothing that a re-run does not.",
        )
        acknowledge_nag(self.pipeline, "NIST.800.53.R5-IAMNoInlinePolicy", INLINE_POLICY_REASON)
        docker_policy = self.pipeline.node.find_child("Assets").node.find_child("DockerRole")
        skip_checkov(
            docker_policy.node.find_child("DefaultPolicy"),
            "CKV_AWS_111",
            "codebuild:StartBuild/StopBuild on * is how CDK Pipelines lets the asset action "
            "start its own CodeBuild project; the role can do nothing else unconstrained.",
        )

    def _post_deploy_step(
        self,
        step_id: str,
        stage: ChatRelayStage,
        source: pipelines.CodePipelineSource,
        commands: list[str],
        environment: codebuild.BuildEnvironment,
    ) -> pipelines.CodeBuildStep:
        return pipelines.CodeBuildStep(
            step_id,
            # The commit's checkout (loadtest/, requirements.lock), not the synth output.
            input=source,
            env_from_cfn_outputs={URL_VARIABLE: stage.url_output},
            install_commands=[INSTALL_LOCKED],
            commands=commands,
            build_environment=environment,
            timeout=Duration.minutes(30),
            # Talks to staging's public URL only: no AWS permissions beyond CodeBuild's own.
            role_policy_statements=[],
        )


# relay.cpu_architecture -> the CodeBuild image that builds the relay image natively.
ASSET_BUILD_IMAGES = {
    "arm64": codebuild.LinuxArmBuildImage.AMAZON_LINUX_2023_STANDARD_3_0,
    "x86_64": codebuild.LinuxBuildImage.AMAZON_LINUX_2023_5,
}


def asset_build_environment(stages: Sequence[StageConfig]) -> codebuild.BuildEnvironment:
    """Where the relay image is built: on the promoted stages' own architecture.

    Staging and prod must share it (one image, tested in staging, run in prod); the
    settings check in stacks/assembly.py refuses a pipeline whose stages differ.
    """
    (architecture,) = {stage.relay.cpu_architecture for stage in stages}
    return codebuild.BuildEnvironment(
        build_image=ASSET_BUILD_IMAGES[architecture],
        compute_type=codebuild.ComputeType.LARGE,
        # Docker runs inside the build container.
        privileged=True,
    )


def _gate_environment() -> codebuild.BuildEnvironment:
    # 2000 WebSockets and their fan-out measured on one machine: the load generator must
    # not be the bottleneck it measures (docs/loadtest.md, workers).
    return codebuild.BuildEnvironment(
        build_image=codebuild.LinuxBuildImage.from_docker_registry(BUILD_IMAGE),
        compute_type=codebuild.ComputeType.LARGE,
    )


def _origin_and_ws_url() -> str:
    """Shell: ORIGIN and WS_URL from RELAY_URL (https://host/ -> https://host, wss://host/ws).

    The relay admits exactly its own origin (ALLOWED_ORIGINS=https://<domain>, or its
    own host without a domain), which is the URL without its path.
    """
    return f'ORIGIN="${{{URL_VARIABLE}%/}}"; WS_URL="$(echo "$ORIGIN" | sed "s#^http#ws#")/ws"'


def smoke_command() -> str:
    return f'{_origin_and_ws_url()}; python -m loadtest.smoke "$WS_URL" --origin "$ORIGIN"'


def gate_command(gate: GateSettings) -> str:
    """The load-test gate: exit status 1 on a missed threshold fails the pipeline step."""
    arguments = [
        "--clients",
        str(gate.clients),
        "--rooms",
        str(gate.rooms),
        "--senders",
        str(gate.senders),
        "--rate",
        f"{gate.rate:g}",
        "--duration",
        f"{gate.duration_seconds}s",
        "--workers",
        str(gate.workers),
        "--max-p99-ms",
        f"{gate.max_p99_ms:g}",
        "--max-loss",
        f"{gate.max_loss:g}",
        "--min-delivered",
        str(gate.min_delivered),
        "--quiet",
    ]
    return f'{_origin_and_ws_url()}; python -m loadtest "$WS_URL" --origin "$ORIGIN" ' + shlex.join(
        arguments
    )


def cdk_cli_version(repo_root: Path) -> str:
    """The CDK CLI pinned in package.json: self-mutation uses the version the repo tests."""
    return json.loads((repo_root / "package.json").read_text())["devDependencies"]["aws-cdk"]
