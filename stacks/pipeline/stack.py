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

The post-deploy steps' commands are in stacks/pipeline/steps.py, the cdk-nag and
checkov acknowledgements of what CDK Pipelines generates in stacks/pipeline/findings.py.

The post-deploy steps need no AWS permissions at all: their roles get CodeBuild's logs,
reports and artifact access and nothing else (no role_policy_statements).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from aws_cdk import CfnResource, Duration, Environment, Stack, pipelines
from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_iam as iam
from constructs import Construct

from stacks.chat_relay import ChatRelayStage
from stacks.config import StageConfig
from stacks.config.pipeline import PipelineSettings
from stacks.pipeline.findings import acknowledge_pipeline_findings
from stacks.pipeline.steps import (
    BUILD_IMAGE,
    INSTALL_LOCKED,
    URL_VARIABLE,
    gate_command,
    gate_environment,
    smoke_command,
)

PIPELINE_STACK_NAME = "chat-relay-pipeline"
# The asset publisher CodeBuild installs (`npm install -g cdk-assets@...`); pinned, not
# "latest", so a new release cannot change how the image is pushed between two runs.
CDK_ASSETS_VERSION = "4.7.3"


@dataclass(frozen=True)
class PipelineProps:
    """[pipeline] of stages.toml, the stages it promotes through (in order), and the
    repository root (the images' build context and package.json's CDK CLI pin)."""

    settings: PipelineSettings
    stages: Sequence[StageConfig]
    image_directory: Path


class PipelineStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, props: PipelineProps) -> None:
        settings, stages = props.settings, props.stages
        image_directory = props.image_directory
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
                "LoadTestGate", stage, source, [gate_command(settings.gate)], gate_environment()
            )
            gate.add_step_dependency(smoke)
            self.pipeline.add_stage(stage, post=[smoke, gate])
        self.pipeline.build_pipeline()
        self._drop_redundant_dependency()
        self._allow_connection_use(settings.connection_arn)
        acknowledge_pipeline_findings(self, self.pipeline, settings)

    def _drop_redundant_dependency(self) -> None:
        """CodePipeline names its role both in RoleArn (a GetAtt) and in DependsOn; cfn-lint
        W3005 flags the duplicate. The GetAtt alone orders the two."""
        cfn_pipeline = self.pipeline.pipeline.node.default_child
        policy = self.pipeline.pipeline.role.node.find_child("DefaultPolicy").node.default_child
        assert isinstance(cfn_pipeline, CfnResource) and isinstance(policy, CfnResource)
        # The policy must exist before the pipeline starts its first run; the role need not
        # be repeated.
        cfn_pipeline.add_override("DependsOn", [self.get_logical_id(policy)])

    def _allow_connection_use(self, connection_arn: str) -> None:
        """CDK grants `codestar-connections:UseConnection` whatever the ARN; since the
        CodeConnections rename an IAM policy must use the prefix of the resource's ARN
        (docs.aws.amazon.com/dtconsole/latest/userguide/rename.html), so a connection
        created as `arn:aws:codeconnections:...` needs `codeconnections:UseConnection`."""
        prefix = connection_arn.split(":")[2]
        source_stage = self.pipeline.pipeline.node.find_child("Source")
        (role,) = (
            c
            for c in source_stage.node.find_all()
            if isinstance(c, iam.Role) and c.node.id == "CodePipelineActionRole"
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=[f"{prefix}:UseConnection"], resources=[connection_arn])
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


def cdk_cli_version(repo_root: Path) -> str:
    """The CDK CLI pinned in package.json: self-mutation uses the version the repo tests."""
    version = json.loads((repo_root / "package.json").read_text())["devDependencies"]["aws-cdk"]
    if not isinstance(version, str):
        raise ValueError(f"package.json devDependencies aws-cdk is {version!r}: expected a version")
    return version
