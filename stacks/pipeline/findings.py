"""cdk-nag and checkov findings on what CDK Pipelines generates, each acknowledged with
its reason (the pipeline itself: stacks/pipeline/stack.py)."""

from __future__ import annotations

from aws_cdk import CfnElement, Stack, pipelines
from aws_cdk import aws_codebuild as codebuild

from stacks.compliance import INLINE_POLICY_REASON, acknowledge_nag, skip_checkov
from stacks.config.pipeline import PipelineSettings
from stacks.pipeline.steps import BUILD_IMAGE

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


def acknowledge_pipeline_findings(
    stack: Stack, pipeline: pipelines.CodePipeline, settings: PipelineSettings
) -> None:
    """cdk-nag findings on what CDK Pipelines generates, each with its reason.

    cdk-nag names every wildcard it finds; they are acknowledged one by one (by the
    resource names CDK generates), so a new wildcard is a new finding, not hidden.
    """
    for action, grant in PIPELINE_ACTION_WILDCARDS.items():
        acknowledge_nag(pipeline, f"AwsSolutions-IAM5[Action::{action}]", grant)
    artifacts = pipeline.pipeline.artifact_bucket.node.default_child
    assert isinstance(artifacts, CfnElement)  # the artifact bucket's CfnBucket
    bucket = stack.resolve(stack.get_logical_id(artifacts))
    acknowledge_nag(
        pipeline,
        f"AwsSolutions-IAM5[Resource::<{bucket}.Arn>/*]",
        "Objects of this pipeline's own artifact bucket: every step reads its input "
        "artifacts and writes its outputs there.",
    )
    arn = f"arn:aws:{{service}}:{settings.region}:{settings.account}"
    builds = (
        f"{arn.format(service='logs')}:log-group:/aws/codebuild/{{}}",
        f"{arn.format(service='codebuild')}:report-group/{{}}",
    )
    for project in stack.node.find_all():
        if isinstance(project, codebuild.CfnProject):
            name = stack.resolve(stack.get_logical_id(project))
            for resource in (builds[0].format(f"<{name}>:*"), builds[1].format(f"<{name}>-*")):
                acknowledge_nag(
                    pipeline,
                    f"AwsSolutions-IAM5[Resource::{resource}]",
                    "A CodeBuild project's own log streams and report groups, whose "
                    "names CodeBuild derives from the project name at build time.",
                )
    for resource in builds:
        acknowledge_nag(
            pipeline,
            f"AwsSolutions-IAM5[Resource::{resource.format('*')}]",
            "The asset-publishing role serves one CodeBuild project per asset, created "
            "by CDK Pipelines: logs and reports of those projects, in this account only.",
        )
    acknowledge_nag(
        pipeline,
        f"AwsSolutions-IAM5[Resource::arn:*:iam::{settings.account}:role/*]",
        "Self-mutation assumes only roles tagged aws-cdk:bootstrap-role = deploy, "
        "file-publishing or image-publishing (a condition on the statement): the CDK "
        "bootstrap roles, to update this pipeline stack.",
    )
    acknowledge_nag(
        pipeline,
        "AwsSolutions-IAM5[Resource::*]",
        "cloudformation:DescribeStacks and s3:ListBucket (self-mutation reading the "
        "bootstrap stack), codebuild:StartBuild/BatchGetBuilds/StopBuild (the asset "
        "action starting its project): CDK Pipelines' fixed grants.",
    )
    acknowledge_nag(
        pipeline,
        "AwsSolutions-CB5",
        f"Synth and the staging checks run in {BUILD_IMAGE} (ECR Public's copy of the "
        "Docker official image), Debian like the relay image: `make test` installs "
        "redis-server and Chromium from Debian, which CodeBuild's Ubuntu images lack.",
    )
    bucket = pipeline.pipeline.artifact_bucket
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
    acknowledge_nag(pipeline, "NIST.800.53.R5-IAMNoInlinePolicy", INLINE_POLICY_REASON)
    docker_policy = pipeline.node.find_child("Assets").node.find_child("DockerRole")
    skip_checkov(
        docker_policy.node.find_child("DefaultPolicy"),
        "CKV_AWS_111",
        "codebuild:StartBuild/StopBuild on * is how CDK Pipelines lets the asset action "
        "start its own CodeBuild project; the role can do nothing else unconstrained.",
    )
