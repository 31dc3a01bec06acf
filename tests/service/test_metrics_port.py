"""METRICS_PORT (issue 27, item 4): Prometheus text on a port of its own; the main port,
the one the load balancer forwards, answers 404 for every spelling of /metrics."""

from __future__ import annotations

import http.client
import socket
from collections.abc import Iterator

import pytest

from harness.ports import free_port
from harness.relay import RelayProcess
from service.config import ConfigError, load_settings

# What an ALB rule matching the literal path "/metrics" would let through, and more.
SPELLINGS = [
    "/metrics",
    "/metrics/",
    "/metrics?x=1",
    "/%6detrics",
    "/%6D%65%74%72%69%63%73",
    "/metrics%2f",
    "/%2fmetrics",
    "//metrics",
    "/./metrics",
    "/web/../metrics",
    "/METRICS",
    "/metrics;x",
]


@pytest.fixture(scope="module")
def metrics_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def split_relay(metrics_port: int) -> Iterator[RelayProcess]:
    with RelayProcess({"METRICS_PORT": str(metrics_port)}) as relay:
        yield relay


def get(port: int, target: str) -> tuple[int, bytes]:
    """The request target sent exactly as written (no client-side normalizing)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.putrequest("GET", target, skip_accept_encoding=True)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


@pytest.mark.parametrize("target", SPELLINGS)
def test_no_spelling_of_metrics_is_served_on_the_main_port(
    split_relay: RelayProcess, target: str
) -> None:
    status, body = get(split_relay.port, target)
    assert status == 404, (target, status)
    assert b"chat_relay_" not in body


def test_the_metrics_port_serves_prometheus_text(
    split_relay: RelayProcess, metrics_port: int
) -> None:
    status, body = get(metrics_port, "/metrics")
    assert status == 200
    assert b"chat_relay_connections" in body
    assert get(metrics_port, "/")[0] == 404
    assert get(metrics_port, "/healthz")[0] == 404
    assert get(split_relay.port, "/healthz")[0] == 200  # the main port is otherwise as before


def test_a_half_sent_request_on_the_metrics_port_is_closed(metrics_port: int, split_relay) -> None:
    with socket.create_connection(("127.0.0.1", metrics_port), timeout=10) as sock:
        sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")  # never finishes the head
        assert sock.recv(100) == b""  # closed after the head deadline, nothing answered


def test_metrics_port_must_not_be_the_main_port() -> None:
    with pytest.raises(ConfigError, match="METRICS_PORT=8000 is PORT"):
        load_settings({"PORT": "8000", "METRICS_PORT": "8000"})
