"""Cross-stack references that cannot deadlock a deploy.

CloudFormation refuses to update a stack that would change or delete an export another
stack still imports ("Export ... cannot be updated as it is in use by ..."); the importer
cannot move first either, so the deploy is stuck until someone edits stacks by hand.
This models that rule over two synthesized versions of a stage, old (deployed) and new:
every export the old version imports across stacks must exist in the new version with
the same value, and every resource that value points at must be unchanged (a replaced
resource keeps its `Ref` in the template but changes its physical id, the exported
value). The two changes that used to deadlock: dev from HTTP to HTTPS (the listener the
monitoring stack imported was renamed) and a replaced target group.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.stacks.conftest import Synthesized, synthesize

Templates = dict[str, dict[str, Any]]

CERTIFICATE = "arn:aws:acm:us-east-1:123456789012:certificate/12345678-1234-1234-1234-123456789012"


def exports(templates: Templates) -> dict[str, tuple[str, Any]]:
    """export name -> (exporting part, value expression)."""
    found = {}
    for part, template in templates.items():
        for output in template.get("Outputs", {}).values():
            if "Export" in output:
                found[output["Export"]["Name"]] = (part, output["Value"])
    return found


def imports(templates: Templates) -> dict[str, set[str]]:
    """export name -> parts that import it (Fn::ImportValue)."""
    found: dict[str, set[str]] = {}

    def walk(node: Any, part: str) -> None:
        if isinstance(node, dict):
            if "Fn::ImportValue" in node:
                found.setdefault(node["Fn::ImportValue"], set()).add(part)
            for value in node.values():
                walk(value, part)
        elif isinstance(node, list):
            for value in node:
                walk(value, part)

    for part, template in templates.items():
        walk(template, part)
    return found


def referenced(value: Any) -> set[str]:
    """Logical ids an output value reads (Ref, Fn::GetAtt), pseudo parameters aside."""
    if isinstance(value, dict):
        if "Ref" in value:
            return set() if value["Ref"].startswith("AWS::") else {value["Ref"]}
        if "Fn::GetAtt" in value:
            return {value["Fn::GetAtt"][0]}
        return set().union(*(referenced(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(referenced(v) for v in value)) if value else set()
    return set()


def deadlocks(old: Templates, new: Templates) -> list[str]:
    """Why CloudFormation would refuse to deploy `new` over `old`, one line per export."""
    problems = []
    new_exports = exports(new)
    for name, importers in imports(old).items():
        part, value = exports(old)[name]
        if name not in new_exports:
            problems.append(f"{part} removes {name}, still imported by {sorted(importers)}")
            continue
        if new_exports[name][1] != value:
            problems.append(f"{part} changes the value of {name}, imported by {sorted(importers)}")
        for logical_id in referenced(value):
            before = old[part]["Resources"][logical_id]
            after = new[part]["Resources"].get(logical_id)
            if after is None or after.get("Properties") != before.get("Properties"):
                problems.append(
                    f"{part} changes {logical_id} ({before['Type']}), whose id {name} exports "
                    f"to {sorted(importers)}"
                )
    return problems


@pytest.fixture(scope="module")
def dev_https(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synthesize(
        "dev", tmp_path_factory.mktemp("cdk-dev-https"), {"certificateArn": CERTIFICATE}
    ).stage


@pytest.fixture(scope="module")
def dev_new_target_group(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """dev with the relay on another port: the target group is replaced (Port is an
    immutable property of AWS::ElasticLoadBalancingV2::TargetGroup)."""
    directory = tmp_path_factory.mktemp("cdk-dev-port")
    settings = Path(directory) / "stages.toml"
    settings.write_text("[stages.dev.relay]\nport = 8001\n")
    return synthesize("dev", directory / "out", {"settingsFile": str(settings)}).stage


def test_the_model_sees_a_removed_or_replaced_export() -> None:
    """The check itself: a removed export and a changed resource behind one are found."""
    producer = {
        "Resources": {"Tg": {"Type": "AWS::ElasticLoadBalancingV2::TargetGroup", "Properties": {}}},
        "Outputs": {"O": {"Value": {"Ref": "Tg"}, "Export": {"Name": "x:Tg"}}},
    }
    consumer = {"Resources": {"A": {"Properties": {"D": {"Fn::ImportValue": "x:Tg"}}}}}
    old = {"service": producer, "monitoring": consumer}
    replaced = json.loads(json.dumps(producer))
    replaced["Resources"]["Tg"]["Properties"] = {"Port": 8001}
    assert deadlocks(old, {"service": replaced, "monitoring": consumer}) == [
        "service changes Tg (AWS::ElasticLoadBalancingV2::TargetGroup), whose id x:Tg "
        "exports to ['monitoring']"
    ]
    removed = {"Resources": producer["Resources"]}
    assert deadlocks(old, {"service": removed, "monitoring": consumer}) == [
        "service removes x:Tg, still imported by ['monitoring']"
    ]


def test_the_variants_change_what_they_should(
    dev: Synthesized, dev_https: Synthesized, dev_new_target_group: Synthesized
) -> None:
    listeners = dev_https.resources("service", "AWS::ElasticLoadBalancingV2::Listener")
    assert any("Https" in logical_id for logical_id in listeners)
    assert not any(
        "Https" in logical_id
        for logical_id in dev.resources("service", "AWS::ElasticLoadBalancingV2::Listener")
    )
    (old_group,) = dev.resources("service", "AWS::ElasticLoadBalancingV2::TargetGroup").values()
    (new_group,) = dev_new_target_group.resources(
        "service", "AWS::ElasticLoadBalancingV2::TargetGroup"
    ).values()
    assert (old_group["Properties"]["Port"], new_group["Properties"]["Port"]) == (8000, 8001)


@pytest.mark.parametrize("direction", ["forward", "back"])
def test_http_to_https_and_back_removes_no_imported_export(
    dev: Synthesized, dev_https: Synthesized, direction: str
) -> None:
    old, new = (dev, dev_https) if direction == "forward" else (dev_https, dev)
    assert deadlocks(old.templates, new.templates) == []


def test_replacing_the_target_group_removes_no_imported_export(
    dev: Synthesized, dev_new_target_group: Synthesized
) -> None:
    assert deadlocks(dev.templates, dev_new_target_group.templates) == []


def test_nothing_imports_from_the_service_stack(stage: Synthesized) -> None:
    """The load balancer, listener, target group and service are read only inside their
    own stack (the dashboard and alarms live there), so none of them is ever exported."""
    service_exports = {
        name for name, (part, _) in exports(stage.templates).items() if part == "service"
    }
    assert service_exports.isdisjoint(imports(stage.templates))


def test_every_import_is_exported_by_a_stack_it_depends_on(stage: Synthesized) -> None:
    """Imports match exports across the stage's templates, and each importer depends on
    its exporter in the cloud assembly: `cdk deploy` creates the exporter first and
    `make destroy` (cdk destroy, reverse dependency order) deletes the importer first, so
    no delete meets "export ... in use"."""
    exported = exports(stage.templates)
    imported = imports(stage.templates)
    assert imported, "the cache, service and loadgen stacks import from the network stack"
    assert set(imported) <= set(exported), set(imported) - set(exported)
    manifest = json.loads((stage.template_path("network").parent / "manifest.json").read_text())
    prefix = f"chat-relay-{stage.stage}-"
    artifact = {}
    depends: dict[str, set[str]] = {}
    for artifact_id, entry in manifest["artifacts"].items():
        if entry["type"] == "aws:cloudformation:stack":
            part = entry["properties"]["stackName"].removeprefix(prefix)
            artifact[part] = artifact_id
            depends[part] = set(entry.get("dependencies", []))
    for name, importers in imported.items():
        exporter, _ = exported[name]
        for importer in importers:
            assert importer != exporter, name
            assert artifact[exporter] in depends[importer], (importer, exporter)
