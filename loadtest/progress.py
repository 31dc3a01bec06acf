"""Live progress: one line rewritten in place on a terminal, plain lines otherwise."""

from __future__ import annotations

from typing import Any, TextIO

from loadtest.plan import NS_PER_S, RunPlan


class ProgressDisplay:
    def __init__(self, plan: RunPlan, stream: TextIO, every_s: float, quiet: bool = False) -> None:
        self.plan = plan
        self.stream = stream
        self.every_s = every_s
        self.quiet = quiet
        self.in_place = stream.isatty()
        self.last_shown = float("-inf")
        self.last_delivered = 0
        self.last_t = 0.0

    def phase(self, t: float) -> str:
        plan = self.plan
        if t < 0:
            return "waiting"  # for --start-at
        if t < plan.send_start_ns / NS_PER_S:
            return "ramp-up"
        if t < plan.measure_start_ns / NS_PER_S:
            return "warm-up"
        if t < plan.measure_end_ns / NS_PER_S:
            return "measure"
        return "drain"

    def update(self, t: float, progress: dict[str, Any]) -> None:
        if self.quiet or t - self.last_shown < self.every_s * 0.9:
            return
        rate = (progress["delivered"] - self.last_delivered) / max(t - self.last_t, 1e-9)
        self.last_shown, self.last_t, self.last_delivered = t, t, progress["delivered"]
        p99 = f"{progress['p99_ms']:.2f} ms" if progress["p99_ms"] is not None else "-"
        total = self.plan.stop_ns / NS_PER_S
        line = (
            f"[{t:6.1f}s/{total:.0f}s {self.phase(t):>7}] ETA {_eta(total - t):>6}"
            f"  joined {progress['joined']}/{self.plan.clients}"
            f"  connected {progress['connected']}  sent {progress['sent']}"
            f"  delivered {progress['delivered']} ({rate:,.0f}/s)  p99 {p99}"
            f"  errors {progress['errors']}  reconnects {progress['reconnects']}"
            f"  loop lag {progress['lag_ms']:.1f} ms"
        )
        if self.in_place:
            self.stream.write("\r\x1b[2K" + line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def finish(self) -> None:
        if self.in_place and not self.quiet and self.last_shown > float("-inf"):
            self.stream.write("\n")
            self.stream.flush()


def _eta(seconds: float) -> str:
    """Time left as 5s, 2m05s or 1h02m (closing the sockets adds a few seconds)."""
    left = max(0, round(seconds))
    if left < 60:
        return f"{left}s"
    if left < 3600:
        return f"{left // 60}m{left % 60:02d}s"
    return f"{left // 3600}h{left % 3600 // 60:02d}m"
