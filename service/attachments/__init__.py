"""File attachments: upload slots, the local store, download links (docs/protocol.md).

A client asks for an upload slot, POSTs the bytes straight to storage with the slot's
form (never through the WebSocket), then names the attachment on a ``send``. The form's
conditions, not the client's word, bound the size and content type. Single server,
the store is a local folder the relay serves itself, and nothing is scanned.
"""

from .service import Attachments
from .settings import AttachmentSettings

__all__ = ["AttachmentSettings", "Attachments"]
