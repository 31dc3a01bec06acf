"""Chat members that behave like the web client across relay failures, and fleets of them.

A `ResumingMember` keeps the load balancer's sticky cookie, reconnects with full jitter after
any close (web/app.js: 0.5 s base, doubling, 15 s cap), resumes with `token` + `since`, and
resends unacknowledged sends with their `ref` (the relay stores a repeated ref once). It records
everything it receives, so a test can compare each member's messages with what the relay
acknowledged: lost, duplicated, out of order.
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

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from tests.support.balancer import STICKY_COOKIE

JOIN_TIMEOUT = 10.0
STAMP = "f|"  # texts "f|<sender>|<seq>|<monotonic ns>" carry their send time for latency


def id_key(message_id: str) -> tuple[int, int]:
    """Message ids are `<ms>-<seq>`: compare them as integer pairs (docs/protocol.md)."""
    ms, _, seq = message_id.partition("-")
    return int(ms), int(seq or 0)


async def wait_for(predicate, timeout: float, what: str, interval: float = 0.05) -> float:
    """Poll until `predicate()` is true; return the seconds it took, or raise TimeoutError."""
    started = time.monotonic()
    deadline = started + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not reached within {timeout}s")
        await asyncio.sleep(interval)
    return time.monotonic() - started


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
        self.ids: list[str] = []  # message ids in arrival order, live and from history
        self.seen: set[str] = set()
        self.duplicates = 0
        self.out_of_order = 0
        self.identity_changes = 0
        self.history_incomplete = 0
        self.resyncs = 0
        self.errors: Counter[str] = Counter()
        self.connect_errors: Counter[str] = Counter()
        self.sessions: list[Session] = []
        self.latencies_ns: list[int] = []
        self.unacked: dict[str, str] = {}  # ref -> text, resent after a resume
        self.acked: dict[str, str] = {}  # ref -> message id
        self.ws: ClientConnection | None = None
        self.stopping = False
        self._refs = itertools.count()
        self._attempt = 0

    # --- what a test reads ------------------------------------------------------------------

    @property
    def joined(self) -> bool:
        return self.ws is not None

    @property
    def relay(self) -> str | None:
        return self.sessions[-1].relay if self.sessions else None

    def missing(self, expected: set[str]) -> set[str]:
        return expected - self.seen

    # --- lifecycle --------------------------------------------------------------------------

    async def run(self) -> None:
        """Connect, join, receive; after any close, come back with jitter and resume."""
        while not self.stopping:
            try:
                ws = await self._connect_and_join()
            except (OSError, TimeoutError, InvalidHandshake, ConnectionClosed) as exc:
                if self.stopping:
                    return
                name = f"http_{exc.response.status_code}" if isinstance(exc, InvalidStatus) else ""
                self.connect_errors[name or type(exc).__name__] += 1
                await asyncio.sleep(self._reconnect_delay())
                continue
            self._attempt = 0
            session = self.sessions[-1]
            await self._resend_unacked(ws)
            try:
                async for raw in ws:
                    self._handle(orjson.loads(raw), time.monotonic_ns())
            except ConnectionClosed:
                pass
            self.ws = None
            session.closed_at = time.monotonic()
            session.close_code = int(ws.close_code) if ws.close_code is not None else 1006
            if not self.stopping and self.jitter_first_reconnect:
                await asyncio.sleep(self._reconnect_delay())

    def _reconnect_delay(self) -> float:
        # Full jitter, as web/app.js: spread a relay's clients out instead of stampeding.
        ceiling = min(self.reconnect_cap, self.reconnect_base * 2**self._attempt)
        self._attempt += 1
        return random.uniform(0, ceiling)

    async def _connect_and_join(self) -> ClientConnection:
        dialled_at = time.monotonic()
        headers = {}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        ws = await connect(
            self.url,
            additional_headers=headers,
            compression=None,
            open_timeout=JOIN_TIMEOUT,
            ping_interval=None,  # the relay pings
            close_timeout=2,
        )
        try:
            for header in ws.response.headers.get_all("Set-Cookie"):
                name, _, value = header.split(";", 1)[0].partition("=")
                self.cookies[name.strip()] = value.strip()
            join: dict[str, Any] = {"type": "join", "room": self.room}
            if self.token:
                join["token"] = self.token
            if self.last_id:
                join["since"] = self.last_id
            await ws.send(orjson.dumps(join).decode())
            async with asyncio.timeout(JOIN_TIMEOUT):
                while True:
                    frame = orjson.loads(await ws.recv())
                    self._handle(frame, time.monotonic_ns())
                    if frame["type"] == "message_history":
                        break
        except BaseException:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), 2)
            raise
        relay = self.cookies.get(STICKY_COOKIE, "").split("|")[0] or None
        self.sessions.append(
            Session(relay=relay, joined_at=time.monotonic(), dialled_at=dialled_at)
        )
        self.ws = ws
        return ws

    async def _resend_unacked(self, ws: ClientConnection) -> None:
        for ref, text in list(self.unacked.items()):
            with contextlib.suppress(ConnectionClosed):
                await ws.send(orjson.dumps({"type": "send", "text": text, "ref": ref}).decode())

    async def stop(self) -> None:
        self.stopping = True
        ws = self.ws
        if ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), 3)

    # --- sending ----------------------------------------------------------------------------

    async def send(self, text: str) -> str:
        """Queue a message; sent now if joined, else on the next resume. Returns its ref."""
        ref = str(next(self._refs))
        self.unacked[ref] = text
        ws = self.ws
        if ws is not None:
            with contextlib.suppress(ConnectionClosed):
                await ws.send(orjson.dumps({"type": "send", "text": text, "ref": ref}).decode())
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
        if message_id in self.seen:
            self.duplicates += 1
            return
        if self.ids and id_key(message_id) < id_key(self.ids[-1]):
            self.out_of_order += 1
        self.seen.add(message_id)
        self.ids.append(message_id)
        self.last_id = message_id
        text = message.get("text", "")
        if live and text.startswith(STAMP):
            self.latencies_ns.append(now_ns - int(text.rsplit("|", 1)[1]))


def stamped_text(sender: int, seq: int) -> str:
    return f"{STAMP}{sender}|{seq}|{time.monotonic_ns()}"


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
        return {
            "expected": sum(len(acked[m.room]) for m in members),
            "delivered": sum(len(m.seen & acked[m.room]) for m in members),
            "lost": sum(len(m.missing(acked[m.room])) for m in members),
            "duplicated": sum(m.duplicates for m in members),
            "out_of_order": sum(m.out_of_order for m in members),
            "unacked_sends": sum(len(m.unacked) for m in members),
            "foreign": sum(len(m.seen - acked[m.room]) for m in members),
            "history_incomplete": sum(m.history_incomplete for m in members),
            "resyncs": sum(m.resyncs for m in members),
            "identity_changes": sum(m.identity_changes for m in members),
        }
