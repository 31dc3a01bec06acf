"""The session's side of attachments: ``upload`` and ``download`` frames, and the
metadata a ``send`` carries. One ``Attachments`` per relay process."""

from __future__ import annotations

import unicodedata
from typing import Any

import botocore.session

from contract.protocol import (
    ATTACHMENT_ID,
    DOWNLOADABLE_STATUSES,
    MAX_FILE_NAME_CHARS,
    MAX_REF_CHARS,
    AttachmentStatus,
)

from .. import protocol
from ..config import Settings
from ..protocol import ProtocolError
from .local_store import LocalStore
from .records import Attachment, UploadBudget, new_attachment_id
from .s3_store import S3Store

# GuardDuty Malware Protection for S3's verdicts (EventBridge detail-type "GuardDuty
# Malware Protection Object Scan Result", detail.scanResultDetails.scanResultStatus).
# Any other result (UNSUPPORTED, ACCESS_DENIED, FAILED) leaves the file unreachable.
SCAN_VERDICTS: dict[str, AttachmentStatus] = {
    "NO_THREATS_FOUND": "clean",
    "THREATS_FOUND": "infected",
}


class Attachments:
    def __init__(self, settings: Settings, s3_client: Any = None) -> None:
        self.settings = settings
        self.store: LocalStore | S3Store
        if settings.attachment_bucket:
            client = s3_client or botocore.session.get_session().create_client("s3")
            link_seconds = settings.attachment_link_seconds
            self.store = S3Store(client, settings.attachment_bucket, link_seconds)
            self.scanning = True  # GuardDuty scans every new object in the bucket
        else:
            self.store = LocalStore(settings.attachment_dir, settings.attachment_link_seconds)
            self.scanning = False  # single server: nothing scans the files (said on the page)
        self.budget = UploadBudget(settings.attachment_uploads_per_minute)
        self.records: dict[str, Attachment] = {}

    # frames

    def handle(self, kind: str, fields: dict[str, Any], room: str, member_id: str) -> str:
        """The answer to an ``upload`` or ``download`` frame; raises ProtocolError."""
        ref = _ref(fields)
        if kind == "upload":
            return self._upload(fields, ref, room, member_id)
        return self._download(fields, ref, room)

    def _upload(self, fields: dict[str, Any], ref: str | None, room: str, member_id: str) -> str:
        asked_room = fields.get("room", room)
        if asked_room != room:
            raise ProtocolError(
                "bad_room", f'"room" must be the room this connection joined, {room}'
            )
        name = _file_name(fields.get("name"))
        size, limit = fields.get("size"), self.settings.attachment_max_bytes
        if not isinstance(size, int) or isinstance(size, bool) or size < 1:
            raise ProtocolError("bad_frame", '"size" must be the file\'s size in bytes (>= 1)')
        if size > limit:
            raise ProtocolError("file_too_large", f"the file is over {limit} bytes")
        content_type = fields.get("content_type")
        allowed = self.settings.attachment_types
        if not isinstance(content_type, str) or content_type.lower() not in allowed:
            raise ProtocolError(
                "file_type_not_allowed",
                f'"content_type" must be one of {", ".join(allowed)}',
            )
        if not self.budget.allow(member_id):
            per_minute = self.settings.attachment_uploads_per_minute
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
        self.records[attachment.id] = attachment
        upload = self.store.upload_form(attachment.id, attachment.content_type, size)
        return protocol.dumps_frame(
            {"type": "upload_slot", "ref": ref, "upload": upload, "attachment": attachment.id}
        )

    def _download(self, fields: dict[str, Any], ref: str | None, room: str) -> str:
        attachment = self._known(fields.get("attachment"), room)
        if attachment.status not in DOWNLOADABLE_STATUSES or not attachment.uploaded:
            raise ProtocolError(
                "bad_attachment",
                f"attachment {attachment.id} is {attachment.status}; no link until it is clean",
            )
        url, expires = self.store.download_url(attachment)
        return protocol.dumps_frame(
            {
                "type": "download_link",
                "ref": ref,
                "attachment": attachment.id,
                "url": url,
                "expires": expires,
            }
        )

    def for_message(self, ids: tuple[str, ...], room: str, member_id: str) -> list[dict[str, Any]]:
        """The metadata of a ``send``'s attachments: uploaded by this member to this room."""
        found = []
        for attachment_id in ids:
            attachment = self._known(attachment_id, room)
            if attachment.member_id != member_id:
                raise ProtocolError("bad_attachment", f"attachment {attachment_id} is not yours")
            if not attachment.uploaded and self.store.holds(attachment):
                attachment.uploaded = True
            if not attachment.uploaded:
                raise ProtocolError(
                    "bad_attachment",
                    f"attachment {attachment_id} has no file yet; POST the upload form first",
                )
            found.append(attachment.metadata())
        return found

    def _known(self, attachment_id: object, room: str) -> Attachment:
        if not isinstance(attachment_id, str) or not ATTACHMENT_ID.fullmatch(attachment_id):
            raise ProtocolError("bad_attachment", '"attachment" must be an id from "upload_slot"')
        attachment = self.records.get(attachment_id)
        if attachment is None or attachment.room != room:
            raise ProtocolError("bad_attachment", f"no attachment {attachment_id} in this room")
        return attachment

    def uploaded(self, attachment_id: str) -> None:
        """The store holds the attachment's bytes (the upload endpoint calls this)."""
        attachment = self.records.get(attachment_id)
        if attachment is not None:
            attachment.uploaded = True

    def scan_result(self, event: dict[str, Any]) -> tuple[str, str] | None:
        """Apply a GuardDuty scan-result event: (room, ``attachment_updated`` frame) when it
        changed an attachment's status, else None (another bucket, unknown, no verdict)."""
        detail = event.get("detail") or {}
        where = detail.get("s3ObjectDetails") or {}
        verdict = (detail.get("scanResultDetails") or {}).get("scanResultStatus")
        if not isinstance(self.store, S3Store):
            return None
        attachment_id = self.store.attachment_id(
            str(where.get("bucketName")), str(where.get("objectKey"))
        )
        attachment = self.records.get(attachment_id or "")
        status = SCAN_VERDICTS.get(str(verdict))
        if attachment is None or status is None or attachment.status == status:
            return None
        attachment.status = status
        frame = protocol.dumps_frame(
            {"type": "attachment_updated", "attachment": attachment.metadata()}
        )
        return attachment.room, frame

    def origins(self) -> tuple[str, ...]:
        """Origins outside the relay that the page must reach (the CSP allows exactly these)."""
        return self.store.origins() if isinstance(self.store, S3Store) else ()

    def close(self) -> None:
        self.store.close()


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
