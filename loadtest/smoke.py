"""`python -m loadtest.smoke URL --origin ORIGIN`: is a freshly deployed relay serving?

The pipeline's first check after a deploy, before any load: `/readyz` answers 200 (the
relay reaches Redis), and one WebSocket client joins a fresh room, gets welcome,
member_history and message_history in that order, sends a message and gets both its ack
and the message back. Exit status 0 when every step passed, 1 naming the failed step,
2 for bad arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import ssl
import sys
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Origin

from contract.protocol import READY_PATH
from loadtest.arguments import relay_url

STEP_TIMEOUT_S = 10.0


class SmokeFailed(Exception):
    """A step of the smoke check did not pass; the message says which and what was seen."""


def readyz_url(ws_url: str) -> str:
    """wss://host/ws -> https://host/readyz (ws -> http)."""
    parts = urlsplit(ws_url)
    scheme = "https" if parts.scheme == "wss" else "http"
    return urlunsplit((scheme, parts.netloc, READY_PATH, "", ""))


def check_readyz(ws_url: str, tls: ssl.SSLContext | None) -> str:
    url = readyz_url(ws_url)
    try:
        with urllib.request.urlopen(url, timeout=STEP_TIMEOUT_S, context=tls) as response:
            status = response.status
    except urllib.error.HTTPError as error:
        status = error.code
    except (urllib.error.URLError, OSError) as error:
        raise SmokeFailed(f"GET {url}: {getattr(error, 'reason', error)}") from None
    if status != 200:
        raise SmokeFailed(f"GET {url} answered {status}, not 200: the relay is not ready")
    return f"GET {url}: 200"


async def check_chat(ws_url: str, origin: str | None, tls: ssl.SSLContext | None) -> list[str]:
    room = f"smoke-{secrets.token_hex(4)}"
    text = f"smoke check {secrets.token_hex(4)}"
    passed = []
    try:
        async with connect(
            ws_url,
            origin=Origin(origin) if origin else None,
            ssl=tls,
            open_timeout=STEP_TIMEOUT_S,
            compression=None,
        ) as ws:
            passed.append(f"WebSocket upgrade at {ws_url}")
            await ws.send(json.dumps({"type": "join", "room": room}))
            for expected in ("welcome", "member_history", "message_history"):
                frame = await _next_frame(ws, f"{expected} after join")
                if frame.get("type") != expected:
                    raise SmokeFailed(f"after join expected {expected}, got {frame}")
            passed.append(f"joined room {room}: welcome, member_history, message_history")
            await ws.send(json.dumps({"type": "send", "text": text, "ref": "smoke"}))
            seen: set[str] = set()
            while seen != {"ack", "messages"}:
                frame = await _next_frame(ws, "ack and the message after send")
                if frame.get("type") == "ack" and frame.get("ref") == "smoke":
                    seen.add("ack")
                elif frame.get("type") == "messages" and frame["message"].get("text") == text:
                    seen.add("messages")
                elif frame.get("type") == "error":
                    raise SmokeFailed(f"send answered with an error: {frame}")
            passed.append("sent a message: ack and the message came back")
    except SmokeFailed:
        raise
    except TimeoutError:
        raise SmokeFailed(f"{ws_url}: no WebSocket handshake within {STEP_TIMEOUT_S:g} s") from None
    except Exception as error:
        hint = " (check --origin against ALLOWED_ORIGINS)" if "403" in str(error) else ""
        raise SmokeFailed(f"{ws_url}: {type(error).__name__}: {error}{hint}") from None
    return passed


async def _next_frame(ws: ClientConnection, waiting_for: str) -> dict[str, Any]:
    try:
        raw = await asyncio.wait_for(ws.recv(), STEP_TIMEOUT_S)
    except TimeoutError:
        raise SmokeFailed(
            f"no frame within {STEP_TIMEOUT_S:g} s waiting for {waiting_for}"
        ) from None
    frame = json.loads(raw)
    if not isinstance(frame, dict):
        raise SmokeFailed(f"waiting for {waiting_for}, got a frame that is not a JSON object")
    return frame


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m loadtest.smoke",
        description="One client end to end against a deployed relay: /readyz, join, send.",
    )
    parser.add_argument("url", type=relay_url, help="ws[s]://host[:port][/ws]")
    parser.add_argument("--origin", help="Origin header (the relay's own https://<domain>)")
    parser.add_argument("--insecure", action="store_true", help="do not verify certificates")
    args = parser.parse_args(argv)
    tls = None
    if args.url.startswith("wss://"):
        tls = ssl.create_default_context()
        if args.insecure:
            tls.check_hostname = False
            tls.verify_mode = ssl.CERT_NONE
    try:
        passed = [check_readyz(args.url, tls), *asyncio.run(check_chat(args.url, args.origin, tls))]
    except SmokeFailed as failure:
        print(f"smoke check failed: {failure}", file=sys.stderr)
        return 1
    for step in passed:
        print(f"ok  {step}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
