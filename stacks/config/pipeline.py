"""The delivery pipeline's settings: [pipeline] and [pipeline.gate] of stages.toml."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field

from stacks.config.model import StageConfigError
from stacks.config.settings_file import SettingsFile, apply_table

_ACCOUNT = re.compile(r"^\d{12}$")
_REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$")
_CONNECTION_ARN = re.compile(
    r"^arn:aws[a-z-]*:(codestar-connections|codeconnections):([a-z0-9-]+):(\d{12}):"
    r"connection/[0-9a-f-]{36}$"
)
_REPOSITORY = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")


@dataclass(frozen=True)
class GateSettings:
    """The staging load test that promotes a build: load shape and pass thresholds."""

    clients: int = 2000
    rooms: int = 20
    senders: int = 100
    rate: float = 1.0
    duration_seconds: int = 120
    # Load-generator processes (python -m loadtest --workers), on CodeBuild's LARGE type.
    workers: int = 4
    max_p99_ms: float = 250.0
    max_loss: float = 0.0
    min_delivered: int = 1_000_000


@dataclass(frozen=True)
class PipelineSettings:
    account: str
    region: str
    connection_arn: str
    repository: str
    branch: str = "main"
    gate: GateSettings = field(default_factory=GateSettings)


def load_pipeline_settings(settings: SettingsFile) -> PipelineSettings | None:
    """The [pipeline] table checked and typed; None when the file has none (no pipeline)."""
    table = settings.pipeline
    if table is None:
        return None
    where, gate_where = settings.where("pipeline"), settings.where("pipeline", "gate")
    required = ("account", "region", "connection_arn", "repository")
    problems = [
        f'{where} {key} is missing: add {key} = "..." (see the shipped stages.toml).'
        for key in required
        if key not in table
    ]
    if problems:
        raise StageConfigError(_heading(problems))
    own = {k: v for k, v in table.items() if k != "gate"}
    base = PipelineSettings(account="", region="", connection_arn="", repository="")
    pipeline, problems = apply_table(base, own, where)
    gate, gate_problems = apply_table(GateSettings(), table.get("gate", {}), gate_where)
    problems += gate_problems
    pipeline = dataclasses.replace(pipeline, gate=gate)
    problems += _problems(pipeline, where, gate_where)
    if problems:
        raise StageConfigError(_heading(problems))
    return pipeline


def _problems(p: PipelineSettings, where: str, gate: str) -> list[str]:
    problems = []
    if not _ACCOUNT.match(p.account):
        problems.append(f'{where} account = "{p.account}": use the 12-digit tooling account id.')
    if not _REGION.match(p.region):
        problems.append(f'{where} region = "{p.region}": use a region name such as us-east-1.')
    match = _CONNECTION_ARN.match(p.connection_arn)
    if match is None:
        problems.append(
            f"{where} connection_arn: not a CodeConnections connection ARN; copy it from "
            "`aws codeconnections list-connections` (arn:aws:codeconnections:<region>:"
            "<account>:connection/<id>)."
        )
    elif match.group(2) != p.region:
        problems.append(
            f"{where} connection_arn is in {match.group(2)} but the pipeline runs in "
            f"{p.region}: create the connection in the pipeline's region."
        )
    if not _REPOSITORY.match(p.repository):
        problems.append(f'{where} repository = "{p.repository}": use owner/name.')
    g = p.gate
    if not 1 <= g.senders <= g.clients:
        problems.append(f"{gate} senders = {g.senders}: use 1 to clients ({g.clients}).")
    if not 1 <= g.rooms <= g.clients:
        problems.append(f"{gate} rooms = {g.rooms}: use 1 to clients ({g.clients}).")
    if not 1 <= g.workers <= 8:
        problems.append(f"{gate} workers = {g.workers}: use 1 to 8 (CodeBuild LARGE, 8 vCPU).")
    if g.rate <= 0 or g.duration_seconds < 10:
        problems.append(f"{gate}: use rate > 0 and duration_seconds of at least 10.")
    if g.max_p99_ms <= 0:
        problems.append(f"{gate} max_p99_ms = {g.max_p99_ms}: use a positive bound, e.g. 250.")
    if not 0 <= g.max_loss < 1:
        problems.append(f"{gate} max_loss = {g.max_loss}: use a fraction, 0 to below 1.")
    if g.min_delivered < 1:
        problems.append(
            f"{gate} min_delivered = {g.min_delivered}: use at least 1, or a run that "
            "delivered nothing would pass."
        )
    return problems


def _heading(problems: list[str]) -> str:
    return "Invalid pipeline settings:\n" + "\n".join(f"  - {p}" for p in problems)
