"""The load-generator image (loadtest/Dockerfile), checked without Docker."""

from __future__ import annotations

import re
import sys

from harness.paths import REPO

PIN = re.compile(r"^([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==(\S+)", re.MULTILINE)


def pins(path: str) -> dict[str, str]:
    return dict(PIN.findall((REPO / path).read_text()))


def test_the_image_pins_what_the_relay_pins() -> None:
    image, runtime = pins("loadtest/requirements.txt"), pins("requirements.txt")
    shared = set(image) & set(runtime)
    assert shared == {"websockets", "uvloop", "orjson"}
    assert {name: image[name] for name in shared} == {name: runtime[name] for name in shared}
    assert "boto3" in image  # the shard uploads its report


def test_the_image_runs_as_the_task_definitions_user_and_has_the_package() -> None:
    dockerfile = (REPO / "loadtest" / "Dockerfile").read_text()
    assert "USER 10001:10001" in dockerfile  # stacks/loadgen.py LOADTEST_USER
    assert "WORKDIR /app" in dockerfile
    assert "COPY loadtest/ ./loadtest/" in dockerfile
    assert "COPY contract/ ./contract/" in dockerfile  # stdlib only (tests/contract)
    # The build context holds the package and contract/ alone: whatever else the package
    # imports beyond the standard library must come from the image's requirements.
    ignore = (REPO / "loadtest" / "Dockerfile.dockerignore").read_text().splitlines()
    patterns = [line for line in ignore if line.strip() and not line.startswith("#")]
    assert patterns[0] == "*"
    assert {p for p in patterns if p.startswith("!")} == {"!contract/", "!loadtest/"}
    source = "\n".join(p.read_text() for p in (REPO / "loadtest").rglob("*.py"))
    modules = set(re.findall(r"^\s*(?:from|import) (\w+)", source, re.MULTILINE))
    third_party = modules - set(sys.stdlib_module_names) - {"loadtest", "contract"}
    allowed = set(pins("loadtest/requirements.txt")) | {"botocore"}  # botocore: boto3's
    assert third_party <= allowed | {"matplotlib"}, third_party  # matplotlib: --plot only
