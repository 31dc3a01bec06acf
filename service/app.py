"""The Starlette application: routes, origin check, lifespan."""

from __future__ import annotations

import contextlib
import logging
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket

from . import protocol
from .avatars import render_avatar
from .broker import Broker, create_broker
from .config import Settings
from .hub import Hub
from .members import MEMBER_ID_BYTES, MemberFactory
from .origins import origin_allowed
from .session import Session
from .transport import CaptureProtocol

log = logging.getLogger("service.app")

WEB_ROOT = Path(__file__).resolve().parent.parent / "web"


class Relay:
    """What one process holds: settings, the broker, the hub of local connections."""

    def __init__(self, settings: Settings, broker: Broker | None = None) -> None:
        self.settings = settings
        self.process_id = secrets.token_hex(4)
        self.hub = Hub(broker or create_broker(settings))
        self.member_factory = MemberFactory()
        self.draining = False

    async def websocket_endpoint(self, websocket: WebSocket) -> None:
        settings = self.settings
        if not origin_allowed(websocket.headers, settings.allowed_origins):
            log.info("refused a WebSocket from origin %r", websocket.headers.get("origin"))
            await websocket.close(protocol.CLOSE_POLICY)  # before accept: HTTP 403
            return
        if self.draining or len(self.hub.connections) >= settings.max_connections:
            await websocket.close(protocol.CLOSE_TRY_AGAIN)
            return
        await websocket.accept()
        session = Session(self.hub, settings, self.member_factory, websocket, self.process_id)
        await session.run()

    async def healthz(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(self, request: Request) -> Response:
        ready = self.hub.broker.ready and not self.draining
        body = {
            "status": "ready" if ready else "unavailable",
            "broker": "redis" if self.settings.redis_url else "memory",
            "broker_ready": self.hub.broker.ready,
            "draining": self.draining,
            "connections": len(self.hub.connections),
        }
        return JSONResponse(body, status_code=200 if ready else 503)

    async def avatar(self, request: Request) -> Response:
        member_id = request.path_params["member_id"]
        if len(member_id) != 2 * MEMBER_ID_BYTES or not all(
            c in "0123456789abcdef" for c in member_id
        ):
            return Response("unknown avatar\n", status_code=404, media_type="text/plain")
        return Response(
            render_avatar(member_id),
            media_type="image/svg+xml",
            headers={"Cache-Control": "public, max-age=31536000, immutable"},
        )

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        await self.hub.start()
        try:
            yield
        finally:
            self.draining = True
            await self.hub.close()


def create_app(settings: Settings, broker: Broker | None = None) -> Starlette:
    relay = Relay(settings, broker)
    routes = [
        WebSocketRoute("/ws", relay.websocket_endpoint),
        Route("/healthz", relay.healthz),
        Route("/readyz", relay.readyz),
        Route("/avatars/{member_id}.svg", relay.avatar),
        Mount("/", StaticFiles(directory=WEB_ROOT, html=True), name="web"),
    ]
    app = Starlette(
        routes=routes, lifespan=relay.lifespan, middleware=[Middleware(CaptureProtocol)]
    )
    app.state.relay = relay
    return app
