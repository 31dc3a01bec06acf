"""Load-generator stack: the Fargate task `python -m loadtest aws` runs, and its permissions."""

from __future__ import annotations

import json
from typing import Any

from stacks.loadgen import CONTAINER_NAME, OPEN_FILES_LIMIT, RESULTS_PREFIX
from tests.stacks.conftest import Synthesized


def one(stage: Synthesized, resource_type: str) -> tuple[str, dict[str, Any]]:
    ((logical_id, resource),) = stage.resources("loadgen", resource_type).items()
    return logical_id, resource["Properties"]


def role_policies(stage: Synthesized, role_fragment: str) -> list[dict[str, Any]]:
    """Statements of the inline policies attached to the role whose id contains the text."""
    roles = [r for r in stage.resources("loadgen", "AWS::IAM::Role") if role_fragment in r]
    (role,) = roles
    return [
        statement
        for policy in stage.resources("loadgen", "AWS::IAM::Policy").values()
        if {"Ref": role} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def test_the_task_is_a_locked_down_fargate_container(stage: Synthesized) -> None:
    _, task = one(stage, "AWS::ECS::TaskDefinition")
    assert task["RequiresCompatibilities"] == ["FARGATE"]
    assert task["NetworkMode"] == "awsvpc"
    assert (task["Cpu"], task["Memory"]) == ("4096", "8192")
    (container,) = task["ContainerDefinitions"]
    assert container["Name"] == CONTAINER_NAME
    assert container["ReadonlyRootFilesystem"] is True
    assert container["User"] == "10001:10001"
    assert container["LinuxParameters"]["Capabilities"] == {"Drop": ["ALL"]}
    assert container["Ulimits"] == [
        {"Name": "nofile", "SoftLimit": OPEN_FILES_LIMIT, "HardLimit": OPEN_FILES_LIMIT}
    ]
    assert "Environment" not in container and "Secrets" not in container
    assert container["LogConfiguration"]["LogDriver"] == "awslogs"
    assert container["MountPoints"] == [
        {"ContainerPath": "/tmp", "ReadOnly": False, "SourceVolume": "tmp"}
    ]


def test_the_task_role_may_only_put_reports_below_results(stage: Synthesized) -> None:
    bucket_id, _ = one(stage, "AWS::S3::Bucket")
    statements = role_policies(stage, "TaskDefinitionTaskRole")
    assert statements == [
        {
            "Action": "s3:PutObject",
            "Effect": "Allow",
            "Resource": {
                "Fn::Join": ["", [{"Fn::GetAtt": [bucket_id, "Arn"]}, f"/{RESULTS_PREFIX}*"]]
            },
        }
    ]


def test_the_execution_role_pulls_the_image_and_writes_logs_only(stage: Synthesized) -> None:
    actions = {
        action
        for statement in role_policies(stage, "TaskDefinitionExecutionRole")
        for action in (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
    }
    assert actions == {
        "ecr:BatchCheckLayerAvailability",
        "ecr:BatchGetImage",
        "ecr:GetDownloadUrlForLayer",
        "ecr:GetAuthorizationToken",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
    }


def test_generators_only_connect_out_to_web_ports(stage: Synthesized) -> None:
    _, group = one(stage, "AWS::EC2::SecurityGroup")
    assert "SecurityGroupIngress" not in group
    ports = sorted(rule["FromPort"] for rule in group["SecurityGroupEgress"])
    assert ports == ([80, 443] if stage.stage == "dev" else [443])
    assert all(rule["CidrIp"] == "0.0.0.0/0" for rule in group["SecurityGroupEgress"])
    # Nothing connects in to the generators: the one ingress resource here is on the
    # endpoints' group (test_generators_may_call_the_interface_endpoints).
    (own_group,) = stage.resources("loadgen", "AWS::EC2::SecurityGroup")
    for rule in stage.resources("loadgen", "AWS::EC2::SecurityGroupIngress").values():
        assert own_group not in json.dumps(rule["Properties"]["GroupId"])


def test_results_bucket_is_private_encrypted_and_expires(stage: Synthesized) -> None:
    _, bucket = one(stage, "AWS::S3::Bucket")
    assert bucket["PublicAccessBlockConfiguration"]["BlockPublicPolicy"] is True
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"] == [
        {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
    ]
    (rule,) = bucket["LifecycleConfiguration"]["Rules"]
    assert rule["ExpirationInDays"] == 30
    (policy,) = stage.resources("loadgen", "AWS::S3::BucketPolicy").values()
    (deny,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert deny["Effect"] == "Deny"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_outputs_name_everything_the_aws_command_needs(stage: Synthesized) -> None:
    outputs = stage.templates["loadgen"]["Outputs"]
    assert set(outputs) == {
        "ClusterName",
        "TaskDefinitionArn",
        "ContainerName",
        "ResultsBucketName",
        "ResultsPrefix",
        "SubnetName",
        "SecurityGroupId",
    }
    assert outputs["ContainerName"]["Value"] == CONTAINER_NAME
    # the name CDK tags the private subnets with (aws-cdk:subnet-name)
    network = json.dumps(stage.templates["network"])
    assert f'"Key": "aws-cdk:subnet-name", "Value": "{outputs["SubnetName"]["Value"]}"' in network


def imported_values(node: Any) -> list[str]:
    if isinstance(node, dict):
        if "Fn::ImportValue" in node:
            return [node["Fn::ImportValue"]]
        return [value for child in node.values() for value in imported_values(child)]
    if isinstance(node, list):
        return [value for child in node for value in imported_values(child)]
    return []


def test_the_generators_take_only_the_vpc_from_the_other_stacks(stage: Synthesized) -> None:
    """...and, where the VPC has interface endpoints, their group (to be let in there)."""
    imports = imported_values(stage.templates["loadgen"])
    assert imports
    network = f"chat-relay-{stage.stage}-network:"
    allowed = (network + "ExportsOutputRefVpc", network + "ExportsOutputFnGetAttEndpointSecurity")
    assert all(value.startswith(allowed) for value in imports), imports
    endpoint_imports = [v for v in imports if "EndpointSecurity" in v]
    assert len(endpoint_imports) == (0 if stage.stage == "dev" else 1)


def test_generators_may_call_the_interface_endpoints(stage: Synthesized) -> None:
    rules = [
        r["Properties"]
        for r in stage.resources("loadgen", "AWS::EC2::SecurityGroupIngress").values()
    ]
    if stage.stage == "dev":  # no interface endpoints: the generators go through NAT
        assert rules == []
        return
    (rule,) = rules
    (group_id,) = stage.resources("loadgen", "AWS::EC2::SecurityGroup")
    assert rule["SourceSecurityGroupId"] == {"Fn::GetAtt": [group_id, "GroupId"]}
    assert (rule["FromPort"], rule["ToPort"], rule["IpProtocol"]) == (443, 443, "tcp")
    assert "EndpointSecurity" in json.dumps(rule["GroupId"])


def test_image_is_built_from_the_repo_root_with_only_the_tool_and_the_contract(
    stage: Synthesized,
) -> None:
    assets = json.loads(stage.assets_path("loadgen").read_text())
    (image,) = assets["dockerImages"].values()
    assert image["source"]["dockerFile"] == "loadtest/Dockerfile"
    staged = stage.assets_path("loadgen").parent / image["source"]["directory"]
    names = {p.name for p in staged.iterdir()}
    assert {"loadtest", "contract"} <= names
    # Neither the relay's files nor the venv, tests or docs: a relay change must not
    # rebuild the load generator's image.
    assert not names & {"service", "web", "requirements.lock", ".venv", "tests", "docs", "stacks"}
    assert (staged / "loadtest" / "Dockerfile.dockerignore").is_file()
    assert not list(staged.rglob("__pycache__"))


def test_results_bucket_never_blocks_make_destroy(stage: Synthesized) -> None:
    """CloudFormation cannot delete a bucket holding reports: it is kept on delete (and
    deleted only when the create that made it rolls back), so `make destroy` completes."""
    (bucket,) = stage.resources("loadgen", "AWS::S3::Bucket").values()
    assert bucket["DeletionPolicy"] == "RetainExceptOnCreate"
    assert bucket["UpdateReplacePolicy"] == "Retain"
