"""`python -m bench.relay_variant [--ws IMPL] [--tracemalloc-dir DIR] --host H --port P`: the
relay exactly as `python -m service` runs it, with another uvicorn WebSocket implementation
and/or tracemalloc on, for the benchmarks only (production never imports this module).

With `--tracemalloc-dir`, the first SIGUSR1 starts tracing (so start-up runs at full speed
and only what is allocated afterwards is traced) and each SIGUSR1 writes a snapshot to
DIR/<n>.snapshot (n = 1, 2, ...), so a benchmark takes one before and one after it opens
connections. `VariantRelay` starts it as the harness starts a relay.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import signal
import sys
import tracemalloc
from pathlib import Path
from types import FrameType

from harness.relay import RelayProcess

# uvicorn's `--ws` choices that are WebSocket implementations ("auto" picks one of them),
# and the relay's own subclass of the sans-I/O one (service/ws_protocol.py).
WS_IMPLEMENTATIONS = ("websockets-sansio", "websockets", "wsproto", "lean-sansio")


def default_ws() -> str | type[asyncio.Protocol]:
    """The implementation `python -m service` runs."""
    from service.__main__ import WS_IMPLEMENTATION

    return WS_IMPLEMENTATION


def ws_setting(name: str) -> str | type[asyncio.Protocol]:
    """What uvicorn.Config(ws=...) takes for a name of WS_IMPLEMENTATIONS."""
    if name == "lean-sansio":
        from service.ws_protocol import LeanWebSocketProtocol

        return LeanWebSocketProtocol
    return name


TRACE_FRAMES = int(os.environ.get("BENCH_TRACE_FRAMES", "6"))  # per allocation


def snapshot_on_signal(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    taken = [0]

    def dump(signum: int, frame: FrameType | None) -> None:
        taken[0] += 1
        if not tracemalloc.is_tracing():
            tracemalloc.start(TRACE_FRAMES)
        gc.collect()  # garbage waiting for a collection is not what a connection holds
        tracemalloc.take_snapshot().dump(str(directory / f"{taken[0]}.snapshot"))
        (directory / f"{taken[0]}.done").touch()  # the dump is complete once this exists

    signal.signal(signal.SIGUSR1, dump)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.relay_variant", description=__doc__)
    parser.add_argument("--ws", choices=WS_IMPLEMENTATIONS, default=None)
    parser.add_argument("--tracemalloc-dir", type=Path, default=None)
    args, service_argv = parser.parse_known_args(argv)
    if args.tracemalloc_dir is not None:
        snapshot_on_signal(args.tracemalloc_dir)
    from service.__main__ import main as service_main

    return service_main(service_argv, ws=ws_setting(args.ws) if args.ws else default_ws())


class VariantRelay(RelayProcess):
    """A relay started through this module (same settings, same readiness check)."""

    def __init__(
        self,
        env: dict[str, str] | None = None,
        ws: str | None = None,
        tracemalloc_dir: Path | None = None,
    ) -> None:
        super().__init__(env=env)
        self.ws_implementation = ws
        self.tracemalloc_dir = tracemalloc_dir

    def start(self, timeout: float = 20) -> VariantRelay:
        super().start(timeout)
        return self

    def __enter__(self) -> VariantRelay:
        return self.start()

    def command(self) -> list[str]:
        extra = [] if self.ws_implementation is None else ["--ws", self.ws_implementation]
        if self.tracemalloc_dir is not None:
            extra += ["--tracemalloc-dir", str(self.tracemalloc_dir)]
        return [sys.executable, "-m", "bench.relay_variant", *extra, *super().command()[3:]]


if __name__ == "__main__":
    raise SystemExit(main())
