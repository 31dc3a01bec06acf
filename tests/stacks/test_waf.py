"""The AWS WAF web ACL on the ALB: rules, association, logging; and how it treats traffic.

The traffic tests run the synthesized web ACL through a local model of WAF's rule
evaluation (tests/support/waf_model.py): a browser's page and upgrades pass, an upgrade
flood from one address is blocked while other addresses and the page itself are not, and a
load generator on the allow list is never rate-limited.
"""

from __future__ import annotations

from typing import Any

import pytest

from stacks.waf import MANAGED_RULE_GROUPS
from tests.stacks.conftest import SHIPPED_SETTINGS, Synthesized, synthesize
from tests.support.waf_model import Request, WebAclModel

LOAD_GENERATOR = "203.0.113.7"
ALLOW_CIDRS = [f"{LOAD_GENERATOR}/32", "198.51.100.0/24"]
# What a base-price web ACL may use (more costs extra per 500 WCU).
BASE_WCU = 1500
UPGRADE_HEADERS = {"Upgrade": "websocket", "Connection": "Upgrade", "User-Agent": "Mozilla/5.0"}


@pytest.fixture(scope="module")
def allow_listed(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """staging with the load generators' addresses in `[stages.staging.waf] allow_cidrs`."""
    directory = tmp_path_factory.mktemp("waf-allow-list")
    settings = directory / "stages.toml"
    addresses = ", ".join(f'"{cidr}"' for cidr in ALLOW_CIDRS)
    # The shipped file's own (empty) list, filled in as an operator would.
    shipped = SHIPPED_SETTINGS.read_text()
    assert shipped.count("\nallow_cidrs = []\n") == 1
    settings.write_text(shipped.replace("\nallow_cidrs = []\n", f"\nallow_cidrs = [{addresses}]\n"))
    return synthesize("staging", directory / "cdk", {"settingsFile": str(settings)}).stage


def web_acl(stage: Synthesized) -> dict[str, Any]:
    (acl,) = stage.resources("service", "AWS::WAFv2::WebACL").values()
    return acl["Properties"]


def rules_by_name(stage: Synthesized) -> dict[str, dict[str, Any]]:
    return {rule["Name"]: rule for rule in web_acl(stage)["Rules"]}


def model(stage: Synthesized) -> WebAclModel:
    ip_sets = {
        logical_id: resource["Properties"]["Addresses"]
        for logical_id, resource in stage.resources("service", "AWS::WAFv2::IPSet").items()
    }
    return WebAclModel(web_acl(stage), ip_sets)


@pytest.fixture(params=["staging", "prod"])
def protected(request: pytest.FixtureRequest, assemblies: dict[str, Synthesized]) -> Synthesized:
    return assemblies[request.param]


def test_dev_has_no_web_acl(dev: Synthesized) -> None:
    assert not [
        r
        for r in dev.templates["service"]["Resources"].values()
        if r["Type"].startswith("AWS::WAFv2")
    ]


def test_web_acl_is_regional_allows_by_default_and_is_associated_with_the_alb(
    protected: Synthesized,
) -> None:
    props = web_acl(protected)
    assert props["Scope"] == "REGIONAL"
    assert props["DefaultAction"] == {"Allow": {}}
    (acl_id,) = protected.resources("service", "AWS::WAFv2::WebACL")
    (association,) = protected.resources("service", "AWS::WAFv2::WebACLAssociation").values()
    (alb_id,) = protected.resources("service", "AWS::ElasticLoadBalancingV2::LoadBalancer")
    assert association["Properties"] == {
        "ResourceArn": {"Ref": alb_id},
        "WebACLArn": {"Fn::GetAtt": [acl_id, "Arn"]},
    }


def test_rules_in_order_rate_rule_first_then_managed_groups(protected: Synthesized) -> None:
    rules = web_acl(protected)["Rules"]
    assert [r["Name"] for r in rules] == [
        "UpgradeRatePerIp",
        *(name for name, _ in MANAGED_RULE_GROUPS),
    ]
    assert [r["Priority"] for r in rules] == list(range(len(rules)))
    for rule in rules:
        assert rule["VisibilityConfig"]["CloudWatchMetricsEnabled"] is True
        assert rule["VisibilityConfig"]["SampledRequestsEnabled"] is True
    # The groups' own actions apply (no override to count).
    for name, _ in MANAGED_RULE_GROUPS:
        rule = rules_by_name(protected)[name]
        assert rule["OverrideAction"] == {"None": {}}
        assert rule["Statement"]["ManagedRuleGroupStatement"] == {"VendorName": "AWS", "Name": name}


def test_rate_rule_is_per_ip_on_the_upgrade_path(protected: Synthesized) -> None:
    rule = rules_by_name(protected)["UpgradeRatePerIp"]
    # staging only counts: the pipeline's gate connects 2,000 clients from one CodeBuild
    # address that cannot be allow-listed (waf.upgrade_rate_action).
    assert rule["Action"] == {"staging": {"Count": {}}, "prod": {"Block": {}}}[protected.stage]
    rate = rule["Statement"]["RateBasedStatement"]
    assert (rate["AggregateKeyType"], rate["Limit"], rate["EvaluationWindowSec"]) == ("IP", 300, 60)
    path, upgrade = rate["ScopeDownStatement"]["AndStatement"]["Statements"]
    assert path["ByteMatchStatement"]["FieldToMatch"] == {"UriPath": {}}
    assert path["ByteMatchStatement"]["SearchString"] == "/ws"
    assert path["ByteMatchStatement"]["PositionalConstraint"] == "EXACTLY"
    header = upgrade["ByteMatchStatement"]
    assert header["FieldToMatch"] == {"SingleHeader": {"Name": "upgrade"}}
    assert (header["SearchString"], header["TextTransformations"][0]["Type"]) == (
        "websocket",
        "LOWERCASE",
    )


def test_capacity_stays_within_the_base_price() -> None:
    # The rate rule with a two-part scope-down is a few WCU; the groups are published.
    assert sum(wcu for _, wcu in MANAGED_RULE_GROUPS) + 10 <= BASE_WCU


def test_logs_go_to_an_aws_waf_logs_group_with_retention(protected: Synthesized) -> None:
    (logging,) = protected.resources("service", "AWS::WAFv2::LoggingConfiguration").values()
    (acl_id,) = protected.resources("service", "AWS::WAFv2::WebACL")
    assert logging["Properties"]["ResourceArn"] == {"Fn::GetAtt": [acl_id, "Arn"]}
    (destination,) = logging["Properties"]["LogDestinationConfigs"]
    prefix, group_ref = destination["Fn::Join"][1]
    assert prefix.endswith(":log-group:") and prefix.startswith("arn:aws:logs:us-east-1:")
    group = protected.resources("service", "AWS::Logs::LogGroup")[group_ref["Ref"]]["Properties"]
    assert group["LogGroupName"] == f"aws-waf-logs-chat-relay-{protected.stage}"
    assert group["RetentionInDays"] == {"staging": 30, "prod": 90}[protected.stage]
    assert group["KmsKeyId"]["Fn::GetAtt"][0].startswith("FirewallLogKey")


def test_no_ip_set_without_an_allow_list(protected: Synthesized) -> None:
    assert protected.resources("service", "AWS::WAFv2::IPSet") == {}


def test_allow_list_is_an_ip_set_allowed_before_every_other_rule(
    allow_listed: Synthesized,
) -> None:
    ((ip_set_id, ip_set),) = allow_listed.resources("service", "AWS::WAFv2::IPSet").items()
    assert ip_set["Properties"]["Addresses"] == ALLOW_CIDRS
    assert ip_set["Properties"]["IPAddressVersion"] == "IPV4"
    assert ip_set["Properties"]["Scope"] == "REGIONAL"
    first, *rest = web_acl(allow_listed)["Rules"]
    assert first["Name"] == "AllowLoadGenerators" and first["Priority"] == 0
    assert first["Action"] == {"Allow": {}}
    assert first["Statement"] == {
        "IPSetReferenceStatement": {"Arn": {"Fn::GetAtt": [ip_set_id, "Arn"]}}
    }
    assert rest[0]["Name"] == "UpgradeRatePerIp"


def upgrades(ip: str, count: int, *, start: float = 0.0, spacing: float = 0.01) -> list[Request]:
    return [Request(ip, "/ws", UPGRADE_HEADERS, at=start + i * spacing) for i in range(count)]


def test_a_browser_session_passes(prod: Synthesized) -> None:
    acl = model(prod)
    page = ["/", "/app.js", "/outbox.js", "/timeline.js", "/style.css", "/avatars/a1.svg"]
    for path in page:
        assert acl.evaluate(Request("192.0.2.10", path, {"User-Agent": "Mozilla/5.0"})) == (
            "allow",
            None,
        )
    # A reconnect with backoff every few seconds, for a minute.
    for request in upgrades("192.0.2.10", 20, spacing=3.0):
        assert acl.evaluate(request)[0] == "allow"


def test_an_upgrade_flood_from_one_ip_is_blocked_and_nothing_else(prod: Synthesized) -> None:
    acl = model(prod)
    flood = [acl.evaluate(r) for r in upgrades("192.0.2.66", 600)]
    assert all(action == "allow" for action, _ in flood[:300])
    assert flood[-1] == ("block", "UpgradeRatePerIp")
    assert sum(action == "block" for action, _ in flood) == 300
    # The same address still gets the page: the rule is scoped to upgrades.
    assert acl.evaluate(Request("192.0.2.66", "/", at=6.1))[0] == "allow"
    # Another address is counted on its own.
    assert acl.evaluate(upgrades("192.0.2.67", 1, start=6.2)[0])[0] == "allow"
    # A request to /ws without the upgrade header is not an upgrade (the relay refuses it).
    assert acl.evaluate(Request("192.0.2.66", "/ws", {}, at=6.3))[0] == "allow"
    # Once the window has passed without the flood, upgrades pass again.
    assert acl.evaluate(upgrades("192.0.2.66", 1, start=6.0 + 61)[0])[0] == "allow"


def test_the_header_match_ignores_case(prod: Synthesized) -> None:
    acl = model(prod)
    shouting = {"UPGRADE": "WebSocket"}
    results = [acl.evaluate(Request("192.0.2.70", "/ws", shouting, at=i / 100)) for i in range(400)]
    assert results[-1] == ("block", "UpgradeRatePerIp")


def test_staging_counts_the_gate_instead_of_blocking_it(staging: Synthesized) -> None:
    acl = model(staging)
    # The gate's 2,000 clients from one CodeBuild address, ramped up over 5 s.
    results = {acl.evaluate(r) for r in upgrades("192.0.2.90", 2000, spacing=0.0025)}
    assert results == {("allow", None)}
    assert len(acl.counted) == 2000 - 300
    assert {name for name, _ in acl.counted} == {"UpgradeRatePerIp"}


def test_a_load_generator_on_the_allow_list_is_never_limited(allow_listed: Synthesized) -> None:
    # The allow-list variant with prod's blocking action, as an operator sets it for a run.
    props = web_acl(allow_listed)
    props = {
        **props,
        "Rules": [
            {**r, "Action": {"Block": {}}} if r["Name"] == "UpgradeRatePerIp" else r
            for r in props["Rules"]
        ],
    }
    ip_sets = {
        i: r["Properties"]["Addresses"]
        for i, r in allow_listed.resources("service", "AWS::WAFv2::IPSet").items()
    }
    acl = WebAclModel(props, ip_sets)
    results = {acl.evaluate(r) for r in upgrades(LOAD_GENERATOR, 2000, spacing=0.0025)}
    assert results == {("allow", "AllowLoadGenerators")}
    # The rest of the /24 is listed too; an address outside it is still limited.
    assert acl.evaluate(upgrades("198.51.100.200", 1)[0]) == ("allow", "AllowLoadGenerators")
    outside = {acl.evaluate(r)[0] for r in upgrades("198.51.101.1", 400)}
    assert outside == {"allow", "block"}


def test_the_model_refuses_what_it_does_not_know() -> None:
    acl = WebAclModel(
        {
            "DefaultAction": {"Allow": {}},
            "Rules": [
                {
                    "Name": "Geo",
                    "Priority": 0,
                    "Action": {"Block": {}},
                    "Statement": {"GeoMatchStatement": {"CountryCodes": ["XX"]}},
                }
            ],
        },
        {},
    )
    with pytest.raises(NotImplementedError, match="GeoMatchStatement"):
        acl.evaluate(Request("192.0.2.1", "/"))
