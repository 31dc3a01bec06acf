"""The edge firewall: an AWS WAF web ACL on the ALB, with its logs.

Rules, in priority order (reasons and the managed groups left out: docs/infrastructure.md):

0. `AllowLoadGenerators`: requests from the IP set of `waf.allow_cidrs` are allowed and
   skip every later rule, so a load test from a few source IPs can open thousands of
   sockets (only when the list is not empty).
1. `UpgradeRatePerIp`: a rate-based rule per client IP, scoped down to WebSocket upgrades
   (`GET /ws` with `Upgrade: websocket`): a flood of upgrades from one address is blocked
   (or, with `waf.upgrade_rate_action = "count"`, counted) while its pages, scripts and
   avatars still load.
2. AWS managed rule groups that fit a WebSocket upgrade and a static page: Amazon IP
   reputation, known bad inputs, core rule set.

The web ACL inspects HTTP requests only: after the upgrade, WebSocket frames pass through
the ALB uninspected, so no body rule ever sees a chat message.
"""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from stacks.config import StageIdentity, WafSettings
from stacks.log_groups import encrypted_log_group, logs_key

# The relay's only WebSocket route (service/app.py).
UPGRADE_PATH = "/ws"
# AWS WAF delivers logs only to destinations whose names start with this.
LOG_GROUP_PREFIX = "aws-waf-logs-"
# (name, WCU) of the AWS managed rule groups in the web ACL, in priority order. Together
# with the rate rule they stay under the 1,500 WCU a web ACL gets at its base price.
MANAGED_RULE_GROUPS = (
    ("AWSManagedRulesAmazonIpReputationList", 25),
    ("AWSManagedRulesKnownBadInputsRuleSet", 200),
    ("AWSManagedRulesCommonRuleSet", 700),
)


class EdgeFirewall(Construct):
    """The stage's web ACL, associated with `load_balancer`, logging to CloudWatch Logs."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stage: StageIdentity,
        settings: WafSettings,
        load_balancer: elbv2.IApplicationLoadBalancer,
    ) -> None:
        super().__init__(scope, construct_id)
        self.prefix = stage.prefix

        rules: list[wafv2.CfnWebACL.RuleProperty] = []
        if settings.allow_cidrs:
            self.allow_list = wafv2.CfnIPSet(
                self,
                "LoadGenerators",
                name=f"{stage.prefix}-load-generators",
                description=f"{stage.prefix}: load generators, the WAF allow list",
                scope="REGIONAL",
                ip_address_version="IPV4",
                addresses=list(settings.allow_cidrs),
            )
            rules.append(
                self._rule(
                    "AllowLoadGenerators",
                    len(rules),
                    wafv2.CfnWebACL.StatementProperty(
                        ip_set_reference_statement=wafv2.CfnWebACL.IPSetReferenceStatementProperty(
                            arn=self.allow_list.attr_arn
                        )
                    ),
                    action=wafv2.CfnWebACL.RuleActionProperty(allow={}),
                )
            )
        rules.append(
            self._rule(
                "UpgradeRatePerIp",
                len(rules),
                wafv2.CfnWebACL.StatementProperty(
                    rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                        aggregate_key_type="IP",
                        limit=settings.upgrade_rate_limit,
                        evaluation_window_sec=settings.evaluation_window_seconds,
                        scope_down_statement=upgrade_statement(),
                    )
                ),
                action=wafv2.CfnWebACL.RuleActionProperty(block={})
                if settings.upgrade_rate_action == "block"
                else wafv2.CfnWebACL.RuleActionProperty(count={}),
            )
        )
        for name, _wcu in MANAGED_RULE_GROUPS:
            rules.append(
                self._rule(
                    name,
                    len(rules),
                    wafv2.CfnWebACL.StatementProperty(
                        managed_rule_group_statement=wafv2.CfnWebACL.ManagedRuleGroupStatementProperty(
                            vendor_name="AWS", name=name
                        )
                    ),
                    # A rule group's own actions apply; `none` means no override.
                    override_action=wafv2.CfnWebACL.OverrideActionProperty(none={}),
                )
            )
        self.web_acl = wafv2.CfnWebACL(
            self,
            "WebAcl",
            name=f"{stage.prefix}-edge",
            description=f"{stage.prefix}: upgrade rate per IP and AWS managed rules on the ALB",
            scope="REGIONAL",
            default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            visibility_config=self._visibility("edge"),
            rules=rules,
        )
        wafv2.CfnWebACLAssociation(
            self,
            "Association",
            resource_arn=load_balancer.load_balancer_arn,
            web_acl_arn=self.web_acl.attr_arn,
        )

        self.log_group = encrypted_log_group(
            self,
            "LogGroup",
            stage,
            log_group_name=f"{LOG_GROUP_PREFIX}{stage.prefix}",
            retention_days=settings.log_retention_days,
            key=logs_key(self, "LogKey", stage, "AWS WAF logs"),
        )
        stack = Stack.of(self)
        wafv2.CfnLoggingConfiguration(
            self,
            "Logging",
            resource_arn=self.web_acl.attr_arn,
            # WAF wants the log group's ARN without the `:*` that LogGroup.log_group_arn ends in.
            log_destination_configs=[
                f"arn:{stack.partition}:logs:{stack.region}:{stack.account}:log-group:"
                f"{self.log_group.log_group_name}"
            ],
        )

    def _rule(
        self,
        name: str,
        priority: int,
        statement: wafv2.CfnWebACL.StatementProperty,
        *,
        action: wafv2.CfnWebACL.RuleActionProperty | None = None,
        override_action: wafv2.CfnWebACL.OverrideActionProperty | None = None,
    ) -> wafv2.CfnWebACL.RuleProperty:
        return wafv2.CfnWebACL.RuleProperty(
            name=name,
            priority=priority,
            statement=statement,
            action=action,
            override_action=override_action,
            visibility_config=self._visibility(name),
        )

    def _visibility(self, name: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
        return wafv2.CfnWebACL.VisibilityConfigProperty(
            cloud_watch_metrics_enabled=True,
            metric_name=f"{self.prefix}-{name}",
            sampled_requests_enabled=True,
        )


def upgrade_statement() -> wafv2.CfnWebACL.StatementProperty:
    """Matches a WebSocket upgrade: path exactly /ws and an `Upgrade: websocket` header."""
    return wafv2.CfnWebACL.StatementProperty(
        and_statement=wafv2.CfnWebACL.AndStatementProperty(
            statements=[
                _byte_match(
                    wafv2.CfnWebACL.FieldToMatchProperty(uri_path={}), UPGRADE_PATH, "EXACTLY"
                ),
                _byte_match(
                    # single_header is untyped JSON in the L1 API: CloudFormation's own casing.
                    wafv2.CfnWebACL.FieldToMatchProperty(single_header={"Name": "upgrade"}),
                    "websocket",
                    "EXACTLY",
                    transformation="LOWERCASE",
                ),
            ]
        )
    )


def _byte_match(
    field: wafv2.CfnWebACL.FieldToMatchProperty,
    value: str,
    constraint: str,
    *,
    transformation: str = "NONE",
) -> wafv2.CfnWebACL.StatementProperty:
    return wafv2.CfnWebACL.StatementProperty(
        byte_match_statement=wafv2.CfnWebACL.ByteMatchStatementProperty(
            field_to_match=field,
            positional_constraint=constraint,
            search_string=value,
            text_transformations=[
                wafv2.CfnWebACL.TextTransformationProperty(priority=0, type=transformation)
            ],
        )
    )
