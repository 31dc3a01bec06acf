"""A local stand-in for AWS WAF's evaluation of our web ACL, read from the template.

It models what the stacks rely on, from AWS's documentation (docs/infrastructure.md cites
the pages): rules run in priority order and the first terminating action wins; an IP set
match with Allow ends evaluation; a rate-based rule with a scope-down statement counts only
matching requests per source IP over its trailing evaluation window and, while the count
is above its limit, blocks those matching requests only. Byte matches support the
positional constraints and text transformations our rules use; Count records a match
and evaluation continues.

Managed rule groups are opaque (AWS publishes what they inspect, not their logic), so the
model lets them allow; what they do to an upgrade is argued from AWS's rule tables in
the docs instead. AWS applies a rate limit approximately, not to the request; the model is
exact, so tests assert on clear margins, never at the boundary.
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Request:
    source_ip: str
    path: str
    headers: Mapping[str, str] = field(default_factory=dict)
    method: str = "GET"
    # Seconds since any fixed origin; only differences matter.
    at: float = 0.0


class WebAclModel:
    """Evaluates requests against one `AWS::WAFv2::WebACL` resource's properties."""

    def __init__(self, web_acl: Mapping[str, Any], ip_sets: Mapping[str, list[str]]) -> None:
        """`ip_sets`: logical id of each `AWS::WAFv2::IPSet` -> its addresses."""
        self.rules = sorted(web_acl["Rules"], key=lambda rule: rule["Priority"])
        self.default = next(iter(web_acl["DefaultAction"])).lower()
        self.ip_sets = {
            logical_id: [ipaddress.ip_network(a) for a in addresses]
            for logical_id, addresses in ip_sets.items()
        }
        self._seen: dict[tuple[str, str], deque[float]] = defaultdict(deque)
        # (rule name, request) of every match of a rule whose action is Count.
        self.counted: list[tuple[str, Request]] = []

    def evaluate(self, request: Request) -> tuple[str, str | None]:
        """(action, terminating rule name or None for the default action)."""
        for rule in self.rules:
            action = self._apply(rule, request)
            if action is not None:
                return action, rule["Name"]
        return self.default, None

    def _apply(self, rule: Mapping[str, Any], request: Request) -> str | None:
        statement = rule["Statement"]
        if "ManagedRuleGroupStatement" in statement:
            return None  # opaque: see the module docstring
        action = next(iter(rule["Action"])).lower()
        if "RateBasedStatement" in statement:
            matched = self._over_rate(rule["Name"], statement, request)
        else:
            matched = self._matches(statement, request)
        if matched and action == "count":
            # Count is not terminating: the request is counted and evaluation goes on.
            self.counted.append((rule["Name"], request))
            return None
        return action if matched else None

    def _over_rate(self, name: str, statement: Mapping[str, Any], request: Request) -> bool:
        rate = statement["RateBasedStatement"]
        assert rate["AggregateKeyType"] == "IP", "the model aggregates by source IP only"
        scope = rate.get("ScopeDownStatement")
        if scope is not None and not self._matches(scope, request):
            return False
        seen = self._seen[(name, request.source_ip)]
        while seen and seen[0] <= request.at - rate["EvaluationWindowSec"]:
            seen.popleft()
        seen.append(request.at)
        return len(seen) > rate["Limit"]

    def _matches(self, statement: Mapping[str, Any], request: Request) -> bool:
        (kind, body), *_ = statement.items()
        if kind == "AndStatement":
            return all(self._matches(s, request) for s in body["Statements"])
        if kind == "IPSetReferenceStatement":
            logical_id = body["Arn"]["Fn::GetAtt"][0]
            address = ipaddress.ip_address(request.source_ip)
            return any(address in network for network in self.ip_sets[logical_id])
        if kind == "ByteMatchStatement":
            return _byte_match(body, request)
        raise NotImplementedError(f"the model does not evaluate {kind}")


def _byte_match(body: Mapping[str, Any], request: Request) -> bool:
    field_to_match = body["FieldToMatch"]
    if "UriPath" in field_to_match:
        value: str | None = request.path
    elif "SingleHeader" in field_to_match:
        wanted = field_to_match["SingleHeader"]["Name"].lower()
        value = next((v for k, v in request.headers.items() if k.lower() == wanted), None)
    else:
        raise NotImplementedError(f"the model does not read {field_to_match}")
    if value is None:
        return False
    for transformation in body["TextTransformations"]:
        if transformation["Type"] == "LOWERCASE":
            value = value.lower()
        elif transformation["Type"] != "NONE":
            raise NotImplementedError(transformation["Type"])
    search = body["SearchString"]
    constraint = body["PositionalConstraint"]
    if constraint == "EXACTLY":
        return value == search
    if constraint == "STARTS_WITH":
        return value.startswith(search)
    if constraint == "CONTAINS":
        return search in value
    raise NotImplementedError(constraint)
