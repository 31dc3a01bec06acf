"""Network: the VPC, its flow logs, and the three security groups with all their rules.

Every rule is its own `AWS::EC2::SecurityGroupIngress` / `Egress` resource, so groups
never reference each other inline (no circular reference), and the whole traffic matrix
reads in this one file. Each group keeps one inline placeholder egress rule, which is
what removes EC2's default allow-all egress (a separate egress resource would not). The
other stacks import the groups immutably, so CDK adds no rule behind our back.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import aws_ec2 as ec2
from constructs import Construct

from stacks.compliance import INLINE_POLICY_REASON, acknowledge_nag, skip_checkov
from stacks.config import NetworkSettings, StageIdentity
from stacks.endpoints import add_interface_endpoints, add_s3_gateway
from stacks.log_groups import encrypted_log_group, logs_key
from stacks.stage_stack import StageStack

HTTPS_PORT = 443
HTTP_PORT = 80
ANYWHERE = "0.0.0.0/0"
# Subnet group names; the service stack selects the relay's subnets by name, since their
# type depends on network.nat_gateways.
SERVICE_SUBNETS = "service"
CACHE_SUBNETS = "cache"


@dataclass(frozen=True)
class NetworkProps:
    """What the network stack reads of its stage."""

    stage: StageIdentity
    settings: NetworkSettings
    # The ports the security groups open between the ALB, the relay and the cache.
    relay_port: int
    cache_port: int
    # The load balancer listens on 443 (and redirects 80); otherwise on 80 only (dev).
    https: bool
    # "none", or who signs people in at the load balancer (which then calls them).
    sign_in_mode: str
    # Attachments on: the relay reads GuardDuty's scan verdicts from SQS (an endpoint more).
    sqs_endpoint: bool = False


class NetworkStack(StageStack):
    @property
    def availability_zones(self) -> list[str]:
        """The stage's named zones. With an account pinned, CDK would otherwise look the
        region's zones up with AWS credentials on every synth, to check the VPC's zones
        against them; the stage settings name them instead."""
        return self._zones

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        props: NetworkProps,
    ) -> None:
        stage, settings = props.stage, props.settings
        relay_port, cache_port, https = props.relay_port, props.cache_port, props.https
        sign_in_mode = props.sign_in_mode
        self._zones = list(settings.availability_zones)
        super().__init__(
            scope,
            construct_id,
            stage=stage,
            summary="VPC, flow logs, security groups",
        )
        # No NAT: the service subnets are isolated and reach AWS through the endpoints.
        isolated = settings.nat_gateways == 0

        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr(settings.cidr),
            availability_zones=list(settings.availability_zones),
            nat_gateways=settings.nat_gateways,
            restrict_default_security_group=False,
            subnet_configuration=[
                # The ALB and the NAT gateways; nothing here gets a public IP by default.
                ec2.SubnetConfiguration(
                    name="public",
                    subnet_type=ec2.SubnetType.PUBLIC,
                    cidr_mask=24,
                    map_public_ip_on_launch=False,
                ),
                # Fargate tasks (and load generators): out through NAT, or isolated with
                # VPC endpoints for ECR, Secrets Manager and CloudWatch Logs (no NAT).
                ec2.SubnetConfiguration(
                    name=SERVICE_SUBNETS,
                    subnet_type=ec2.SubnetType.PRIVATE_ISOLATED
                    if isolated
                    else ec2.SubnetType.PRIVATE_WITH_EGRESS,
                    cidr_mask=20,
                ),
                # ElastiCache: no route out at all.
                ec2.SubnetConfiguration(
                    name=CACHE_SUBNETS, subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=24
                ),
            ],
        )

        acknowledge_nag(
            self.vpc,
            "NIST.800.53.R5-VPCDefaultSecurityGroupClosed",
            "Nothing is ever attached to the VPC's default security group (every resource "
            "names its own group); closing it takes CDK's custom-resource Lambda and role in "
            "every stage.",
        )
        acknowledge_nag(
            self.vpc,
            "NIST.800.53.R5-VPCNoUnrestrictedRouteToIGW",
            "Only the public subnets route 0.0.0.0/0 to the internet gateway: they hold the "
            "internet-facing ALB (and NAT in dev). Service and cache subnets have no such route.",
        )
        flow_log_key = logs_key(self, "FlowLogKey", stage, "VPC flow logs")
        flow_log_group = encrypted_log_group(
            self,
            "FlowLogGroup",
            stage,
            retention_days=settings.flow_log_retention_days,
            key=flow_log_key,
        )
        flow_log = self.vpc.add_flow_log(
            "FlowLog",
            destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_log_group),
            traffic_type=ec2.FlowLogTrafficType.ALL,
            max_aggregation_interval=ec2.FlowLogMaxAggregationInterval.TEN_MINUTES,
        )
        acknowledge_nag(flow_log, "NIST.800.53.R5-IAMNoInlinePolicy", INLINE_POLICY_REASON)

        self.alb_security_group = self._group(
            "AlbSecurityGroup", f"{stage.prefix} load balancer: HTTP(S) from the internet"
        )
        self.service_security_group = self._group(
            "ServiceSecurityGroup", f"{stage.prefix} relay tasks: WebSocket from the ALB"
        )
        self.cache_security_group = self._group(
            "CacheSecurityGroup", f"{stage.prefix} cache: relay tasks only"
        )
        service_subnets = ec2.SubnetSelection(subnet_group_name=SERVICE_SUBNETS)
        add_s3_gateway(self.vpc, service_subnets)
        self.endpoint_security_group: ec2.SecurityGroup | None = None
        if settings.interface_endpoints:
            self.endpoint_security_group = self._group(
                "EndpointSecurityGroup",
                f"{stage.prefix} VPC endpoints: HTTPS from relay tasks and load generators",
            )
            self.endpoints = add_interface_endpoints(
                self,
                self.vpc,
                service_subnets,
                self.endpoint_security_group,
                sqs=props.sqs_endpoint,
            )

        alb, service, cache = (
            self.alb_security_group,
            self.service_security_group,
            self.cache_security_group,
        )
        public_ports = (
            [(HTTPS_PORT, "HTTPS (wss) from browsers"), (HTTP_PORT, "HTTP, only redirected")]
            if https
            else [(HTTP_PORT, "HTTP (ws) from browsers, dev only")]
        )
        for port, description in public_ports:
            rule = self._ingress(alb, f"AlbFromInternet{port}", port, description, cidr=ANYWHERE)
            acknowledge_nag(
                rule,
                "AwsSolutions-EC23",
                "The internet-facing ALB is the public entry point: browsers connect from any "
                "address, on 443 (and 80, which only redirects) or on 80 in dev.",
            )
            if port == HTTP_PORT:
                skip_checkov(
                    rule,
                    "CKV_AWS_260",
                    "Port 80 on the public ALB: in staging/prod it only redirects to HTTPS; "
                    "dev serves plain HTTP on purpose (no certificate).",
                )
        self._egress(
            alb, "AlbToService", relay_port, "To relay tasks: requests, health checks", peer=service
        )
        self._ingress(
            service, "ServiceFromAlb", relay_port, "From the ALB: requests, health checks", peer=alb
        )
        self._egress(
            service,
            "ServiceToCache",
            cache_port,
            "To the cache: pub/sub, history, presence",
            peer=cache,
        )
        self._egress(
            service,
            "ServiceToInternet443",
            HTTPS_PORT,
            # Isolated subnets have no default route: 0.0.0.0/0 on 443 then reaches only S3
            # through the gateway endpoint's prefix-list route (its pl- id is a lookup,
            # which offline synth avoids).
            "HTTPS to S3 (ECR image layers) through the gateway endpoint; no route elsewhere"
            if isolated
            else "HTTPS through NAT: ECR image pull, Secrets Manager, CloudWatch Logs",
            cidr=ANYWHERE,
        )
        if self.endpoint_security_group is not None:
            endpoints = self.endpoint_security_group
            self._egress(
                service,
                "ServiceToEndpoints",
                HTTPS_PORT,
                "To the VPC endpoints: ECR, Secrets Manager, CloudWatch Logs, ELB",
                peer=endpoints,
            )
            self._ingress(
                endpoints,
                "EndpointsFromService",
                HTTPS_PORT,
                "From relay tasks: ECR, Secrets Manager, CloudWatch Logs, ELB",
                peer=service,
            )
        self._ingress(cache, "CacheFromService", cache_port, "From relay tasks only", peer=service)
        if sign_in_mode != "none":
            # The ALB itself calls the identity provider's token and user-info endpoints
            # (Cognito's or the OIDC provider's, on the internet) to sign people in.
            self._egress(
                alb,
                "AlbToIdentityProvider443",
                HTTPS_PORT,
                f"HTTPS to the identity provider ({sign_in_mode} sign-in)",
                cidr=ANYWHERE,
            )

    def _group(self, construct_id: str, description: str) -> ec2.SecurityGroup:
        # allow_all_outbound=False gives the group CDK's inline no-op egress rule, which
        # removes EC2's default allow-all egress; rules are added below as resources.
        return ec2.SecurityGroup(
            self, construct_id, vpc=self.vpc, description=description, allow_all_outbound=False
        )

    def _ingress(
        self,
        group: ec2.SecurityGroup,
        construct_id: str,
        port: int,
        description: str,
        *,
        peer: ec2.SecurityGroup | None = None,
        cidr: str | None = None,
    ) -> ec2.CfnSecurityGroupIngress:
        return ec2.CfnSecurityGroupIngress(
            self,
            construct_id,
            group_id=group.security_group_id,
            ip_protocol="tcp",
            from_port=port,
            to_port=port,
            description=description,
            source_security_group_id=peer.security_group_id if peer else None,
            cidr_ip=cidr,
        )

    def _egress(
        self,
        group: ec2.SecurityGroup,
        construct_id: str,
        port: int,
        description: str,
        *,
        peer: ec2.SecurityGroup | None = None,
        cidr: str | None = None,
    ) -> ec2.CfnSecurityGroupEgress:
        return ec2.CfnSecurityGroupEgress(
            self,
            construct_id,
            group_id=group.security_group_id,
            ip_protocol="tcp",
            from_port=port,
            to_port=port,
            description=description,
            destination_security_group_id=peer.security_group_id if peer else None,
            cidr_ip=cidr,
        )
