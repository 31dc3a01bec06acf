"""`versus`: this relay beside what a user would pick instead, in one run, as ratios.

Every contender (bench/contenders.py) gets the same scenarios from the same generator:
two fresh servers over one flushed redis-server for each run; rounds alternate the
contenders' order, so a host that slows down mid-run slows every contender alike; each
figure is the median of ROUNDS runs. The per-run reports go to bench/results/versus/, the
medians to bench/results/versus.json.
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from bench.contenders import CONTENDERS, Contender, ContenderServers, check_node_peers
from bench.environment import describe
from bench.runs import run_loadtest
from bench.scenarios import QUICK, Cluster, Timing
from bench.storm import STORM_CLIENTS, join_storm

VERSUS = "versus"
ROUNDS = 3
REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class VersusTiming:
    fan_out: str  # measured time of B and C
    warm_up: str
    storm_hold: str  # D: how long the storm runs (and may take to join)


VERSUS_FULL = VersusTiming(fan_out="10s", warm_up="2s", storm_hold="20s")
VERSUS_QUICK = VersusTiming(fan_out="2s", warm_up="1s", storm_hold="6s")


@dataclass(frozen=True)
class FanOut:
    key: str
    title: str
    rate: float  # msg/s per sender; 200 clients, 1 room, 20 senders
    workers: int


# C is the 160,000 deliveries/s; two generator workers offer it unsaturated on a
# quiet host (35% of a core each), and each run's report says whether they kept up.
FAN_OUTS = (
    FanOut("B", "200 clients, 20 x 5 msg/s (20,000 deliveries/s)", 5, 1),
    FanOut("C", "200 clients, 20 x 40 msg/s (160,000 deliveries/s)", 40, 2),
)


def fan_out_args(shape: FanOut, contender: Contender, timing: VersusTiming) -> list[str]:
    return [
        f"--protocol={contender.protocol}",
        "--clients=200",
        "--rooms=1",
        "--senders=20",
        f"--rate={shape.rate:g}",
        f"--duration={timing.fan_out}",
        f"--warm-up={timing.warm_up}",
        "--ramp-up=1s",
        f"--workers={shape.workers}",
    ]


def fan_out_figures(report: dict[str, Any]) -> dict[str, Any]:
    return {
        "p99_ms": report["latency_ms"].get("p99"),
        "p50_ms": report["latency_ms"].get("p50"),
        "expected": report["messages"]["expected"],
        "delivered": report["messages"]["delivered"],
        "lost": report["messages"]["lost"],
        "duplicated": report["messages"]["duplicated"],
        "generator_saturated": report["generator"]["saturated"],
    }


def storm(servers: ContenderServers, timing: VersusTiming, name: str, out: Path) -> dict[str, Any]:
    """The join storm (bench/storm.py) on one contender: time until all joined, and the
    servers' RSS per connection over the storm's last 2 s (what the storm leaves behind)."""
    run = join_storm(
        servers.urls,
        servers.rss,
        hold=timing.storm_hold,
        name=name,
        results=out,
        protocol=servers.contender.protocol,
        join_timeout=timing.storm_hold,
    )
    report, joined = run.report, run.joined
    after = run.tail_rss(2.0)
    return {
        "all_joined_s": report["join"]["all_joined_s"],
        "joined": joined,
        "clients": STORM_CLIENTS,
        "hold_s": report["plan"]["duration"],
        "rss_before_bytes": run.rss_before,
        "rss_after_bytes": after,
        "rss_per_connection_bytes": round((after - run.rss_before) / joined) if joined else None,
        "generator_saturated": report["generator"]["saturated"],
    }


def median_of(runs: list[dict[str, Any]], key: str) -> float | None:
    values = [run[key] for run in runs if run.get(key) is not None]
    return statistics.median(values) if len(values) == len(runs) and values else None


def summarise(
    runs: dict[str, dict[str, list[dict[str, Any]]]],
) -> dict[str, dict[str, dict[str, Any]]]:
    """Medians per scenario and contender; a figure some run lacks (a storm that did not
    finish joining) has no median, and the table says so."""
    medians: dict[str, dict[str, dict[str, Any]]] = {}
    for scenario, by_contender in runs.items():
        medians[scenario] = {}
        for key, contender_runs in by_contender.items():
            figures = sorted({k for run in contender_runs for k in run})
            medians[scenario][key] = {
                figure: median_of(contender_runs, figure)
                for figure in figures
                if not isinstance(contender_runs[0].get(figure), bool)
            }
            medians[scenario][key]["runs"] = len(contender_runs)
            medians[scenario][key]["generator_saturated_runs"] = sum(
                bool(r.get("generator_saturated")) for r in contender_runs
            )
            medians[scenario][key]["all_runs"] = contender_runs
    return medians


def scenario_versus(
    cluster: Cluster, timing: Timing, results: Path, rounds: int = ROUNDS
) -> dict[str, Any]:
    """Relay, Socket.IO 4 + redis-adapter and the original sample through B, C and D."""
    check_node_peers()
    cluster.stop_relays()
    is_quick = timing is QUICK
    versus_timing = VERSUS_QUICK if is_quick else VERSUS_FULL
    out = results / VERSUS
    out.mkdir(parents=True, exist_ok=True)
    environment = describe(REPO)
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {
        name: {c.key: [] for c in CONTENDERS} for name in (*[s.key for s in FAN_OUTS], "D")
    }
    load_averages: list[dict[str, Any]] = []
    for round_index in range(rounds):
        shift = round_index % len(CONTENDERS)
        order = CONTENDERS[shift:] + CONTENDERS[:shift]
        for contender in order:
            for scenario, run in scenario_runs(contender, versus_timing, out, round_index):
                load_averages.append(
                    {"round": round_index + 1, "contender": contender.key, "scenario": scenario}
                    | load_average()
                )
                with ContenderServers(contender, cluster.redis) as servers:
                    runs[scenario][contender.key].append(run(servers))
    summary = {
        "environment": environment,
        "rounds": rounds,
        "quick": is_quick,
        "timing": versus_timing.__dict__,
        "contenders": {c.key: c.title for c in CONTENDERS},
        "scenarios": {s.key: s.title for s in FAN_OUTS}
        | {"D": f"{STORM_CLIENTS} clients join one room at once"},
        "medians": summarise(runs),
        "load_averages": load_averages,
    }
    (results / f"{VERSUS}.json").write_bytes(
        orjson.dumps(summary, option=orjson.OPT_INDENT_2) + b"\n"
    )
    return summary


def scenario_runs(
    contender: Contender, timing: VersusTiming, out: Path, round_index: int
) -> list[tuple[str, Callable[[ContenderServers], dict[str, Any]]]]:
    """(scenario, run on fresh servers) for one contender in one round."""

    def fan_out(shape: FanOut) -> Callable[[ContenderServers], dict[str, Any]]:
        name = f"{shape.key}-{contender.key}-{round_index + 1}"
        args = fan_out_args(shape, contender, timing)
        return lambda servers: fan_out_figures(run_loadtest(servers.urls, args, name, out))

    name = f"D-{contender.key}-{round_index + 1}"
    return [(shape.key, fan_out(shape)) for shape in FAN_OUTS] + [
        ("D", lambda servers: storm(servers, timing, name, out))
    ]


def load_average() -> dict[str, Any]:
    one, five, fifteen = os.getloadavg()
    return {"load_average": [round(one, 2), round(five, 2), round(fifteen, 2)]}
