"""PNG of latency percentiles over the measurement, one point per time window."""

from __future__ import annotations

from pathlib import Path
from typing import Any

SERIES = (("p50", "p50"), ("p90", "p90"), ("p99", "p99"), ("p999", "p99.9"), ("max", "max"))
# gate -> label and colour of its limit line (the colours of the p99 and p99.9 series)
LATENCY_LIMITS = (
    ("max_p99_ms", "p99 limit", "tab:green"),
    ("max_p999_ms", "p99.9 limit", "tab:red"),
)


def write_plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib  # imported here: only runs that ask for a plot need matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot, ticker

    points = [p for p in report["timeline"] if p["deliveries"]]
    figure, latency_axis = pyplot.subplots(figsize=(10, 5), dpi=100)
    window = report["plan"]["window"]
    times = [p["t"] + window / 2 for p in points]  # a window's point sits at its middle
    for key, label in SERIES:
        latency_axis.plot(times, [p[key] for p in points], label=label, linewidth=1.2)
    gates = report["plan"].get("gates", {})
    # The gates' limits as dashed lines, so a reader sees where a run stood against them.
    for key, label, colour in LATENCY_LIMITS:
        if gates.get(key) is not None:
            latency_axis.axhline(
                gates[key],
                color=colour,
                linestyle="--",
                linewidth=1,
                label=f"{label} {gates[key]:g} ms",
            )
    latency_axis.set_yscale("log")
    latency_axis.yaxis.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
    latency_axis.yaxis.set_major_formatter(ticker.FormatStrFormatter("%g"))
    latency_axis.yaxis.set_minor_formatter(ticker.NullFormatter())
    latency_axis.set_xlabel("seconds into the measurement (by scheduled send time)")
    latency_axis.set_ylabel("fan-out latency, ms (log)")
    latency_axis.grid(True, which="both", alpha=0.3)
    rate_axis = latency_axis.twinx()
    rate_axis.bar(
        times, [p["deliveries"] / window for p in points], width=window, alpha=0.12, color="grey"
    )
    rate_axis.set_ylabel("deliveries/s (bars)")
    if gates.get("min_deliveries_per_s") is not None:
        rate_axis.axhline(
            gates["min_deliveries_per_s"],
            color="grey",
            linestyle=":",
            linewidth=1,
            label=f"min {gates['min_deliveries_per_s']:g} deliveries/s",
        )
        rate_axis.legend(loc="upper right", fontsize="small")
    latency_axis.set_zorder(rate_axis.get_zorder() + 1)
    latency_axis.patch.set_visible(False)
    latency_axis.legend(loc="upper left", ncols=5, fontsize="small")
    plan = report["plan"]
    figure.suptitle(
        f"{plan['clients']} clients, {plan['rooms']} room(s), {plan['senders']} senders x "
        f"{plan['rate']:g} msg/s  -  run {report['run_id']}"
        + (f", {report['merged_from']} shards merged" if report.get("merged_from") else ""),
        fontsize="medium",
    )
    figure.tight_layout()
    figure.savefig(path)
    pyplot.close(figure)
