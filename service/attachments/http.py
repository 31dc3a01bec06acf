"""The local store's two HTTP endpoints: the upload form's target and the download link.

Downloads go out as ``attachment`` (a file to save) except images, shown inline; the
SecurityHeaders middleware adds ``nosniff`` (a browser never reads a declared image or text
file as HTML or script) and a CSP with no script source for the file's own origin.
"""

from __future__ import annotations

import asyncio
import email.parser
import email.policy
from email.message import EmailMessage
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response

from ..broker import BrokerUnavailable
from .local_store import LocalStore, UploadRefused
from .service import Attachments

FORM_OVERHEAD_BYTES = 64 * 1024  # the form's other fields and multipart boundaries


class AttachmentEndpoints:
    def __init__(self, attachments: Attachments) -> None:
        self.attachments = attachments

    async def upload(self, request: Request) -> Response:
        limit = self.attachments.settings.max_bytes + FORM_OVERHEAD_BYTES
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            return _refused(413, f"the form is over {limit} bytes")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                return _refused(413, f"the form is over {limit} bytes")
        store = self.attachments.store
        if not isinstance(store, LocalStore):
            return _refused(404, "uploads go to the bucket the upload slot names")
        try:
            # Parsing and writing up to ATTACHMENT_MAX_BYTES takes ~0.5 s for 25 MiB:
            # off the event loop, which serves every WebSocket of the process.
            content_type = request.headers.get("content-type", "")
            fields, data = await asyncio.to_thread(_multipart, content_type, bytes(body))
            policy = store.check_form(fields)
            await asyncio.to_thread(store.store, policy, data)
        except UploadRefused as exc:
            return _refused(403, str(exc))
        except (ValueError, KeyError, TypeError, IndexError):
            return _refused(400, "not an upload form: POST the slot's fields and then file")
        try:
            await self.attachments.uploaded(policy.key)
        except BrokerUnavailable:
            return _refused(503, "stored, but the attachment records are unreachable; retry")
        return Response(status_code=204)

    async def download(self, request: Request) -> Response:
        key = request.path_params["attachment_id"]
        store = self.attachments.store
        if not isinstance(store, LocalStore):
            return _refused(404, "downloads come from the bucket the link names")
        path = store.check_link(
            key, request.query_params.get("e", ""), request.query_params.get("s", "")
        )
        try:
            record = await self.attachments.records.get(key)
        except BrokerUnavailable:
            return _refused(503, "the attachment records are unreachable; retry")
        if path is None or record is None:
            return _refused(404, "no such attachment, or the link expired; ask for a new link")
        inline = record.content_type.startswith("image/")
        disposition = "inline" if inline else "attachment"
        return FileResponse(
            path,
            media_type=record.content_type,
            headers={
                "content-disposition": f"{disposition}; filename*=UTF-8''{quote(record.name)}",
                "cache-control": "private, max-age=60",
            },
        )


def _refused(status: int, detail: str) -> Response:
    return PlainTextResponse(detail + "\n", status_code=status)


def _multipart(content_type: str, body: bytes) -> tuple[dict[str, str], bytes]:
    """The text fields and the ``file`` part of a multipart/form-data body."""
    if not content_type.lower().startswith("multipart/form-data"):
        raise ValueError("not multipart/form-data")
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    fields: dict[str, str] = {}
    data: bytes | None = None
    assert isinstance(message, EmailMessage)
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if not isinstance(name, str) or not isinstance(payload, bytes):
            continue
        if name == "file":
            data = payload
        else:
            fields[name] = payload.decode()
    if data is None:
        raise ValueError("no file part")
    return fields, data
