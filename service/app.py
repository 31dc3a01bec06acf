"""The Starlette application: routes, origin check, lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import botocore.session
from starlette.applications import Starlette
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
from .attachments.scan_queue import consume_scan_results
from .avatars import render_avatar
from .broker import Backend, create_backend
from .config import Settings
from .deregistration import DeregistrationWatcher
from .drain import Drain
from .events_out import create_chat_events
from .hub import Hub
from .identity_alb import HEADER as IDENTITY_HEADER
from .identity_alb import AlbIdentityVerifier, NotSignedIn, SignedIn
from .members import MEMBER_ID_BYTES, MemberFactory
from .metrics_server import MetricsServer
from .moderation import create_moderation
from .observability.emf import EmfReporter, task_id
from .observability.metrics import (
    PROMETHEUS_CONTENT_TYPE,
    PrometheusExposition,
    RelayMetrics,
    watch_loop_lag,
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
from .transport import PROTOCOL_SCOPE_KEY

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
        if not origin_allowed(websocket.headers, settings.allowed_origins):
            self.metrics.refuse("origin")
            log.info("refused a WebSocket", extra={"origin": websocket.headers.get("origin")})
            await websocket.close(CLOSE_POLICY)  # before accept: HTTP 403
            return
        if self.draining or len(self.hub.connections) >= settings.max_connections:
            self.metrics.refuse("draining" if self.draining else "capacity")
            await websocket.close(CLOSE_TRY_AGAIN)
            return
        signed_in = await self._signed_in(websocket)
        if self.verifier is not None and signed_in is None:
            return
        await websocket.accept()
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

    async def _signed_in(self, websocket: WebSocket) -> SignedIn | None:
        """With sign-in on, the identity the load balancer vouches for; else refuse (401)."""
        if self.verifier is None:
            return None
        try:
            return await self.verifier.verify(websocket.headers.get(IDENTITY_HEADER))
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
        loop = asyncio.get_running_loop()
        watchers = [loop.create_task(watch_loop_lag(self.metrics), name="loop-lag")]
        if self.settings.metrics_emf_interval > 0:
            reporter = await self._emf_reporter()
            watchers.append(
                loop.create_task(reporter.run(self.settings.metrics_emf_interval), name="emf")
            )
        if self.settings.attachment_bucket and self.settings.attachment_scan_queue_url:
            scans = consume_scan_results(
                self.attachments,
                self.backend.broker,
                botocore.session.get_session().create_client("sqs"),
                self.settings.attachment_scan_queue_url,
            )
            watchers.append(loop.create_task(scans, name="scan-results"))
        if self.settings.drain_target_group_arn and self.settings.ecs_metadata_uri:
            watcher = self._deregistration_watcher()
            watchers.append(loop.create_task(watcher.run(), name="deregistration"))
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

    def _deregistration_watcher(self) -> DeregistrationWatcher:
        settings = self.settings
        assert settings.drain_target_group_arn and settings.ecs_metadata_uri
        return DeregistrationWatcher(
            target_group_arn=settings.drain_target_group_arn,
            metadata_uri=settings.ecs_metadata_uri,
            port=settings.port,
            poll_seconds=settings.drain_poll_seconds,
            # The balancer holds the connections for its deregistration delay: use it all.
            on_draining=lambda: self.drain.start("deregistration", settings.drain_seconds),
        )

    async def _emf_reporter(self) -> EmfReporter:
        settings = self.settings
        task = settings.metrics_task_id
        if not task:
            metadata_uri, hostname = settings.ecs_metadata_uri, socket.gethostname()
            task = await asyncio.to_thread(task_id, metadata_uri, hostname)
        log.info(
            "publishing CloudWatch metrics (EMF) on stdout",
            extra={
                "namespace": settings.metrics_namespace,
                "service": settings.metrics_service_name,
                "task": task,
                "interval": settings.metrics_emf_interval,
            },
        )
        return EmfReporter(
            self.hub,
            self.metrics,
            namespace=settings.metrics_namespace,
            service_name=settings.metrics_service_name,
            task=task,
        )


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
