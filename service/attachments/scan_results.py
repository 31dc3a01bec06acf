"""A scan verdict reaches the room: the status flips and members get ``attachment_updated``."""

from __future__ import annotations

from typing import Any

from ..broker import Broker, PublishOptions
from .service import Attachments


async def apply_scan_result(
    attachments: Attachments, broker: Broker, event: dict[str, Any]
) -> bool:
    """Apply one GuardDuty scan-result event; True when it changed an attachment (and the
    room was told, without history: the next join reads the status from the message).
    Published through the broker, so members on every relay get the frame, whichever relay
    read the verdict."""
    changed = await attachments.scan_result(event)
    if changed is None:
        return False
    room, frame = changed
    await broker.publish(room, frame, PublishOptions(history=False))
    return True
