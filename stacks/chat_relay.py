"""One environment of chat-relay as a `cdk.Stage`: its stacks wired together, plus cdk-nag.

The same class is deployed by hand (`make deploy STAGE=staging`, the app's top-level
stage) and by the pipeline (stacks/pipeline/stack.py adds one per environment), so what a
platform engineer diffs is what the pipeline ships. Stack names are fixed
(`chat-relay-<stage>-<part>`), so both ways deploy to the same CloudFormation stacks.

To add a stack to every environment, create it in `ChatRelayStage.__init__` and list it
in `stacks`; the snapshot and linter tests pick it up from `stacks`.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import CfnOutput, Environment, Stack, Stage, Tags, Validations
from cdk_nag import AwsSolutionsChecks, NIST80053R5Checks
from constructs import Construct

from stacks.cache import CacheProps, CacheStack
from stacks.config import StageConfig
from stacks.loadgen import LoadGeneratorProps, LoadGeneratorStack
from stacks.monitoring import Monitoring, MonitoringProps
from stacks.network import NetworkProps, NetworkStack
from stacks.service import ServiceNetwork, ServiceProps, ServiceStack
from stacks.stage_stack import stack_name

__all__ = ["ChatRelayStage", "stack_name"]


class ChatRelayStage(Stage):
    """network -> cache -> service (with the monitoring beside what it watches)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        image_directory: Path,
        checks: bool = True,
    ) -> None:
        """`image_directory` is the Docker build context of the relay image (the repository
        root: the image needs service/, web/ and requirements.lock). `checks` registers
        cdk-nag (off only where a test compares templates and nag is checked elsewhere)."""
        super().__init__(
            scope, construct_id, env=Environment(account=config.account, region=config.region)
        )
        self.config = config
        if checks:
            Validations.of(self).add_plugins(AwsSolutionsChecks(self), NIST80053R5Checks(self))
        stage = config.identity
        # Every stack's props are built here, from the stage's config and the stacks
        # before it; each stack's name, description and (in prod) termination protection
        # follow from `stage` (stacks/stage_stack.py).
        self.network = NetworkStack(
            self,
            "network",
            NetworkProps(
                stage=stage,
                settings=config.network,
                relay_port=config.relay.port,
                cache_port=config.cache.port,
                https=config.load_balancer.https,
                sign_in_mode=config.sign_in.mode,
                sqs_endpoint=config.attachments.enabled,
            ),
        )
        self.cache = CacheStack(
            self,
            "cache",
            CacheProps(
                stage=stage,
                settings=config.cache,
                vpc=self.network.vpc,
                security_group=self.network.cache_security_group,
            ),
        )
        self.service = ServiceStack(
            self,
            "service",
            ServiceProps(
                stage=stage,
                load_balancer=config.load_balancer,
                relay=config.relay,
                waf=config.waf,
                sign_in=config.sign_in,
                api=config.api,
                attachments=config.attachments,
                network=ServiceNetwork(
                    vpc=self.network.vpc,
                    alb_security_group=self.network.alb_security_group,
                    service_security_group=self.network.service_security_group,
                ),
                cache=self.cache.access,
                image_directory=image_directory,
            ),
        )
        self.monitoring = Monitoring(
            self.service,
            "Monitoring",
            MonitoringProps(
                stage=stage,
                limits=config.monitoring,
                alarm_email=config.alarm_email,
                load_balancer=self.service.load_balancer,
                target_group=self.service.target_group,
                service=self.service.service,
                cache_node_ids=self.cache.node_ids,
                cache_nodes_per_shard=config.cache.nodes_per_shard,
                scan_dead_letters=(
                    self.service.attachments.dead_letters if config.attachments.enabled else None
                ),
            ),
        )

        # Idle until `python -m loadtest aws` runs tasks in it; only the VPC is shared.
        self.loadgen = LoadGeneratorStack(
            self,
            "loadgen",
            LoadGeneratorProps(
                stage=stage,
                https=config.load_balancer.https,
                cpu_architecture=config.relay.cpu_architecture,
                log_retention_days=config.relay.log_retention_days,
                vpc=self.network.vpc,
                endpoint_security_group=self.network.endpoint_security_group,
                image_directory=image_directory,
            ),
        )

        Tags.of(self).add("project", "chat-relay")
        Tags.of(self).add("stage", config.name)
        for key, value in config.tags.items():
            Tags.of(self).add(key, value)

    @property
    def stacks(self) -> dict[str, Stack]:
        return {
            "network": self.network,
            "cache": self.cache,
            "service": self.service,
            "loadgen": self.loadgen,
        }

    @property
    def url_output(self) -> CfnOutput:
        """The service stack's `Url` output (https://<domain>/), for post-deploy steps."""
        output = self.service.node.find_child("Url")
        assert isinstance(output, CfnOutput)
        return output
