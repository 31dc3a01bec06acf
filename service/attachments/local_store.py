"""Single-server store: a folder the relay writes and serves, with S3-like signed forms.

An upload slot is a form like an S3 presigned POST: a base64 JSON ``policy`` (expiry,
the key, the exact Content-Type, ``content-length-range``) and an HMAC over it. The
upload endpoint checks the signature and every condition, so the client's declared
size and type are enforced, not trusted. Download links are HMAC-signed and expire.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from contract.protocol import ATTACHMENT_ID, ATTACHMENTS_PATH, UPLOAD_PATH

from .records import Attachment


class UploadRefused(Exception):
    """The form or its file breaks a condition; the text says which (an HTTP 403/400)."""


@dataclass(frozen=True, slots=True)
class Policy:
    key: str
    content_type: str
    min_bytes: int
    max_bytes: int
    expires: int  # unix seconds


def _sign(secret: bytes, text: str) -> str:
    return hmac.new(secret, text.encode(), hashlib.sha256).hexdigest()


class LocalStore:
    def __init__(self, folder: str | None, link_seconds: int) -> None:
        if folder is None:
            self._temporary: tempfile.TemporaryDirectory[str] | None = tempfile.TemporaryDirectory(
                prefix="chat-relay-attachments-"
            )
            folder = self._temporary.name
        else:
            self._temporary = None
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.link_seconds = link_seconds
        self._secret = secrets.token_bytes(32)  # per process: one server holds the store

    # upload forms

    def upload_form(self, key: str, content_type: str, size: int) -> dict[str, Any]:
        """``{"url", "fields"}``: POST the fields plus ``file`` (last) as multipart."""
        expires = int(time.time()) + self.link_seconds
        document = {
            "expiration": expires,
            "conditions": [
                {"key": key},
                {"Content-Type": content_type},
                ["content-length-range", size, size],
            ],
        }
        policy = base64.b64encode(json.dumps(document).encode()).decode()
        fields = {
            "key": key,
            "Content-Type": content_type,
            "policy": policy,
            "x-signature": _sign(self._secret, policy),
        }
        return {"url": UPLOAD_PATH, "fields": fields}

    def check_form(self, fields: dict[str, str]) -> Policy:
        """The policy of a submitted form whose signature and fields hold; else UploadRefused."""
        policy_text = fields.get("policy", "")
        signature = fields.get("x-signature", "")
        if not hmac.compare_digest(_sign(self._secret, policy_text), signature):
            raise UploadRefused("the form's signature does not match; ask for a new upload slot")
        document = json.loads(base64.b64decode(policy_text))
        if document["expiration"] < time.time():
            raise UploadRefused("the upload slot expired; ask for a new one")
        conditions = document["conditions"]
        key, content_type = conditions[0]["key"], conditions[1]["Content-Type"]
        _, low, high = conditions[2]
        if fields.get("key") != key:
            raise UploadRefused("the form's key is not the one the slot was signed for")
        if fields.get("Content-Type") != content_type:
            raise UploadRefused(f"Content-Type must be {content_type}, as the slot declared")
        return Policy(key, content_type, low, high, int(document["expiration"]))

    def store(self, policy: Policy, data: bytes) -> None:
        if not policy.min_bytes <= len(data) <= policy.max_bytes:
            raise UploadRefused(
                f"the file is {len(data)} bytes; the slot allows "
                f"{policy.min_bytes}..{policy.max_bytes} (the size the upload frame declared)"
            )
        self._path(policy.key).write_bytes(data)

    # download links

    def holds(self, attachment: Attachment) -> bool:
        path = self._path(attachment.id)
        return path.is_file() and path.stat().st_size == attachment.size

    def download_url(self, attachment: Attachment) -> tuple[str, int]:
        key = attachment.id
        expires = int(time.time()) + self.link_seconds
        query = urlencode({"e": expires, "s": _sign(self._secret, f"{key}:{expires}")})
        return f"{ATTACHMENTS_PATH}/{key}?{query}", expires

    def check_link(self, key: str, expires: str, signature: str) -> Path | None:
        """The file a link names when its signature holds and it has not expired."""
        if not ATTACHMENT_ID.fullmatch(key) or not expires.isdigit():
            return None
        if not hmac.compare_digest(_sign(self._secret, f"{key}:{expires}"), signature):
            return None
        if int(expires) < time.time():
            return None
        path = self._path(key)
        return path if path.is_file() else None

    def _path(self, key: str) -> Path:
        if not ATTACHMENT_ID.fullmatch(key):
            raise UploadRefused("not an attachment key")
        return self.folder / key

    def close(self) -> None:
        if self._temporary is not None:
            self._temporary.cleanup()
