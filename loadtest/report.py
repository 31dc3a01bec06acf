"""Turns a merged Tally into the JSON report and the human summary."""

from __future__ import annotations

import dataclasses
import os
import platform
from datetime import datetime
from typing import Any

from loadtest.plan import NS_PER_S, RunPlan
from loadtest.stats import Tally, percentile, summarize_us

REPORT_VERSION = 1
SATURATED_CPU = 0.9  # share of one core
SATURATED_LAG_MS = 20.0


def measured_seconds(plan: RunPlan, tally: Tally) -> float:
    """The measurement's length: the plan's, or up to the Ctrl-C that ended it early."""
    if 0 < tally.measured_until_ns < plan.measure_end_ns:
        return max(0.0, (tally.measured_until_ns - plan.measure_start_ns) / NS_PER_S)
    return plan.duration


def cpu_shares(tally: Tally) -> list[float]:
    """Each worker's CPU time as a share of one core over its run."""
    return [
        round(c / w, 3) if w else 0.0
        for c, w in zip(tally.cpu_seconds, tally.wall_seconds, strict=True)
    ]


def is_saturated(cpu: list[float], lag_p99_ms: float | None) -> bool:
    return bool((cpu and max(cpu) >= SATURATED_CPU) or (lag_p99_ms or 0) >= SATURATED_LAG_MS)


def build_report(
    plan: RunPlan,
    tally: Tally,
    started_at: datetime,
    *,
    interrupted: bool = False,
    merged: bool = False,
) -> dict[str, Any]:
    """The report of one run, of one shard's share (a sharded plan) or of merged shards."""
    joined = len(tally.join_us)
    clients = len(plan.clients_of_shard()) if plan.is_sharded and not merged else plan.clients
    join = summarize_us(tally.join_us, (50, 90, 99))
    join.update(
        clients=clients,
        joined=joined,
        never_joined=tally.join_failures,
        late_joiners=tally.late_joiners,
        all_joined_s=round(tally.last_join_done_ns / NS_PER_S, 3) if joined == clients else None,
    )
    del join["count"]
    expected = tally.expected
    messages = {
        "sent": tally.sent,
        "acked": tally.acks,
        "expected": expected,
        "delivered": tally.delivered,
        "lost": tally.lost,
        "loss_ratio": round(tally.lost / expected, 6) if expected else 0.0,
        "duplicated": tally.duplicated,
        "out_of_order": tally.out_of_order,
        "misrouted": tally.misrouted,
        "recovered_from_history": tally.recovered,
        "send_failures": tally.send_failures,
    }
    cpu = cpu_shares(tally)
    lag = summarize_us(tally.loop_lag_us, (99,))
    send_lateness = summarize_us(tally.send_lateness_us, (50, 99))
    generator = {
        "workers": plan.generators,
        "shards": plan.shard_count,
        "cpu_per_worker": cpu,
        "loop_lag_ms": lag,
        "send_lateness_ms": send_lateness,
        "saturated": is_saturated(cpu, lag.get("p99")),
    }
    errors = sum(tally.error_frames.values()) + sum(tally.close_codes.values())
    measured_s = measured_seconds(plan, tally)
    return {
        "tool": "chat-relay loadtest",
        "report_version": REPORT_VERSION,
        "run_id": plan.run_id,
        "started_at": started_at.isoformat(timespec="seconds"),
        "interrupted": interrupted,
        "measured_s": round(measured_s, 3),
        "host": {
            "name": platform.node(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
        },
        "plan": plan_summary(plan),
        "join": join,
        "latency_ms": summarize_us(tally.latency_samples()),
        "ack_latency_ms": summarize_us(tally.ack_us),
        "messages": messages,
        "throughput": {
            "deliveries_per_s": round(tally.delivered / measured_s, 1) if measured_s else 0.0,
            "sent_per_s": round(tally.sent / measured_s, 1) if measured_s else 0.0,
        },
        "connections": {
            "reconnects": tally.reconnects,
            "churn_drops": tally.churn_drops,
            "identity_changes": tally.identity_changes,
            "history_incomplete": tally.history_incomplete,
            "resyncs": tally.resyncs,
            "close_codes": {str(k): v for k, v in sorted(tally.close_codes.items())},
            "connect_errors": dict(sorted(tally.connect_errors.items())),
        },
        "errors": {"total": errors, "frames": dict(sorted(tally.error_frames.items()))},
        "generator": generator,
        "timeline": timeline(plan, tally),
    }


def plan_summary(plan: RunPlan) -> dict[str, Any]:
    summary = dataclasses.asdict(plan)
    summary["urls"] = list(plan.urls)
    summary["gates"] = {k: v for k, v in summary["gates"].items() if v is not None}
    summary["offered_deliveries_per_s"] = offered_deliveries_per_s(plan)
    return summary


def offered_deliveries_per_s(plan: RunPlan) -> float:
    """Sends per second times the size of the sender's room, summed over senders."""
    sizes = [len(plan.room_members(plan.room_of(c))) for c in plan.sender_ranks()]
    return round(plan.rate * sum(sizes), 1)


def timeline(plan: RunPlan, tally: Tally) -> list[dict[str, Any]]:
    """Latency percentiles per window of scheduled send time (seconds into the measurement)."""
    points = []
    for index, window in enumerate(tally.latency_windows):
        point: dict[str, Any] = {"t": round(index * plan.window, 3), "deliveries": len(window)}
        if window:
            values = sorted(window)
            for q in (50, 90, 99, 99.9):
                point[f"p{q:g}".replace(".", "")] = percentile(values, q) / 1000
            point["max"] = values[-1] / 1000
        points.append(point)
    return points


def _fmt_ms(summary: dict[str, Any], keys: tuple[str, ...]) -> str:
    if not summary.get("count", summary.get("joined")):
        return "no samples"
    return "  ".join(f"{k} {summary[k]:.2f}" for k in keys if k in summary) + " ms"


def format_counts(counts: dict[str, Any]) -> str:
    """`{'rate_limited': 10, 'bad_frame': 1}` as `rate_limited 10, bad_frame 1`; none: `-`."""
    return ", ".join(f"{name} {count}" for name, count in counts.items()) or "-"


def format_value(value: object) -> str:
    """A gate's figure for a person: no `None`, no float noise."""
    if value is None:
        return "not measured"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _fmt_optional_ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} ms"


def _plan_line(report: dict[str, Any]) -> str:
    plan = report["plan"]
    shards = plan.get("shard_count", 1)
    if report.get("merged_from"):
        who = f"{shards} shards x {plan['workers']} worker(s), merged"
    elif shards > 1:
        who = f"shard {plan['shard_index'] + 1}/{shards}, {plan['workers']} worker(s)"
    else:
        who = f"{plan['workers']} worker(s)"
    measured = f"{plan['duration']:g} s measured"
    if report.get("interrupted"):
        measured = f"{report['measured_s']:g} of {plan['duration']:g} s measured (interrupted)"
    return (
        f"run {report['run_id']}: {plan['clients']} clients, {plan['rooms']} room(s), "
        f"{plan['senders']} senders x {plan['rate']:g} msg/s, {measured}, {who}, "
        f"{len(plan['urls'])} URL(s)"
    )


def _is_one_shard(report: dict[str, Any]) -> bool:
    return report["plan"].get("shard_count", 1) > 1 and not report.get("merged_from")


def _over_all_shards(report: dict[str, Any]) -> str:
    return " over all shards" if _is_one_shard(report) else ""


def _messages_line(report: dict[str, Any]) -> str:
    msgs = report["messages"]
    if _is_one_shard(report):
        # A shard alone sees its recipients' deliveries from every shard's senders, but only
        # its own senders' sends: loss and duplicates need every shard (`loadtest merge`).
        return (
            f"messages  sent {msgs['sent']} by this shard; its recipients got "
            f"{msgs['delivered']}; expected and lost: after `python -m loadtest merge`"
        )
    return (
        f"messages  sent {msgs['sent']}  expected {msgs['expected']}  delivered "
        f"{msgs['delivered']}  lost {msgs['lost']} ({msgs['loss_ratio']:.4%})  duplicated "
        f"{msgs['duplicated']}  out of order {msgs['out_of_order']}  misrouted {msgs['misrouted']}"
    )


def format_gate(gate: dict[str, Any]) -> str:
    verdict = "ok  " if gate["passed"] else "FAIL"
    if "detail" in gate:
        return f"gate {verdict} {gate['name']}: {gate['detail']}"
    return (
        f"gate {verdict} {gate['name']} = {format_value(gate['value'])} "
        f"(limit {format_value(gate['limit'])})"
    )


def format_summary(report: dict[str, Any]) -> str:
    plan, join, msgs = report["plan"], report["join"], report["messages"]
    gen, conns = report["generator"], report["connections"]
    lines = [
        _plan_line(report),
        f"join      {join['joined']}/{join['clients']} joined"
        + (f", all within {join['all_joined_s']:.3f} s" if join["all_joined_s"] is not None else "")
        + f"; {_fmt_ms(join, ('p50', 'p90', 'p99', 'max'))}",
        f"latency   {_fmt_ms(report['latency_ms'], ('p50', 'p90', 'p99', 'p999', 'max'))}"
        f"  ({report['latency_ms']['count']} deliveries)",
        f"ack       {_fmt_ms(report['ack_latency_ms'], ('p50', 'p99', 'max'))}",
        _messages_line(report),
        f"rate      {report['throughput']['deliveries_per_s']:,.0f} deliveries/s "
        f"(offered {plan['offered_deliveries_per_s']:,.0f}{_over_all_shards(report)}), "
        f"{report['throughput']['sent_per_s']:,.1f} sends/s",
        f"conns     reconnects {conns['reconnects']}  churn drops {conns['churn_drops']}  "
        f"recovered from history {msgs['recovered_from_history']}  identity changes "
        f"{conns['identity_changes']}  gaps signalled {conns['resyncs']}  "
        f"close codes {format_counts(conns['close_codes'])}  "
        f"connect errors {format_counts(conns['connect_errors'])}",
        f"errors    {format_counts(report['errors']['frames'])}",
        f"generator cpu {', '.join(f'{c:.0%}' for c in gen['cpu_per_worker']) or '-'} of a core; "
        f"loop lag {_fmt_ms(gen['loop_lag_ms'], ('p99', 'max'))}; "
        f"send lateness {_fmt_ms(gen['send_lateness_ms'], ('p99', 'max'))}",
    ]
    for shard in report.get("shards", []):
        cpu = ", ".join(f"{c:.0%}" for c in shard["cpu_per_worker"]) or "-"
        lines.append(
            f"shard {shard['index']}/{plan['shard_count']} on {shard['host']}: cpu {cpu}; "
            f"loop lag p99 {_fmt_optional_ms(shard['loop_lag_p99_ms'])}"
            + ("; SATURATED" if shard["saturated"] else "")
        )
    if gen["saturated"]:
        busy = max(gen["cpu_per_worker"], default=0) >= SATURATED_CPU
        cause = "a worker used a whole core" if busy else "its loop waited for a busy host CPU"
        lines.append(
            f"WARNING   the load generator fell behind ({cause}): latency and throughput "
            "describe it, not the relay; add --workers or shards, or hosts with spare cores"
        )
    if report.get("interrupted"):
        lines.append(
            "NOTE      interrupted: partial figures; a message still in flight 1 s after the "
            "interrupt counts as lost"
        )
    lines.extend(format_gate(gate) for gate in report.get("gates", []))
    return "\n".join(lines)
