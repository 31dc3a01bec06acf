"""Load generators: `python -m loadtest` shards as ECS Fargate tasks, run on demand.

Nothing here runs by itself: `python -m loadtest aws --stage STAGE ...` (docs/loadtest.md)
starts one task per shard with `ecs run-task`, each writes its shard report to the results
bucket, and the command merges them. The stack holds only what those tasks need:

- its own ECS cluster, so load generators never take capacity or permissions from the
  relay's service;
- a task definition for the small loadtest image (loadtest/Dockerfile), non-root, with a
  read-only root filesystem, no capabilities, and the open-file limit each socket needs;
- a security group that only connects out: to the stage's public entry point (the
  load test goes through the ALB, as users do) and to the AWS APIs;
- the results bucket, and a task role that may only write below `results/` in it.

Settings are narrow props (StageConfig for names and retention, the VPC), so this stack
moves unchanged when the stages become cdk.Stages.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aws_cdk import CfnElement, CfnOutput, Duration, RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks import fargate
from stacks.buckets import expiring_bucket
from stacks.compliance import acknowledge_nag, skip_checkov
from stacks.config import StageIdentity
from stacks.log_groups import encrypted_log_group, logs_key
from stacks.stage_stack import StageStack

CONTAINER_NAME = "loadtest"
# Applied after the root .dockerignore: drop the relay's files, let the tool's in, and
# bytecode out again (a later `!` re-includes it; it would make the asset hash vary).
LOADGEN_IMAGE_CONTEXT = (
    "service/",
    "web/",
    "requirements.lock",
    "!contract/",
    "!loadtest/",
    "**/__pycache__",
    "**/*.pyc",
)
RESULTS_PREFIX = "results/"
SUBNET_NAME = "service"  # stacks/network.py: the private subnets with egress through NAT
# uid/gid of the `loadtest` user that loadtest/Dockerfile creates.
LOADTEST_USER = "10001:10001"
# Fargate's own default and the figure its documentation gives for nofile; each client
# is one socket, so this bounds the connections of one task (docs/loadtest.md).
OPEN_FILES_LIMIT = 65535
HTTPS_PORT = 443
HTTP_PORT = 80
ANYWHERE = "0.0.0.0/0"


@dataclass(frozen=True)
class LoadGeneratorSettings:
    """One generator task: 4 vCPU runs 4 workers (`--workers 4`), one per core."""

    cpu: int = 4096
    memory_mib: int = 8192
    # Shard reports are evidence for a release decision, then clutter.
    results_retention_days: int = 30


@dataclass(frozen=True)
class LoadGeneratorProps:
    """What the load-generator stack reads of its stage, and the VPC it runs in."""

    stage: StageIdentity
    # The stage URL is https (dev: plain HTTP too).
    https: bool
    # The relay's, so one native build machine builds every image of the stage.
    cpu_architecture: str
    log_retention_days: int
    vpc: ec2.IVpc
    # The Docker build context (the repository root).
    image_directory: Path
    # The VPC's interface endpoints, where the network has them; private DNS sends the
    # generators' ECR and Logs calls there too.
    endpoint_security_group: ec2.ISecurityGroup | None = None
    settings: LoadGeneratorSettings = LoadGeneratorSettings()


class LoadGeneratorStack(StageStack):
    def __init__(self, scope: Construct, construct_id: str, props: LoadGeneratorProps) -> None:
        super().__init__(
            scope,
            construct_id,
            stage=props.stage,
            summary="load-generator tasks and their results bucket",
        )
        stage, settings, vpc = props.stage, props.settings, props.vpc
        https, cpu_architecture = props.https, props.cpu_architecture
        endpoint_security_group = props.endpoint_security_group
        log_retention_days, image_directory = props.log_retention_days, props.image_directory
        self.results = self._results_bucket(stage, settings)

        self.security_group = ec2.SecurityGroup(
            self,
            "SecurityGroup",
            vpc=vpc,
            description=f"{stage.prefix} load generators: out to the stage URL and AWS APIs",
            allow_all_outbound=False,
        )
        # The stage's URL is the internet-facing ALB (443; dev serves plain HTTP on 80);
        # ECR, S3 and CloudWatch Logs are HTTPS too. Nothing connects in.
        ports = [HTTPS_PORT] if https else [HTTPS_PORT, HTTP_PORT]
        for port in ports:
            self.security_group.add_egress_rule(
                ec2.Peer.ipv4(ANYWHERE),
                ec2.Port.tcp(port),
                "HTTPS: the stage URL, ECR, S3, CloudWatch Logs"
                if port == HTTPS_PORT
                else "HTTP (ws): the dev stage URL",
            )

        if endpoint_security_group is not None:
            # The endpoints admit the relay's group (stacks/network.py) and this one.
            ec2.CfnSecurityGroupIngress(
                self,
                "EndpointsFromLoadGenerators",
                group_id=endpoint_security_group.security_group_id,
                ip_protocol="tcp",
                from_port=HTTPS_PORT,
                to_port=HTTPS_PORT,
                source_security_group_id=self.security_group.security_group_id,
                description="From load generators: ECR image pull, CloudWatch Logs",
            )

        self.cluster = ecs.Cluster(
            self, "Cluster", vpc=vpc, container_insights_v2=ecs.ContainerInsights.ENABLED
        )
        log_group = encrypted_log_group(
            self,
            "LogGroup",
            stage,
            retention_days=log_retention_days,
            key=logs_key(self, "LogKey", stage, "load generator logs"),
        )

        self.task_definition = fargate.task_definition(
            self,
            "TaskDefinition",
            family=f"{stage.prefix}-loadgen",
            cpu=settings.cpu,
            memory_mib=settings.memory_mib,
            # The relay's architecture: the pipeline builds every image of the stage on
            # one native CodeBuild machine (Graviton in staging and prod).
            cpu_architecture=cpu_architecture,
        )
        # The one permission of the running generator: put its report below results/.
        self.task_definition.task_role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["s3:PutObject"],
                resources=[self.results.arn_for_objects(f"{RESULTS_PREFIX}*")],
            )
        )
        bucket = self.results.node.default_child
        assert isinstance(bucket, CfnElement)  # an s3.Bucket's CfnBucket
        bucket_id = self.resolve(self.get_logical_id(bucket))
        acknowledge_nag(
            self.task_definition,
            f"AwsSolutions-IAM5[Resource::<{bucket_id}.Arn>/{RESULTS_PREFIX}*]",
            "The task role may put objects only below results/ of this stack's own bucket: "
            "each shard writes one new report there; it can read, list and delete nothing.",
        )
        self.container = self.task_definition.add_container(
            CONTAINER_NAME,
            # Built from the repository root: the tool imports contract/ (the protocol
            # limits it shares with the relay). CDK stages the context through the root
            # .dockerignore (the relay's allow-list) and then these patterns, so the relay's
            # files stay out of this image and out of its asset hash;
            # loadtest/Dockerfile.dockerignore says the same to `docker build`.
            image=ecs.ContainerImage.from_asset(
                str(image_directory),
                file="loadtest/Dockerfile",
                exclude=list(LOADGEN_IMAGE_CONTEXT),
                platform=fargate.image_platform(cpu_architecture),
            ),
            logging=ecs.LogDrivers.aws_logs(
                stream_prefix=CONTAINER_NAME,
                log_group=log_group,
                mode=ecs.AwsLogDriverMode.NON_BLOCKING,
            ),
            readonly_root_filesystem=True,
            user=LOADTEST_USER,
            linux_parameters=fargate.no_capabilities(self),
            # A shard stopped by `ecs stop-task` (SIGTERM) writes and uploads what it has.
            stop_timeout=Duration.seconds(30),
            ulimits=fargate.open_files(OPEN_FILES_LIMIT),
            essential=True,
        )
        fargate.mount_tmp(self.container)

        # What `python -m loadtest aws` reads (describe-stacks), so it needs only the stage.
        # The subnets are not an output (it would only re-export the network stack's
        # exports): the command finds the security group's VPC and its subnets named
        # SUBNET_NAME, the private ones with a route out through NAT.
        outputs = {
            "ClusterName": self.cluster.cluster_name,
            "TaskDefinitionArn": self.task_definition.task_definition_arn,
            "ContainerName": CONTAINER_NAME,
            "ResultsBucketName": self.results.bucket_name,
            "ResultsPrefix": RESULTS_PREFIX,
            "SubnetName": SUBNET_NAME,
            "SecurityGroupId": self.security_group.security_group_id,
        }
        for name, value in outputs.items():
            CfnOutput(self, name, value=value)

    def _results_bucket(self, stage: StageIdentity, settings: LoadGeneratorSettings) -> s3.Bucket:
        bucket = expiring_bucket(
            self,
            "ResultsBucket",
            expire_after_days=settings.results_retention_days,
            rule_id="expire-results",
            # Kept on delete in every stage: CloudFormation cannot delete a bucket that
            # still holds reports, and `make destroy` would stop there.
            removal_policy=RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE,
        )
        reason = (
            "Load-test reports only, written by the generator tasks' role (put below "
            "results/ only) and read by the operator's own credentials; CloudTrail records "
            "those API calls, and the objects expire after a month."
        )
        acknowledge_nag(bucket, "AwsSolutions-S1", reason)
        acknowledge_nag(bucket, "NIST.800.53.R5-S3BucketLoggingEnabled", reason)
        skip_checkov(bucket, "CKV_AWS_18", reason)
        acknowledge_nag(
            bucket,
            "NIST.800.53.R5-S3BucketReplicationEnabled",
            "Load-test reports that expire after a month and are reproduced by running the "
            "test again; a copy in another region would protect nothing of lasting value.",
        )
        acknowledge_nag(
            bucket,
            "NIST.800.53.R5-S3DefaultEncryptionKMS",
            "Latency and delivery figures, no personal data: SSE-S3 lets the tasks' role and "
            "the operator's credentials write and read them without a KMS key grant each.",
        )
        return bucket
