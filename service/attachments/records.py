"""What the relay knows of each attachment, and the per-member upload budget."""

from __future__ import annotations

import base64
import secrets
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from contract.protocol import AttachmentStatus


def new_attachment_id() -> str:
    """16 random bytes, URL-safe base64 without padding (contract ATTACHMENT_ID_PATTERN)."""
    return base64.urlsafe_b64encode(secrets.token_bytes(16)).rstrip(b"=").decode()


@dataclass(slots=True)
class Attachment:
    id: str
    room: str
    member_id: str
    name: str
    size: int
    content_type: str
    status: AttachmentStatus
    uploaded: bool = False  # the store holds the bytes

    def metadata(self) -> dict[str, Any]:
        """What a message carries (no link: links are short-lived, messages are not)."""
        return {
            "id": self.id,
            "name": self.name,
            "size": self.size,
            "content_type": self.content_type,
            "status": self.status,
        }


class UploadBudget:
    """At most ``per_minute`` upload slots per member in any 60-second window."""

    def __init__(self, per_minute: int, clock: Any = time.monotonic) -> None:
        self.per_minute = per_minute
        self._clock = clock
        self._recent: dict[str, deque[float]] = {}

    def allow(self, member_id: str) -> bool:
        now = self._clock()
        recent = self._recent.setdefault(member_id, deque())
        while recent and now - recent[0] >= 60.0:
            recent.popleft()
        if len(recent) >= self.per_minute:
            return False
        recent.append(now)
        return True
