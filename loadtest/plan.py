"""What a run does: who connects where, which room each client joins, who sends, and when.

Every worker process derives the same plan from the same arguments, so clients in different
workers agree on rooms and senders without talking to each other. A sharded run
(`--shard K/N`) is the same plan cut along the same line: its shards x workers generator
processes are numbered globally, client c belongs to generator c % (shards x workers), and
shard K runs generators (K-1) x workers ... K x workers - 1. So N shards of W workers each
assign clients, rooms, URLs and senders exactly as one unsharded run of N x W workers.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass, field

NS_PER_S = 1_000_000_000


@dataclass(frozen=True)
class Gates:
    """CI thresholds; None means the figure is not gated."""

    max_p99_ms: float | None = None
    max_p999_ms: float | None = None
    max_loss: float | None = None
    max_join_ms: float | None = None
    max_all_joined_s: float | None = None
    max_errors: int | None = None
    max_duplicates: int | None = None
    min_deliveries_per_s: float | None = None
    min_delivered: int | None = None


@dataclass(frozen=True)
class RunPlan:
    urls: tuple[str, ...]
    clients: int = 100
    rooms: int = 1
    rooms_per_client: int = 1  # rooms on each client's socket: its join's and K-1 subscribes
    senders: int = 10
    rate: float = 1.0  # messages per second, per sender
    duration: float = 30.0
    ramp_up: float = 5.0
    warm_up: float = 5.0
    drain: float = 2.0  # how long to keep listening after the last measured send
    workers: int = 1  # generator processes of this shard (of the run, when unsharded)
    shard_count: int = 1
    shard_index: int = 0  # 0-based; the command line says --shard 1/N for the first
    churn_rate: float = 0.0  # forced reconnects per second, whole run
    churn_downtime: float = 0.5
    message_size: int = 100
    join_timeout: float = 10.0
    origin: str | None = None
    insecure: bool = False
    room_prefix: str = ""
    protocol: str = "v1"  # or "socketio": loadtest/socketio.py
    run_id: str = field(default_factory=lambda: secrets.token_hex(3))
    window: float = 1.0  # seconds per point of the latency-over-time series
    gates: Gates = field(default_factory=Gates)

    # --- who is who -----------------------------------------------------------------------

    def room_of(self, client: int) -> int:
        # Contiguous blocks give rooms sizes that differ by at most one.
        return client * self.rooms // self.clients

    def rooms_of(self, client: int) -> tuple[int, ...]:
        """The client's rooms, its join's first: its block's room and the next K-1."""
        first = self.room_of(client)
        return tuple((first + step) % self.rooms for step in range(self.rooms_per_client))

    def room_of_send(self, client: int, seq: int) -> int:
        """Where a sender's message ``seq`` goes: its rooms in turn (senders spread)."""
        rooms = self.rooms_of(client)
        return rooms[seq % len(rooms)]

    def room_size(self, room: int) -> int:
        """Clients with ``room`` on their socket."""
        return sum(
            len(self.room_members((room - step) % self.rooms))
            for step in range(self.rooms_per_client)
        )

    def room_name(self, room: int) -> str:
        prefix = self.room_prefix or f"lt-{self.run_id}"
        return f"{prefix}-{room}"

    def url_of(self, client: int) -> str:
        # Neighbours alternate URLs, so every room spans every URL (like a load balancer).
        return self.urls[client % len(self.urls)]

    @property
    def generators(self) -> int:
        """Generator processes over every shard of the run."""
        return self.shard_count * self.workers

    def generator_of(self, client: int) -> int:
        return client % self.generators

    def shard_of(self, client: int) -> int:
        return self.generator_of(client) // self.workers

    def worker_of(self, client: int) -> int:
        """The worker, within its shard, that runs `client`."""
        return self.generator_of(client) % self.workers

    def clients_of_worker(self, worker: int) -> range:
        """The clients that worker `worker` of this plan's shard runs."""
        generator = self.shard_index * self.workers + worker
        return range(generator, self.clients, self.generators)

    def clients_of_shard(self) -> list[int]:
        """Every client this plan's shard runs, over its workers."""
        return sorted(c for w in range(self.workers) for c in self.clients_of_worker(w))

    @property
    def is_sharded(self) -> bool:
        return self.shard_count > 1

    def room_members(self, room: int) -> range:
        first = -(-room * self.clients // self.rooms)  # ceil
        last = -(-(room + 1) * self.clients // self.rooms)
        return range(first, last)

    def sender_ranks(self) -> dict[int, int]:
        """Client index -> sender rank, picking senders round-robin across rooms.

        Within a room the senders take turns over the (URL, generator) slots where the room
        allows: taking each room's first members put every sender on one relay and one
        worker whenever rooms had an even size. Generators count over every shard, so the
        senders are the same whether the run is sharded or not.
        """
        ranks: dict[int, int] = {}
        slots = math.lcm(len(self.urls), self.generators)  # client % slots: URL, generator
        taken = [0] * self.rooms
        room = 0
        while len(ranks) < self.senders:
            # Shifted by the room, so rooms also differ in where their first sender sits.
            slot = (taken[room] + room) % slots
            chosen = self._free_member(self.room_members(room), slot, slots, ranks)
            if chosen is not None:
                ranks[chosen] = len(ranks)
                taken[room] += 1
            room = (room + 1) % self.rooms
        return ranks

    @staticmethod
    def _free_member(members: range, slot: int, slots: int, taken: dict[int, int]) -> int | None:
        """A member of `members` not yet taken, on `slot` if one is free there."""
        first_on_slot = members.start + (slot - members.start) % slots
        for client in range(first_on_slot, members.stop, slots):
            if client not in taken:
                return client
        return next((client for client in members if client not in taken), None)

    # --- when -----------------------------------------------------------------------------
    # Offsets in nanoseconds from the run's start instant t0 (CLOCK_MONOTONIC, shared by all
    # processes on the host).

    def connect_offset_ns(self, client: int) -> int:
        return int(self.ramp_up * NS_PER_S * client / self.clients)

    @property
    def send_start_ns(self) -> int:
        return int(self.ramp_up * NS_PER_S)

    @property
    def measure_start_ns(self) -> int:
        return self.send_start_ns + int(self.warm_up * NS_PER_S)

    @property
    def measure_end_ns(self) -> int:
        return self.measure_start_ns + int(self.duration * NS_PER_S)

    @property
    def stop_ns(self) -> int:
        return self.measure_end_ns + int(self.drain * NS_PER_S)

    @property
    def window_count(self) -> int:
        return max(1, -(-int(self.duration * NS_PER_S) // int(self.window * NS_PER_S)))

    def expected_sends_per_sender(self) -> float:
        return self.rate * self.duration
