"""The pinned CDK CLI (package.json) drives app.py: what `make synth|diff|deploy` run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.infra.conftest import PARTS, REPO_ROOT, Synthesized
from tests.infra.test_snapshots import normalized

CDK = REPO_ROOT / "node_modules" / ".bin" / "cdk"


def cdk(*args: str, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    if not CDK.exists():
        pytest.fail(f"the CDK CLI is not installed at {CDK}: run `make cdk-cli`")
    env = {
        **os.environ,
        # Node 24 from .venv/bin, as the Makefile sets it; offline, no telemetry.
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "CDK_DISABLE_CLI_TELEMETRY": "true",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    for name in ("CDK_DEFAULT_ACCOUNT", "CDK_DEFAULT_REGION", "AWS_REGION", "AWS_DEFAULT_REGION"):
        env.pop(name, None)
    return subprocess.run(
        [str(CDK), *args, "--no-notices"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_cli_is_the_pinned_version() -> None:
    pinned = json.loads((REPO_ROOT / "package.json").read_text())["devDependencies"]["aws-cdk"]
    done = cdk("--version")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(pinned)


def test_cli_synth_matches_the_tested_templates(dev: Synthesized, tmp_path: Path) -> None:
    done = cdk("synth", "-c", "stage=dev", "--output", str(tmp_path), "--quiet")
    assert done.returncode == 0, done.stderr
    for part in PARTS:
        template = json.loads((tmp_path / f"chat-relay-dev-{part}.template.json").read_text())
        assert normalized(template) == normalized(dev.templates[part]), part


def test_cli_synth_fails_with_the_fix_for_a_missing_certificate(tmp_path: Path) -> None:
    done = cdk("synth", "-c", "stage=prod", "--output", str(tmp_path), "--quiet")
    assert done.returncode != 0
    assert "certificateArn is missing: stage 'prod' serves HTTPS only" in done.stderr
    assert "-c certificateArn=arn:aws:acm:" in done.stderr
