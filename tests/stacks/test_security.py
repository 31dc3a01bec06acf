"""Properties that must hold across every stack of every stage, mostly negative ones."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from tests.stacks.conftest import PARTS, Synthesized

OPEN_CIDRS = {"0.0.0.0/0", "::/0"}


def all_resources(stage: Synthesized) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for part in PARTS:
        for logical_id, resource in stage.templates[part]["Resources"].items():
            yield part, logical_id, resource


def test_no_inline_ingress_anywhere(stage: Synthesized) -> None:
    """Every ingress rule is its own resource: no group references another inline."""
    for _, logical_id, resource in all_resources(stage):
        if resource["Type"] == "AWS::EC2::SecurityGroup":
            assert "SecurityGroupIngress" not in resource["Properties"], logical_id


def test_no_inline_egress_references_another_group(stage: Synthesized) -> None:
    for _, logical_id, resource in all_resources(stage):
        if resource["Type"] == "AWS::EC2::SecurityGroup":
            for rule in resource["Properties"].get("SecurityGroupEgress", []):
                assert "DestinationSecurityGroupId" not in rule, logical_id


def test_only_the_alb_is_open_to_the_internet_on_80_and_443(stage: Synthesized) -> None:
    open_rules = []
    for _, _, resource in all_resources(stage):
        if resource["Type"] != "AWS::EC2::SecurityGroupIngress":
            continue
        rule = resource["Properties"]
        if rule.get("CidrIp") in OPEN_CIDRS or rule.get("CidrIpv6") in OPEN_CIDRS:
            open_rules.append((rule["GroupId"]["Fn::GetAtt"][0], rule["FromPort"], rule["ToPort"]))
    assert open_rules
    for group, from_port, to_port in open_rules:
        assert group.startswith("AlbSecurityGroup")
        assert from_port == to_port
        assert from_port in (80, 443)


def test_group_to_group_rules_only_between_our_groups(stage: Synthesized) -> None:
    for _, logical_id, resource in all_resources(stage):
        if resource["Type"] in ("AWS::EC2::SecurityGroupIngress", "AWS::EC2::SecurityGroupEgress"):
            rule = resource["Properties"]
            peer = rule.get("SourceSecurityGroupId") or rule.get("DestinationSecurityGroupId")
            assert peer or rule.get("CidrIp") in OPEN_CIDRS, logical_id
            assert "Description" in rule, logical_id


def test_no_plain_text_secret_in_any_environment(stage: Synthesized) -> None:
    secretish = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|API_KEY", re.IGNORECASE)
    for _, _, resource in all_resources(stage):
        if resource["Type"] != "AWS::ECS::TaskDefinition":
            continue
        for definition in resource["Properties"]["ContainerDefinitions"]:
            for variable in definition.get("Environment", []):
                assert not secretish.search(variable["Name"]), variable["Name"]
                # No credentials hidden in a URL either (user:password@host).
                assert "@" not in json.dumps(variable["Value"]), variable["Name"]


def test_no_literal_auth_token_or_password_property(stage: Synthesized) -> None:
    for _, logical_id, resource in all_resources(stage):
        for name, value in resource.get("Properties", {}).items():
            if name in ("AuthToken", "Password", "MasterUserPassword", "SecretString"):
                assert "{{resolve:secretsmanager:" in json.dumps(value), logical_id


def test_templates_have_no_parameters_with_secret_defaults(stage: Synthesized) -> None:
    for part in PARTS:
        for name, parameter in stage.templates[part].get("Parameters", {}).items():
            assert name == "BootstrapVersion", f"{part}: unexpected parameter {name}"
            assert parameter["Type"] == "AWS::SSM::Parameter::Value<String>"


def test_log_groups_are_encrypted_and_expire(stage: Synthesized) -> None:
    groups = [(i, r) for _, i, r in all_resources(stage) if r["Type"] == "AWS::Logs::LogGroup"]
    # flow logs, slow log, engine log, relay, load generators; and the WAF's where the
    # stage has a web ACL
    assert len(groups) == (5 if stage.stage == "dev" else 6)
    for logical_id, group in groups:
        assert "KmsKeyId" in group["Properties"], logical_id
        assert group["Properties"]["RetentionInDays"] >= 7, logical_id


def test_every_kms_key_rotates(stage: Synthesized) -> None:
    keys = [r for _, _, r in all_resources(stage) if r["Type"] == "AWS::KMS::Key"]
    # 5 in the relay's stacks (the relay's secrets have one), 1 for the load generators'
    # logs, 1 for the WAF's logs
    assert len(keys) == (6 if stage.stage == "dev" else 7)
    assert all(k["Properties"]["EnableKeyRotation"] is True for k in keys)


def test_prod_keeps_its_data(prod: Synthesized, dev: Synthesized) -> None:
    for _, logical_id, resource in all_resources(prod):
        if resource["Type"] in (
            "AWS::Logs::LogGroup",
            "AWS::KMS::Key",
            "AWS::SecretsManager::Secret",
        ):
            # Kept on update and delete, but a first create that rolls back deletes it: a
            # retry must not meet "already exists" on a fixed name (the WAF log group).
            assert resource["DeletionPolicy"] == "RetainExceptOnCreate", logical_id
            assert resource["UpdateReplacePolicy"] == "Retain", logical_id
    for _, logical_id, resource in all_resources(dev):
        if resource["Type"] in ("AWS::Logs::LogGroup", "AWS::KMS::Key"):
            assert resource["DeletionPolicy"] == "Delete", logical_id


def test_prod_stacks_have_termination_protection(stage: Synthesized) -> None:
    assembly = stage.template_path("network").parent  # the stage's nested cloud assembly
    manifest = json.loads((assembly / "manifest.json").read_text())
    stacks = {
        name: artifact["properties"]
        for name, artifact in manifest["artifacts"].items()
        if artifact["type"] == "aws:cloudformation:stack"
    }
    assert len(stacks) == 4  # network, cache, service, loadgen
    for name, properties in stacks.items():
        assert properties.get("terminationProtection", False) is (stage.stage == "prod"), name
