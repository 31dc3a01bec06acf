"""checkov over every synthesized template: each failed check fixed or skipped with a reason.

checkov runs from its own venv (.venv/checkov, `make checkov`): its pinned dependencies
conflict with the CDK toolchain's.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.stacks.conftest import REPO_ROOT, Synthesized

CHECKOV = Path(sys.executable).parent.parent / "checkov" / "bin" / "checkov"

# (stage, resource, check): the reviewed skips; each carries its reason in the template.
REVIEWED_SKIPS = {
    ("dev", "AWS::S3::Bucket.AccessLogs", "CKV_AWS_18"),
    ("dev", "AWS::ElasticLoadBalancingV2::Listener.LoadBalancerHttp", "CKV_AWS_2"),
    ("dev", "AWS::ElasticLoadBalancingV2::Listener.LoadBalancerHttp", "CKV_AWS_103"),
    ("dev", "AWS::EC2::SecurityGroupIngress.AlbFromInternet80", "CKV_AWS_260"),
    ("dev", "AWS::S3::Bucket.ResultsBucket", "CKV_AWS_18"),
}
# The attachments' scan-result queues: SSE-SQS, which CKV_AWS_27 does not recognise.
for _stage in ("dev", "staging", "prod", "prod-cluster", "staging-cognito", "staging-oidc"):
    REVIEWED_SKIPS |= {
        (_stage, "AWS::SQS::Queue.AttachmentsScanResults", "CKV_AWS_27"),
        (_stage, "AWS::SQS::Queue.AttachmentsScanResultsDeadLetters", "CKV_AWS_27"),
    }
REVIEWED_SKIPS |= {
    ("staging-api", "AWS::SQS::Queue.AttachmentsScanResults", "CKV_AWS_27"),
    ("staging-api", "AWS::SQS::Queue.AttachmentsScanResultsDeadLetters", "CKV_AWS_27"),
}
# The pipeline's artifact bucket and the asset role CDK Pipelines generates (reasons in
# stacks/pipeline/stack.py).
REVIEWED_SKIPS |= {
    ("pipeline", "AWS::S3::Bucket.PipelineArtifactsBucket", "CKV_AWS_18"),
    ("pipeline", "AWS::S3::Bucket.PipelineArtifactsBucket", "CKV_AWS_21"),
    ("pipeline", "AWS::IAM::Policy.PipelineAssetsDockerRoleDefaultPolicy", "CKV_AWS_111"),
}
for _stage in ("staging", "prod", "prod-cluster", "staging-cognito", "staging-oidc", "staging-api"):
    REVIEWED_SKIPS |= {
        (_stage, "AWS::S3::Bucket.AccessLogs", "CKV_AWS_18"),
        (_stage, "AWS::EC2::SecurityGroupIngress.AlbFromInternet80", "CKV_AWS_260"),
        (_stage, "AWS::S3::Bucket.ResultsBucket", "CKV_AWS_18"),
    }


@pytest.fixture(scope="module")
def checkov_results(linted: dict[str, Synthesized]) -> dict[str, dict[str, list]]:
    """checkov's passed/failed/skipped checks per assembly, from one run over all templates."""
    if not CHECKOV.exists():
        pytest.fail(f"checkov is not installed at {CHECKOV}: run `make checkov`")
    assembly_of = {
        str(assembly.template_path(part).resolve()): name
        for name, assembly in linted.items()
        for part in assembly.parts
    }
    files = [arg for path in assembly_of for arg in ("-f", path)]
    done = subprocess.run(
        [str(CHECKOV), "--config-file", str(REPO_ROOT / ".checkov.yaml"), "-o", "json", *files],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    report = json.loads(done.stdout)
    results = (report[0] if isinstance(report, list) else report)["results"]
    by_stage: dict[str, dict[str, list]] = {
        stage: {kind: [] for kind in ("passed_checks", "failed_checks", "skipped_checks")}
        for stage in linted
    }
    for kind, checks in results.items():
        for check in checks if kind in by_stage["dev"] else []:
            by_stage[assembly_of[str(Path(check["file_abs_path"]).resolve())]][kind].append(check)
    return by_stage


def strip_hash(resource: str) -> str:
    """`AWS::S3::Bucket.AccessLogs8B620ECA` -> `AWS::S3::Bucket.AccessLogs` (CDK's suffix)."""
    return re.sub(r"[0-9A-F]{8}$", "", resource)


def test_no_failed_check(checkov_results: dict[str, dict[str, list]]) -> None:
    failed = [
        f"{stage}: {c['check_id']} {c['resource']} ({c['check_name']})"
        for stage, results in checkov_results.items()
        for c in results["failed_checks"]
    ]
    assert failed == [], "\n".join(failed)


def test_checks_ran(checkov_results: dict[str, dict[str, list]]) -> None:
    for results in checkov_results.values():
        assert len(results["passed_checks"]) > 80


def test_skips_are_the_reviewed_ones_each_with_a_reason(
    checkov_results: dict[str, dict[str, list]],
) -> None:
    skipped = set()
    for stage, results in checkov_results.items():
        for check in results["skipped_checks"]:
            assert len(check["check_result"]["suppress_comment"]) >= 40, check["check_id"]
            skipped.add((stage, strip_hash(check["resource"]), check["check_id"]))
    assert skipped == REVIEWED_SKIPS
