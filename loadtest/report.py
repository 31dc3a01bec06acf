"""Turns a merged Tally into the JSON report and the human summary."""

from __future__ import annotations

import dataclasses
import os
import platform
from datetime import datetime

from loadtest.plan import NS_PER_S, RunPlan
from loadtest.stats import Tally, percentile, summarize_us

REPORT_VERSION = 1
SATURATED_CPU = 0.9  # share of one core
SATURATED_LAG_MS = 20.0


def build_report(plan: RunPlan, tally: Tally, started_at: datetime) -> dict:
    joined = len(tally.join_us)
    join = summarize_us(tally.join_us, (50, 90, 99))
    join.update(
        clients=plan.clients,
        joined=joined,
        never_joined=tally.join_failures,
        late_joiners=tally.late_joiners,
        all_joined_s=(
            round(tally.last_join_done_ns / NS_PER_S, 3) if joined == plan.clients else None
        ),
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
    cpu = [
        round(c / w, 3) if w else 0.0
        for c, w in zip(tally.cpu_seconds, tally.wall_seconds, strict=True)
    ]
    lag = summarize_us(tally.loop_lag_us, (99,))
    send_lateness = summarize_us(tally.send_lateness_us, (50, 99))
    generator = {
        "workers": plan.workers,
        "cpu_per_worker": cpu,
        "loop_lag_ms": lag,
        "send_lateness_ms": send_lateness,
        "saturated": bool(
            (cpu and max(cpu) >= SATURATED_CPU) or lag.get("p99", 0) >= SATURATED_LAG_MS
        ),
    }
    errors = sum(tally.error_frames.values()) + sum(tally.close_codes.values())
    return {
        "tool": "chat-relay loadtest",
        "report_version": REPORT_VERSION,
        "run_id": plan.run_id,
        "started_at": started_at.isoformat(timespec="seconds"),
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
            "deliveries_per_s": round(tally.delivered / plan.duration, 1),
            "sent_per_s": round(tally.sent / plan.duration, 1),
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


def plan_summary(plan: RunPlan) -> dict:
    summary = dataclasses.asdict(plan)
    summary["urls"] = list(plan.urls)
    summary["gates"] = {k: v for k, v in summary["gates"].items() if v is not None}
    summary["offered_deliveries_per_s"] = offered_deliveries_per_s(plan)
    return summary


def offered_deliveries_per_s(plan: RunPlan) -> float:
    """Sends per second times the size of the sender's room, summed over senders."""
    sizes = [len(plan.room_members(plan.room_of(c))) for c in plan.sender_ranks()]
    return round(plan.rate * sum(sizes), 1)


def timeline(plan: RunPlan, tally: Tally) -> list[dict]:
    """Latency percentiles per window of scheduled send time (seconds into the measurement)."""
    points = []
    for index, window in enumerate(tally.latency_windows):
        point: dict = {"t": round(index * plan.window, 3), "deliveries": len(window)}
        if window:
            values = sorted(window)
            for q in (50, 90, 99, 99.9):
                point[f"p{q:g}".replace(".", "")] = percentile(values, q) / 1000
            point["max"] = values[-1] / 1000
        points.append(point)
    return points


def _fmt_ms(summary: dict, keys: tuple[str, ...]) -> str:
    if not summary.get("count", summary.get("joined")):
        return "no samples"
    return "  ".join(f"{k} {summary[k]:.2f}" for k in keys if k in summary) + " ms"


def format_summary(report: dict) -> str:
    plan, join, msgs = report["plan"], report["join"], report["messages"]
    gen, conns = report["generator"], report["connections"]
    lines = [
        f"run {report['run_id']}: {plan['clients']} clients, {plan['rooms']} room(s), "
        f"{plan['senders']} senders x {plan['rate']:g} msg/s, {plan['duration']:g} s measured, "
        f"{plan['workers']} worker(s), {len(plan['urls'])} URL(s)",
        f"join      {join['joined']}/{join['clients']} joined"
        + (f", all within {join['all_joined_s']:.3f} s" if join["all_joined_s"] is not None else "")
        + f"; {_fmt_ms(join, ('p50', 'p90', 'p99', 'max'))}",
        f"latency   {_fmt_ms(report['latency_ms'], ('p50', 'p90', 'p99', 'p999', 'max'))}"
        f"  ({report['latency_ms']['count']} deliveries)",
        f"ack       {_fmt_ms(report['ack_latency_ms'], ('p50', 'p99', 'max'))}",
        f"messages  sent {msgs['sent']}  expected {msgs['expected']}  delivered "
        f"{msgs['delivered']}  lost {msgs['lost']} ({msgs['loss_ratio']:.4%})  duplicated "
        f"{msgs['duplicated']}  out of order {msgs['out_of_order']}  misrouted {msgs['misrouted']}",
        f"rate      {report['throughput']['deliveries_per_s']:,.0f} deliveries/s "
        f"(offered {plan['offered_deliveries_per_s']:,.0f}), "
        f"{report['throughput']['sent_per_s']:,.1f} sends/s",
        f"conns     reconnects {conns['reconnects']}  churn drops {conns['churn_drops']}  "
        f"recovered from history {msgs['recovered_from_history']}  identity changes "
        f"{conns['identity_changes']}  gaps signalled {conns['resyncs']}  "
        f"close codes {conns['close_codes'] or '-'}  "
        f"connect errors {conns['connect_errors'] or '-'}",
        f"errors    {report['errors']['frames'] or '-'}",
        f"generator cpu {', '.join(f'{c:.0%}' for c in gen['cpu_per_worker'])} of a core; "
        f"loop lag {_fmt_ms(gen['loop_lag_ms'], ('p99', 'max'))}; "
        f"send lateness {_fmt_ms(gen['send_lateness_ms'], ('p99', 'max'))}",
    ]
    if gen["saturated"]:
        busy = max(gen["cpu_per_worker"], default=0) >= SATURATED_CPU
        cause = "a worker used a whole core" if busy else "its loop waited for a busy host CPU"
        lines.append(
            f"WARNING   the load generator fell behind ({cause}): latency and throughput "
            "describe it, not the relay; add --workers, or run it on a host with spare cores"
        )
    for gate in report.get("gates", []):
        verdict = "ok  " if gate["passed"] else "FAIL"
        lines.append(f"gate {verdict} {gate['name']} = {gate['value']} (limit {gate['limit']})")
    return "\n".join(lines)
