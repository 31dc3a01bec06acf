"""What each Redis shard does during a run: CPU, commands, and which rooms it holds.

Used by the E-shards scenario (E's shape on one standalone redis-server, then on a
3-primary Redis Cluster) so the page can show that the load spreads over the shards.
CPU is each redis-server process's user + system time (psutil), sampled when the load
generator's progress line first says ``measure`` and again when it first says ``drain``,
so the figures cover the measured window (to within one progress interval, 0.5 s); the
wall time between the two samples is the denominator.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any

import psutil
import redis

E_SHARDS = "E-shards"  # the scenario's name, its results file and its page section

# "[  12.5s/47s measure] ETA 35s  joined ..." (or without "/47s") -> "measure"
PHASE = re.compile(r"^\[\s*-?[\d.]+s(?:/[\d.]+s)?\s+([a-z-]+)\]")


@dataclass(frozen=True)
class Snapshot:
    at: float  # time.monotonic()
    cpu_s: dict[str, float]  # process label -> user + system seconds
    commands: dict[str, int]  # shard label -> INFO total_commands_processed


@dataclass
class ShardProbe:
    """Samples the redis-server of every shard, and the relays for context."""

    shards: dict[str, tuple[int, int]]  # label "127.0.0.1:port" -> (pid, port)
    relays: dict[str, int]  # label -> pid
    marks: dict[str, Snapshot] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._processes = {
            label: psutil.Process(pid)
            for label, pid in [*((k, v[0]) for k, v in self.shards.items()), *self.relays.items()]
        }
        self._clients = {
            label: redis.Redis(host="127.0.0.1", port=port, decode_responses=True)
            for label, (_, port) in self.shards.items()
        }

    def snapshot(self) -> Snapshot:
        cpu = {}
        for label, process in self._processes.items():
            times = process.cpu_times()
            cpu[label] = times.user + times.system
        commands = {
            label: int(client.info("stats")["total_commands_processed"])
            for label, client in self._clients.items()
        }
        return Snapshot(time.monotonic(), cpu, commands)

    def mark(self, name: str) -> None:
        if name not in self.marks:
            self.marks[name] = self.snapshot()

    def on_progress(self, line: str) -> None:
        """Feed the load generator's progress lines; never raises (it runs in the reader
        thread that drains the generator's stderr, which must keep going)."""
        match = PHASE.match(line)
        if not match:
            return
        phase = match.group(1)
        try:
            if phase == "measure":
                self.mark("measure")
            elif phase == "drain" and "measure" in self.marks:
                self.mark("drain")
        except (psutil.Error, redis.RedisError, OSError) as exc:
            self.problems.append(f"sample at {phase}: {exc}")

    def close(self) -> None:
        for client in self._clients.values():
            client.close()


def window(marks: dict[str, Snapshot]) -> tuple[str, Snapshot, Snapshot]:
    """The measured window if both phase marks were seen, else the whole run."""
    if "measure" in marks and "drain" in marks:
        return "measured window", marks["measure"], marks["drain"]
    return "whole run (phase lines not seen)", marks["start"], marks["end"]


def summarise(
    kind: str,
    before: Snapshot,
    after: Snapshot,
    shards: list[str],
    relays: list[str],
    keys: dict[str, dict[str, int]],
) -> dict[str, Any]:
    """Per-shard CPU seconds, CPU as a share of one core, commands/s, keys and rooms."""
    wall = after.at - before.at
    rows: list[dict[str, Any]] = []
    for label in shards:
        cpu = after.cpu_s[label] - before.cpu_s[label]
        commands = after.commands[label] - before.commands[label]
        rows.append(
            {
                "node": label,
                "cpu_s": round(cpu, 3),
                "cpu_core_share": round(cpu / wall, 4) if wall > 0 else None,
                "commands": commands,
                "commands_per_s": round(commands / wall, 1) if wall > 0 else None,
                **keys.get(label, {"keys": 0, "rooms": 0}),
            }
        )
    total_cpu = sum(row["cpu_s"] for row in rows)
    return {
        "window": kind,
        "window_s": round(wall, 3),
        "shards": rows,
        "cpu_s_total": round(total_cpu, 3),
        "cpu_core_share_total": round(total_cpu / wall, 4) if wall > 0 else None,
        "commands_per_s_total": round(sum(r["commands"] for r in rows) / wall, 1)
        if wall > 0
        else None,
        "relay_cpu_core_share": [
            round((after.cpu_s[r] - before.cpu_s[r]) / wall, 4) if wall > 0 else None
            for r in relays
        ],
    }


def count_keys(port: int, room_prefix: str) -> dict[str, int]:
    """DBSIZE, and the rooms of this run held here (one history stream per room)."""
    client = redis.Redis(host="127.0.0.1", port=port, decode_responses=True)
    try:
        pattern = f"chat:{{{room_prefix}-*}}:history"
        rooms = sum(1 for _ in client.scan_iter(match=pattern, count=1000))
        return {"keys": int(client.dbsize()), "rooms": rooms}
    finally:
        client.close()
