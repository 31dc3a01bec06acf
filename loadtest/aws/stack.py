"""The stage's load-generator stack (stacks/loadgen.py): what `python -m loadtest aws` runs on.

Read from the stack's outputs, plus the private subnets of its security group's VPC.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from loadtest.aws.s3uri import S3Location


class AwsRunError(RuntimeError):
    """The tasks could not be started or did not finish; the message says what to do."""


@dataclass(frozen=True)
class Generators:
    """The stage's load-generator stack, from its outputs."""

    cluster: str
    task_definition: str
    container: str
    results: S3Location
    security_group: str
    subnets: tuple[str, ...]


def find_generators(session: Any, stage: str) -> Generators:
    """The loadgen stack's outputs, and the private subnets of its security group's VPC."""
    from botocore.exceptions import BotoCoreError, ClientError

    stack = f"chat-relay-{stage}-loadgen"
    try:
        described = session.client("cloudformation").describe_stacks(StackName=stack)
        outputs = {o["OutputKey"]: o["OutputValue"] for o in described["Stacks"][0]["Outputs"]}
        ec2 = session.client("ec2")
        (group,) = ec2.describe_security_groups(GroupIds=[outputs["SecurityGroupId"]])[
            "SecurityGroups"
        ]
        subnets = ec2.describe_subnets(
            Filters=[
                {"Name": "vpc-id", "Values": [group["VpcId"]]},
                {"Name": "tag:aws-cdk:subnet-name", "Values": [outputs["SubnetName"]]},
            ]
        )["Subnets"]
    except (ClientError, BotoCoreError) as exc:
        raise AwsRunError(
            f"cannot read stack {stack} ({exc}): deploy it with `make deploy STAGE={stage}` "
            "and check your AWS credentials and region"
        ) from None
    except KeyError as exc:
        raise AwsRunError(f"stack {stack} has no output {exc}: redeploy it") from None
    if not subnets:
        raise AwsRunError(f"no subnet named {outputs['SubnetName']!r} in {group['VpcId']}")
    return Generators(
        cluster=outputs["ClusterName"],
        task_definition=outputs["TaskDefinitionArn"],
        container=outputs["ContainerName"],
        results=S3Location(outputs["ResultsBucketName"], outputs["ResultsPrefix"].rstrip("/")),
        security_group=outputs["SecurityGroupId"],
        subnets=tuple(sorted(s["SubnetId"] for s in subnets)),
    )
