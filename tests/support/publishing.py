"""Publishing as the relay does, for broker tests: a client's send is one call."""

from __future__ import annotations

from service import protocol
from service.broker import Broker, PublishOptions, PublishResult
from service.members import Member


async def send(
    broker: Broker, room: str, member: Member, text: str, ref: str | None = None
) -> PublishResult:
    """A client's send, as the hub publishes it (the idempotency key of a ``ref``)."""
    body = protocol.message_body(member.id, member.username, member.avatar, text)
    key = None if ref is None else f"{member.id}:{ref}"
    return await broker.publish(room, body, PublishOptions(idempotency_key=key))
