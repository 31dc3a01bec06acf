"""VPC endpoints: how relay tasks reach AWS without a NAT gateway.

A Fargate task pulls its image (ECR API and registry, layers from S3), reads its secret
(Secrets Manager) and ships its logs (CloudWatch Logs); the relay also asks the ELB API
for its own target's health (the drain signal) and sends the chat's events to EventBridge.
The S3 gateway endpoint is free and added in every stage; the six interface endpoints
cost per AZ and hour, so they come with `network.interface_endpoints = true`, which
`nat_gateways = 0` (service subnets with no route out at all) requires;
docs/infrastructure.md has the cost of each choice.

The interface endpoints share one security group whose only rule, its own ingress
resource, admits HTTPS from the relay tasks' group; the egress side of that pair lives
with the other rules in stacks/network.py.
"""

from __future__ import annotations

from aws_cdk import aws_ec2 as ec2
from constructs import Construct

# (construct id, service) of each interface endpoint a Fargate task without NAT needs.
INTERFACE_ENDPOINTS = (
    ("EcrApiEndpoint", ec2.InterfaceVpcEndpointAwsService.ECR),
    ("EcrDockerEndpoint", ec2.InterfaceVpcEndpointAwsService.ECR_DOCKER),
    ("LogsEndpoint", ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS),
    ("SecretsManagerEndpoint", ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER),
    # The relay's drain signal: DescribeTargetHealth on its own target (service/deregistration.py).
    ("ElbEndpoint", ec2.InterfaceVpcEndpointAwsService.ELASTIC_LOAD_BALANCING),
    # Events out: PutEvents to the stage's bus (service/events_out/).
    ("EventsEndpoint", ec2.InterfaceVpcEndpointAwsService.EVENTBRIDGE),
)
# Attachments' scan verdicts in: ReceiveMessage / DeleteMessage (service/attachments/).
SQS_ENDPOINT = ("SqsEndpoint", ec2.InterfaceVpcEndpointAwsService.SQS)


def add_s3_gateway(vpc: ec2.Vpc, subnets: ec2.SubnetSelection) -> ec2.GatewayVpcEndpoint:
    """S3 through the route tables of `subnets`: ECR image layers, no NAT data charge."""
    return vpc.add_gateway_endpoint(
        "S3Endpoint", service=ec2.GatewayVpcEndpointAwsService.S3, subnets=[subnets]
    )


def add_interface_endpoints(
    scope: Construct,
    vpc: ec2.Vpc,
    subnets: ec2.SubnetSelection,
    security_group: ec2.ISecurityGroup,
    *,
    sqs: bool = False,
) -> dict[str, ec2.InterfaceVpcEndpoint]:
    """ECR (api, dkr), CloudWatch Logs, Secrets Manager, ELB and EventBridge in `subnets`
    (and SQS with `sqs`), private DNS on, so the tasks' usual service names resolve to the
    endpoints."""
    return {
        construct_id: ec2.InterfaceVpcEndpoint(
            scope,
            construct_id,
            vpc=vpc,
            service=service,
            subnets=subnets,
            security_groups=[security_group],
            private_dns_enabled=True,
            # No CDK-made rule from the VPC's CIDR: the one ingress rule is its own
            # resource, from the relay tasks' group only.
            open=False,
        )
        for construct_id, service in (*INTERFACE_ENDPOINTS, *([SQS_ENDPOINT] if sqs else []))
    }
