"""The pinned CDK CLI (package.json) drives app.py: what `make synth|diff|deploy` run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.stacks.conftest import PARTS, REPO_ROOT, Synthesized, stack_templates
from tests.stacks.test_snapshots import normalized

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
    templates = stack_templates(tmp_path / "assembly-chat-relay-dev", "chat-relay-dev")
    for part in PARTS:
        template = json.loads(templates[part].read_text())
        assert normalized(template) == normalized(dev.templates[part]), part


@pytest.mark.parametrize("stage", ["staging", "prod"])
def test_cli_synth_needs_no_context_beyond_the_stage(stage: str, tmp_path: Path) -> None:
    """`make synth STAGE=staging|prod` on a clean clone: the shipped stages.toml suffices,
    and the pipeline stack is written beside the stage."""
    done = cdk("synth", "-c", f"stage={stage}", "--output", str(tmp_path), "--quiet")
    assert done.returncode == 0, done.stderr
    assert set(stack_templates(tmp_path / f"assembly-chat-relay-{stage}", f"chat-relay-{stage}"))
    assert (tmp_path / "chat-relay-pipeline.template.json").exists()


def test_cli_synth_fails_naming_the_file_the_key_and_the_fix(tmp_path: Path) -> None:
    settings = tmp_path / "mine.toml"
    settings.write_text('[stages.prod]\ncertificate_arn = "arn:aws:acm:nowhere"\n')
    done = cdk(
        "synth",
        "-c",
        "stage=prod",
        "-c",
        f"settingsFile={settings}",
        "--output",
        str(tmp_path / "out"),
        "--quiet",
    )
    assert done.returncode != 0
    assert "Invalid settings for stage 'prod' (from mine.toml and -c context)" in done.stderr
    assert "certificate_arn 'arn:aws:acm:nowhere' is not an ACM certificate ARN" in done.stderr
    assert "Traceback" not in done.stderr


def test_make_deploy_selects_exactly_the_stage_stacks() -> None:
    """`make diff|deploy|destroy STAGE=staging` pass `chat-relay-staging/*`: the three
    hand-deployed stacks, never the pipeline or the pipeline's own copy of staging."""
    done = cdk("ls", "-c", "stage=staging", "chat-relay-staging/*")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        f"chat-relay-staging/{part} (chat-relay-staging-{part})" for part in PARTS
    ]
