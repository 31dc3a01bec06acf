"""What a deploy of `after` over `before` does to each resource, by CloudFormation's rules.

A changed property listed in the resource type's `createOnlyProperties` (the CloudFormation
resource schemas that cfn-lint ships) replaces the resource; so does a new logical id. A
few replacements are documented outside the schemas (`DOCUMENTED_REPLACEMENTS`). A
resource is stateful when it holds data or an identity others use (`STATEFUL_TYPES`, a
log group with a fixed name) or when its stack exports it; such a resource must never be
replaced by a settings change, and no export another stack imports may disappear.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from cfnlint.schema.manager import PROVIDER_SCHEMA_MANAGER

Template = Mapping[str, Any]

STATEFUL_TYPES = frozenset(
    {
        "AWS::ElastiCache::ReplicationGroup",
        "AWS::ElastiCache::SubnetGroup",
        "AWS::EC2::VPC",
        "AWS::EC2::Subnet",
        "AWS::KMS::Key",
        "AWS::SecretsManager::Secret",
        "AWS::ElasticLoadBalancingV2::LoadBalancer",
        "AWS::S3::Bucket",
        "AWS::Cognito::UserPool",
    }
)

# (type, property) -> why it replaces, where the schema does not say so.
DOCUMENTED_REPLACEMENTS: Mapping[tuple[str, str], str] = {
    # Without UpdatePolicy UseOnlineResharding (checked below), CloudFormation replaces the
    # group on a NumNodeGroups change (AWS CloudFormation, UpdatePolicy attribute).
    ("AWS::ElastiCache::ReplicationGroup", "NumNodeGroups"): "resharding",
    # Issue 26 (the ReplicationGroup reference lists it as "Replacement"); the schema's
    # description says online scaling when used without NodeGroupConfiguration. The
    # stricter reading is kept: the cost of a wrong "in place" is a failed prod deploy.
    ("AWS::ElastiCache::ReplicationGroup", "ReplicasPerNodeGroup"): "replica count",
    # The schema's ClusterMode description: disabled -> compatible -> enabled, clients
    # migrated in between; one update cannot do it.
    ("AWS::ElastiCache::ReplicationGroup", "ClusterMode"): "cluster mode",
}


@cache
def create_only(resource_type: str) -> frozenset[str]:
    """Top-level properties CloudFormation sets only on create."""
    try:
        schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema("us-east-1", resource_type)
    except Exception:
        return frozenset()
    paths = schema.schema.get("createOnlyProperties", [])
    return frozenset(p.split("/")[2] for p in paths if p.startswith("/properties/"))


@dataclass
class StackDiff:
    """One stack's changes: logical id -> what happens to it."""

    replaced: dict[str, str] = field(default_factory=dict)  # id -> type
    updated: dict[str, str] = field(default_factory=dict)
    added: dict[str, str] = field(default_factory=dict)
    removed: dict[str, str] = field(default_factory=dict)
    removed_exports: list[str] = field(default_factory=list)
    # Stateful resources replaced, with the property that forced it.
    violations: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.replaced or self.updated or self.added or self.removed)


def exported_ids(template: Template) -> set[str]:
    """Logical ids whose Ref or attribute the stack exports."""
    found: set[str] = set()
    for output in template.get("Outputs", {}).values():
        if "Export" in output:
            text = json.dumps(output["Value"])
            found |= {lid for lid in template["Resources"] if f'"{lid}"' in text}
    return found


def exports(template: Template) -> set[str]:
    return {
        json.dumps(o["Export"]["Name"])
        for o in template.get("Outputs", {}).values()
        if "Export" in o
    }


def is_stateful(template: Template, logical_id: str) -> bool:
    resource = template["Resources"][logical_id]
    named_log_group = resource["Type"] == "AWS::Logs::LogGroup" and "LogGroupName" in resource.get(
        "Properties", {}
    )
    return (
        resource["Type"] in STATEFUL_TYPES
        or named_log_group
        or logical_id in exported_ids(template)
    )


def replacing_properties(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    kind = after["Type"]
    old, new = before.get("Properties", {}), after.get("Properties", {})
    changed = {k for k in set(old) | set(new) if old.get(k) != new.get(k)}
    online = after.get("UpdatePolicy", {}).get("UseOnlineResharding") is True
    return sorted(
        p
        for p in changed
        if p in create_only(kind)
        or ((kind, p) in DOCUMENTED_REPLACEMENTS and not (p == "NumNodeGroups" and online))
    )


def diff_stack(before: Template, after: Template) -> StackDiff:
    diff = StackDiff()
    old, new = before["Resources"], after["Resources"]
    for lid in old.keys() - new.keys():
        diff.removed[lid] = old[lid]["Type"]
    for lid in new.keys() - old.keys():
        diff.added[lid] = new[lid]["Type"]
    for lid in old.keys() & new.keys():
        if old[lid] == new[lid]:
            continue
        forced = replacing_properties(old[lid], new[lid])
        if forced:
            diff.replaced[lid] = new[lid]["Type"]
            if is_stateful(before, lid):
                diff.violations.append(f"{lid} ({new[lid]['Type']}) replaced: {', '.join(forced)}")
        else:
            diff.updated[lid] = new[lid]["Type"]
    # A stateful resource under a new logical id: the old one is deleted, a new one made.
    added_types = set(diff.added.values())
    for lid, kind in diff.removed.items():
        if kind in added_types and is_stateful(before, lid):
            diff.violations.append(f"{lid} ({kind}) replaced: new logical id")
    diff.removed_exports = sorted(exports(before) - exports(after))
    return diff


def imported(templates: Mapping[str, Template]) -> set[str]:
    """Every export name (as JSON) some template of the stage imports."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "Fn::ImportValue" in node:
                found.add(json.dumps(node["Fn::ImportValue"]))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for template in templates.values():
        walk(template)
    return found
