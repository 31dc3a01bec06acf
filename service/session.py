"""One client's conversation: wait for ``join``, send the join burst, then serve frames.

The session speaks the protocol and limits the rate; rooms, presence and the gap-free
join are the hub's (``Hub.register`` / ``join`` / ``publish`` / ``leave``). Every bad
frame becomes an ``error`` frame and the connection stays usable; only a join timeout
or repeated abuse closes it (1008).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from typing import Any

from starlette.websockets import WebSocket

from contract.protocol import CLOSE_POLICY, CLOSE_TRY_AGAIN

from . import protocol
from .attachments import Attachments
from .broker import BrokerUnavailable, History, HistoryFull, IdentityStore
from .config import Settings
from .connection import ClientConnection
from .hub import Hub
from .members import Member, MemberFactory, new_token
from .protocol import AttachmentRequest, Join, Ping, ProtocolError, Send
from .ratelimit import TokenBucket

log = logging.getLogger("service.session")

# Frames dropped in a row by the rate limiter before the client is disconnected.
ABUSE_STRIKES_PER_BURST = 5
RATE_LIMITED_NOTICE_INTERVAL = 1.0


class _Disconnected(Exception):
    """The conversation is over; with a code, the relay closes the socket with it."""

    def __init__(self, code: int | None = None, reason: str = "") -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class Session:
    def __init__(
        self,
        hub: Hub,
        identities: IdentityStore,
        settings: Settings,
        member_factory: MemberFactory,
        websocket: WebSocket,
        process_id: str,
        signed_in: Member | None = None,
        attachments: Attachments | None = None,
    ) -> None:
        self.hub = hub
        self.metrics = hub.metrics
        self.identities = identities
        self.signed_in = signed_in  # who the load balancer signed in (AUTH_MODE=alb)
        self.settings = settings
        self.attachments = attachments
        self.member_factory = member_factory
        self.websocket = websocket
        self.connection = ClientConnection(
            websocket, settings.send_buffer_bytes, process_id, hub.coalescer
        )
        self.bucket = TokenBucket(settings.rate_limit, settings.rate_burst)
        self.strikes = 0
        self.last_rate_notice = 0.0
        self.room: str | None = None
        self.member: Member | None = None
        self.peer_close_code: int | None = None
        self.started = time.monotonic()

    async def run(self) -> None:
        connection = self.connection
        self.hub.register(connection)
        log.debug("connection opened", extra={"conn": connection.id})
        try:
            join = await self._wait_for_join()
            if join is None:
                return
            await self._join(join)
            await self._serve()
        except _Disconnected as end:
            if end.code is not None:
                await self.connection.close(end.code, end.reason)
        except BrokerUnavailable as exc:
            log.warning(
                "join failed, storage unreachable",
                extra={"conn": connection.id, "error": str(exc)},
            )
            self.connection.send_text(protocol.error("unavailable", "chat storage unreachable"))
            await self.connection.close(CLOSE_TRY_AGAIN, "storage unreachable; retry")
        finally:
            await self._cleanup()

    # receiving

    async def _receive(self, timeout: float | None = None) -> str | None:
        """Next text frame, or None for a frame to skip; raises _Disconnected at the end."""
        message = await asyncio.wait_for(self.websocket.receive(), timeout)
        kind = message["type"]
        if kind == "websocket.disconnect":
            self.peer_close_code = message.get("code")
            raise _Disconnected
        if not self._within_rate():
            return None
        text: str | None = message.get("text")
        if text is None:
            self.connection.send_text(
                protocol.error("bad_frame", "binary frames are not supported")
            )
            return None
        return text

    def _within_rate(self) -> bool:
        if self.bucket.allow():
            self.strikes = 0
            return True
        self.strikes += 1
        self.metrics.rate_limited += 1
        if self.strikes > ABUSE_STRIKES_PER_BURST * self.settings.rate_burst:
            log.warning("closing a client over the rate limit", extra={"conn": self.connection.id})
            raise _Disconnected(CLOSE_POLICY, "rate limit exceeded repeatedly")
        now = time.monotonic()
        if now - self.last_rate_notice >= RATE_LIMITED_NOTICE_INTERVAL:
            self.last_rate_notice = now
            detail = f"over {self.settings.rate_limit:g} frames/s; frames are being dropped"
            self.connection.send_text(protocol.error("rate_limited", detail))
        return False

    async def _next_frame(self, deadline: float | None = None) -> Join | Send | AttachmentRequest:
        """The next join or send; answers pings and bad frames on the way (the protocol
        allows both at any time). Raises TimeoutError at the loop-time `deadline`."""
        loop = asyncio.get_running_loop()
        while True:
            timeout = None if deadline is None else max(0.0, deadline - loop.time())
            text = await self._receive(timeout=timeout)
            if text is None:
                continue
            try:
                frame = protocol.parse_client_frame(text)
            except ProtocolError as exc:
                self.connection.send_text(protocol.error(exc.code, exc.detail))
                continue
            if isinstance(frame, Ping):
                self.connection.send_text(protocol.PONG)
                continue
            return frame

    async def _wait_for_join(self) -> Join | None:
        deadline = asyncio.get_running_loop().time() + self.settings.join_timeout
        while True:
            try:
                frame = await self._next_frame(deadline)
            except TimeoutError:
                await self.connection.close(CLOSE_POLICY, "no join within the join timeout")
                return None
            if isinstance(frame, Join):
                return frame
            self.connection.send_text(protocol.error("not_joined", 'send a "join" frame first'))

    # joining

    async def _identify(self, join: Join) -> tuple[Member, str]:
        """The member and its resume token. Signed in, the load balancer's identity wins
        (a chosen name is ignored); anonymous, the token's member under the chosen name."""
        identities = self.identities
        known = await identities.load_identity(join.token) if join.token else None
        token = join.token
        if self.signed_in is not None:
            member = self.signed_in
            if known is None or known.id != member.id:
                token = None
        elif known is None:
            member, token = self.member_factory.create(), None
        else:
            member = known
        if self.signed_in is None and join.name is not None and join.name != member.username:
            member = dataclasses.replace(member, username=join.name)
        token = token or new_token()
        await identities.save_identity(token, member)
        return member, token

    async def _join(self, join: Join) -> None:
        connection = self.connection
        member, token = await self._identify(join)
        self.room, self.member = join.room, member

        def burst(history: History, members: dict[str, str]) -> None:
            connection.send_text(protocol.welcome(join.room, member.to_json(), token))
            connection.send_text(protocol.member_history(members))
            connection.send_text(protocol.message_history(history.messages, history.complete))

        limit = self.settings.history_size
        history = await self.hub.join(join.room, connection, member, join.since, limit, burst)
        log.info(
            "joined",
            extra={
                "conn": connection.id,
                "room": join.room,
                "member": member.id,
                "resumed": join.token is not None and join.token == token,
                "history": len(history.messages),
                "complete": history.complete,
            },
        )

    # serving

    async def _serve(self) -> None:
        assert self.room is not None and self.member is not None
        while True:
            frame = await self._next_frame()
            if isinstance(frame, Send):
                await self._send_message(frame)
            elif isinstance(frame, AttachmentRequest):
                self._attachment_request(frame)
            else:
                self.connection.send_text(
                    protocol.error("already_joined", "one room per connection; open another")
                )

    async def _send_message(self, frame: Send) -> None:
        assert self.room is not None and self.member is not None
        try:
            attachments = self._attachments_of(frame)
        except ProtocolError as exc:
            self.connection.send_text(protocol.error(exc.code, exc.detail))
            return
        try:
            message_id = await self.hub.publish(
                self.room, self.member, frame.text, frame.ref, attachments
            )
        except BrokerUnavailable:
            self.metrics.send_unavailable += 1
            self.connection.send_text(
                protocol.error("unavailable", "message not stored: storage unreachable; retry")
            )
            return
        except HistoryFull:
            log.warning("history full; refused a message to a new room", extra={"room": self.room})
            detail = (
                "message not stored: this relay holds all the chat history it may "
                "(MEMORY_HISTORY_BYTES) and new rooms wait until idle rooms expire; "
                "rooms with history keep working"
            )
            self.connection.send_text(protocol.error("history_full", detail))
            return
        self.connection.send_text(protocol.ack(frame.ref, message_id))

    # attachments (service.attachments)

    def _attachment_request(self, frame: AttachmentRequest) -> None:
        assert self.room is not None and self.member is not None
        try:
            if self.attachments is None:
                raise ProtocolError("bad_attachment", "this relay does not take attachments")
            answer = self.attachments.handle(frame.kind, frame.fields, self.room, self.member.id)
        except ProtocolError as exc:
            answer = protocol.error(exc.code, exc.detail)
        self.connection.send_text(answer)

    def _attachments_of(self, frame: Send) -> list[dict[str, Any]] | None:
        assert self.room is not None and self.member is not None
        if not frame.attachments:
            return None
        if self.attachments is None:
            raise ProtocolError("bad_attachment", "this relay does not take attachments")
        return self.attachments.for_message(frame.attachments, self.room, self.member.id)

    # leaving

    async def _cleanup(self) -> None:
        connection = self.connection
        code = connection.close_code or self.peer_close_code or 1006
        log.info(
            "connection closed",
            extra={
                "conn": connection.id,
                "room": self.room,
                "code": code,
                "by": "relay" if connection.close_code else "client",
                "seconds": round(time.monotonic() - self.started, 3),
            },
        )
        await self.hub.leave(connection, code)
