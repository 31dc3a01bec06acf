"""Step 2 of the upgrade (docs/operations.md): while a stage switches REDIS_PUBLISH_FORMAT
from ``frame`` to ``compact``, tasks of both kinds share one Redis. Every client must get
every message exactly once and in order, and the same member events, wherever it and the
sender are connected."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import orjson
import pytest

from harness.client import ChatClient
from harness.relay import RelayProcess

pytestmark = pytest.mark.anyio

ROOM = "mixed"
QUIET = 0.5  # seconds without a frame: nothing more is coming


@pytest.fixture
def mixed_fleet(redis_url: str) -> Iterator[tuple[RelayProcess, RelayProcess]]:
    """One relay with the default format (frame), one with compact, on one Redis."""
    with (
        RelayProcess(env={"REDIS_URL": redis_url}) as framed,
        RelayProcess(env={"REDIS_URL": redis_url, "REDIS_PUBLISH_FORMAT": "compact"}) as compact,
    ):
        yield framed, compact


class Wire:
    """One client's frames byte for byte, in arrival order (acks set aside)."""

    def __init__(self, client: ChatClient) -> None:
        self.client = client
        self.frames: list[str] = []

    async def _recv(self, timeout: float = 10) -> str:
        raw = await asyncio.wait_for(self.client.ws.recv(), timeout)
        assert isinstance(raw, str)
        return raw

    async def say(self, text: str) -> str:
        """Send; the ack's message id (frames before the ack are kept, in order)."""
        await self.client.send({"type": "send", "text": text})
        while True:
            frame = await self._recv()
            if orjson.loads(frame)["type"] == "ack":
                message_id: str = orjson.loads(frame)["id"]
                return message_id
            self.frames.append(frame)

    async def take(self, count: int) -> list[str]:
        """The next ``count`` frames, then proof that no more follow."""
        while len(self.frames) < count:
            self.frames.append(await self._recv())
        taken = await self.rest()
        assert len(taken) == count, taken
        return taken

    async def rest(self) -> list[str]:
        """Every frame until none comes for QUIET seconds."""
        with contextlib.suppress(TimeoutError):
            while True:
                self.frames.append(await self._recv(QUIET))
        taken, self.frames = self.frames, []
        return taken


async def test_a_fleet_publishing_both_formats_loses_and_repeats_nothing(mixed_fleet) -> None:
    framed, compact = mixed_fleet
    # Alternating relays: each joiner is announced to the clients on both.
    clients = [await ChatClient.connect(relay.ws) for relay in (framed, compact) * 2]
    wires = [Wire(client) for client in clients]
    members: list[dict[str, object]] = []
    try:
        for joiner, client in enumerate(clients):
            members.append((await client.join(ROOM)).member)
            added = {"type": "member_add", "room": ROOM, "member": members[joiner]}
            for earlier in wires[:joiner]:
                (frame,) = await earlier.take(1)
                assert orjson.loads(frame) == added
            # The hub drops the joiner's own member_add only if it comes back from Redis
            # before the join completes (LocalRoom.go_live); after, the joiner gets it. That
            # race is the hub's, whatever the format: allowed here, and nothing else.
            own = [orjson.loads(frame) for frame in await wires[joiner].rest()]
            assert own in ([], [added]), own

        # Each client sends in turn, every send acknowledged before the next: ids in order.
        ids, texts = [], []
        for round_ in range(3):
            for index, wire in enumerate(wires):
                texts.append(f"round {round_} from {index}")
                ids.append(await wire.say(texts[-1]))
        received = [await wire.take(len(ids)) for wire in wires]
        # The same bytes on every client, whichever relay built them.
        assert all(frames == received[0] for frames in received)
        messages = [orjson.loads(raw) for raw in received[0]]
        assert [m["type"] for m in messages] == ["messages"] * len(ids)
        assert [m["message"]["id"] for m in messages] == ids
        assert [m["message"]["text"] for m in messages] == texts

        # Leaves from both relays reach the clients on both, once each.
        for _ in range(2):  # the compact relay's last client, then the framed relay's
            gone, leaver = members.pop(), wires.pop()
            await leaver.client.close()
            for wire in wires:
                (frame,) = await wire.take(1)
                assert orjson.loads(frame) == {
                    "type": "member_delete",
                    "room": ROOM,
                    "id": gone["id"],
                }
    finally:
        for client in clients:
            await client.close()
