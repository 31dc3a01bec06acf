"""``python -m service --host H --port P``: run the relay under uvicorn."""

from __future__ import annotations

import argparse
import asyncio
import sys

import uvicorn

from .app import create_app
from .config import ConfigError, load_settings
from .drain import DrainingServer
from .http_edge import HttpEdge
from .observability.logs import configure_logging
from .ws_protocol import LeanWebSocketProtocol

# uvicorn's sans-I/O WebSocket protocol with lean waiting primitives: 4 KiB less RSS per idle
# connection than uvicorn's own, no slower (docs/benchmarks.md, "uvicorn's WebSocket
# implementations").
WS_IMPLEMENTATION: str | type[asyncio.Protocol] = LeanWebSocketProtocol


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m service",
        description="chat-relay WebSocket relay. Settings come from the environment "
        "(see README, 'Settings'); --host/--port override HOST/PORT.",
    )
    parser.add_argument("--host", help="address to bind (default HOST or 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to bind (default PORT or 8000)")
    return parser.parse_args(argv)


def main(
    argv: list[str] | None = None, ws: str | type[asyncio.Protocol] = WS_IMPLEMENTATION
) -> int:
    """`ws` is for the benchmarks (bench/relay_variant.py), which run each implementation."""
    args = parse_args(argv)
    try:
        settings = load_settings(host=args.host, port=args.port)
    except ConfigError as exc:
        print(f"chat-relay: configuration error: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_rate_limit)
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        # httptools under head size, count and time limits (service.http_edge).
        http=HttpEdge.from_settings(settings, app.relay.metrics).protocol_factory(),
        ws=ws,
        ws_max_size=settings.max_frame_bytes,
        ws_per_message_deflate=False,  # ~50 KiB per connection; chat frames are small
        ws_ping_interval=settings.ping_interval,
        ws_ping_timeout=settings.ping_timeout,
        lifespan="on",
        log_level=settings.log_level,
        # uvicorn's records go through the relay's JSON lines (service.observability.logs)
        log_config=None,
        access_log=False,  # one line per connection is noise at thousands of clients
        backlog=4096,
        # An idle kept-alive HTTP connection (the balancer's, between page and probe
        # requests) is closed after this; uvicorn's 5 s default is shorter than the ALB's.
        timeout_keep_alive=settings.http_keepalive_seconds,
        # The drain (service.drain) spreads closes over half of DRAIN_SECONDS; this bounds
        # what is left after it, so the process exits inside the budget.
        timeout_graceful_shutdown=max(1, int(settings.drain_seconds * 0.3)),
    )
    server = DrainingServer(config, app.state.relay)
    server.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
