"""The Starlette application: routes, origin check, lifespan."""

from __future__ import annotations

import contextlib
import logging
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket

from contract.protocol import (
    ATTACHMENTS_PATH,
    CLOSE_POLICY,
    CLOSE_TRY_AGAIN,
    HEALTH_PATH,
    METRICS_PATH,
    READY_PATH,
    UPLOAD_PATH,
    WEBSOCKET_PATH,
)

from .address_quota import AddressQuota
from .admission import Admission
from .api import api_routes
from .attachments import Attachments
from .attachments.http import AttachmentEndpoints
from .avatars import render_avatar
from .broker import Backend, create_backend
from .config import Settings
from .drain import Drain
from .events_out import create_chat_events
from .hub import Hub
from .identity_alb import HEADER as IDENTITY_HEADER
from .identity_alb import AlbIdentityVerifier, NotSignedIn, SignedIn
from .members import MEMBER_ID_BYTES, MemberFactory
from .metrics_server import MetricsServer
from .moderation import create_moderation
from .observability.metrics import (
    PROMETHEUS_CONTENT_TYPE,
    PrometheusExposition,
    RelayMetrics,
)
from .origins import origin_allowed
from .part_settings import (
    attachment_settings,
    backend_settings,
    redis_broker_settings,
    session_settings,
)
from .room_tokens import RoomTokens
from .security_headers import SecurityHeaders
from .session import Session
from .sign_in import LOGOUT_PATH, SESSION_PATH, SignInEndpoints
from .transport import PROTOCOL_SCOPE_KEY, release_handshake
from .watchers import start_watchers

log = logging.getLogger("service.app")

# At shutdown, how long the events still buffered may take to reach the bus.
EVENTS_FLUSH_SECONDS = 5.0

WEB_ROOT = Path(__file__).resolve().parent.parent / "web"


class Relay:
    """What one process holds: settings, the broker, the hub of local connections."""

    def __init__(self, settings: Settings, backend: Backend | None = None) -> None:
        self.settings = settings
        self.process_id = secrets.token_hex(4)
        self.metrics = RelayMetrics()
        self.backend = backend or create_backend(backend_settings(settings))
        self.session_settings = session_settings(settings)
        self.events = create_chat_events(settings, self.metrics)
        self.hub = Hub(self.backend, self.metrics, self.events)
        self.exposition = PrometheusExposition(self.hub, self.metrics)
        self.member_factory = MemberFactory()
        redis = redis_broker_settings(settings) if settings.redis_url else None
        self.moderation = create_moderation(redis)
        self.admission = Admission(RoomTokens(settings.room_token_secret), self.moderation)
        self.identity_quota = AddressQuota(settings.new_identities_per_minute)
        self.room_quota = AddressQuota(settings.new_rooms_per_minute)
        self.attachments = Attachments(attachment_settings(settings), redis)
        self.verifier = (
            AlbIdentityVerifier(settings.alb_arn, settings.alb_public_key_url)
            if settings.auth_mode == "alb" and settings.alb_arn
            else None
        )
        self.draining = False
        self.drain = Drain(self)

    async def websocket_endpoint(self, websocket: WebSocket) -> None:
        settings = self.settings
        # Not websocket.headers, cached on the WebSocket for the connection's life: this
        # view goes (del, below) with what release_handshake drops.
        headers = Headers(scope=websocket.scope)
        if not origin_allowed(headers, settings.allowed_origins):
            self.metrics.refuse("origin")
            log.info("refused a WebSocket", extra={"origin": headers.get("origin")})
            await websocket.close(CLOSE_POLICY)  # before accept: HTTP 403
            return
        if self.draining or len(self.hub.connections) >= settings.max_connections:
            self.metrics.refuse("draining" if self.draining else "capacity")
            await websocket.close(CLOSE_TRY_AGAIN)
            return
        signed_in = await self._signed_in(websocket, headers)
        del headers  # this frame lives as long as the connection
        if self.verifier is not None and signed_in is None:
            return
        await websocket.accept()
        release_handshake(websocket.scope)
        session = Session(
            self.hub,
            self.backend.identities,
            self.session_settings,
            self.member_factory,
            websocket,
            self.process_id,
            self.admission,
            signed_in,
            self.identity_quota,
            self.room_quota,
            self.attachments,
        )
        await session.run()

    async def _signed_in(self, websocket: WebSocket, headers: Headers) -> SignedIn | None:
        """With sign-in on, the identity the load balancer vouches for; else refuse (401)."""
        if self.verifier is None:
            return None
        try:
            return await self.verifier.verify(headers.get(IDENTITY_HEADER))
        except NotSignedIn as exc:
            self.metrics.refuse("not_signed_in")
            log.info("refused a WebSocket: not signed in", extra={"reason": exc.reason})
            detail = f"sign in first (reload the page): {exc.reason}\n"
            await websocket.send_denial_response(PlainTextResponse(detail, status_code=401))
            return None

    async def healthz(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(self, request: Request) -> Response:
        state = self.hub.snapshot()
        ready = state.broker.ready and not self.draining
        body = {
            "status": "ready" if ready else "unavailable",
            "broker": "redis" if self.settings.redis_url else "memory",
            "broker_ready": state.broker.ready,
            "draining": self.draining,
            "connections": state.connections,
        }
        return JSONResponse(body, status_code=200 if ready else 503)

    async def metrics_endpoint(self, request: Request) -> Response:
        return Response(self.exposition.render(), media_type=PROMETHEUS_CONTENT_TYPE)

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
        await self.moderation.start(self.hub)
        self.events.start()
        metrics_server = self._metrics_server()
        if metrics_server is not None:
            await metrics_server.start()
        watchers = await start_watchers(
            self.settings, self.hub, self.metrics, self.backend.broker, self.attachments, self.drain
        )
        try:
            yield
        finally:
            self.draining = True
            for running in watchers:
                running.cancel()
            await self.moderation.close()
            if self.verifier is not None:
                self.verifier.close()
            if metrics_server is not None:
                await metrics_server.close()
            await self.hub.close()
            await self.events.close(EVENTS_FLUSH_SECONDS)
            await self.attachments.close()

    def _metrics_server(self) -> MetricsServer | None:
        """/metrics on METRICS_PORT, when set (the main port then has no such route)."""
        settings = self.settings
        if not (settings.metrics_endpoint and settings.metrics_port):
            return None
        return MetricsServer(self.exposition.render, settings.host, settings.metrics_port)


class RelayApp:
    """The ASGI entry point: ``/ws`` goes straight to the relay, everything else to Starlette.

    A WebSocket lives for hours, and each Starlette layer it passes through (middleware,
    routing, exception handling) keeps a coroutine frame alive for it: about 3 KiB per
    idle connection for nothing, since the session handles its own errors. Here the
    upgrade also hands the relay the server's protocol object (``service.transport``).
    """

    def __init__(self, relay: Relay, http: Starlette) -> None:
        self.relay = relay
        self.http = http
        self.state = http.state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and scope["path"] == WEBSOCKET_PATH:
            scope[PROTOCOL_SCOPE_KEY] = getattr(send, "__self__", None)
            await self.relay.websocket_endpoint(WebSocket(scope, receive, send))
            return
        await self.http(scope, receive, send)


def create_app(settings: Settings, backend: Backend | None = None) -> RelayApp:
    relay = Relay(settings, backend)
    sign_in = SignInEndpoints(settings, relay.verifier)
    attachments = AttachmentEndpoints(relay.attachments)
    routes = [
        Route(SESSION_PATH, sign_in.session),
        Route(LOGOUT_PATH, sign_in.logout, methods=["POST"]),
        Route(HEALTH_PATH, relay.healthz),
        Route(READY_PATH, relay.readyz),
        *(
            [Route(METRICS_PATH, relay.metrics_endpoint)]
            if settings.metrics_endpoint and not settings.metrics_port
            else []
        ),
        Route("/avatars/{member_id}.svg", relay.avatar),
        *api_routes(relay),
        Route(UPLOAD_PATH, attachments.upload, methods=["POST"]),
        Route(ATTACHMENTS_PATH + "/{attachment_id}", attachments.download),
        Mount("/", StaticFiles(directory=WEB_ROOT, html=True), name="web"),
    ]
    http = Starlette(
        routes=routes,
        lifespan=relay.lifespan,
        middleware=[Middleware(SecurityHeaders, storage_origins=relay.attachments.origins())],
    )
    http.state.relay = relay
    return RelayApp(relay, http)
