"""``python -m service`` as child processes on free loopback ports: one relay, or a fleet.

Every relay started here is stopped by whoever started it (each is a context manager);
start-up waits for `/readyz` with a deadline.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

from harness.paths import REPO
from harness.polling import wait_until
from harness.ports import free_port
from harness.stopping import terminate_then_kill

# For a test's own relay: every socket gets its 1012 at once when the relay stops. The
# default DRAIN_SECONDS spreads them over 10 s at SIGTERM (service/drain.py), which a test
# whose pages keep reconnecting waits out in full; the drain's own tests keep the default.
QUICK_STOP = {"DRAIN_SECONDS": "0"}


class RelayProcess:
    """``python -m service`` as a child process, exactly as production starts it."""

    def __init__(self, env: dict[str, str] | None = None, port: int | None = None) -> None:
        self.port = port or free_port()
        inherited = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
        self.env = {**inherited, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - lives as long as the relay
            prefix="relay-", suffix=".log", delete=False
        )
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    @property
    def pid(self) -> int:
        """The started relay's process id (what the benchmarks sample CPU from)."""
        if self.process is None:
            raise RuntimeError("the relay has not been started: call start() first")
        return self.process.pid

    def command(self) -> list[str]:
        """What runs; the benchmark's Node peers (bench/contenders.py) put theirs here."""
        return [sys.executable, "-m", "service", "--host", "127.0.0.1", "--port", str(self.port)]

    def start(self, timeout: float = 20) -> RelayProcess:
        self.process = subprocess.Popen(
            self.command(),
            cwd=REPO,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

        def healthy() -> bool:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"{' '.join(self.command())} exited early:\n{self.output()}")
            try:
                with urllib.request.urlopen(f"{self.http}/readyz", timeout=1) as response:
                    return bool(response.status == 200)
            except OSError:
                return False

        try:
            wait_until(healthy, timeout, what=f"relay on port {self.port} ready")
        except BaseException:
            # `with RelayProcess()` calls no __exit__ when __enter__ raises: stop it here,
            # or a relay that never became ready outlives the test.
            self.stop()
            raise
        return self

    def output(self) -> str:
        return Path(self.log.name).read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL: the process dies without any cleanup."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def terminate(self, timeout: float = 30) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def stop(self) -> None:
        terminate_then_kill(self.process, grace=15)

    def __enter__(self) -> RelayProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self.log.close()
        Path(self.log.name).unlink(missing_ok=True)


class RelayFleet:
    """Relays started on demand over shared settings; leaving the `with` stops every one,
    including those of a start that failed half-way."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        self.env = dict(env or {})
        self.relays: list[RelayProcess] = []
        self._stack = contextlib.ExitStack()

    def start(self, count: int, **env: str) -> list[RelayProcess]:
        """`count` more relays with the fleet's settings and `env` on top; returns them."""
        started: list[RelayProcess] = []
        for _ in range(count):
            relay = RelayProcess(env={**self.env, **env})
            self._stack.push(relay.__exit__)  # first, so a relay that fails to start is stopped
            self.relays.append(relay)
            started.append(relay.start())
        return started

    def stop(self) -> None:
        """Stop every relay started so far; the fleet can start new ones afterwards."""
        self._stack.close()
        self.relays = []
        self._stack = contextlib.ExitStack()

    @property
    def urls(self) -> list[str]:
        return [relay.ws for relay in self.relays]

    def __enter__(self) -> RelayFleet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
