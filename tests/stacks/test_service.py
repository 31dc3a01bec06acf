"""Service stack: ALB, listeners, target group, Fargate service, task, autoscaling."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from aws_cdk.assertions import Match

from stacks.config import DRAIN_MARGIN_SECONDS
from tests.stacks.conftest import Synthesized, load

# The relay's environment contract (service/config.py reads these).
RELAY_SETTINGS = {
    "PORT",
    "REDIS_URL",
    "HISTORY_SIZE",
    "HISTORY_MAX_LEN",
    "PING_INTERVAL",
    "PING_TIMEOUT",
    "JOIN_TIMEOUT",
    "RATE_LIMIT",
    "RATE_BURST",
    "MAX_CONNECTIONS",
    "DRAIN_SECONDS",
    "DRAIN_TARGET_GROUP_ARN",
    "DRAIN_POLL_SECONDS",
    "PRESENCE_TTL",
    "LOG_LEVEL",
}


def one(stage: Synthesized, resource_type: str) -> dict[str, Any]:
    (resource,) = stage.resources("service", resource_type).values()
    return resource["Properties"]


def attributes(props: dict[str, Any], key: str = "LoadBalancerAttributes") -> dict[str, Any]:
    return {a["Key"]: a["Value"] for a in props[key]}


def container(stage: Synthesized) -> dict[str, Any]:
    (definition,) = one(stage, "AWS::ECS::TaskDefinition")["ContainerDefinitions"]
    return definition


def environment(stage: Synthesized) -> dict[str, Any]:
    return {e["Name"]: e["Value"] for e in container(stage)["Environment"]}


def test_internet_facing_alb_attributes(stage: Synthesized) -> None:
    props = one(stage, "AWS::ElasticLoadBalancingV2::LoadBalancer")
    assert props["Scheme"] == "internet-facing"
    attrs = attributes(props)
    assert attrs["idle_timeout.timeout_seconds"] == "120"
    assert int(attrs["idle_timeout.timeout_seconds"]) >= 2 * int(
        environment(stage)["PING_INTERVAL"]
    )
    assert attrs["routing.http.drop_invalid_header_fields.enabled"] == "true"
    assert attrs["deletion_protection.enabled"] == str(stage.stage == "prod").lower()
    assert attrs["access_logs.s3.enabled"] == "true"
    (bucket_id,) = [b for b in stage.resources("service", "AWS::S3::Bucket") if "AccessLogs" in b]
    assert attrs["access_logs.s3.bucket"] == {"Ref": bucket_id}
    assert all("Vpcpublic" in json.dumps(s) for s in props["Subnets"])


def test_access_log_bucket_is_encrypted_private_ssl_only_and_expires(stage: Synthesized) -> None:
    template = stage.template("service")
    days = {"dev": 14, "staging": 30, "prod": 90}[stage.stage]
    template.has_resource(
        "AWS::S3::Bucket",
        {
            "Properties": Match.object_like(
                {
                    "BucketEncryption": {
                        "ServerSideEncryptionConfiguration": [
                            {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
                        ]
                    },
                    "PublicAccessBlockConfiguration": {
                        "BlockPublicAcls": True,
                        "BlockPublicPolicy": True,
                        "IgnorePublicAcls": True,
                        "RestrictPublicBuckets": True,
                    },
                    "LifecycleConfiguration": {
                        "Rules": [
                            Match.object_like({"ExpirationInDays": days, "Status": "Enabled"})
                        ]
                    },
                }
            ),
            "DeletionPolicy": "Retain",
        },
    )
    template.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Deny",
                                "Action": "s3:*",
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        )
                    ]
                )
            }
        },
    )


def test_dev_serves_plain_http_without_certificate(dev: Synthesized) -> None:
    (listener,) = dev.resources("service", "AWS::ElasticLoadBalancingV2::Listener").values()
    props = listener["Properties"]
    assert (props["Protocol"], props["Port"]) == ("HTTP", 80)
    assert props["DefaultActions"][0]["Type"] == "forward"
    assert "Certificates" not in props


def test_https_stages_use_the_certificate_and_redirect_http(
    staging: Synthesized, prod: Synthesized
) -> None:
    for stage in (staging, prod):
        listeners = {
            item["Properties"]["Port"]: item["Properties"]
            for item in stage.resources("service", "AWS::ElasticLoadBalancingV2::Listener").values()
        }
        assert set(listeners) == {80, 443}
        https = listeners[443]
        assert https["Protocol"] == "HTTPS"
        assert https["Certificates"] == [
            {"CertificateArn": load(stage.stage).load_balancer.certificate_arn}
        ]
        # AWS's recommended post-quantum policy (hybrid ML-KEM key exchange, TLS 1.3/1.2).
        assert https["SslPolicy"] == "ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09"
        assert https["DefaultActions"][0]["Type"] == "forward"
        assert listeners[80]["DefaultActions"] == [
            {
                "Type": "redirect",
                "RedirectConfig": {"Port": "443", "Protocol": "HTTPS", "StatusCode": "HTTP_301"},
            }
        ]


def test_target_group_health_stickiness_and_drain(stage: Synthesized) -> None:
    props = one(stage, "AWS::ElasticLoadBalancingV2::TargetGroup")
    assert (props["TargetType"], props["Protocol"], props["Port"]) == ("ip", "HTTP", 8000)
    assert props["HealthCheckPath"] == "/healthz"
    assert props["Matcher"] == {"HttpCode": "200"}
    attrs = attributes(props, "TargetGroupAttributes")
    assert attrs["stickiness.enabled"] == "true"
    assert attrs["stickiness.type"] == "lb_cookie"
    assert attrs["stickiness.lb_cookie.duration_seconds"] == "600"
    env = environment(stage)
    # The relay drains inside the delay: it notices `draining` within one poll, then spreads
    # its 1012 closes over DRAIN_SECONDS; the margin is for the last close handshakes.
    needed = int(env["DRAIN_POLL_SECONDS"]) + int(env["DRAIN_SECONDS"]) + DRAIN_MARGIN_SECONDS
    assert int(attrs["deregistration_delay.timeout_seconds"]) == 30 >= needed


def test_cluster_has_container_insights(stage: Synthesized) -> None:
    stage.template("service").has_resource_properties(
        "AWS::ECS::Cluster",
        {"ClusterSettings": [{"Name": "containerInsights", "Value": "enabled"}]},
    )


def test_fargate_service_is_private_with_rollback(stage: Synthesized) -> None:
    props = one(stage, "AWS::ECS::Service")
    # A capacity-provider strategy instead of a launch type (test_capacity_providers).
    assert "LaunchType" not in props
    network = props["NetworkConfiguration"]["AwsvpcConfiguration"]
    assert network["AssignPublicIp"] == "DISABLED"
    assert len(network["Subnets"]) == (3 if stage.stage == "prod" else 2)
    assert all("Vpcservice" in json.dumps(s) for s in network["Subnets"])
    deployment = props["DeploymentConfiguration"]
    assert deployment["DeploymentCircuitBreaker"] == {"Enable": True, "Rollback": True}
    # Replacements start before old tasks stop, so capacity never drops during a deploy.
    assert deployment["MinimumHealthyPercent"] == 100
    assert deployment["MaximumPercent"] == 200
    assert props["EnableExecuteCommand"] is False
    # Autoscaling owns the count: a deploy must not reset a scaled-out service.
    assert "DesiredCount" not in props
    assert props["LoadBalancers"][0]["ContainerPort"] == 8000


# relay.cpu_architecture per stage: Graviton where the tasks run on FARGATE; dev runs on
# FARGATE_SPOT, which takes only X86_64 tasks.
ARCHITECTURES = {"dev": ("X86_64", "linux/amd64")}
GRAVITON = ("ARM64", "linux/arm64")


def test_task_size_and_platform(stage: Synthesized) -> None:
    props = one(stage, "AWS::ECS::TaskDefinition")
    expected = {"dev": ("256", "512")}.get(stage.stage, ("1024", "2048"))
    assert (props["Cpu"], props["Memory"]) == expected
    assert props["RuntimePlatform"] == {
        "CpuArchitecture": ARCHITECTURES.get(stage.stage, GRAVITON)[0],
        "OperatingSystemFamily": "LINUX",
    }
    assert props["RequiresCompatibilities"] == ["FARGATE"]
    assert props["Volumes"] == [{"Name": "tmp"}]


def test_container_is_hardened(stage: Synthesized) -> None:
    relay = container(stage)
    assert relay["ReadonlyRootFilesystem"] is True
    assert relay["User"] == "10001:10001"
    assert relay["MountPoints"] == [
        {"ContainerPath": "/tmp", "ReadOnly": False, "SourceVolume": "tmp"}
    ]
    assert relay["LinuxParameters"] == {
        "Capabilities": {"Drop": ["ALL"]},
        "InitProcessEnabled": True,
    }
    assert "Privileged" not in relay
    assert relay["Ulimits"] == [{"HardLimit": 65536, "Name": "nofile", "SoftLimit": 65536}]
    assert relay["PortMappings"][0]["ContainerPort"] == 8000


def test_stop_timeout_exceeds_the_relay_drain(stage: Synthesized) -> None:
    relay = container(stage)
    drain = int(environment(stage)["DRAIN_SECONDS"])
    assert drain == 20
    # A SIGTERM-only drain exits within DRAIN_SECONDS plus uvicorn's last 30 % of it.
    assert drain + 2 * DRAIN_MARGIN_SECONDS <= relay["StopTimeout"] == 40 <= 120


def test_container_health_check_runs_the_relay_module(stage: Synthesized) -> None:
    assert container(stage)["HealthCheck"] == {
        "Command": ["CMD", "python", "-m", "service.healthcheck"],
        "Interval": 15,
        "Retries": 3,
        "StartPeriod": 20,
        "Timeout": 5,
    }


def test_logs_go_to_an_encrypted_group_with_retention(stage: Synthesized) -> None:
    options = container(stage)["LogConfiguration"]
    assert options["LogDriver"] == "awslogs"
    assert options["Options"]["mode"] == "non-blocking"
    group_id = options["Options"]["awslogs-group"]["Ref"]
    assert group_id.startswith("RelayLogGroup")
    group = stage.resources("service", "AWS::Logs::LogGroup")[group_id]
    days = {"dev": 7, "staging": 30, "prod": 90}[stage.stage]
    assert group["Properties"]["RetentionInDays"] == days
    assert "KmsKeyId" in group["Properties"]


def test_environment_follows_the_relay_contract(stage: Synthesized) -> None:
    env = environment(stage)
    assert set(env) >= RELAY_SETTINGS
    assert env["PORT"] == "8000"
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    url = json.dumps(env["REDIS_URL"])
    assert url.startswith('{"Fn::Join": ["", ["rediss://"')
    assert "PrimaryEndPointAddress" in url
    assert ":6380/0" in url
    assert env["METRICS_NAMESPACE"] == "ChatRelay"
    assert env["METRICS_SERVICE_NAME"] == f"chat-relay-{stage.stage}"
    assert env["METRICS_EMF_INTERVAL"] == "60"  # one line per task per CloudWatch period
    origin = {"dev": None, "staging": "https://staging.chat.example.com"}.get(
        stage.stage, "https://chat.example.com"
    )
    assert env.get("ALLOWED_ORIGINS") == origin


def test_relay_keeps_idle_http_connections_longer_than_the_load_balancer(
    stage: Synthesized,
) -> None:
    """AWS: a target's keep-alive must outlast the ALB's idle timeout, or the ALB may reuse
    a connection the target is closing and answer 502."""
    (balancer,) = stage.resources("service", "AWS::ElasticLoadBalancingV2::LoadBalancer").values()
    attributes = {a["Key"]: a["Value"] for a in balancer["Properties"]["LoadBalancerAttributes"]}
    idle = int(attributes["idle_timeout.timeout_seconds"])
    assert int(environment(stage)["HTTP_KEEPALIVE_SECONDS"]) == idle + 5


def test_redis_credentials_are_iam_not_a_secret(stage: Synthesized) -> None:
    env = environment(stage)
    secrets = {secret["Name"] for secret in container(stage).get("Secrets", [])}
    assert "REDIS_AUTH_TOKEN" not in env and "REDIS_AUTH_TOKEN" not in secrets
    assert env["REDIS_IAM_USER"] == f"chat-relay-{stage.stage}-relay"
    assert env["REDIS_IAM_CACHE_NAME"] == f"chat-relay-{stage.stage}"
    assert env["AWS_REGION"] == "us-east-1"


def test_execution_role_is_least_privilege(stage: Synthesized) -> None:
    roles = stage.resources("service", "AWS::IAM::Role")
    execution = next(i for i in roles if i.startswith("TaskDefinitionExecutionRole"))
    policies = [
        p["Properties"]
        for p in stage.resources("service", "AWS::IAM::Policy").values()
        if p["Properties"]["Roles"] == [{"Ref": execution}]
    ]
    (policy,) = policies
    statements = policy["PolicyDocument"]["Statement"]
    actions = {
        a
        for s in statements
        for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    }
    assert actions == {
        "ecr:BatchCheckLayerAvailability",
        "ecr:GetDownloadUrlForLayer",
        "ecr:BatchGetImage",
        "ecr:GetAuthorizationToken",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        # The relay's own secrets (server API keys, room token secret), read at task start;
        # Redis has none (IAM authentication).
        "secretsmanager:GetSecretValue",
        "secretsmanager:DescribeSecret",
    }
    secrets = set(stage.resources("service", "AWS::SecretsManager::Secret"))
    assert len(secrets) == 2
    for statement in statements:
        if statement["Resource"] == "*":
            assert statement["Action"] == "ecr:GetAuthorizationToken"
        if "secretsmanager:GetSecretValue" in statement["Action"]:
            resource = statement["Resource"]
            resources = resource if isinstance(resource, list) else [resource]
            assert {r["Ref"] for r in resources} <= secrets


def test_task_role_may_only_read_target_health_connect_to_its_cache_and_put_events(
    stage: Synthesized,
) -> None:
    roles = stage.resources("service", "AWS::IAM::Role")
    task_role = next(i for i in roles if i.startswith("TaskDefinitionTaskRole"))
    attached = [
        p["Properties"]
        for p in stage.resources("service", "AWS::IAM::Policy").values()
        if {"Ref": task_role} in p["Properties"]["Roles"]
    ]
    (policy,) = attached

    # One read-only action; ELB's Describe* actions take no resource-level permissions.
    # elasticache:Connect on exactly the stage's replication group and its relay user;
    # events:PutEvents on the stage's bus alone.
    def flat(arn: Any) -> str:  # an ARN with the account as a literal or AWS::AccountId
        if isinstance(arn, str):
            return arn
        return "".join(p if isinstance(p, str) else "ACCOUNT" for p in arn["Fn::Join"][1])

    prefix = f"chat-relay-{stage.stage}"
    # Plus the attachments' two (their bucket prefix, their scan queue), each with two
    # actions: tests/stacks/test_attachments.py.
    everything = policy["PolicyDocument"]["Statement"]
    single = [st for st in everything if isinstance(st["Action"], str)]
    statements = {st["Action"]: st for st in single}
    assert len(statements) == len(single) == 3 and len(everything) == 5
    assert statements["elasticloadbalancing:DescribeTargetHealth"] == {
        "Action": "elasticloadbalancing:DescribeTargetHealth",
        "Effect": "Allow",
        "Resource": "*",
    }
    (bus,) = stage.resources("service", "AWS::Events::EventBus")
    assert statements["events:PutEvents"] == {
        "Action": "events:PutEvents",
        "Effect": "Allow",
        "Resource": {"Fn::GetAtt": [bus, "Arn"]},
    }
    connect = statements["elasticache:Connect"]
    assert connect["Effect"] == "Allow"
    resources = [flat(r) for r in connect["Resource"]]
    assert [r.split(":", 5)[:4] for r in resources] == [
        ["arn", "aws", "elasticache", "us-east-1"]
    ] * 2
    assert [r.split(":", 5)[5] for r in resources] == [
        f"replicationgroup:{prefix}",
        f"user:{prefix}-relay",
    ]
    assert "ManagedPolicyArns" not in roles[task_role]["Properties"]


def test_relay_watches_its_own_target_group(stage: Synthesized) -> None:
    env = environment(stage)
    (target_group,) = stage.resources("service", "AWS::ElasticLoadBalancingV2::TargetGroup")
    assert env["DRAIN_TARGET_GROUP_ARN"] == {"Ref": target_group}
    assert env["DRAIN_POLL_SECONDS"] == "5"


def test_autoscaling_on_cpu_and_connections_scales_in_slowly(stage: Synthesized) -> None:
    target = one(stage, "AWS::ApplicationAutoScaling::ScalableTarget")
    minimum, maximum = {"dev": (2, 4), "staging": (2, 10), "prod": (3, 20)}[stage.stage]
    assert (target["MinCapacity"], target["MaxCapacity"]) == (minimum, maximum)
    policies = [
        p["Properties"]["TargetTrackingScalingPolicyConfiguration"]
        for p in stage.resources("service", "AWS::ApplicationAutoScaling::ScalingPolicy").values()
    ]
    assert len(policies) == 2
    cpu = next(p for p in policies if "PredefinedMetricSpecification" in p)
    assert cpu["PredefinedMetricSpecification"] == {
        "PredefinedMetricType": "ECSServiceAverageCPUUtilization"
    }
    assert cpu["TargetValue"] == 60
    connections = next(p for p in policies if "CustomizedMetricSpecification" in p)
    assert connections["CustomizedMetricSpecification"] == {
        "Namespace": "ChatRelay",
        "MetricName": "Connections",
        "Dimensions": [{"Name": "ServiceName", "Value": f"chat-relay-{stage.stage}"}],
        "Statistic": "Average",
    }
    assert connections["TargetValue"] == (1000 if stage.stage == "dev" else 4000)
    for policy in policies:
        assert policy["ScaleInCooldown"] == 900
        assert policy["ScaleOutCooldown"] == 60


def test_outputs_give_the_url(dev: Synthesized, prod: Synthesized) -> None:
    assert "http://" in json.dumps(dev.templates["service"]["Outputs"]["Url"]["Value"])
    assert prod.templates["service"]["Outputs"]["Url"]["Value"] == "https://chat.example.com/"


def test_image_is_built_from_service_dockerfile_for_the_task_platform(
    stage: Synthesized,
) -> None:
    assets = json.loads(stage.assets_path("service").read_text())
    (image,) = assets["dockerImages"].values()
    assert image["source"]["dockerFile"] == "service/Dockerfile"
    assert image["source"]["platform"] == ARCHITECTURES.get(stage.stage, GRAVITON)[1]
    staged = stage.assets_path("service").parent / image["source"]["directory"]
    names = {p.name for p in staged.iterdir()}
    assert {"service", "web", "requirements.lock"} <= names
    # The .dockerignore allow-list keeps the venv, node_modules, tests and docs out.
    assert not names & {".venv", "node_modules", "tests", "docs", "cdk.out", ".git", "stacks"}
    assert not list(staged.rglob("__pycache__"))
    image_ref = json.dumps(container(stage)["Image"])
    assert "cdk-hnb659fds-container-assets" in image_ref


def test_metrics_are_on_a_port_the_load_balancer_does_not_forward(stage: Synthesized) -> None:
    """No listener rule hides /metrics (it missed /%6detrics): the relay serves it on
    METRICS_PORT, which no target group forwards to; the main port answers 404."""
    env = {e["Name"]: e["Value"] for e in container(stage)["Environment"]}
    target_group = one(stage, "AWS::ElasticLoadBalancingV2::TargetGroup")
    assert int(env["METRICS_PORT"]) != int(env["PORT"]) == target_group["Port"]
    rules = stage.resources("service", "AWS::ElasticLoadBalancingV2::ListenerRule").values()
    paths = [
        value
        for rule in rules
        for condition in rule["Properties"]["Conditions"]
        for value in condition.get("PathPatternConfig", {}).get("Values", [])
    ]
    assert not any("metrics" in path for path in paths), paths


def test_capacity_providers(stage: Synthesized) -> None:
    associations = one(stage, "AWS::ECS::ClusterCapacityProviderAssociations")
    assert sorted(associations["CapacityProviders"]) == ["FARGATE", "FARGATE_SPOT"]
    strategy = one(stage, "AWS::ECS::Service")["CapacityProviderStrategy"]
    if stage.stage == "dev":
        assert strategy == [{"CapacityProvider": "FARGATE_SPOT", "Weight": 100}]
    else:
        # Prod's Spot share is a setting (relay.spot_percent, 0 by default); staging runs
        # what prod runs.
        assert strategy == [{"Base": 0, "CapacityProvider": "FARGATE", "Weight": 100}]


def test_service_is_deleted_before_the_capacity_provider_association(stage: Synthesized) -> None:
    """CloudFormation deletes in reverse dependency order: without the DependsOn the
    association may go first and `make destroy` fails with "capacity provider is in use"."""
    (association_id,) = stage.resources("service", "AWS::ECS::ClusterCapacityProviderAssociations")
    (service,) = stage.resources("service", "AWS::ECS::Service").values()
    assert association_id in service["DependsOn"]


def test_a_spot_share_splits_the_strategy() -> None:
    from stacks.relay.scaling import capacity_provider_strategies

    relay = load("prod").relay
    split = dataclasses.replace(relay, cpu_architecture="x86_64", spot_percent=30, on_demand_base=3)
    assert [
        (s.capacity_provider, s.base, s.weight) for s in capacity_provider_strategies(split)
    ] == [("FARGATE", 3, 70), ("FARGATE_SPOT", None, 30)]
    assert [(s.capacity_provider, s.weight) for s in capacity_provider_strategies(relay)] == [
        ("FARGATE", 100)
    ]


def test_prod_bounds_new_identities_per_client_address(stage: Synthesized) -> None:
    """Behind the ALB the client's address is the last X-Forwarded-For entry; only prod
    limits new anonymous identities per address (a load test would hit any limit)."""
    env = {e["Name"]: e["Value"] for e in container(stage)["Environment"]}
    if stage.stage == "prod":
        assert (env["TRUSTED_PROXY_HOPS"], env["NEW_IDENTITIES_PER_MINUTE"]) == ("1", "30")
        assert env["NEW_ROOMS_PER_MINUTE"] == "10"
    else:
        limits = {"TRUSTED_PROXY_HOPS", "NEW_IDENTITIES_PER_MINUTE", "NEW_ROOMS_PER_MINUTE"}
        assert not limits & set(env)
