"""Chat members that behave like the web client across relay failures, and fleets of them.

A `ResumingMember` keeps the load balancer's sticky cookie, reconnects with full jitter after
any close (web/reconnect.js: 0.5 s base, doubling, 15 s cap), resumes with `token` + `since`, and
resends unacknowledged sends with their `ref` (the relay stores a repeated ref once). It records
everything it receives (`harness.losses.Arrivals`), so a test can compare each member's
messages with what the relay acknowledged: lost, duplicated, out of order. It speaks through
`harness.client.ChatClient`; texts made by `send_until` carry `harness.latency`'s stamp.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from harness.balancer import STICKY_COOKIE
from harness.client import ChatClient
from harness.latency import latency_ns, stamped_text
from harness.losses import Arrivals
from harness.polling import wait_for

JOIN_TIMEOUT = 10.0


@dataclass
class Session:
    """One connection of a member, from join to close."""

    relay: str | None  # the relay the sticky cookie named when it joined
    joined_at: float  # time.monotonic()
    closed_at: float | None = None
    close_code: int | None = None
    dialled_at: float | None = None  # when the connection that led to this session began


class ResumingMember:
    def __init__(
        self,
        url: str,
        room: str,
        *,
        cookies: dict[str, str] | None = None,
        reconnect_base: float = 0.5,
        reconnect_cap: float = 15.0,
        jitter_first_reconnect: bool = True,
    ) -> None:
        self.url = url
        self.room = room
        self.cookies = dict(cookies or {})
        self.reconnect_base = reconnect_base
        self.reconnect_cap = reconnect_cap
        # False: come back the instant a connection drops (a naive client; a true stampede).
        self.jitter_first_reconnect = jitter_first_reconnect
        self.token: str | None = None
        self.member_id: str | None = None
        self.last_id: str | None = None
        self.arrivals = Arrivals()  # message ids in arrival order, live and from history
        self.identity_changes = 0
        self.history_incomplete = 0
        self.resyncs = 0
        self.errors: Counter[str] = Counter()
        self.connect_errors: Counter[str] = Counter()
        self.sessions: list[Session] = []
        self.latencies_ns: list[int] = []
        self.unacked: dict[str, str] = {}  # ref -> text, resent after a resume
        self.acked: dict[str, str] = {}  # ref -> message id
        self.client: ChatClient | None = None
        self.stopping = False
        self._refs = itertools.count()
        self._attempt = 0

    # --- what a test reads ------------------------------------------------------------------

    @property
    def ws(self) -> ClientConnection | None:
        return self.client.ws if self.client is not None else None

    @property
    def joined(self) -> bool:
        return self.client is not None

    @property
    def ids(self) -> list[str]:
        return self.arrivals.ids

    @property
    def seen(self) -> set[str]:
        return self.arrivals.seen

    @property
    def duplicates(self) -> int:
        return self.arrivals.duplicates

    @property
    def out_of_order(self) -> int:
        return self.arrivals.out_of_order

    @property
    def relay(self) -> str | None:
        return self.sessions[-1].relay if self.sessions else None

    def missing(self, expected: set[str]) -> set[str]:
        return self.arrivals.missing(expected)

    # --- lifecycle --------------------------------------------------------------------------

    async def run(self) -> None:
        """Connect, join, receive; after any close, come back with jitter and resume."""
        while not self.stopping:
            try:
                client = await self._connect_and_join()
            except (OSError, TimeoutError, InvalidHandshake, ConnectionClosed) as exc:
                if self.stopping:
                    return
                name = f"http_{exc.response.status_code}" if isinstance(exc, InvalidStatus) else ""
                self.connect_errors[name or type(exc).__name__] += 1
                await asyncio.sleep(self._reconnect_delay())
                continue
            self._attempt = 0
            session = self.sessions[-1]
            await self._resend_unacked(client)
            try:
                async for frame in client.frames():
                    self._handle(frame, time.monotonic_ns())
            except ConnectionClosed:
                pass
            self.client = None
            session.closed_at = time.monotonic()
            code = client.ws.close_code
            session.close_code = int(code) if code is not None else 1006
            if not self.stopping and self.jitter_first_reconnect:
                await asyncio.sleep(self._reconnect_delay())

    def _reconnect_delay(self) -> float:
        # Full jitter, as web/reconnect.js: spread a relay's clients out instead of stampeding.
        ceiling = min(self.reconnect_cap, self.reconnect_base * 2**self._attempt)
        self._attempt += 1
        return random.uniform(0, ceiling)

    async def _connect_and_join(self) -> ChatClient:
        dialled_at = time.monotonic()
        client = await ChatClient.connect(
            self.url,
            cookies=self.cookies,
            open_timeout=JOIN_TIMEOUT,
            ping_interval=None,  # the relay pings
            close_timeout=2,
        )
        try:
            self.cookies = dict(client.cookies)  # the balancer's sticky cookie, kept
            join: dict[str, Any] = {"type": "join", "room": self.room}
            if self.token:
                join["token"] = self.token
            if self.last_id:
                join["since"] = self.last_id
            await client.send(join)
            async with asyncio.timeout(JOIN_TIMEOUT):
                while True:
                    frame = await client.recv(timeout=JOIN_TIMEOUT)
                    self._handle(frame, time.monotonic_ns())
                    if frame["type"] == "message_history":
                        break
        except BaseException:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.close(), 2)
            raise
        relay = self.cookies.get(STICKY_COOKIE, "").split("|")[0] or None
        self.sessions.append(
            Session(relay=relay, joined_at=time.monotonic(), dialled_at=dialled_at)
        )
        self.client = client
        return client

    async def _resend_unacked(self, client: ChatClient) -> None:
        for ref, text in list(self.unacked.items()):
            with contextlib.suppress(ConnectionClosed):
                await client.send({"type": "send", "text": text, "ref": ref})

    async def stop(self) -> None:
        self.stopping = True
        client = self.client
        if client is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.close(), 3)

    # --- sending ----------------------------------------------------------------------------

    async def send(self, text: str) -> str:
        """Queue a message; sent now if joined, else on the next resume. Returns its ref."""
        ref = str(next(self._refs))
        self.unacked[ref] = text
        client = self.client
        if client is not None:
            with contextlib.suppress(ConnectionClosed):
                await client.send({"type": "send", "text": text, "ref": ref})
        return ref

    # --- receiving --------------------------------------------------------------------------

    def _handle(self, frame: dict[str, Any], now_ns: int) -> None:
        kind = frame["type"]
        if kind == "messages":
            self._on_message(frame["message"], now_ns, live=True)
        elif kind == "ack":
            ref = frame.get("ref")
            if ref in self.unacked:
                del self.unacked[ref]
                self.acked[ref] = frame["id"]
        elif kind == "welcome":
            member_id = frame["member"]["id"]
            if self.member_id is not None and member_id != self.member_id:
                self.identity_changes += 1
            self.member_id = member_id
            self.token = frame["token"]
        elif kind == "message_history":
            if self.sessions and not frame.get("complete", True):
                self.history_incomplete += 1  # the loss signal on a resume
            for message in frame["messages"]:
                self._on_message(message, now_ns, live=False)
        elif kind == "resync":
            self.resyncs += 1
        elif kind == "error":
            self.errors[frame.get("code", "?")] += 1

    def _on_message(self, message: dict[str, Any], now_ns: int, live: bool) -> None:
        message_id = message["id"]
        if not self.arrivals.record(message_id):
            return
        self.last_id = message_id
        latency = latency_ns(message.get("text", ""), now_ns) if live else None
        if latency is not None:
            self.latencies_ns.append(latency)


async def send_until(member: ResumingMember, sender: int, rate: float, stop: asyncio.Event):
    """Send stamped texts at `rate` per second on a fixed schedule until `stop` is set."""
    loop = asyncio.get_running_loop()
    start, seq = loop.time(), 0
    while not stop.is_set():
        await member.send(stamped_text(sender, seq))
        seq += 1
        await asyncio.sleep(max(0.0, start + seq / rate - loop.time()))


class Fleet:
    """Members running as tasks; leaving the `async with` stops every one of them."""

    def __init__(self, members: list[ResumingMember], ramp_up: float = 0.0) -> None:
        self.members = members
        self.ramp_up = ramp_up  # first connects spread over this many seconds
        self.tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> Fleet:
        count = len(self.members)
        self.tasks = [
            asyncio.create_task(self._run_after(m, self.ramp_up * i / count))
            for i, m in enumerate(self.members)
        ]
        return self

    @staticmethod
    async def _run_after(member: ResumingMember, delay: float) -> None:
        await asyncio.sleep(delay)
        await member.run()

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.gather(*(m.stop() for m in self.members), return_exceptions=True)
        for task in self.tasks:
            task.cancel()
        await asyncio.wait_for(asyncio.gather(*self.tasks, return_exceptions=True), 30)

    def rooms(self) -> dict[str, list[ResumingMember]]:
        rooms: dict[str, list[ResumingMember]] = {}
        for member in self.members:
            rooms.setdefault(member.room, []).append(member)
        return rooms

    async def all_joined(self, timeout: float) -> float:
        try:
            return await wait_for(
                lambda: all(m.joined for m in self.members), timeout, "every member joined"
            )
        except TimeoutError as exc:
            raise TimeoutError(f"{exc}: {self.summary()}") from None

    def summary(self) -> dict[str, object]:
        """Where the members are, for a failure message."""
        return {
            "joined": sum(m.joined for m in self.members),
            "members": len(self.members),
            "sessions": sum(len(m.sessions) for m in self.members),
            "close_codes": dict(Counter(s.close_code for m in self.members for s in m.sessions)),
            "connect_errors": dict(sum((m.connect_errors for m in self.members), Counter())),
        }

    def acked_ids(self, room: str) -> set[str]:
        return {i for m in self.members if m.room == room for i in m.acked.values()}

    async def converged(self, timeout: float) -> float | None:
        """Seconds until every send was acknowledged and every member held its room's
        messages; None if that did not happen within `timeout` (`losses()` then says what)."""

        def done() -> bool:
            if any(m.unacked for m in self.members):
                return False
            expected = {room: self.acked_ids(room) for room in self.rooms()}
            return not any(m.missing(expected[m.room]) for m in self.members)

        try:
            return await wait_for(done, timeout, "every message acknowledged and delivered", 0.2)
        except TimeoutError:
            return None

    def losses(self) -> dict[str, int]:
        """Totals over the fleet: what members lack of their room's acknowledged messages."""
        acked = {room: self.acked_ids(room) for room in self.rooms()}
        members = self.members
        deliveries = [m.arrivals.against(acked[m.room]) for m in members]
        return {
            "expected": sum(d.expected for d in deliveries),
            "delivered": sum(d.delivered for d in deliveries),
            "lost": sum(d.lost for d in deliveries),
            "duplicated": sum(d.duplicated for d in deliveries),
            "out_of_order": sum(d.out_of_order for d in deliveries),
            "unacked_sends": sum(len(m.unacked) for m in members),
            "foreign": sum(d.foreign for d in deliveries),
            "history_incomplete": sum(m.history_incomplete for m in members),
            "resyncs": sum(m.resyncs for m in members),
            "identity_changes": sum(m.identity_changes for m in members),
        }
