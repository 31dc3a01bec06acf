"""What the relay knows of each attachment, where it keeps it, and who may change its status.

``AttachmentRecords`` is the small interface the service talks to; ``MemoryAttachmentRecords``
serves a single server, ``redis_records.RedisAttachmentRecords`` every relay of a fleet.
"""

from __future__ import annotations

import base64
import secrets
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from contract.protocol import AttachmentStatus

# The scan verdicts' transitions: a verdict settles a ``scanning`` file, and a later
# "infected" (a rescan, or the slot's form used again for other bytes) overrules "clean".
# Nothing goes back to ``scanning`` and "infected" is final, whatever order verdicts come in.
# redis_records' verdict.lua holds the same rule.
VERDICT_TRANSITIONS: frozenset[tuple[AttachmentStatus, AttachmentStatus]] = frozenset(
    {("scanning", "clean"), ("scanning", "infected"), ("clean", "infected")}
)


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
    # The object version the "clean" verdict was about (a versioned bucket): links serve
    # that version only, so bytes uploaded again with the slot's form are never handed out.
    version: str | None = None

    def metadata(self) -> dict[str, Any]:
        """What a message carries (no link: links are short-lived, messages are not)."""
        return {
            "id": self.id,
            "name": self.name,
            "size": self.size,
            "content_type": self.content_type,
            "status": self.status,
        }


class AttachmentRecords(ABC):
    """Attachment records by id; each lives ``ttl`` seconds from its upload slot."""

    @abstractmethod
    async def add(self, attachment: Attachment) -> None: ...

    @abstractmethod
    async def get(self, attachment_id: str) -> Attachment | None:
        """A copy of the record; None when unknown or expired."""

    @abstractmethod
    async def mark_uploaded(self, attachment_id: str) -> None:
        """The store holds the bytes; nothing happens to an unknown or expired id."""

    @abstractmethod
    async def apply_verdict(
        self, attachment_id: str, status: AttachmentStatus, version: str | None = None
    ) -> Attachment | None:
        """Set ``status`` when VERDICT_TRANSITIONS allow it, atomically: the changed record,
        or None (unknown or expired id, the same status, or a transition not allowed). A
        "clean" verdict also records the scanned object ``version``."""

    @abstractmethod
    async def close(self) -> None: ...


class MemoryAttachmentRecords(AttachmentRecords):
    """In this process: right for one relay, whose records no other relay needs."""

    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self._clock = clock
        # Insertion order is expiry order (one TTL for all): expired records are at the front.
        self._records: dict[str, tuple[float, Attachment]] = {}

    async def add(self, attachment: Attachment) -> None:
        now = self._clock()
        self._forget_expired(now)
        self._records[attachment.id] = (now + self.ttl, replace(attachment))

    async def get(self, attachment_id: str) -> Attachment | None:
        found = self._live(attachment_id)
        return replace(found) if found is not None else None

    async def mark_uploaded(self, attachment_id: str) -> None:
        found = self._live(attachment_id)
        if found is not None:
            found.uploaded = True

    async def apply_verdict(
        self, attachment_id: str, status: AttachmentStatus, version: str | None = None
    ) -> Attachment | None:
        found = self._live(attachment_id)
        if found is None or (found.status, status) not in VERDICT_TRANSITIONS:
            return None
        found.status = status
        if status == "clean":
            found.version = version
        return replace(found)

    async def close(self) -> None:
        self._records.clear()

    def _live(self, attachment_id: str) -> Attachment | None:
        entry = self._records.get(attachment_id)
        if entry is None or entry[0] <= self._clock():
            return None
        return entry[1]

    def _forget_expired(self, now: float) -> None:
        while self._records:
            attachment_id, (expires, _) = next(iter(self._records.items()))
            if expires > now:
                return
            del self._records[attachment_id]
