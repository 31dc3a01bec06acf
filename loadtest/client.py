"""One simulated chat member: connects, joins its room (and subscribes its other rooms with
--rooms-per-client), listens, maybe sends, and reconnects, resuming each room.

Every delivery of a measured message is checked (right room, not seen before, in order) and
timed against the stamp its sender put in the text.
"""

from __future__ import annotations

import asyncio
import random
from time import monotonic_ns
from typing import Any

import orjson

from loadtest.client_context import (
    ClientContext,
    ClosedDuringJoin,
    JoinRejected,
    connect_error_name,
)
from loadtest.schedule import due_times, sleep_until, stamp_for
from loadtest.socketio import NamespaceRefused, open_socketio_connection
from loadtest.stamp import decode_text, encode_text
from loadtest.wire import ConnectionClosed, HandshakeFailed, RelayConnection, open_connection

__all__ = ["ClientContext", "SimulatedClient"]

# Presence frames (member_add, member_delete, member_history) are most of a join storm's
# traffic, and the generator does not use them: when a frame names its type first, as the
# relay's do, it is skipped without parsing (half the generator's CPU in scenario D).
PRESENCE_PREFIX = b'{"type":"member_'


class SimulatedClient:
    def __init__(self, index: int, ctx: ClientContext, sender_rank: int | None) -> None:
        self.index = index
        self.ctx = ctx
        self.sender_rank = sender_rank
        self.url = ctx.plan.url_of(index)
        self.room = ctx.plan.room_of(index)
        self.rooms = ctx.plan.rooms_of(index)  # the join's first
        self.room_name = ctx.plan.room_name(self.room)
        self.conn: RelayConnection | None = None  # set while joined
        self.connected = asyncio.Event()
        self.token: str | None = None
        self.member_id: str | None = None
        self.last_ids: dict[int, str] = {}  # room -> newest message id heard: its `since`
        self.histories_due = 0  # message_history frames still to come in this join
        self.first_join_ns: int | None = None
        self.joining: asyncio.Future[None] | None = None
        self.dropping = False  # a churn drop we caused, not a failure
        self.seen: dict[int, bytearray] = {}  # sender -> seq -> delivered?
        self.highest_seq: dict[tuple[int, int], int] = {}  # (sender, room): order is per room
        self.unacked: dict[str, int] = {}  # ref -> stamp of measured messages

    @property
    def is_sender(self) -> bool:
        return self.sender_rank is not None

    @property
    def measured(self) -> bool:
        """A recipient counts only if it had joined before measurement began."""
        return self.first_join_ns is not None and self.first_join_ns <= self.ctx.measure_start

    # --- connection lifecycle -------------------------------------------------------------

    async def run(self) -> None:
        await sleep_until(self.ctx.t0_ns + self.ctx.plan.connect_offset_ns(self.index))
        first_attempt_ns = monotonic_ns()
        backoff = 0.1
        while not self.ctx.stopping.is_set():
            try:
                conn = await self._connect_and_join()
            except (
                OSError,
                TimeoutError,
                HandshakeFailed,
                JoinRejected,
                ClosedDuringJoin,
                NamespaceRefused,
            ) as exc:
                if self.ctx.stopping.is_set():
                    return
                self.ctx.tally.connect_errors[connect_error_name(exc)] += 1
                await asyncio.sleep(backoff * random.uniform(0.5, 1.5))
                backoff = min(backoff * 2, 2.0)
                continue
            backoff = 0.1
            now = monotonic_ns()
            tally = self.ctx.tally
            if self.first_join_ns is None:
                self.first_join_ns = now
                tally.join_us.append((now - first_attempt_ns) // 1000)
                tally.last_join_done_ns = max(tally.last_join_done_ns, now - self.ctx.t0_ns)
            else:
                tally.reconnects += 1
            self.conn = conn
            self.connected.set()
            code = await conn.closed
            self.connected.clear()
            self.conn = None
            if self.dropping:
                self.dropping = False
                await asyncio.sleep(self.ctx.plan.churn_downtime)
            elif not self.ctx.stopping.is_set():
                tally.close_codes[code] += 1
                # 1012 and friends: come back with jitter, as the web client does.
                await asyncio.sleep(random.uniform(0.05, 0.5))

    async def _connect_and_join(self) -> RelayConnection:
        plan = self.ctx.plan
        deadline = asyncio.get_running_loop().time() + plan.join_timeout
        self.joining = asyncio.get_running_loop().create_future()
        opener = open_socketio_connection if plan.protocol == "socketio" else open_connection
        conn = await opener(
            self.url,
            self._on_text,
            origin=plan.origin,
            tls=self.ctx.ssl_context,
            timeout=plan.join_timeout,
        )
        try:
            join: dict[str, str] = {"type": "join", "room": self.room_name}
            if self.token:
                join["token"] = self.token
            self.histories_due = len(self.rooms)
            for index, room in enumerate(self.rooms):
                frame = join if index == 0 else {"type": "subscribe", "room": plan.room_name(room)}
                if room in self.last_ids:
                    frame["since"] = self.last_ids[room]
                conn.send_text(orjson.dumps(frame))
            async with asyncio.timeout_at(deadline):
                await asyncio.wait((self.joining, conn.closed), return_when=asyncio.FIRST_COMPLETED)
            if not self.joining.done():
                raise ClosedDuringJoin(conn.closed.result())
            self.joining.result()  # raises JoinRejected
        except BaseException:
            conn.abort()
            raise
        finally:
            self.joining = None
        return conn

    def _on_text(self, payload: bytes, now: int) -> None:
        """Every text frame, called inline from the socket read (see wire.py)."""
        if payload.startswith(PRESENCE_PREFIX):
            return
        try:
            frame = orjson.loads(payload)
            kind = frame["type"]
            if kind == "messages":
                self._on_message(frame["message"], now, self._room(frame), from_history=False)
            elif kind == "ack":
                stamp = self.unacked.pop(frame.get("ref"), None)
                if stamp is not None:
                    self.ctx.tally.acks += 1
                    self.ctx.tally.ack_us.append((now - stamp) // 1000)
            elif kind == "welcome":
                self._on_welcome(frame)
            elif kind == "message_history":
                self._on_history(frame, now)
            elif kind == "resync":
                self.ctx.tally.resyncs += 1
            elif kind == "error":
                self.ctx.tally.error_frames[frame.get("code", "?")] += 1
                if self.joining is not None and not self.joining.done():
                    self.joining.set_exception(JoinRejected(frame.get("code", "error")))
        except (ValueError, KeyError, TypeError, AttributeError):
            self.ctx.tally.error_frames["unreadable_frame"] += 1

    def _on_welcome(self, frame: dict[str, Any]) -> None:
        member_id = frame["member"]["id"]
        if self.first_join_ns is not None and member_id != self.member_id:
            self.ctx.tally.identity_changes += 1
        self.member_id = member_id
        self.token = frame.get("token", self.token)

    def _room(self, frame: dict[str, Any]) -> int:
        """The frame's room (a relay of one room per socket names none: the join's)."""
        name = frame.get("room")
        return self.room if name is None else self.ctx.room_index.get(name, -1)

    def _on_history(self, frame: dict[str, Any], now: int) -> None:
        resuming = self.first_join_ns is not None
        if resuming and not frame.get("complete", True):
            self.ctx.tally.history_incomplete += 1
        room = self._room(frame)
        for message in frame.get("messages", ()):
            # On a first join the history predates us; on a resume it is what we missed.
            self._on_message(message, now, room, from_history=resuming)
        self.histories_due -= 1
        if self.histories_due <= 0 and self.joining is not None and not self.joining.done():
            self.joining.set_result(None)

    def drop(self) -> bool:
        """Cut the connection abruptly, as a lost network would; the client then resumes."""
        if self.conn is None or self.dropping:
            return False
        self.dropping = True
        self.ctx.tally.churn_drops += 1
        self.conn.abort()
        return True

    async def close(self) -> None:
        if self.conn is not None:
            await self.conn.close()

    # --- receiving ------------------------------------------------------------------------

    def _on_message(self, message: dict[str, Any], now: int, room: int, from_history: bool) -> None:
        ctx = self.ctx
        if "id" in message:
            self.last_ids[room] = message["id"]
        stamp = decode_text(message.get("text", ""), ctx.prefix)
        if stamp is None:
            return  # someone else's traffic in the room
        tally = ctx.tally
        sender, seq, offset_ns = stamp
        stamp_ns = ctx.t0_ns + offset_ns  # the sender's offset, on this process's clock
        if (
            sender not in ctx.senders
            or room not in self.rooms
            or ctx.plan.room_of_send(sender, seq) != room
        ):
            tally.misrouted += 1
            return
        if not (ctx.measure_start <= stamp_ns < ctx.measure_end) or not self.measured:
            return
        seen = self.seen.get(sender)
        if seen is None:
            seen = self.seen[sender] = bytearray(seq + 64)
        elif seq >= len(seen):
            seen.extend(bytes(max(seq + 1 - len(seen), len(seen))))
        if seen[seq]:
            tally.duplicated += 1
            return
        seen[seq] = 1
        if seq < self.highest_seq.get((sender, room), -1):
            tally.out_of_order += 1
        else:
            self.highest_seq[sender, room] = seq
        tally.delivered += 1
        if from_history:
            # Held back by our own reconnect: counted as delivered, but its delay measures
            # the churn, not the relay, so it stays out of the latency figures.
            tally.recovered += 1
        else:
            window = (stamp_ns - ctx.measure_start) // ctx.window_ns
            tally.latency_windows[window].append((now - stamp_ns) // 1000)

    # --- sending --------------------------------------------------------------------------

    async def send_loop(self) -> None:
        assert self.sender_rank is not None
        ctx, plan, tally = self.ctx, self.ctx.plan, self.ctx.tally
        first_ns = ctx.t0_ns + plan.send_start_ns
        for seq, due in due_times(first_ns, plan.rate, self.sender_rank, plan.senders):
            if due >= ctx.measure_end:
                return
            await sleep_until(due)
            if self.conn is None:
                await self.connected.wait()  # open loop: sent late, still stamped when due
            conn = self.conn
            if ctx.stopping.is_set() or conn is None:
                return
            now = monotonic_ns()
            stamp = stamp_for(due, now)
            ref = str(seq)
            text = encode_text(ctx.prefix, self.index, seq, stamp - ctx.t0_ns, plan.message_size)
            measured = ctx.measure_start <= stamp < ctx.measure_end
            room = plan.room_of_send(self.index, seq)
            frame: dict[str, str] = {"type": "send", "text": text, "ref": ref}
            if plan.rooms_per_client > 1:
                frame["room"] = plan.room_name(room)
            try:
                conn.send_text(orjson.dumps(frame))
            except ConnectionClosed:
                tally.send_failures += 1
                continue
            if measured:
                tally.sent_by_room[room] += 1
                tally.send_lateness_us.append(max(0, now - due) // 1000)
                self.unacked[ref] = stamp
