"""Before any load: one WebSocket handshake per URL, so a typo fails in a second with a clear
reason instead of a thousand identical connect errors."""

from __future__ import annotations

import socket
import ssl

from loadtest.wire import HandshakeFailed, open_connection

PREFLIGHT_TIMEOUT_S = 5.0


class Unreachable(Exception):
    """A URL that cannot carry the test; the message is one line for the user."""


async def check_reachable(
    urls: tuple[str, ...], origin: str | None, tls: ssl.SSLContext | None
) -> None:
    for url in urls:
        await _handshake(url, origin, tls)


def _ignore(payload: bytes, now: int) -> None:
    pass


async def _handshake(url: str, origin: str | None, tls: ssl.SSLContext | None) -> None:
    try:
        connection = await open_connection(
            url, _ignore, origin=origin, tls=tls, timeout=PREFLIGHT_TIMEOUT_S
        )
        await connection.close()
    except TimeoutError:
        raise Unreachable(
            f"{url}: no WebSocket handshake within {PREFLIGHT_TIMEOUT_S:g} s"
        ) from None
    except HandshakeFailed as exc:
        hint = " (check --origin against the relay's ALLOWED_ORIGINS)" if exc.status == 403 else ""
        raise Unreachable(f"{url}: server refused the WebSocket upgrade: {exc}{hint}") from None
    except ssl.SSLCertVerificationError as exc:
        raise Unreachable(
            f"{url}: TLS certificate not trusted ({exc.verify_message}); "
            "--insecure skips verification for a staging certificate"
        ) from None
    except socket.gaierror as exc:
        raise Unreachable(f"{url}: cannot resolve host ({exc.strerror})") from None
    except OSError as exc:
        raise Unreachable(f"{url}: cannot connect ({exc.strerror or exc})") from None
