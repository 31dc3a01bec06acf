"""Service: the internet-facing ALB and the relay on Fargate behind it.

Numbers that matter for WebSockets (all from the stage config, reasons in config.py and
docs/infrastructure.md): ALB idle timeout 120 s against the relay's 20 s pings; target
group health check on /healthz; load-balancer cookie stickiness for 10 minutes;
deregistration delay 30 s, inside which the relay drains once its target turns `draining`
(5 s polls + 20 s of spread 1012 closes); container stopTimeout 40 s for a SIGTERM-only
drain; deploys at 100-200 % (the rules: stacks/config.py, _drain_timing_problems).
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import CfnOutput, Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from stacks import fargate
from stacks.buckets import expiring_bucket
from stacks.compliance import acknowledge_nag, skip_checkov
from stacks.config import RelaySettings, StageConfig
from stacks.log_groups import encrypted_log_group, logs_key
from stacks.network import SERVICE_SUBNETS
from stacks.sign_in import SignIn
from stacks.waf import EdgeFirewall

CONTAINER_NAME = "relay"
# The relay's custom metrics (EMF lines on stdout, service/emf.py); the autoscaling policy
# tracks the average open WebSockets per task.
CONNECTIONS_METRIC_NAMESPACE = "ChatRelay"
CONNECTIONS_METRIC_NAME = "Connections"
# One EMF line per task per CloudWatch period: the per-task Average stays exact.
METRICS_EMF_INTERVAL_SECONDS = 60
# uid/gid of the `relay` user that service/Dockerfile creates.
RELAY_USER = "10001:10001"
# Each WebSocket is a file descriptor; MAX_CONNECTIONS (10000) plus Redis and logs.
OPEN_FILES_LIMIT = 65536


class ServiceStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        vpc: ec2.IVpc,
        alb_security_group: ec2.ISecurityGroup,
        service_security_group: ec2.ISecurityGroup,
        redis_url: str,
        auth_token: secretsmanager.ISecret,
        auth_token_key: kms.IKey,
        image_directory: Path,
        **kwargs,
    ):
        super().__init__(scope, construct_id, **kwargs)
        self.config = config
        lb_settings = config.load_balancer
        relay = config.relay

        # Imported immutably: every rule is defined in the network stack, none added here.
        alb_sg = ec2.SecurityGroup.from_security_group_id(
            self, "AlbSg", alb_security_group.security_group_id, mutable=False
        )
        service_sg = ec2.SecurityGroup.from_security_group_id(
            self, "ServiceSg", service_security_group.security_group_id, mutable=False
        )

        self.access_logs = self._access_log_bucket()
        self.load_balancer = elbv2.ApplicationLoadBalancer(
            self,
            "LoadBalancer",
            vpc=vpc,
            internet_facing=True,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC),
            security_group=alb_sg,
            idle_timeout=Duration.seconds(lb_settings.idle_timeout_seconds),
            drop_invalid_header_fields=True,
            deletion_protection=lb_settings.deletion_protection,
            http2_enabled=True,
        )
        self.load_balancer.log_access_logs(self.access_logs, prefix="alb")
        if not lb_settings.deletion_protection:
            acknowledge_nag(
                self.load_balancer,
                "NIST.800.53.R5-ELBDeletionProtectionEnabled",
                f"{config.name} is torn down between campaigns (`make destroy`); only prod "
                "turns deletion protection on (load_balancer.deletion_protection).",
            )
        if not config.waf.enabled:
            acknowledge_nag(
                self.load_balancer,
                "NIST.800.53.R5-ALBWAFEnabled",
                f"{config.name} sets waf.enabled = false: a personal sandbox with no users, "
                "where a web ACL would cost ~$10 a month; staging and prod have one.",
            )

        self.target_group = elbv2.ApplicationTargetGroup(
            self,
            "TargetGroup",
            vpc=vpc,
            target_type=elbv2.TargetType.IP,
            protocol=elbv2.ApplicationProtocol.HTTP,
            port=relay.port,
            deregistration_delay=Duration.seconds(lb_settings.deregistration_delay_seconds),
            stickiness_cookie_duration=Duration.seconds(lb_settings.stickiness_seconds),
            load_balancing_algorithm_type=elbv2.TargetGroupLoadBalancingAlgorithmType.ROUND_ROBIN,
            health_check=elbv2.HealthCheck(
                path=lb_settings.health_check_path,
                healthy_http_codes="200",
                interval=Duration.seconds(10),
                timeout=Duration.seconds(5),
                healthy_threshold_count=2,
                unhealthy_threshold_count=3,
            ),
        )
        self._listeners()
        if config.waf.enabled:
            self.firewall = EdgeFirewall(
                self, "Firewall", config=config, load_balancer=self.load_balancer
            )
        # /metrics is for scrapers inside the VPC (task IP, port 8000), not the internet.
        self.listener.add_action(
            "HideMetrics",
            priority=10,
            conditions=[elbv2.ListenerCondition.path_patterns(["/metrics", "/metrics/*"])],
            action=elbv2.ListenerAction.fixed_response(
                404, content_type="text/plain", message_body="not found"
            ),
        )
        # With sign-in on, every other path is authenticated first (stacks/sign_in.py).
        sign_in_environment: dict[str, str] = {}
        if config.sign_in.enabled:
            assert lb_settings.domain_name is not None  # checked in stacks/config.py
            self.sign_in = SignIn(
                self,
                "SignIn",
                settings=config.sign_in,
                listener=self.listener,
                target_group=self.target_group,
                load_balancer_arn=self.load_balancer.load_balancer_arn,
                domain_name=lb_settings.domain_name,
                prefix=config.prefix,
                region=config.region,
                retain=config.retain_data,
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

        log_key = logs_key(self, "RelayLogKey", config, "relay container logs")
        self.log_group = encrypted_log_group(
            self, "RelayLogGroup", config, retention_days=relay.log_retention_days, key=log_key
        )

        self.task_definition = fargate.task_definition(
            self,
            "TaskDefinition",
            # Named, not derived from the construct path: a hand deploy and the pipeline
            # (whose stages sit one level deeper) register revisions of the same family.
            family=f"{config.prefix}-relay",
            cpu=relay.cpu,
            memory_mib=relay.memory_mib,
            cpu_architecture=relay.cpu_architecture,
        )

        # Imported by ARN so its grant touches only this stack's execution role; granting on
        # the cache stack's key policy would make the cache stack depend on this one.
        token = secretsmanager.Secret.from_secret_complete_arn(
            self, "AuthToken", auth_token.secret_arn
        )
        self.task_definition.obtain_execution_role().add_to_principal_policy(
            iam.PolicyStatement(
                actions=["kms:Decrypt"],
                resources=[auth_token_key.key_arn],
                conditions={
                    "StringEquals": {
                        "kms:ViaService": f"secretsmanager.{config.region}.amazonaws.com"
                    }
                },
            )
        )

        self.container = self.task_definition.add_container(
            CONTAINER_NAME,
            image=ecs.ContainerImage.from_asset(
                str(image_directory),
                file="service/Dockerfile",
                # Built for the task's architecture (from an x86 laptop: buildx with QEMU
                # emulation; the pipeline builds it on an ARM CodeBuild machine).
                platform=fargate.image_platform(relay.cpu_architecture),
            ),
            port_mappings=[ecs.PortMapping(container_port=relay.port, name="http")],
            environment={
                **relay_environment(config, redis_url, self.target_group.target_group_arn),
                **sign_in_environment,
            },
            secrets={"REDIS_AUTH_TOKEN": ecs.Secret.from_secrets_manager(token)},
            logging=ecs.LogDrivers.aws_logs(
                stream_prefix=CONTAINER_NAME,
                log_group=self.log_group,
                # A slow log pipe must never block the event loop that serves the sockets.
                mode=ecs.AwsLogDriverMode.NON_BLOCKING,
            ),
            health_check=ecs.HealthCheck(
                command=["CMD", "python", "-m", "service.healthcheck"],
                interval=Duration.seconds(15),
                timeout=Duration.seconds(5),
                retries=3,
                start_period=Duration.seconds(20),
            ),
            readonly_root_filesystem=True,
            user=RELAY_USER,
            stop_timeout=Duration.seconds(relay.stop_timeout_seconds),
            linux_parameters=fargate.no_capabilities(self),
            ulimits=fargate.open_files(OPEN_FILES_LIMIT),
            essential=True,
        )
        fargate.mount_tmp(self.container)
        acknowledge_nag(
            self.task_definition,
            "AwsSolutions-ECS2",
            "The environment holds only non-secret relay settings (ports, limits, the cache "
            "URL without credentials); the AUTH token comes from Secrets Manager as an ECS "
            "secret.",
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
        self.service.attach_to_application_target_group(self.target_group)
        self._target_health_read()
        self._autoscaling()

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

    def _access_log_bucket(self) -> s3.Bucket:
        bucket = expiring_bucket(
            self,
            "AccessLogs",
            expire_after_days=self.config.load_balancer.access_log_retention_days,
            rule_id="expire-access-logs",
            # Audit data outlives the stack; `cdk destroy` leaves the bucket (see docs).
            removal_policy=RemovalPolicy.RETAIN,
        )
        reason = (
            "This bucket is the destination of the ALB access logs; logging its own access "
            "to another bucket would only move the same question one bucket further."
        )
        acknowledge_nag(bucket, "AwsSolutions-S1", reason)
        acknowledge_nag(bucket, "NIST.800.53.R5-S3BucketLoggingEnabled", reason)
        skip_checkov(bucket, "CKV_AWS_18", reason)
        acknowledge_nag(
            bucket,
            "NIST.800.53.R5-S3DefaultEncryptionKMS",
            "ALB access logs can be delivered only to a bucket encrypted with SSE-S3 "
            "(Amazon S3-managed keys); SSE-KMS is not supported for this destination.",
        )
        acknowledge_nag(
            bucket,
            "NIST.800.53.R5-S3BucketReplicationEnabled",
            "Operational access logs that expire after their retention; a cross-region copy "
            "would double their cost and outlive the lifecycle rule meant to delete them.",
        )
        return bucket

    def _listeners(self) -> None:
        settings = self.config.load_balancer
        if settings.https:
            self.listener = self.load_balancer.add_listener(
                "Https",
                protocol=elbv2.ApplicationProtocol.HTTPS,
                port=443,
                open=False,
                certificates=[elbv2.ListenerCertificate.from_arn(settings.certificate_arn)],
                # AWS's recommended policy: hybrid post-quantum key exchange (ML-KEM) for
                # clients that offer it, else TLS 1.3, or TLS 1.2 with forward-secret AEAD
                # ciphers only; every current browser and WebSocket client speaks one.
                ssl_policy=elbv2.SslPolicy.TLS13_12_RES_PQ,
                # With sign-in on, stacks/sign_in.py sets the default action instead
                # (authenticate, then forward).
                default_target_groups=None if self.config.sign_in.enabled else [self.target_group],
            )
            self.redirect = self.load_balancer.add_redirect(
                source_port=80, source_protocol=elbv2.ApplicationProtocol.HTTP, target_port=443
            )
            acknowledge_nag(
                self.redirect,
                "NIST.800.53.R5-ELBv2ACMCertificateRequired",
                "Port 80 only answers 301 to https:// on 443, which serves the ACM "
                "certificate; a redirect listener cannot carry a certificate.",
            )
            return
        self.listener = self.load_balancer.add_listener(
            "Http",
            protocol=elbv2.ApplicationProtocol.HTTP,
            port=80,
            open=False,
            default_target_groups=[self.target_group],
        )
        reason = (
            "The dev stage names no ACM certificate and serves plain HTTP (ws) on purpose; "
            "staging and prod refuse to synthesize without one."
        )
        skip_checkov(self.listener, "CKV_AWS_2", reason)
        skip_checkov(self.listener, "CKV_AWS_103", reason)
        acknowledge_nag(self.listener, "NIST.800.53.R5-ELBv2ACMCertificateRequired", reason)
        acknowledge_nag(self.listener, "NIST.800.53.R5-ALBHttpToHttpsRedirection", reason)

    def _target_health_read(self) -> None:
        """The task reads its own target's state, to drain before the ALB cuts it."""
        self.task_definition.add_to_task_role_policy(
            iam.PolicyStatement(
                actions=["elasticloadbalancing:DescribeTargetHealth"], resources=["*"]
            )
        )
        acknowledge_nag(
            self.task_definition.task_role,
            "AwsSolutions-IAM5[Resource::*]",
            "elasticloadbalancing:DescribeTargetHealth supports no resource-level permissions "
            "(Service Authorization Reference, Elastic Load Balancing V2): the task role's "
            "only wildcard is this one read-only action, which the relay calls for its own "
            "target to drain before the ALB cuts its connections.",
        )

    def _autoscaling(self) -> None:
        relay = self.config.relay
        scaling = self.service.auto_scale_task_count(
            min_capacity=relay.min_tasks, max_capacity=relay.max_tasks
        )
        scale_in = Duration.seconds(relay.scale_in_cooldown_seconds)
        scale_out = Duration.seconds(relay.scale_out_cooldown_seconds)
        scaling.scale_on_cpu_utilization(
            "Cpu",
            policy_name=f"{self.config.prefix}-cpu",
            target_utilization_percent=relay.cpu_target_percent,
            scale_in_cooldown=scale_in,
            scale_out_cooldown=scale_out,
        )
        scaling.scale_to_track_custom_metric(
            "Connections",
            policy_name=f"{self.config.prefix}-connections",
            metric=connections_metric(self.config),
            target_value=relay.connections_target_per_task,
            scale_in_cooldown=scale_in,
            scale_out_cooldown=scale_out,
        )


def capacity_provider_strategies(relay: RelaySettings) -> list[ecs.CapacityProviderStrategy]:
    """FARGATE for `on_demand_base` tasks, then the rest split by `spot_percent`."""
    strategies = []
    if relay.spot_percent < 100 or relay.on_demand_base > 0:
        strategies.append(
            ecs.CapacityProviderStrategy(
                capacity_provider="FARGATE",
                base=relay.on_demand_base,
                weight=100 - relay.spot_percent,
            )
        )
    if relay.spot_percent > 0:
        strategies.append(
            ecs.CapacityProviderStrategy(
                capacity_provider="FARGATE_SPOT", weight=relay.spot_percent
            )
        )
    return strategies


def connections_metric(config: StageConfig) -> cloudwatch.Metric:
    """Open WebSockets per task, averaged over the service's tasks."""
    return relay_metric(config, CONNECTIONS_METRIC_NAME, "Average")


def relay_metric(
    config: StageConfig, name: str, statistic: str, *, label: str | None = None
) -> cloudwatch.Metric:
    """One of the relay's EMF metrics over the whole service (dimension ServiceName).

    Each task sends one value per minute, so Average is per task, Sum the service total
    and Maximum the busiest task (metric names: service/emf.py).
    """
    return cloudwatch.Metric(
        namespace=CONNECTIONS_METRIC_NAMESPACE,
        metric_name=name,
        dimensions_map={"ServiceName": config.prefix},
        statistic=statistic,
        period=Duration.minutes(1),
        label=label,
    )


# How much longer than the ALB's idle timeout the relay keeps an idle HTTP connection.
KEEPALIVE_MARGIN_SECONDS = 5


def relay_environment(config: StageConfig, redis_url: str, target_group_arn: str) -> dict[str, str]:
    """The relay's settings as environment variables (contract: service/config.py)."""
    relay = config.relay
    environment = {
        "PORT": str(relay.port),
        "REDIS_URL": redis_url,
        "HISTORY_SIZE": str(relay.history_size),
        "HISTORY_MAX_LEN": str(relay.history_max_len),
        "PING_INTERVAL": str(relay.ping_interval_seconds),
        "PING_TIMEOUT": str(relay.ping_timeout_seconds),
        "JOIN_TIMEOUT": str(relay.join_timeout_seconds),
        "RATE_LIMIT": str(relay.rate_limit),
        "RATE_BURST": str(relay.rate_burst),
        "MAX_CONNECTIONS": str(relay.max_connections),
        "DRAIN_SECONDS": str(relay.drain_seconds),
        # The relay drains when this target group reports its task `draining`.
        "DRAIN_TARGET_GROUP_ARN": target_group_arn,
        "DRAIN_POLL_SECONDS": str(relay.drain_poll_seconds),
        "PRESENCE_TTL": str(relay.presence_ttl_seconds),
        # Longer than the load balancer's idle timeout: the ALB, not the relay, closes an
        # idle kept-alive connection, so it never reuses one the relay is closing (a 502).
        "HTTP_KEEPALIVE_SECONDS": str(
            config.load_balancer.idle_timeout_seconds + KEEPALIVE_MARGIN_SECONDS
        ),
        "LOG_LEVEL": relay.log_level,
        # Where the relay publishes its metrics (EMF through awslogs); the Connections
        # scaling policy and the monitoring stack read exactly this namespace and dimension.
        "METRICS_NAMESPACE": CONNECTIONS_METRIC_NAMESPACE,
        "METRICS_SERVICE_NAME": config.prefix,
        "METRICS_EMF_INTERVAL": str(METRICS_EMF_INTERVAL_SECONDS),
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
    }
    if config.cache.cluster_mode:
        # Sharded Pub/Sub and slot-aware commands against the configuration endpoint.
        environment["REDIS_CLUSTER"] = "true"
    if config.load_balancer.domain_name:
        environment["ALLOWED_ORIGINS"] = f"https://{config.load_balancer.domain_name}"
    return environment
