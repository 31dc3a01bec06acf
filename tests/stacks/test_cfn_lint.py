"""cfn-lint over every synthesized template: zero errors, only the listed warnings ignored."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

from tests.stacks.conftest import REPO_ROOT, Synthesized

CONFIG = REPO_ROOT / ".cfnlintrc.yaml"


def test_config_gives_a_reason_for_every_ignored_check() -> None:
    text = CONFIG.read_text()
    ignored = yaml.safe_load(text)["ignore_checks"]
    assert ignored == ["W3010"]
    lines = text.splitlines()
    for check in ignored:
        index = lines.index(f"  - {check}")
        assert lines[index - 1].strip().startswith("#"), f"{check} needs a reason above it"


def test_templates_pass_cfn_lint(linted: dict[str, Synthesized]) -> None:
    templates = [str(a.template_path(part)) for a in linted.values() for part in a.parts]
    done = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), "--format", "json", *templates],
        cwd=REPO_ROOT,  # picks up .cfnlintrc.yaml
        capture_output=True,
        text=True,
        timeout=300,
    )
    findings = json.loads(done.stdout or "[]")
    described = [f"{f['Rule']['Id']} {f['Filename']}: {f['Message']}" for f in findings]
    assert findings == [], "\n".join(described)
    assert done.returncode == 0, done.stderr
