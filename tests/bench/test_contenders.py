"""The benchmark's alternatives (bench/peers/, bench/contenders.py) run a short chat under
`python -m loadtest --protocol socketio`, so they cannot rot between `make bench` runs.

Counts are asserted (exact whatever the load), never latencies.
"""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import orjson
import pytest

from bench.contenders import NODE, ORIGINAL, PEERS, SOCKETIO, Contender, ContenderServers
from harness.paths import REPO
from harness.redis_server import RedisServer
from loadtest.socketio import SocketIOConnection
from tests.support.loadtest_runs import SHORT, run_loadtest


def run_against(servers: ContenderServers, tmp_path: Path, *args: str) -> dict:
    report_path = tmp_path / "report.json"
    result = run_loadtest(
        *servers.urls, "--protocol=socketio", *args, *SHORT, "--json", str(report_path)
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return orjson.loads(report_path.read_bytes())


@pytest.mark.redis
@pytest.mark.parametrize("contender", [SOCKETIO, ORIGINAL], ids=lambda c: c.key)
def test_alternative_delivers_every_message_across_two_servers(
    contender: Contender, redis_server: RedisServer, tmp_path: Path
) -> None:
    with ContenderServers(contender, redis_server) as servers:
        report = run_against(
            servers, tmp_path, "--clients=30", "--senders=6", "--rate=4", "--workers=2"
        )
    messages = report["messages"]
    assert report["join"]["joined"] == 30
    assert messages["expected"] > 0
    assert messages["delivered"] == messages["expected"]
    assert messages["duplicated"] == messages["out_of_order"] == messages["misrouted"] == 0
    assert report["errors"]["frames"] == {}


@pytest.mark.redis
def test_socketio_chat_keeps_rooms_apart_and_acknowledges_each_send(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    with ContenderServers(SOCKETIO, redis_server) as servers:
        report = run_against(servers, tmp_path, "--clients=30", "--rooms=3", "--senders=6")
    assert report["messages"]["misrouted"] == 0
    assert report["messages"]["delivered"] == report["messages"]["expected"] > 0
    assert report["messages"]["acked"] == report["messages"]["sent"]


def test_original_sample_client_takes_the_history_of_its_own_join_only() -> None:
    """Every join's histories go to every socket (io.emit); a client is joined at its own
    member_add, with the last message_history before it."""

    async def feed() -> list[dict]:
        delivered: list[dict] = []
        connection = SocketIOConnection(b"", "key", lambda p, _: delivered.append(orjson.loads(p)))
        history = [{"date": 1, "username": "A B", "avatar": "/a.svg", "message": "hi"}]
        packets = [
            b'40{"sid":"me"}',
            b'42["member_history",{"other":{"socket":"other"}}]',
            b'42["message_history",[]]',  # an earlier join's
            b'42["member_add",{"socket":"other","username":"A B"}]',
            b'42["member_history",{"other":{"socket":"other"}}]',
            b"42" + orjson.dumps(["message_history", history]),  # ours
            b'42["member_add",{"socket":"me","username":"C D"}]',
            b'42["message_history",[]]',  # a later join's
            b'42["messages",{"date":2,"username":"A B","avatar":"/a.svg","message":"yo"}]',
        ]
        for packet in packets:
            connection._on_packet(packet, 0)
        assert connection.namespace.done()
        return delivered

    delivered = asyncio.run(feed())
    assert [frame["type"] for frame in delivered] == ["message_history", "messages"]
    assert delivered[0]["messages"][0]["text"] == "hi"
    assert delivered[1]["message"]["text"] == "yo"


def test_peer_refuses_a_bad_port_naming_the_variable() -> None:
    result = subprocess.run(
        [str(NODE), str(PEERS / "socketio-chat.js")],
        cwd=REPO,
        env={"PORT": "abc", "REDIS_URL": "redis://127.0.0.1:1/0"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert 'PORT="abc"' in result.stderr and "e.g. 3000" in result.stderr
