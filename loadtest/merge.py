"""`python -m loadtest merge out-*.json`: the shards of one run as the report of one run.

Counters add up and samples are merged as exact histograms, so the percentiles are those
of the union of every shard's samples; a message sent by one shard and received by another
is counted once, by its recipient's shard (expected = sends x members of the room, each
side counted where it happened). The gates are applied to the merged figures.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from loadtest.plan import Gates, RunPlan
from loadtest.report import build_report, cpu_shares, is_saturated
from loadtest.shardfile import SHARD_FORMAT, ShardFileError, decode_plan, decode_tally
from loadtest.stats import Tally, summarize_us


class MergeError(ValueError):
    """Shard files that do not make one run; the message names the file and the fix."""


@dataclasses.dataclass(frozen=True)
class ShardResult:
    path: Path
    plan: RunPlan
    tally: Tally
    started_at: datetime
    host: str
    interrupted: bool


def read_shard(path: Path) -> ShardResult:
    try:
        document = orjson.loads(path.read_bytes())
    except OSError as exc:
        raise MergeError(f"{path}: cannot read it ({exc.strerror})") from None
    except orjson.JSONDecodeError as exc:
        raise MergeError(f"{path}: not JSON ({exc})") from None
    section = document.get("shard") if isinstance(document, dict) else None
    if not isinstance(section, dict):
        raise MergeError(f"{path}: not a shard report; write one with --shard K/N --json FILE")
    if section.get("format") != SHARD_FORMAT:
        raise MergeError(
            f"{path}: shard format {section.get('format')}, this tool reads {SHARD_FORMAT}"
        )
    try:
        plan, tally = decode_plan(section["plan"]), decode_tally(section["tally"])
        started_at = datetime.fromisoformat(document["started_at"])
    except (ShardFileError, KeyError, ValueError, TypeError) as exc:
        raise MergeError(f"{path}: {exc}") from None
    return ShardResult(
        path,
        plan,
        tally,
        started_at,
        str(document.get("host", {}).get("name", "?")),
        bool(document.get("interrupted")),
    )


def check_one_run(shards: Sequence[ShardResult]) -> RunPlan:
    """The plan the shards share (as shard 1 of it); raises MergeError if they differ."""
    if not shards:
        raise MergeError("no shard files given")
    first = shards[0]
    whole = dataclasses.replace(first.plan, shard_index=0)
    seen: dict[int, Path] = {}
    for shard in shards:
        plan = shard.plan
        if plan.run_id != whole.run_id:
            raise MergeError(
                f"{shard.path}: run {plan.run_id}, but {first.path} is run {whole.run_id}: "
                "merge the shards of one run (the same --start-at or --run-id)"
            )
        if dataclasses.replace(plan, shard_index=0) != whole:
            differing = [
                f.name
                for f in dataclasses.fields(RunPlan)
                if f.name != "shard_index" and getattr(plan, f.name) != getattr(whole, f.name)
            ]
            raise MergeError(
                f"{shard.path}: its plan differs from {first.path} in {', '.join(differing)}: "
                "every shard must get the same arguments but --shard and --json"
            )
        if plan.shard_index in seen:
            raise MergeError(
                f"{shard.path} and {seen[plan.shard_index]} are both shard "
                f"{plan.shard_index + 1}/{plan.shard_count}"
            )
        seen[plan.shard_index] = shard.path
    missing = [str(k + 1) for k in range(whole.shard_count) if k not in seen]
    if missing:
        raise MergeError(
            f"run {whole.run_id} has {whole.shard_count} shards, shard(s) "
            f"{', '.join(missing)} missing: give every shard's file"
        )
    return whole


def merge_shards(shards: Sequence[ShardResult], gates: Gates | None = None) -> dict[str, Any]:
    """The merged report (without gate verdicts); `gates` overrides the shards' own."""
    plan = check_one_run(shards)
    if gates is not None:
        plan = dataclasses.replace(plan, gates=gates)
    ordered = sorted(shards, key=lambda s: s.plan.shard_index)
    merged = Tally.with_windows(plan.window_count)
    for shard in ordered:
        merged.merge(shard.tally)
    report = build_report(
        plan,
        merged,
        min(s.started_at for s in ordered),
        interrupted=any(s.interrupted for s in ordered),
        merged=True,
    )
    report["merged_from"] = len(ordered)
    report["host"] = {"names": sorted({s.host for s in ordered})}
    report["shards"] = [shard_line(s) for s in ordered]
    return report


def shard_line(shard: ShardResult) -> dict[str, Any]:
    """Where one shard ran and whether its generator kept up."""
    cpu = cpu_shares(shard.tally)
    lag = summarize_us(shard.tally.loop_lag_us, (99,))
    return {
        "index": shard.plan.shard_index + 1,
        "host": shard.host,
        "file": str(shard.path),
        "started_at": shard.started_at.isoformat(timespec="seconds"),
        "cpu_per_worker": cpu,
        "loop_lag_p99_ms": lag.get("p99"),
        "saturated": is_saturated(cpu, lag.get("p99")),
    }
