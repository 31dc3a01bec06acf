"""What the attachments part reads of the relay's settings (built in ``service.part_settings``)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class AttachmentSettings:
    """No defaults: the relay's settings (contract.settings) hold them, once."""

    max_bytes: int  # ATTACHMENT_MAX_BYTES: the largest file an upload slot allows
    types: tuple[str, ...]  # ATTACHMENT_TYPES: content types an upload may declare
    uploads_per_minute: int  # ATTACHMENT_UPLOADS_PER_MINUTE per member, across relays
    link_seconds: int  # ATTACHMENT_LINK_SECONDS: upload slots and download links live this long
    folder: str | None  # ATTACHMENT_DIR: the local store's folder (unset: a temporary one)
    bucket: str | None  # ATTACHMENT_BUCKET: S3, scanned by GuardDuty (unset: the local store)
    # Seconds a record lives: HISTORY_TTL_DAYS, as the bucket's lifecycle rule keeps the file.
    record_ttl: int
    region: str | None  # AWS_REGION (set by ECS): the bucket's regional endpoint
