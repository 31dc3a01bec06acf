"""cdk-nag, AWS Solutions pack: no unacknowledged finding, every acknowledgement reviewed."""

from __future__ import annotations

from tests.infra.conftest import Synthesized

# (construct path below the stage prefix, rule): the reviewed acknowledgements. A new one
# must be added here, which puts it in front of a reviewer.
REVIEWED = {
    ("network/AlbFromInternet80", "AwsSolutions-EC23"),
    ("network/AlbFromInternet443", "AwsSolutions-EC23"),
    ("cache/AuthToken", "AwsSolutions-SMG4"),
    ("service/AccessLogs", "AwsSolutions-S1"),
    ("service/TaskDefinition", "AwsSolutions-ECS2"),
    # Each role's one wildcard, acknowledged on that role alone.
    ("service/TaskDefinition/ExecutionRole", "AwsSolutions-IAM5[Resource::*]"),
    ("service/TaskDefinition/TaskRole", "AwsSolutions-IAM5[Resource::*]"),
    ("loadgen/ResultsBucket", "AwsSolutions-S1"),
    ("loadgen/TaskDefinition/ExecutionRole", "AwsSolutions-IAM5[Resource::*]"),
    (
        "loadgen/TaskDefinition",
        "AwsSolutions-IAM5[Resource::<ResultsBucketA95A2103.Arn>/results/*]",
    ),
}


def test_no_unacknowledged_finding(stage: Synthesized) -> None:
    assert stage.nag_findings == [], "new cdk-nag findings:\n" + "\n".join(stage.nag_findings)


def test_acknowledgements_are_the_reviewed_ones(stage: Synthesized) -> None:
    prefix = f"/chat-relay-{stage.stage}/"
    found = {
        (path.removeprefix(prefix), rule.removeprefix("AwsSolutions::"))
        for path, rule, _ in stage.acknowledgements()
        if rule.startswith("AwsSolutions::")
    }
    expected = set(REVIEWED)
    if stage.stage == "dev":  # no HTTPS listener, so no port 443 rule
        expected.discard(("network/AlbFromInternet443", "AwsSolutions-EC23"))
    assert found == expected


def test_every_acknowledgement_names_rule_resource_and_reason(stage: Synthesized) -> None:
    acknowledgements = stage.acknowledgements()
    assert acknowledgements
    for path, rule, reason in acknowledgements:
        if not rule.startswith("AwsSolutions::"):
            continue  # CDK's own built-in acknowledgements (e.g. its cfn validation)
        assert path.startswith(f"/chat-relay-{stage.stage}/"), path
        assert rule.startswith("AwsSolutions::AwsSolutions-"), rule
        assert len(reason) >= 60, f"{rule} on {path}: reason too thin: {reason!r}"
