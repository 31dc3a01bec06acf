"""One client's conversation: wait for ``join``, send the join burst, then serve frames.

The session speaks the protocol: its frames come through ``FrameReader`` (rate limit,
parsing, pings), its identity from ``IdentityLease``; rooms, presence and the gap-free
join are the hub's (``Hub.register`` / ``join`` / ``leave``), messages go out through
``hub.writes``. Every bad frame becomes an ``error`` frame and the connection stays
usable; only a join timeout or repeated abuse closes it (1008).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from starlette.websockets import WebSocket

from contract.protocol import CLOSE_TRY_AGAIN

from . import protocol
from .address_quota import AddressQuota, client_address
from .admission import Admission
from .attachments import Attachments
from .broker import BrokerUnavailable, HistoryFull, IdentityStore
from .connection import ClientConnection
from .frame_reader import Disconnected, FrameReader
from .hub import Hub
from .identity_alb import SignedIn
from .identity_lease import IdentityLease
from .members import Member, MemberFactory
from .protocol import AttachmentRequest, Join, ProtocolError, Send
from .room_frames import HistoryRequest, Subscribe, Typing, Unsubscribe
from .room_writes import member_key, refusal
from .subscriptions import Subscriptions, join_burst

log = logging.getLogger("service.session")


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
    __slots__ = (
        "admission",
        "attachments",
        "connection",
        "hub",
        "identity",
        "member",
        "metrics",
        "reader",
        "room",
        "room_quota",
        "room_was_empty",
        "rooms",
        "settings",
        "signed_in",
        "started",
        "websocket",
    )

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
        self.signed_in = signed_in  # who the load balancer signed in (AUTH_MODE=alb)
        self.admission = admission
        self.room_quota = room_quota  # rooms started (first message) per client address
        self.room_was_empty = False  # no history at join: a first message starts the room
        self.settings = settings
        self.attachments = attachments
        self.websocket = websocket
        self.connection = ClientConnection(
            websocket, settings.send_buffer_bytes, process_id, hub.coalescer
        )
        self.reader = FrameReader(
            websocket, self.connection, hub.metrics, settings.rate_limit, settings.rate_burst
        )
        self.identity = IdentityLease(
            identities,
            member_factory,
            signed_in,
            settings.identity_unused_ttl,
            identity_quota,
            self._address,
            self.connection,
        )
        self.room: str | None = None
        self.member: Member | None = None
        self.rooms: Subscriptions | None = None  # once joined
        self.started = time.monotonic()

    async def run(self) -> None:
        connection = self.connection
        self.hub.register(connection)
        log.debug("connection opened", extra={"conn": connection.id})
        expiry = None if self.signed_in is None else self.signed_in.close_at_expiry(connection)
        try:
            while True:  # a refused join leaves the connection usable for another
                join = await self.reader.wait_for_join(self.settings.join_timeout)
                if join is None:
                    return
                if await self._join(join):
                    break
            await self._serve()
        except Disconnected as end:
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

    def _address(self) -> str:
        peer = self.websocket.client.host if self.websocket.client else None
        return client_address(self.websocket.headers, peer, self.settings.trusted_proxy_hops)

    # joining

    async def _join(self, join: Join) -> bool:
        """Join the room; False (an ``error`` sent, nothing joined) when refused."""
        connection = self.connection
        subject = self.signed_in.subject if self.signed_in is not None else None
        forbidden = self.admission.forbidden(join.room, join.room_token, subject)
        if forbidden is not None:
            connection.send_text(protocol.error("forbidden", forbidden))
            return False
        member, token = await self.identity.identify(join)
        banned = await self.admission.banned(member.id)
        if banned is not None:
            log.info("refused a banned member's join", extra={"conn": connection.id})
            connection.send_text(protocol.error("banned", banned))
            return False
        self.room, self.member = join.room, member
        self.identity.accept(member, token)
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
            frame = await self.reader.next_frame()
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
        key = member_key(self.member.id, frame.ref)
        try:
            message_id = await self.hub.writes.publish(
                room, self.member, frame.text, key, attachments
            )
        except (BrokerUnavailable, HistoryFull) as exc:
            if isinstance(exc, HistoryFull):
                log.warning("history full; refused a message to a new room", extra={"room": room})
            else:
                self.metrics.send_unavailable += 1
            self.connection.send_text(protocol.error(*refusal(exc), room))
            return
        ack = protocol.ack(frame.ref, message_id)
        self.connection.send_text(protocol.in_room(room, ack))
        await self.identity.spoke()

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
        code = connection.close_code or self.reader.peer_close_code or 1006
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
