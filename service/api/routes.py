"""The server API's routes: each checks the key and its rate, reads and checks its input
(``fields``), acts through the hub, the broker, presence or moderation, and answers JSON."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Protocol

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Match, Route

import contract
from contract.protocol import (
    API_MEMBER_DISCONNECT_PATH,
    API_OPENAPI_PATH,
    API_PREFIX,
    API_ROOM_MEMBERS_PATH,
    API_ROOM_MESSAGE_PATH,
    API_ROOM_MESSAGES_PATH,
)

from .. import protocol
from ..broker import Backend, BrokerUnavailable, HistoryFull
from ..config import Settings
from ..hub import Hub
from ..members import api_member
from ..moderation import Moderation
from ..room_writes import api_key
from . import fields
from .auth import ApiKeys
from .bodies import json_object
from .errors import ApiError, not_found

log = logging.getLogger("service.api")

OPENAPI_FILE = Path(contract.__file__).with_name("openapi.json")
ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

Handler = Callable[[Request], Awaitable[Response]]


class ApiRelay(Protocol):
    """What the API needs of the relay (service.app.Relay)."""

    settings: Settings
    hub: Hub
    backend: Backend
    moderation: Moderation


class ServerApi:
    def __init__(self, relay: ApiRelay) -> None:
        settings = relay.settings
        self.relay = relay
        self.keys = ApiKeys(
            settings.server_api_keys, settings.api_rate_limit, settings.api_rate_burst
        )
        self.openapi = OPENAPI_FILE.read_bytes()

    def guarded(self, handler: Handler) -> Handler:
        """The key and its rate first; then the handler; every ApiError becomes its answer."""

        async def endpoint(request: Request) -> Response:
            try:
                self.keys.admit(request.headers.get("authorization"))
                return await handler(request)
            except ApiError as error:
                return error.response()
            except BrokerUnavailable:
                detail = "chat storage unreachable; nothing was changed, retry"
                return ApiError(503, "unavailable", detail).response()

        return endpoint

    async def post_message(self, request: Request) -> Response:
        room = fields.room(request.path_params["room"])
        body = await json_object(request)
        text, username = fields.text(body), fields.username(body)
        key = fields.idempotency_key(body)
        try:
            message_id = await self.relay.hub.writes.publish(
                room, api_member(username), text, api_key(key)
            )
        except HistoryFull:
            detail = "this relay holds all the chat history it may; retry later"
            raise ApiError(503, "history_full", detail) from None
        return JSONResponse({"id": message_id}, status_code=201)

    async def list_messages(self, request: Request) -> Response:
        room = fields.room(request.path_params["room"])
        limit = fields.limit(request.query_params.get("limit"))
        before = request.query_params.get("before")
        if before is not None:
            before = fields.message_id(before, "before")
        page = await self.relay.backend.broker.history_before(room, before, limit)
        return Response(
            protocol.message_page(page.messages, page.complete), media_type="application/json"
        )

    async def delete_message(self, request: Request) -> Response:
        room = fields.room(request.path_params["room"])
        message_id = fields.message_id(request.path_params["message_id"])
        if not await self.relay.hub.writes.delete_message(room, message_id):
            raise not_found(f"room {room} holds no message {message_id} (or it was deleted)")
        log.info("deleted a message", extra={"room": room, "message_id": message_id})
        return Response(status_code=204)

    async def members(self, request: Request) -> Response:
        room = fields.room(request.path_params["room"])
        members = await self.relay.backend.presence.members(room)
        return Response(protocol.members_object(members), media_type="application/json")

    async def disconnect(self, request: Request) -> Response:
        member_id = fields.member_id(request.path_params["member_id"])
        body = await json_object(request, optional=True)
        seconds = fields.ban_seconds(body)
        moderation = self.relay.moderation
        if seconds:
            await moderation.ban(member_id, seconds)  # first, so no reconnect slips in
        reason = (
            f"removed by the server; banned for {seconds} s" if seconds else "removed by the server"
        )
        closed = await moderation.disconnect(member_id, reason)
        log.info(
            "disconnected a member",
            extra={"member": member_id, "closed": closed, "ban_seconds": seconds},
        )
        return JSONResponse({"closed": closed})

    async def openapi_document(self, request: Request) -> Response:
        return Response(self.openapi, media_type="application/json")


async def _no_such_path(request: Request) -> Response:
    return not_found("no such server API path (see GET /api/v1/openapi.json)").response()


def _method_check(routes: list[Route]) -> Handler:
    """The API's last route: a path it serves asked with another method is a 405 naming the
    methods it takes (``Allow``), anything else a 404."""

    async def endpoint(request: Request) -> Response:
        allowed = sorted(
            method
            for route in routes
            if route.matches(request.scope)[0] is Match.PARTIAL
            for method in route.methods or ()
        )
        if not allowed:
            return await _no_such_path(request)
        detail = f"{request.url.path} takes {', '.join(allowed)}, not {request.method}"
        headers = {"Allow": ", ".join(allowed)}
        return ApiError(405, "method_not_allowed", detail, headers).response()

    return endpoint


def api_routes(relay: ApiRelay) -> list[BaseRoute]:
    """The API's routes; with no SERVER_API_KEYS, only a 404 for every path under /api."""
    catch_all: list[BaseRoute] = [
        Route(API_PREFIX, _no_such_path, methods=ALL_METHODS),
        Route(API_PREFIX + "/{rest:path}", _no_such_path, methods=ALL_METHODS),
    ]
    if not relay.settings.server_api_keys:
        return catch_all
    api = ServerApi(relay)
    routes = [
        Route(API_ROOM_MESSAGES_PATH, api.guarded(api.post_message), methods=["POST"]),
        Route(API_ROOM_MESSAGES_PATH, api.guarded(api.list_messages), methods=["GET"]),
        Route(API_ROOM_MESSAGE_PATH, api.guarded(api.delete_message), methods=["DELETE"]),
        Route(API_ROOM_MEMBERS_PATH, api.guarded(api.members), methods=["GET"]),
        Route(API_MEMBER_DISCONNECT_PATH, api.guarded(api.disconnect), methods=["POST"]),
        Route(API_OPENAPI_PATH, api.openapi_document, methods=["GET"]),
    ]
    check = _method_check(routes)
    return [
        *routes,
        Route(API_PREFIX, check, methods=ALL_METHODS),
        Route(API_PREFIX + "/{rest:path}", check, methods=ALL_METHODS),
    ]
