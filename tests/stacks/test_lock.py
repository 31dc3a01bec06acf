"""The image's Python dependencies: requirements.lock, with hashes, is what the Dockerfile
installs, and it agrees with requirements.txt.

The install itself runs here without Docker: the Dockerfile's own `pip install` line, in
a fresh venv, against the lock; pip refuses any file whose hash the lock does not list.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

from tests.stacks.conftest import REPO_ROOT
from tests.stacks.test_dockerfile import arguments

LOCK = REPO_ROOT / "requirements.lock"
PIN = re.compile(r"^([A-Za-z0-9_.-]+)==([^\s;\\]+)", re.MULTILINE)


def pins(text: str) -> dict[str, str]:
    return {name.lower().replace("_", "-"): version for name, version in PIN.findall(text)}


def pip_install_line() -> list[str]:
    (line,) = [run for run in arguments("RUN") if run.startswith("pip install")]
    return shlex.split(line)


def test_base_image_is_pinned_by_digest() -> None:
    (base,) = arguments("FROM")
    assert re.fullmatch(
        r"public\.ecr\.aws/docker/library/python:3\.11\.\d+-slim-bookworm@sha256:[0-9a-f]{64}", base
    ), base


def test_dockerfile_installs_the_lock_with_hashes_and_nothing_else() -> None:
    command = pip_install_line()
    assert command[-2:] == ["-r", "requirements.lock"]
    assert "--require-hashes" in command and "--no-deps" in command
    (copied,) = [c for c in arguments("COPY") if "requirements" in c]
    assert copied.split() == ["requirements.lock", "./"]


def test_lock_pins_every_requirement_at_its_version_with_hashes() -> None:
    required = pins((REPO_ROOT / "requirements.txt").read_text())
    locked = pins(LOCK.read_text())
    assert required
    for name, version in required.items():
        assert locked.get(name) == version, (
            f"{name}: run `make lock` after editing requirements.txt"
        )
    # Every locked package carries at least one sha256, on the lines right after its pin.
    blocks = re.split(r"^(?=[A-Za-z0-9_.-]+==)", LOCK.read_text(), flags=re.MULTILINE)[1:]
    assert len(blocks) == len(locked) > len(required)  # transitive packages are pinned too
    for block in blocks:
        assert re.search(r"--hash=sha256:[0-9a-f]{64}", block), block.splitlines()[0]


def run(*command: str | Path, timeout: int = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(part) for part in command],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_the_dockerfile_install_line_installs_the_lock(tmp_path: Path) -> None:
    """The image's pip command, run as written in a fresh venv (the Dockerfile's WORKDIR
    holds the lock): every file matches its hash and the relay's imports resolve."""
    venv = tmp_path / "venv"
    assert run(sys.executable, "-m", "venv", venv).returncode == 0
    command = pip_install_line()
    assert command[:2] == ["pip", "install"]
    done = run(venv / "bin" / "pip", *command[1:], "--quiet", timeout=600)
    assert done.returncode == 0, done.stderr
    check = run(venv / "bin" / "python", "-c", "import service.app, uvloop, hiredis")
    assert check.returncode == 0, check.stderr
    listed = run(venv / "bin" / "pip", "list", "--format=freeze").stdout
    installed = {k: v for k, v in pins(listed).items() if k not in ("pip", "setuptools")}
    assert installed == pins(LOCK.read_text())
