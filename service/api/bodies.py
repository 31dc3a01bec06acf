"""Request bodies: at most API_MAX_BODY_BYTES, a JSON object."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request

from contract.protocol import API_MAX_BODY_BYTES

from .errors import ApiError, bad_request

TOO_LARGE = f"the body is over {API_MAX_BODY_BYTES} bytes; send less"


async def json_object(request: Request, *, optional: bool = False) -> dict[str, Any]:
    """The body as a JSON object (``{}`` for an empty body when ``optional``)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > API_MAX_BODY_BYTES:
        raise ApiError(413, "too_large", TOO_LARGE)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > API_MAX_BODY_BYTES:
            raise ApiError(413, "too_large", TOO_LARGE)
    if not body and optional:
        return {}
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise bad_request("bad_body", "the body is not valid JSON") from None
    if not isinstance(value, dict):
        raise bad_request("bad_body", "the body must be a JSON object")
    return value
