"""The internet-facing ALB in front of the relay: its access-log bucket, the load
balancer, the target group the relay tasks register in, and the listeners.

Functions, not a construct: everything is created directly in the service stack, so
the logical ids stay what they were when this lived in stacks/service.py.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_s3 as s3

from stacks.buckets import expiring_bucket
from stacks.compliance import acknowledge_nag, skip_checkov
from stacks.config import LoadBalancerSettings
from stacks.config.limits import ALB_SOURCE_IPS_PER_RULE


@dataclass(frozen=True)
class Listeners:
    """The listener the relay's rules hang on, and on HTTPS the port-80 redirect."""

    listener: elbv2.ApplicationListener
    redirect: elbv2.ApplicationListener | None


def access_log_bucket(scope: Stack, *, retention_days: int) -> s3.Bucket:
    bucket = expiring_bucket(
        scope,
        "AccessLogs",
        expire_after_days=retention_days,
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


def public_load_balancer(
    scope: Stack,
    *,
    vpc: ec2.IVpc,
    security_group: ec2.ISecurityGroup,
    settings: LoadBalancerSettings,
    access_logs: s3.IBucket,
    stage_name: str,
    waf_enabled: bool,
) -> elbv2.ApplicationLoadBalancer:
    load_balancer = elbv2.ApplicationLoadBalancer(
        scope,
        "LoadBalancer",
        vpc=vpc,
        internet_facing=True,
        vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC),
        security_group=security_group,
        idle_timeout=Duration.seconds(settings.idle_timeout_seconds),
        drop_invalid_header_fields=True,
        deletion_protection=settings.deletion_protection,
        http2_enabled=True,
    )
    load_balancer.log_access_logs(access_logs, prefix="alb")
    if not settings.deletion_protection:
        acknowledge_nag(
            load_balancer,
            "NIST.800.53.R5-ELBDeletionProtectionEnabled",
            f"{stage_name} is torn down between campaigns (`make destroy`); only prod "
            "turns deletion protection on (load_balancer.deletion_protection).",
        )
    if not waf_enabled:
        acknowledge_nag(
            load_balancer,
            "NIST.800.53.R5-ALBWAFEnabled",
            f"{stage_name} sets waf.enabled = false: a personal sandbox with no users, "
            "where a web ACL would cost ~$10 a month; staging and prod have one.",
        )
    return load_balancer


def relay_target_group(
    scope: Stack, *, vpc: ec2.IVpc, port: int, settings: LoadBalancerSettings
) -> elbv2.ApplicationTargetGroup:
    return elbv2.ApplicationTargetGroup(
        scope,
        "TargetGroup",
        vpc=vpc,
        target_type=elbv2.TargetType.IP,
        protocol=elbv2.ApplicationProtocol.HTTP,
        port=port,
        deregistration_delay=Duration.seconds(settings.deregistration_delay_seconds),
        stickiness_cookie_duration=Duration.seconds(settings.stickiness_seconds),
        load_balancing_algorithm_type=elbv2.TargetGroupLoadBalancingAlgorithmType.ROUND_ROBIN,
        health_check=elbv2.HealthCheck(
            path=settings.health_check_path,
            healthy_http_codes="200",
            interval=Duration.seconds(10),
            timeout=Duration.seconds(5),
            healthy_threshold_count=2,
            unhealthy_threshold_count=3,
        ),
    )


def add_listeners(
    load_balancer: elbv2.ApplicationLoadBalancer,
    target_group: elbv2.ApplicationTargetGroup,
    *,
    certificate_arn: str | None,
    sign_in_enabled: bool,
) -> Listeners:
    """HTTPS on 443 with a redirect from 80, or (dev, no certificate) plain HTTP on 80."""
    if certificate_arn is not None:
        listener = load_balancer.add_listener(
            "Https",
            protocol=elbv2.ApplicationProtocol.HTTPS,
            port=443,
            open=False,
            certificates=[elbv2.ListenerCertificate.from_arn(certificate_arn)],
            # AWS's recommended policy: hybrid post-quantum key exchange (ML-KEM) for
            # clients that offer it, else TLS 1.3, or TLS 1.2 with forward-secret AEAD
            # ciphers only; every current browser and WebSocket client speaks one.
            ssl_policy=elbv2.SslPolicy.TLS13_12_RES_PQ,
            # With sign-in on, stacks/sign_in.py sets the default action instead
            # (authenticate, then forward).
            default_target_groups=None if sign_in_enabled else [target_group],
        )
        redirect = load_balancer.add_redirect(
            source_port=80, source_protocol=elbv2.ApplicationProtocol.HTTP, target_port=443
        )
        acknowledge_nag(
            redirect,
            "NIST.800.53.R5-ELBv2ACMCertificateRequired",
            "Port 80 only answers 301 to https:// on 443, which serves the ACM "
            "certificate; a redirect listener cannot carry a certificate.",
        )
        return Listeners(listener, redirect)
    listener = load_balancer.add_listener(
        "Http",
        protocol=elbv2.ApplicationProtocol.HTTP,
        port=80,
        open=False,
        default_target_groups=[target_group],
    )
    reason = (
        "The dev stage names no ACM certificate and serves plain HTTP (ws) on purpose; "
        "staging and prod refuse to synthesize without one."
    )
    skip_checkov(listener, "CKV_AWS_2", reason)
    skip_checkov(listener, "CKV_AWS_103", reason)
    acknowledge_nag(listener, "NIST.800.53.R5-ELBv2ACMCertificateRequired", reason)
    acknowledge_nag(listener, "NIST.800.53.R5-ALBHttpToHttpsRedirection", reason)
    return Listeners(listener, None)


# The server API's rules sit before the listener's default
# action (with sign-in on: authenticate): the API authenticates callers by key, not by
# the ALB's sign-in, and only the stage's listed sources reach it.
API_PATHS = ["/api/*"]
API_ALLOW_PRIORITY = 20  # 20, 21, ...: one rule per ALB_SOURCE_IPS_PER_RULE networks
API_DENY_PRIORITY = 40


def limit_api(
    listener: elbv2.ApplicationListener,
    target_group: elbv2.ApplicationTargetGroup,
    *,
    allow_cidrs: tuple[str, ...],
) -> None:
    """Forward `/api/*` from `allow_cidrs` only; answer 403 to every other source (all of
    them when the list is empty: the API is off at the load balancer)."""
    for index, start in enumerate(range(0, len(allow_cidrs), ALB_SOURCE_IPS_PER_RULE)):
        sources = list(allow_cidrs[start : start + ALB_SOURCE_IPS_PER_RULE])
        listener.add_action(
            f"ApiAllow{index + 1}",
            priority=API_ALLOW_PRIORITY + index,
            conditions=[
                elbv2.ListenerCondition.path_patterns(API_PATHS),
                elbv2.ListenerCondition.source_ips(sources),
            ],
            action=elbv2.ListenerAction.forward([target_group]),
        )
    listener.add_action(
        "ApiDeny",
        priority=API_DENY_PRIORITY,
        conditions=[elbv2.ListenerCondition.path_patterns(API_PATHS)],
        action=elbv2.ListenerAction.fixed_response(
            403,
            content_type="application/json",
            message_body='{"error": "forbidden", "detail": "the server API is not open to '
            'this address"}',
        ),
    )
