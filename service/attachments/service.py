"""The session's side of attachments: ``upload`` and ``download`` frames, and the
metadata a ``send`` carries. One ``Attachments`` per relay process; its records and upload
budget are in Redis when the relay has one (every relay sees every attachment), else here."""

from __future__ import annotations

import asyncio
import contextlib
import unicodedata
from collections.abc import Iterator
from typing import Any

from contract.protocol import (
    ATTACHMENT_ID,
    DOWNLOADABLE_STATUSES,
    MAX_FILE_NAME_CHARS,
    MAX_REF_CHARS,
    AttachmentStatus,
)

from .. import protocol
from ..broker import BrokerUnavailable
from ..broker.settings import RedisBrokerSettings
from ..protocol import ProtocolError
from .budget import MemoryUploadBudget, UploadBudget
from .local_store import LocalStore
from .records import Attachment, AttachmentRecords, MemoryAttachmentRecords, new_attachment_id
from .s3_store import S3Store, regional_s3_client
from .settings import AttachmentSettings

# GuardDuty Malware Protection for S3's verdicts (EventBridge detail-type "GuardDuty
# Malware Protection Object Scan Result", detail.scanResultDetails.scanResultStatus).
# Any other result (UNSUPPORTED, ACCESS_DENIED, FAILED) leaves the file unreachable.
SCAN_VERDICTS: dict[str, AttachmentStatus] = {
    "NO_THREATS_FOUND": "clean",
    "THREATS_FOUND": "infected",
}


class Attachments:
    def __init__(
        self,
        settings: AttachmentSettings,
        redis: RedisBrokerSettings | None = None,
        s3_client: Any = None,
    ) -> None:
        self.settings = settings
        self.store: LocalStore | S3Store
        if settings.bucket:
            client = s3_client or regional_s3_client(settings.region)
            self.store = S3Store(client, settings.bucket, settings.link_seconds)
            self.scanning = True  # GuardDuty scans every new object in the bucket
        else:
            self.store = LocalStore(settings.folder, settings.link_seconds)
            self.scanning = False  # single server: nothing scans the files (said on the page)
        self.records: AttachmentRecords
        self.budget: UploadBudget
        if redis is None:
            self.records = MemoryAttachmentRecords(settings.record_ttl)
            self.budget = MemoryUploadBudget(settings.uploads_per_minute)
        else:
            from .redis_records import redis_records  # lazily, as the Redis broker is

            self.records, self.budget = redis_records(
                redis, settings.record_ttl, settings.uploads_per_minute
            )

    # frames

    async def handle(self, kind: str, fields: dict[str, Any], room: str, member_id: str) -> str:
        """The answer to an ``upload`` or ``download`` frame; raises ProtocolError."""
        ref = _ref(fields)
        with _records_reachable():
            if kind == "upload":
                return await self._upload(fields, ref, room, member_id)
            return await self._download(fields, ref, room)

    async def _upload(
        self, fields: dict[str, Any], ref: str | None, room: str, member_id: str
    ) -> str:
        asked_room = fields.get("room", room)
        if asked_room != room:
            raise ProtocolError(
                "bad_room", f'"room" must be the room this connection joined, {room}'
            )
        name = _file_name(fields.get("name"))
        size, limit = fields.get("size"), self.settings.max_bytes
        if not isinstance(size, int) or isinstance(size, bool) or size < 1:
            raise ProtocolError("bad_frame", '"size" must be the file\'s size in bytes (>= 1)')
        if size > limit:
            raise ProtocolError("file_too_large", f"the file is over {limit} bytes")
        content_type = fields.get("content_type")
        allowed = self.settings.types
        if not isinstance(content_type, str) or content_type.lower() not in allowed:
            raise ProtocolError(
                "file_type_not_allowed",
                f'"content_type" must be one of {", ".join(allowed)}',
            )
        if not await self.budget.allow(member_id):
            per_minute = self.settings.uploads_per_minute
            raise ProtocolError("rate_limited", f"over {per_minute} uploads a minute; wait")
        attachment = Attachment(
            id=new_attachment_id(),
            room=room,
            member_id=member_id,
            name=name,
            size=size,
            content_type=content_type.lower(),
            status="scanning" if self.scanning else "unscanned",
        )
        await self.records.add(attachment)
        upload = self.store.upload_form(attachment.id, attachment.content_type, size)
        return protocol.upload_slot(ref, upload, attachment.id)

    async def _download(self, fields: dict[str, Any], ref: str | None, room: str) -> str:
        attachment = await self._known(fields.get("attachment"), room)
        if attachment.status not in DOWNLOADABLE_STATUSES or not attachment.uploaded:
            raise ProtocolError(
                "bad_attachment",
                f"attachment {attachment.id} is {attachment.status}; no link until it is clean",
            )
        url, expires = self.store.download_url(attachment)
        return protocol.download_link(ref, attachment.id, url, expires)

    async def for_message(
        self, ids: tuple[str, ...], room: str, member_id: str
    ) -> list[dict[str, Any]]:
        """The metadata of a ``send``'s attachments: uploaded by this member to this room."""
        found = []
        for attachment_id in ids:
            with _records_reachable():
                attachment = await self._known(attachment_id, room)
            if attachment.member_id != member_id:
                raise ProtocolError("bad_attachment", f"attachment {attachment_id} is not yours")
            if not attachment.uploaded and await asyncio.to_thread(self.store.holds, attachment):
                attachment.uploaded = True
                with _records_reachable():
                    await self.records.mark_uploaded(attachment_id)
            if not attachment.uploaded:
                raise ProtocolError(
                    "bad_attachment",
                    f"attachment {attachment_id} has no file yet; POST the upload form first",
                )
            found.append(attachment.metadata())
        return found

    async def _known(self, attachment_id: object, room: str) -> Attachment:
        if not isinstance(attachment_id, str) or not ATTACHMENT_ID.fullmatch(attachment_id):
            raise ProtocolError("bad_attachment", '"attachment" must be an id from "upload_slot"')
        attachment = await self.records.get(attachment_id)
        if attachment is None or attachment.room != room:
            raise ProtocolError("bad_attachment", f"no attachment {attachment_id} in this room")
        return attachment

    async def uploaded(self, attachment_id: str) -> None:
        """The store holds the attachment's bytes (the upload endpoint calls this)."""
        await self.records.mark_uploaded(attachment_id)

    async def scan_result(self, event: dict[str, Any]) -> tuple[str, str] | None:
        """Apply a GuardDuty scan-result event: (room, ``attachment_updated`` frame) when it
        changed an attachment's status, else None (another bucket, unknown or expired id,
        no verdict, or a status a verdict may not change: records.VERDICT_TRANSITIONS)."""
        detail = event.get("detail") or {}
        where = detail.get("s3ObjectDetails") or {}
        verdict = (detail.get("scanResultDetails") or {}).get("scanResultStatus")
        if not isinstance(self.store, S3Store):
            return None
        attachment_id = self.store.attachment_id(
            str(where.get("bucketName")), str(where.get("objectKey"))
        )
        status = SCAN_VERDICTS.get(str(verdict))
        if attachment_id is None or status is None or not ATTACHMENT_ID.fullmatch(attachment_id):
            return None  # not a verdict, or not an object an upload slot named
        version = where.get("versionId")  # the object version GuardDuty scanned
        version = version if isinstance(version, str) and version else None
        attachment = await self.records.apply_verdict(attachment_id, status, version)
        if attachment is None:
            return None
        return attachment.room, protocol.attachment_updated(attachment.metadata())

    def origins(self) -> tuple[str, ...]:
        """Origins outside the relay that the page must reach (the CSP allows exactly these)."""
        return self.store.origins() if isinstance(self.store, S3Store) else ()

    async def close(self) -> None:
        self.store.close()
        await self.records.close()


@contextlib.contextmanager
def _records_reachable() -> Iterator[None]:
    """Redis out of reach is the member's ``unavailable`` (retry), not a dropped session."""
    try:
        yield
    except BrokerUnavailable as exc:
        raise ProtocolError("unavailable", "attachment records unreachable; retry") from exc


def _ref(fields: dict[str, Any]) -> str | None:
    ref = fields.get("ref")
    if ref is not None and (not isinstance(ref, str) or len(ref) > MAX_REF_CHARS):
        raise ProtocolError("bad_frame", f'"ref" must be a string of at most {MAX_REF_CHARS}')
    return ref


def _file_name(raw: object) -> str:
    """A file name as shown: its last path part, one line, visible, short."""
    if not isinstance(raw, str):
        raise ProtocolError("bad_frame", '"name" must be the file\'s name')
    name = raw.replace("\\", "/").rsplit("/", 1)[-1].strip()
    if not name or any(unicodedata.category(c) in ("Cc", "Zl", "Zp") for c in name):
        raise ProtocolError("bad_frame", '"name" must be a visible one-line file name')
    if len(name) > MAX_FILE_NAME_CHARS:
        raise ProtocolError("bad_frame", f'"name" is over {MAX_FILE_NAME_CHARS} characters')
    return name
