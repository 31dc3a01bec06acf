"""The servers `make bench` compares: this relay and what a user would pick instead.

Each contender runs as two server processes over one throwaway redis-server, on loopback
ports, and is driven by the same `python -m loadtest` (the alternatives with
`--protocol socketio`, loadtest/socketio.py). The alternatives are Node programs in
bench/peers/, run with the venv's Node (`make node`) on the packages package.json pins
(`npm ci`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from harness.redis_server import RedisServer
from harness.relay import RelayProcess

REPO = Path(__file__).resolve().parents[1]
PEERS = REPO / "bench" / "peers"
NODE = REPO / ".venv" / "bin" / "node"
NODE_MODULES = REPO / "node_modules"

# The relay's per-connection rate limit protects production; senders here go far beyond it.
RELAY_ENV = {"RATE_LIMIT": "1000000", "RATE_BURST": "1000000", "LOG_LEVEL": "warning"}


@dataclass(frozen=True)
class Contender:
    key: str  # results and command line
    title: str  # table heading
    protocol: str  # loadtest --protocol
    script: str | None  # bench/peers/<script>, None for the relay


RELAY = Contender("relay", "this relay", "v1", None)
SOCKETIO = Contender("socketio", "Socket.IO 4 + redis-adapter", "socketio", "socketio-chat.js")
ORIGINAL = Contender("original", "the original sample", "socketio", "original-sample.js")
CONTENDERS = (RELAY, SOCKETIO, ORIGINAL)


def check_node_peers() -> None:
    """Fail early, saying how to fix it, when Node or the pinned packages are missing."""
    if not NODE.exists():
        raise RuntimeError(f"{NODE} is missing: `make node` links the venv's Node")
    for package in ("socket.io", "@socket.io/redis-adapter", "redis"):
        if not (NODE_MODULES / package / "package.json").exists():
            raise RuntimeError(
                f"node_modules/{package} is missing: `make cdk-cli` runs `npm ci` "
                "(package.json pins it)"
            )


class PeerProcess(RelayProcess):
    """One bench/peers server under the venv's Node, started, watched and stopped as a relay
    is (ready once /readyz answers: its Redis connections are up)."""

    def __init__(self, script: str, redis_url: str) -> None:
        super().__init__(env={"REDIS_URL": redis_url})
        self.env["PORT"] = str(self.port)
        self.script = PEERS / script

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}/socket.io/"

    def command(self) -> list[str]:
        return [str(NODE), str(self.script)]


class ContenderServers:
    """`count` fresh servers of one contender on a flushed Redis; a context manager."""

    def __init__(self, contender: Contender, redis_server: RedisServer, count: int = 2) -> None:
        self.contender = contender
        self.redis = redis_server
        self.count = count
        self.servers: list[RelayProcess] = []

    def __enter__(self) -> ContenderServers:
        client = self.redis.client()
        client.flushall()
        client.close()
        try:
            for _ in range(self.count):
                if self.contender.script is None:
                    server = RelayProcess(env={**RELAY_ENV, "REDIS_URL": self.redis.url})
                else:
                    server = PeerProcess(self.contender.script, self.redis.url)
                self.servers.append(server)  # appended first, so a failed start is stopped
                server.start()
        except BaseException:
            self.__exit__()
            raise
        time.sleep(1.0)  # let fresh processes settle before any baseline
        return self

    def __exit__(self, *exc: object) -> None:
        for server in self.servers:
            server.__exit__(None, None, None)
        self.servers = []

    @property
    def urls(self) -> list[str]:
        return [server.ws for server in self.servers]

    def pids(self) -> list[int]:
        return [s.process.pid for s in self.servers if s.process is not None]

    def rss(self) -> int:
        return sum(psutil.Process(pid).memory_info().rss for pid in self.pids())
