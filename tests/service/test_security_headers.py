"""Security headers on the page, static files, avatars and probes of a real relay process."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest
from starlette.datastructures import Headers

from harness.relay import RelayProcess
from service.security_headers import content_security_policy, websocket_origin

AVATAR = "/avatars/" + "ab" * 8 + ".svg"


def fetch_headers(url: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    request = urllib.request.Request(url, headers=extra or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return {k.lower(): v for k, v in response.headers.items()}
    except urllib.error.HTTPError as exc:  # a 404 or 503 carries the headers too
        return {k.lower(): v for k, v in exc.headers.items()}


def directives(policy: str) -> dict[str, str]:
    return dict(part.strip().split(" ", 1) for part in policy.split(";"))


@pytest.mark.parametrize("path", ["/", "/index.html", "/app.js", "/style.css", AVATAR, "/nope"])
def test_every_response_carries_the_headers(relay: RelayProcess, path: str) -> None:
    headers = fetch_headers(relay.http + path)
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "no-referrer"
    policy = directives(headers["content-security-policy"])
    assert policy == {
        "default-src": "'none'",
        "script-src": "'self'",
        "style-src": "'self'",
        "img-src": "'self'",
        "connect-src": f"'self' ws://127.0.0.1:{relay.port}",
        "base-uri": "'none'",
        "form-action": "'self'",
        "frame-ancestors": "'none'",
    }


def test_behind_tls_termination_the_policy_names_wss(relay: RelayProcess) -> None:
    # The ALB terminates HTTPS and says so in X-Forwarded-Proto; the browser then uses wss.
    headers = fetch_headers(
        relay.http + "/", {"Host": "chat.example.com", "X-Forwarded-Proto": "https"}
    )
    policy = directives(headers["content-security-policy"])
    assert policy["connect-src"] == "'self' wss://chat.example.com"


@pytest.mark.parametrize(
    "host",
    [
        "evil.example; script-src *",
        "a b",
        "chat.example.com'",
        "",
        "x" * 10 + ":123456",
    ],
)
def test_a_host_that_could_inject_directives_falls_back_to_self(host: str) -> None:
    assert websocket_origin(Headers({"host": host}), "http") is None
    assert "connect-src 'self';" in content_security_policy(None)


@pytest.mark.parametrize(
    ("host", "proto", "scheme", "expected"),
    [
        ("chat.example.com", "", "http", "ws://chat.example.com"),
        ("chat.example.com", "https", "http", "wss://chat.example.com"),
        ("Chat.Example.com:8443", "", "https", "wss://chat.example.com:8443"),
        ("[::1]:8000", "http", "http", "ws://[::1]:8000"),
    ],
)
def test_websocket_origin(host: str, proto: str, scheme: str, expected: str) -> None:
    raw = {"host": host, **({"x-forwarded-proto": proto} if proto else {})}
    assert websocket_origin(Headers(raw), scheme) == expected
