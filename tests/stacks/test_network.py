"""Network stack: VPC layout, NAT per stage, flow logs, the security-group matrix."""

from __future__ import annotations

from typing import Any

from aws_cdk.assertions import Match

from tests.stacks.conftest import Synthesized


def group_id(stage: Synthesized, name: str) -> str:
    """Logical id of the security group whose construct id starts with `name`."""
    groups = stage.resources("network", "AWS::EC2::SecurityGroup")
    (logical_id,) = (i for i in groups if i.startswith(name))
    return logical_id


def rules(stage: Synthesized, kind: str) -> list[dict[str, Any]]:
    return [
        r["Properties"]
        for r in stage.resources("network", f"AWS::EC2::SecurityGroup{kind}").values()
    ]


def test_vpc_spans_the_stage_azs_with_three_tiers(stage: Synthesized) -> None:
    subnets = [r["Properties"] for r in stage.resources("network", "AWS::EC2::Subnet").values()]
    zones = {s["AvailabilityZone"] for s in subnets}
    assert len(zones) == (3 if stage.stage == "prod" else 2)
    assert len(subnets) == 3 * len(zones)
    tiers = {t["Value"] for s in subnets for t in s["Tags"] if t["Key"] == "aws-cdk:subnet-name"}
    assert tiers == {"public", "service", "cache"}
    assert all(s["MapPublicIpOnLaunch"] is False for s in subnets)
    stage.template("network").has_resource_properties(
        "AWS::EC2::VPC", {"EnableDnsHostnames": True, "EnableDnsSupport": True}
    )


# Per stage (docs/infrastructure.md, cost per choice): dev reaches AWS through one NAT;
# staging through interface endpoints, with a NAT for its load generators; prod through
# the endpoints alone, from isolated subnets.
ENDPOINT_STAGES = {"staging", "prod"}
ISOLATED_STAGES = {"prod"}
INTERFACE_SERVICES = (
    "ecr.api",
    "ecr.dkr",
    "logs",
    "secretsmanager",
    "elasticloadbalancing",
    "events",
    # Attachments' scan verdicts (on by default in every stage).
    "sqs",
)


def test_nat_gateways_per_stage(stage: Synthesized) -> None:
    expected = {"dev": 1, "staging": 1, "prod": 0}[stage.stage]
    stage.template("network").resource_count_is("AWS::EC2::NatGateway", expected)
    stage.template("network").resource_count_is("AWS::EC2::EIP", expected)


def service_route_tables(stage: Synthesized) -> set[str]:
    tables = stage.resources("network", "AWS::EC2::RouteTable")
    found = {i for i in tables if i.startswith("Vpcservice")}
    assert len(found) == (3 if stage.stage == "prod" else 2)
    return found


def test_service_subnets_route_out_only_with_nat(stage: Synthesized) -> None:
    routes = [r["Properties"] for r in stage.resources("network", "AWS::EC2::Route").values()]
    through_nat = {
        r["RouteTableId"]["Ref"] for r in routes if r.get("DestinationCidrBlock") == "0.0.0.0/0"
    }
    service = service_route_tables(stage)
    if stage.stage in ISOLATED_STAGES:
        assert not service & through_nat  # isolated: no default route at all
    else:
        assert service <= through_nat
        assert all("NatGatewayId" in r for r in routes if r["RouteTableId"]["Ref"] in service)


def test_s3_gateway_endpoint_on_the_service_route_tables(stage: Synthesized) -> None:
    (endpoint,) = (
        r["Properties"]
        for r in stage.resources("network", "AWS::EC2::VPCEndpoint").values()
        if r["Properties"]["VpcEndpointType"] == "Gateway"
    )
    assert endpoint["ServiceName"]["Fn::Join"][1][-1] == ".s3"
    assert {t["Ref"] for t in endpoint["RouteTableIds"]} == service_route_tables(stage)


def test_interface_endpoints_in_the_service_subnets(stage: Synthesized) -> None:
    endpoints = [
        r["Properties"]
        for r in stage.resources("network", "AWS::EC2::VPCEndpoint").values()
        if r["Properties"]["VpcEndpointType"] == "Interface"
    ]
    if stage.stage not in ENDPOINT_STAGES:
        assert endpoints == []  # dev: NAT is cheaper than endpoints in two AZs
        return
    services = sorted(e["ServiceName"].removeprefix("com.amazonaws.us-east-1.") for e in endpoints)
    assert services == sorted(INTERFACE_SERVICES)
    endpoint_group = group_id(stage, "Endpoint")
    zones = 3 if stage.stage == "prod" else 2
    for endpoint in endpoints:
        assert endpoint["PrivateDnsEnabled"] is True
        assert endpoint["SecurityGroupIds"] == [{"Fn::GetAtt": [endpoint_group, "GroupId"]}]
        subnets = [s["Ref"] for s in endpoint["SubnetIds"]]
        assert len(subnets) == zones
        assert all(s.startswith("Vpcservice") for s in subnets)


def test_isolated_cache_subnets_have_no_route_out(stage: Synthesized) -> None:
    resources = stage.templates["network"]["Resources"]
    cache_tables = {
        i for i in stage.resources("network", "AWS::EC2::RouteTable") if i.startswith("Vpccache")
    }
    assert cache_tables
    default_routes = [
        r["Properties"]["RouteTableId"]["Ref"]
        for r in resources.values()
        if r["Type"] == "AWS::EC2::Route"
    ]
    assert not cache_tables & set(default_routes)


def test_flow_logs_capture_all_traffic_to_encrypted_logs(stage: Synthesized) -> None:
    template = stage.template("network")
    template.has_resource_properties(
        "AWS::EC2::FlowLog",
        {
            "ResourceType": "VPC",
            "TrafficType": "ALL",
            "LogDestinationType": "cloud-watch-logs",
            "MaxAggregationInterval": 600,
        },
    )
    days = {"dev": 7, "staging": 14, "prod": 90}[stage.stage]
    template.has_resource_properties(
        "AWS::Logs::LogGroup",
        {
            "RetentionInDays": days,
            "KmsKeyId": {"Fn::GetAtt": [Match.string_like_regexp("^FlowLogKey"), "Arn"]},
        },
    )


def test_groups_without_default_egress(stage: Synthesized) -> None:
    groups = stage.resources("network", "AWS::EC2::SecurityGroup")
    # ALB, service, cache; and the endpoints' group where there are interface endpoints.
    assert len(groups) == (4 if stage.stage in ENDPOINT_STAGES else 3)
    for group in groups.values():
        props = group["Properties"]
        assert props["GroupDescription"]
        assert "SecurityGroupIngress" not in props
        # allow_all_outbound=False: CDK's placeholder rule that matches no traffic.
        assert props["SecurityGroupEgress"] == [
            {
                "CidrIp": "255.255.255.255/32",
                "Description": "Disallow all traffic",
                "FromPort": 252,
                "IpProtocol": "icmp",
                "ToPort": 86,
            }
        ]


def test_ingress_matrix(stage: Synthesized) -> None:
    alb, service, cache = (group_id(stage, n) for n in ("Alb", "Service", "Cache"))
    ingress = {
        (
            r["GroupId"]["Fn::GetAtt"][0],
            r.get("CidrIp") or r["SourceSecurityGroupId"]["Fn::GetAtt"][0],
            r["FromPort"],
            r["ToPort"],
        )
        for r in rules(stage, "Ingress")
    }
    public_ports = {80} if stage.stage == "dev" else {80, 443}
    expected = {(alb, "0.0.0.0/0", port, port) for port in public_ports}
    expected |= {(service, alb, 8000, 8000), (cache, service, 6380, 6380)}
    if stage.stage in ENDPOINT_STAGES:
        expected.add((group_id(stage, "Endpoint"), service, 443, 443))
    assert ingress == expected


def test_egress_matrix(stage: Synthesized) -> None:
    alb, service, cache = (group_id(stage, n) for n in ("Alb", "Service", "Cache"))
    egress = {
        (
            r["GroupId"]["Fn::GetAtt"][0],
            r.get("CidrIp") or r["DestinationSecurityGroupId"]["Fn::GetAtt"][0],
            r["FromPort"],
        )
        for r in rules(stage, "Egress")
    }
    expected = {(alb, service, 8000), (service, cache, 6380), (service, "0.0.0.0/0", 443)}
    if stage.stage in ENDPOINT_STAGES:
        # 0.0.0.0/0:443 stays: S3 through the gateway (prod: the only route there is).
        expected.add((service, group_id(stage, "Endpoint"), 443))
    assert egress == expected


def test_every_rule_is_tcp_and_described(stage: Synthesized) -> None:
    for rule in rules(stage, "Ingress") + rules(stage, "Egress"):
        assert rule["IpProtocol"] == "tcp"
        assert len(rule["Description"]) > 10
