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
from dataclasses import dataclass
from typing import Any

from starlette.websockets import WebSocket

from contract.protocol import CLOSE_POLICY, CLOSE_SIGN_IN_EXPIRED, CLOSE_TRY_AGAIN

from . import protocol
from .address_quota import AddressQuota, client_address
from .admission import Admission
from .attachments import Attachments
from .broker import BrokerUnavailable, HistoryFull, IdentityStore
from .connection import ClientConnection
from .hub import Hub
from .identity_alb import SignedIn
from .members import Member, MemberFactory, new_token
from .protocol import AttachmentRequest, ClientFrame, Join, Ping, ProtocolError, Send
from .ratelimit import TokenBucket
from .room_frames import HistoryRequest, Subscribe, Typing, Unsubscribe
from .subscriptions import Subscriptions, join_burst

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


@dataclass(frozen=True, slots=True)
class SessionSettings:
    """What one connection's session reads of the relay's settings."""

    send_buffer_bytes: int  # SEND_BUFFER_BYTES: queued output before a slow client is cut
    rate_limit: float  # RATE_LIMIT: frames a second
    rate_burst: int  # RATE_BURST
    join_timeout: float  # JOIN_TIMEOUT: seconds to send the join frame
    history_size: int  # HISTORY_SIZE: messages in a join's history
    max_rooms_per_connection: int  # MAX_ROOMS_PER_CONNECTION: its join's and subscribes
    identity_unused_ttl: int  # IDENTITY_UNUSED_TTL: an identity that never sent, in seconds
    trusted_proxy_hops: int  # TRUSTED_PROXY_HOPS: proxies whose X-Forwarded-For is believed
    new_identities_per_minute: int  # NEW_IDENTITIES_PER_MINUTE per client address (0: off)
    new_rooms_per_minute: int  # NEW_ROOMS_PER_MINUTE per client address (0: off)


class Session:
    def __init__(
        self,
        hub: Hub,
        identities: IdentityStore,
        settings: SessionSettings,
        member_factory: MemberFactory,
        websocket: WebSocket,
        process_id: str,
        admission: Admission,
        signed_in: SignedIn | None = None,
        identity_quota: AddressQuota | None = None,
        room_quota: AddressQuota | None = None,
        attachments: Attachments | None = None,
    ) -> None:
        self.hub = hub
        self.metrics = hub.metrics
        self.identities = identities
        self.signed_in = signed_in  # who the load balancer signed in (AUTH_MODE=alb)
        self.admission = admission
        # its token's exp (Unix time): the connection ends then
        self.sign_in_expires_at = signed_in.expires_at if signed_in is not None else None
        self.identity_quota = identity_quota  # new anonymous identities per client address
        self.room_quota = room_quota  # rooms started (first message) per client address
        self.room_was_empty = False  # no history at join: a first message starts the room
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
        self.rooms: Subscriptions | None = None  # once joined
        self.token: str | None = None
        self.identity_used = False  # sent a message: the identity is kept IDENTITY_TTL_DAYS
        self.peer_close_code: int | None = None
        self.started = time.monotonic()

    async def run(self) -> None:
        connection = self.connection
        self.hub.register(connection)
        log.debug("connection opened", extra={"conn": connection.id})
        expiry = self._close_at_sign_in_expiry()
        try:
            while True:  # a refused join leaves the connection usable for another
                join = await self._wait_for_join()
                if join is None:
                    return
                if await self._join(join):
                    break
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
            if expiry is not None:
                expiry.cancel()
            await self._cleanup()

    def _close_at_sign_in_expiry(self) -> asyncio.TimerHandle | None:
        """Signed in, the connection ends when the load balancer's token does: the token was
        checked at the upgrade only, and a sign-out elsewhere must not leave it open."""
        if self.sign_in_expires_at is None:
            return None
        delay = max(0.0, self.sign_in_expires_at - time.time())
        return asyncio.get_running_loop().call_later(
            delay,
            self.connection.close_soon,
            CLOSE_SIGN_IN_EXPIRED,
            "sign-in expired; reconnect to sign in again",
        )

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

    async def _next_frame(self, deadline: float | None = None) -> ClientFrame:
        """The next frame other than a ping; answers pings and bad frames on the way (the protocol
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
            # (a frame before the join is answered and dropped, whatever its type)

    # joining

    async def _identify(self, join: Join) -> tuple[Member, str]:
        """The member and its resume token. Signed in, the load balancer's identity wins
        (a chosen name is ignored); anonymous, the token's member under the chosen name."""
        identities = self.identities
        known = await identities.load_identity(join.token) if join.token else None
        token = join.token
        if self.signed_in is not None:
            member = self.signed_in.member
            if known is None or known.id != member.id:
                token = None
        elif known is None:
            member, token = self.member_factory.create(), None
        else:
            member = known
        if self.signed_in is None and join.name is not None and join.name != member.username:
            member = dataclasses.replace(member, username=join.name)
        # An anonymous identity is kept IDENTITY_UNUSED_TTL until it sends (_send_message):
        # a flood of joins that never speak does not fill the store for IDENTITY_TTL_DAYS.
        if self.signed_in is not None:
            token = token or new_token()
            await identities.save_identity(token, member)
        elif token is None:
            self._count_new_identity()
            token = new_token()
            await identities.save_identity(
                token, member, ttl_seconds=self.settings.identity_unused_ttl
            )
        else:
            await identities.save_identity(
                token, member, ttl_seconds=self.settings.identity_unused_ttl, keep_ttl=True
            )
        return member, token

    def _address(self) -> str:
        peer = self.websocket.client.host if self.websocket.client else None
        return client_address(self.websocket.headers, peer, self.settings.trusted_proxy_hops)

    def _count_new_identity(self) -> None:
        if self.identity_quota is None:
            return
        if not self.identity_quota.allow(self._address()):
            log.warning("new identities over the limit", extra={"address": self._address()})
            detail = (
                f"over {self.settings.new_identities_per_minute} new identities a minute from "
                "this address; join with your token, or wait a minute"
            )
            self.connection.send_text(protocol.error("rate_limited", detail))
            raise _Disconnected(CLOSE_TRY_AGAIN, "too many new identities from this address")

    async def _join(self, join: Join) -> bool:
        """Join the room; False (an ``error`` sent, nothing joined) when refused."""
        connection = self.connection
        subject = self.signed_in.subject if self.signed_in is not None else None
        forbidden = self.admission.forbidden(join.room, join.room_token, subject)
        if forbidden is not None:
            connection.send_text(protocol.error("forbidden", forbidden))
            return False
        member, token = await self._identify(join)
        banned = await self.admission.banned(member.id)
        if banned is not None:
            log.info("refused a banned member's join", extra={"conn": connection.id})
            connection.send_text(protocol.error("banned", banned))
            return False
        self.room, self.member, self.token = join.room, member, token
        self.identity_used = self.signed_in is not None
        settings = self.settings
        self.rooms = Subscriptions(
            self.hub,
            connection,
            member,
            token,
            settings.max_rooms_per_connection,
            settings.history_size,
            self.admission,
            subject,
        )
        burst = join_burst(connection, join.room, member, token)
        limit = settings.history_size
        history = await self.hub.join(join.room, connection, member, join.since, limit, burst)
        self.room_was_empty = not history.messages and join.since is None
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
        return True

    # serving

    async def _serve(self) -> None:
        rooms = self.rooms
        assert rooms is not None
        while True:
            frame = await self._next_frame()
            if isinstance(frame, Send):
                await self._send_message(frame)
            elif isinstance(frame, Subscribe):
                await rooms.subscribe(frame)
            elif isinstance(frame, Unsubscribe):
                await rooms.unsubscribe(frame)
            elif isinstance(frame, HistoryRequest):
                await rooms.history(frame)
            elif isinstance(frame, Typing):
                await rooms.typing(frame)
            elif isinstance(frame, Join):
                detail = 'already joined; "subscribe" to be in another room as well'
                self.connection.send_text(protocol.error("already_joined", detail))
            elif isinstance(frame, AttachmentRequest):
                await self._attachment_request(frame)

    async def _send_message(self, frame: Send) -> None:
        assert self.room is not None and self.member is not None and self.rooms is not None
        room = frame.room or self.room
        if not self.rooms.check_in(room):
            return
        if self.room_was_empty and self.room_quota is not None:
            if not self.room_quota.allow(self._address()):
                detail = (
                    f"message not stored: over {self.settings.new_rooms_per_minute} new rooms "
                    "a minute from this address; wait a minute, or use a room with history"
                )
                self.connection.send_text(protocol.error("rate_limited", detail, room))
                return
            self.room_was_empty = False  # counted once, whether or not this send is stored
        try:
            attachments = await self._attachments_of(frame, room)
        except ProtocolError as exc:
            self.connection.send_text(protocol.error(exc.code, exc.detail, room))
            return
        try:
            message_id = await self.hub.publish(
                room, self.member, frame.text, frame.ref, attachments
            )
        except BrokerUnavailable:
            self.metrics.send_unavailable += 1
            self.connection.send_text(
                protocol.error(
                    "unavailable", "message not stored: storage unreachable; retry", room
                )
            )
            return
        except HistoryFull:
            log.warning("history full; refused a message to a new room", extra={"room": room})
            detail = (
                "message not stored: this relay holds all the chat history it may "
                "(MEMORY_HISTORY_BYTES) and new rooms wait until idle rooms expire; "
                "rooms with history keep working"
            )
            self.connection.send_text(protocol.error("history_full", detail, room))
            return
        ack = protocol.ack(frame.ref, message_id)
        self.connection.send_text(protocol.in_room(room, ack))
        if not self.identity_used and self.token is not None:
            self.identity_used = True
            try:
                await self.identities.save_identity(self.token, self.member)  # now kept long
            except BrokerUnavailable:
                self.identity_used = False  # try again with the next message

    # attachments (service.attachments)

    async def _attachment_request(self, frame: AttachmentRequest) -> None:
        assert self.room is not None and self.member is not None and self.rooms is not None
        room = frame.fields.get("room", self.room)  # default: the room of the join
        if not isinstance(room, str) or not self.rooms.check_in(room):
            if not isinstance(room, str):
                self.connection.send_text(protocol.error("bad_room", '"room" must be a string'))
            return
        try:
            if self.attachments is None:
                raise ProtocolError("bad_attachment", "this relay does not take attachments")
            answer = await self.attachments.handle(frame.kind, frame.fields, room, self.member.id)
        except ProtocolError as exc:
            answer = protocol.error(exc.code, exc.detail, room)
        self.connection.send_text(answer)

    async def _attachments_of(self, frame: Send, room: str) -> list[dict[str, Any]] | None:
        assert self.member is not None
        if not frame.attachments:
            return None
        if self.attachments is None:
            raise ProtocolError("bad_attachment", "this relay does not take attachments")
        return await self.attachments.for_message(frame.attachments, room, self.member.id)

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
