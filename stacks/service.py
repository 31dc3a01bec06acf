"""Service: the internet-facing ALB and the relay on Fargate behind it.

Numbers that matter for WebSockets (all from the stage config, reasons in
stacks/config/ and docs/infrastructure.md): ALB idle timeout 120 s against the relay's
20 s pings; target group health check on /healthz; load-balancer cookie stickiness for
10 minutes; deregistration delay 30 s, inside which the relay drains once its target
turns `draining` (5 s polls + 20 s of spread 1012 closes); container stopTimeout 40 s
for a SIGTERM-only drain; deploys at 100-200 % (the rules: stacks/config/relay_checks.py,
drain_timing_problems).

The parts live beside it: stacks/load_balancer.py (ALB, target group, listeners),
stacks/relay/task.py (task definition and container), stacks/relay/environment.py (the
container's variables), stacks/relay/scaling.py (capacity providers, autoscaling).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import jsii
from aws_cdk import AspectPriority, Aspects, CfnOutput, Duration, IAspect
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from constructs import Construct, IConstruct

from stacks.attachments import Attachments, AttachmentsProps, page_origin
from stacks.cache import CacheAccess
from stacks.cache_users import connect_arns
from stacks.config import (
    ApiSettings,
    AttachmentSettings,
    LoadBalancerSettings,
    RelaySettings,
    StageIdentity,
    WafSettings,
)
from stacks.config.sign_in import SignInSettings
from stacks.load_balancer import (
    access_log_bucket,
    add_listeners,
    limit_api,
    public_load_balancer,
    relay_target_group,
)
from stacks.network import SERVICE_SUBNETS
from stacks.relay.environment import relay_environment
from stacks.relay.events import chat_event_bus, event_bus_name
from stacks.relay.scaling import capacity_provider_strategies, scale_relay
from stacks.relay.secrets import relay_secrets
from stacks.relay.task import allow_cache_connect, allow_target_health_read, relay_task
from stacks.sign_in import SignIn
from stacks.stage_stack import StageStack
from stacks.waf import EdgeFirewall


@dataclass(frozen=True)
class ServiceNetwork:
    """Where the service runs: the stage's VPC and the two groups the network stack owns."""

    vpc: ec2.IVpc
    alb_security_group: ec2.ISecurityGroup
    service_security_group: ec2.ISecurityGroup


@dataclass(frozen=True)
class ServiceProps:
    """What the service stack reads: the stage's settings for it, the network it runs in,
    the cache it talks to, and the relay image's build context."""

    stage: StageIdentity
    load_balancer: LoadBalancerSettings
    relay: RelaySettings
    waf: WafSettings
    sign_in: SignInSettings
    api: ApiSettings
    attachments: AttachmentSettings
    network: ServiceNetwork
    cache: CacheAccess
    # The relay image's Docker build context (the repository root).
    image_directory: Path


@jsii.implements(IAspect)
class DependOnAssociation:
    """Makes `dependent` depend on the cluster's capacity-provider association."""

    def __init__(self, dependent: Construct) -> None:
        self.dependent = dependent

    def visit(self, node: IConstruct) -> None:
        if isinstance(node, ecs.CfnClusterCapacityProviderAssociations):
            self.dependent.node.add_dependency(node)


class ServiceStack(StageStack):
    def __init__(self, scope: Construct, construct_id: str, props: ServiceProps) -> None:
        super().__init__(
            scope,
            construct_id,
            stage=props.stage,
            summary="ALB, the relay on Fargate, dashboard and alarms",
        )
        stage, lb_settings, relay = props.stage, props.load_balancer, props.relay
        vpc, cache = props.network.vpc, props.cache
        alb_security_group = props.network.alb_security_group
        service_security_group = props.network.service_security_group

        # Imported immutably: every rule is defined in the network stack, none added here.
        alb_sg = ec2.SecurityGroup.from_security_group_id(
            self, "AlbSg", alb_security_group.security_group_id, mutable=False
        )
        service_sg = ec2.SecurityGroup.from_security_group_id(
            self, "ServiceSg", service_security_group.security_group_id, mutable=False
        )

        self.access_logs = access_log_bucket(
            self, retention_days=lb_settings.access_log_retention_days
        )
        self.load_balancer = public_load_balancer(
            self,
            vpc=vpc,
            security_group=alb_sg,
            settings=lb_settings,
            access_logs=self.access_logs,
            stage_name=stage.name,
            waf_enabled=props.waf.enabled,
        )
        self.target_group = relay_target_group(self, vpc=vpc, port=relay.port, settings=lb_settings)
        listeners = add_listeners(
            self.load_balancer,
            self.target_group,
            certificate_arn=lb_settings.certificate_arn,
            sign_in_enabled=props.sign_in.enabled,
        )
        self.listener = listeners.listener
        if props.waf.enabled:
            self.firewall = EdgeFirewall(
                self, "Firewall", stage=stage, settings=props.waf, load_balancer=self.load_balancer
            )
        limit_api(self.listener, self.target_group, allow_cidrs=props.api.allow_cidrs)
        # With sign-in on, every other path is authenticated first (stacks/sign_in.py).
        sign_in_environment: dict[str, str] = {}
        if props.sign_in.enabled:
            assert lb_settings.domain_name is not None  # checked in stacks/config/
            self.sign_in = SignIn(
                self,
                "SignIn",
                settings=props.sign_in,
                listener=self.listener,
                target_group=self.target_group,
                load_balancer_arn=self.load_balancer.load_balancer_arn,
                domain_name=lb_settings.domain_name,
                prefix=stage.prefix,
                region=stage.region,
                retain=stage.retain_data,
            )
            sign_in_environment = self.sign_in.relay_environment

        self.cluster = ecs.Cluster(
            self,
            "Cluster",
            vpc=vpc,
            container_insights_v2=ecs.ContainerInsights.ENABLED,
            # FARGATE and FARGATE_SPOT, for the service's capacity-provider strategy.
            enable_fargate_capacity_providers=True,
        )

        environment = relay_environment(
            relay,
            redis_url=cache.redis_url,
            redis_cluster=cache.cluster,
            redis_iam_user=cache.iam_user_id,
            redis_iam_cache_name=cache.replication_group_id,
            region=stage.region,
            target_group_arn=self.target_group.target_group_arn,
            idle_timeout_seconds=lb_settings.idle_timeout_seconds,
            domain_name=lb_settings.domain_name,
            service_name=stage.prefix,
            event_bus_name=event_bus_name(stage),
        )
        self.secrets = relay_secrets(self, stage)
        task = relay_task(
            self,
            stage=stage,
            relay=relay,
            environment={**environment, **sign_in_environment},
            secrets=self.secrets.container_secrets(),
            image_directory=props.image_directory,
        )
        self.log_group, self.task_definition = task.log_group, task.task_definition
        self.container = task.container
        if props.attachments.enabled:
            self.attachments = Attachments(
                self,
                "Attachments",
                AttachmentsProps(
                    stage=stage,
                    settings=props.attachments,
                    expire_after_days=relay.history_ttl_days,
                    page_origin=page_origin(
                        domain_name=lb_settings.domain_name,
                        https=lb_settings.https,
                        region=stage.region,
                    ),
                    access_logs=self.access_logs,
                    task_role=self.task_definition.task_role,
                ),
            )
            for name, value in self.attachments.relay_environment.items():
                self.container.add_environment(name, value)
        allow_cache_connect(
            self.task_definition,
            connect_arns(self, cache.replication_group_id, cache.iam_user_id),
        )

        self.service = ecs.FargateService(
            self,
            "Service",
            cluster=self.cluster,
            task_definition=self.task_definition,
            # No desired count: autoscaling owns it, so a deploy never resets a scaled-out
            # service (and drops its sockets); the scalable target's minimum applies.
            security_groups=[service_sg],
            # By name: the subnets are private with egress (NAT) or isolated (endpoints).
            vpc_subnets=ec2.SubnetSelection(subnet_group_name=SERVICE_SUBNETS),
            capacity_provider_strategies=capacity_provider_strategies(relay),
            assign_public_ip=False,
            circuit_breaker=ecs.DeploymentCircuitBreaker(enable=True, rollback=True),
            min_healthy_percent=relay.min_healthy_percent,
            max_healthy_percent=relay.max_healthy_percent,
            health_check_grace_period=Duration.seconds(60),
            enable_execute_command=False,
            propagate_tags=ecs.PropagatedTagSource.SERVICE,
            availability_zone_rebalancing=ecs.AvailabilityZoneRebalancing.ENABLED,
        )
        # Created after, and so deleted before, the cluster's capacity-provider association:
        # otherwise a stack delete may remove the association while the service still uses
        # FARGATE/FARGATE_SPOT and fail with "capacity provider is in use"
        # (aws/containers-roadmap#631).
        # CDK creates the association in an aspect at synth, so this waits for it too.
        Aspects.of(self.cluster).add(
            DependOnAssociation(self.service), priority=AspectPriority.DEFAULT
        )
        self.service.attach_to_application_target_group(self.target_group)
        allow_target_health_read(self.task_definition)
        self.event_bus = chat_event_bus(self, stage, self.task_definition.task_role)
        scale_relay(self.service, relay, prefix=stage.prefix)

        scheme = "https" if lb_settings.https else "http"
        host = lb_settings.domain_name or self.load_balancer.load_balancer_dns_name
        CfnOutput(self, "Url", value=f"{scheme}://{host}/", description="Open this in a browser")
        # Names the runbooks need (AUTH token rotation rolls the service).
        CfnOutput(self, "ClusterName", value=self.cluster.cluster_name)
        CfnOutput(self, "ServiceName", value=self.service.service_name)
        CfnOutput(
            self,
            "LoadBalancerDnsName",
            value=self.load_balancer.load_balancer_dns_name,
            description="Point the stage's DNS name (CNAME or alias) here",
        )
