"""The pipeline's post-deploy steps after staging: what they run and on what machine.

The smoke check (`python -m loadtest.smoke`) and the load-test gate (`python -m loadtest`
with [pipeline.gate]'s thresholds) read staging's URL from the service stack's output.
"""

from __future__ import annotations

import shlex

from aws_cdk import aws_codebuild as codebuild

from stacks.config.pipeline import GateSettings

# Debian, like the relay image and a developer's machine: `make test` installs
# redis-server and chromium with apt-get (Ubuntu's chromium is a snap stub). ECR Public's
# mirror of the Docker official image: no Docker Hub pull limits.
BUILD_IMAGE = "public.ecr.aws/docker/library/python:3.11.14-bookworm"
# Where post-deploy steps find staging's URL (the service stack's `Url` output).
URL_VARIABLE = "RELAY_URL"
# The steps' Python: the relay's own locked dependencies (websockets, orjson, uvloop).
INSTALL_LOCKED = "pip install --require-hashes --no-deps -r requirements.lock"


def gate_environment() -> codebuild.BuildEnvironment:
    # 2000 WebSockets and their fan-out measured on one machine: the load generator must
    # not be the bottleneck it measures (docs/loadtest.md, workers).
    return codebuild.BuildEnvironment(
        build_image=codebuild.LinuxBuildImage.from_docker_registry(BUILD_IMAGE),
        compute_type=codebuild.ComputeType.LARGE,
    )


def _origin_and_ws_url() -> str:
    """Shell: ORIGIN and WS_URL from RELAY_URL (https://host/ -> https://host, wss://host/ws).

    The relay admits exactly its own origin (ALLOWED_ORIGINS=https://<domain>, or its
    own host without a domain), which is the URL without its path.
    """
    return f'ORIGIN="${{{URL_VARIABLE}%/}}"; WS_URL="$(echo "$ORIGIN" | sed "s#^http#ws#")/ws"'


def smoke_command() -> str:
    return f'{_origin_and_ws_url()}; python -m loadtest.smoke "$WS_URL" --origin "$ORIGIN"'


def gate_command(gate: GateSettings) -> str:
    """The load-test gate: exit status 1 on a missed threshold fails the pipeline step."""
    arguments = [
        "--clients",
        str(gate.clients),
        "--rooms",
        str(gate.rooms),
        "--senders",
        str(gate.senders),
        "--rate",
        f"{gate.rate:g}",
        "--duration",
        f"{gate.duration_seconds}s",
        "--workers",
        str(gate.workers),
        "--max-p99-ms",
        f"{gate.max_p99_ms:g}",
        "--max-loss",
        f"{gate.max_loss:g}",
        "--min-delivered",
        str(gate.min_delivered),
        "--quiet",
    ]
    return f'{_origin_and_ws_url()}; python -m loadtest "$WS_URL" --origin "$ORIGIN" ' + shlex.join(
        arguments
    )
