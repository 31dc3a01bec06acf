"""What the in-process broker keeps when anyone may create rooms (issue 15): idle rooms
expire like Redis streams, all rooms share MEMORY_HISTORY_BYTES, new rooms wait past it."""

from __future__ import annotations

import orjson
import pytest

from harness.client import ChatClient
from harness.relay import RelayProcess
from service.broker import HistoryFull, MemoryBroker
from service.broker.memory import message_cost
from service.broker.settings import MemoryBrokerSettings
from service.members import Member
from tests.support.figures import report
from tests.support.measures import rss_mib
from tests.support.publishing import send

pytestmark = pytest.mark.anyio

ALICE = Member(
    id="a1a1a1a1a1a1a1a1", username="Alice Example", avatar="/avatars/a1a1a1a1a1a1a1a1.svg"
)
EMOJI_TEXT = "\U0001f600" * 2000  # the longest text, 4 bytes a character
DAY = 86400.0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def texts(broker: MemoryBroker, room: str) -> list[str]:
    history = await broker.history(room, None, 1000)
    return [orjson.loads(m)["text"] for m in history.messages]


async def test_idle_rooms_expire_after_the_history_ttl() -> None:
    clock = Clock()
    broker = MemoryBroker(
        MemoryBrokerSettings(history_max_len=100, history_ttl=7 * DAY), clock=clock
    )
    await send(broker, "quiet", ALICE, "old news")
    clock.now += 3 * DAY
    last = (await send(broker, "busy", ALICE, "kept")).message_id
    clock.now += 4 * DAY + 1  # 7 days since "quiet" spoke, 4 since "busy"
    assert await texts(broker, "quiet") == []
    assert await texts(broker, "busy") == ["kept"]
    # An expired room cannot vouch for a resume, as in Redis mode.
    assert not (await broker.history("quiet", "1-0", 10)).complete
    assert (await broker.history("busy", last, 10)).complete
    clock.now += 3 * DAY
    assert await texts(broker, "busy") == []
    assert broker.history_bytes == 0


async def test_reading_does_not_keep_a_room_alive() -> None:
    clock = Clock()
    broker = MemoryBroker(MemoryBrokerSettings(history_max_len=100, history_ttl=DAY), clock=clock)
    await send(broker, "r", ALICE, "hello")
    for _ in range(3):
        clock.now += DAY / 2
        await broker.history("r", None, 10)
    assert await texts(broker, "r") == []


async def test_past_the_byte_budget_new_rooms_are_refused_and_old_rooms_roll_over() -> None:
    budget = 2**20
    broker = MemoryBroker(MemoryBrokerSettings(history_max_len=1000, max_history_bytes=budget))
    rooms = await fill_rooms(broker)
    cost = message_cost((await broker.history("room0", None, 1)).messages[0])
    # Refused because one more message would not fit.
    assert budget - cost < broker.history_bytes <= budget
    held = [len(await texts(broker, f"room{i}")) for i in range(rooms)]
    assert held[:-1] == [19] * (rooms - 1) and 1 <= held[-1] < 19, held
    # A room with history still posts: it gives up its own oldest message.
    other = "\U0001f601" * 2000  # as long as the others: one must go for it to fit
    await send(broker, "room0", ALICE, other)
    assert await texts(broker, "room0") == [EMOJI_TEXT] * 18 + [other]
    assert not (await broker.history("room0", "1-0", 1000)).complete
    assert broker.history_bytes <= budget
    with pytest.raises(HistoryFull):
        await send(broker, "brand-new", ALICE, EMOJI_TEXT)
    assert await texts(broker, "brand-new") == []


async def fill_rooms(broker: MemoryBroker) -> int:
    """19 long messages per room, as in the issue, until a new room is refused."""
    for room in range(1000):
        for _ in range(19):
            try:
                await send(broker, f"room{room}", ALICE, EMOJI_TEXT)
            except HistoryFull:
                return room
    raise AssertionError("the budget never filled")


async def test_expiry_frees_the_budget_for_new_rooms() -> None:
    clock = Clock()
    broker = MemoryBroker(
        MemoryBrokerSettings(history_max_len=1000, history_ttl=DAY, max_history_bytes=2**20),
        clock=clock,
    )
    await fill_rooms(broker)
    with pytest.raises(HistoryFull):
        await send(broker, "late", ALICE, EMOJI_TEXT)
    clock.now += DAY
    await send(broker, "late", ALICE, "hi")
    assert await texts(broker, "late") == ["hi"]
    assert broker.history_bytes == message_cost((await broker.history("late", None, 1)).messages[0])


async def test_a_relay_refuses_new_rooms_past_memory_history_bytes() -> None:
    """The issue's run, scaled to a 2 MiB budget: clients each join their own room, send
    19 messages of 2000 emoji and leave. Past the budget a new room's send gets
    `history_full`; a room that has history keeps posting."""
    with RelayProcess(env={"MEMORY_HISTORY_BYTES": str(2 * 2**20)}) as relay:
        baseline = rss_mib(relay)
        stored_rooms, refused = 0, None
        for index in range(40):
            async with await ChatClient.connect(relay.ws) as client:
                await client.join(f"flood-{index}")
                await client.send({"type": "send", "text": EMOJI_TEXT})
                first = await acked_or_refused(client)
                if first["type"] == "error":
                    refused = first
                    break
                for _ in range(18):
                    await client.say(EMOJI_TEXT)
                stored_rooms += 1
        async with await ChatClient.connect(relay.ws) as old:
            await old.join("flood-0")
            assert (await old.say("still here"))["type"] == "ack"
        grown = rss_mib(relay) - baseline
    assert refused is not None and refused["code"] == "history_full", refused
    assert "MEMORY_HISTORY_BYTES" in refused["detail"]
    assert 10 <= stored_rooms < 40
    report(
        "memory-history-budget",
        budget_mib=2,
        rooms_stored=stored_rooms,
        rss_grown_mib=round(grown, 1),
    )


async def acked_or_refused(client: ChatClient) -> dict:
    """The answer to a send: its ack or an error (the message's own echo is skipped)."""
    while (frame := await client.recv())["type"] not in {"ack", "error"}:
        pass
    return frame
