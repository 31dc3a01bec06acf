"""The accounting a client does on each frame, fed frames directly (no network)."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from loadtest.client import ClientContext, SimulatedClient
from loadtest.plan import NS_PER_S, RunPlan
from loadtest.stamp import encode_text, text_prefix
from loadtest.stats import Tally

# 4 clients, 2 rooms: room 0 = clients 0 and 1, room 1 = clients 2 and 3.
# Senders: client 0 (room 0) and client 2 (room 1). Measurement: 1 s to 3 s after t0.
PLAN = RunPlan(urls=("ws://x/ws",), clients=4, rooms=2, senders=2, ramp_up=0, warm_up=1, duration=2)
IN_WINDOW = int(1.5 * NS_PER_S)


@pytest.fixture
def listener() -> SimulatedClient:
    ctx = ClientContext(PLAN, t0_ns=0, tally=Tally.with_windows(PLAN.window_count))
    client = SimulatedClient(1, ctx, sender_rank=None)
    client.first_join_ns = 0  # joined before measurement began
    return client


def deliver(client: SimulatedClient, sender: int, seq: int, stamp_ns: int, now_ns: int) -> None:
    text = encode_text(text_prefix(PLAN.run_id), sender, seq, stamp_ns, 80)
    message = {"id": f"{seq}-0", "date": 0, "member": "m", "username": "u", "avatar": "a"}
    frame = {"type": "messages", "message": {**message, "text": text}}
    client._on_text(orjson.dumps(frame), now_ns)


def test_a_delivery_is_counted_and_timed_from_its_stamp(listener: SimulatedClient) -> None:
    deliver(listener, sender=0, seq=3, stamp_ns=IN_WINDOW, now_ns=IN_WINDOW + 2_500_000)
    tally = listener.ctx.tally
    assert tally.delivered == 1
    assert list(tally.latency_windows[0]) == [2500]  # microseconds
    assert listener.last_ids == {0: "3-0"}


def test_a_second_copy_is_a_duplicate_not_a_delivery(listener: SimulatedClient) -> None:
    deliver(listener, 0, 3, IN_WINDOW, IN_WINDOW + 1000)
    deliver(listener, 0, 3, IN_WINDOW, IN_WINDOW + 2000)
    assert (listener.ctx.tally.delivered, listener.ctx.tally.duplicated) == (1, 1)


def test_an_older_message_after_a_newer_one_is_out_of_order(listener: SimulatedClient) -> None:
    deliver(listener, 0, 5, IN_WINDOW, IN_WINDOW + 1000)
    deliver(listener, 0, 4, IN_WINDOW, IN_WINDOW + 1000)
    deliver(listener, 0, 6, IN_WINDOW, IN_WINDOW + 1000)
    assert (listener.ctx.tally.delivered, listener.ctx.tally.out_of_order) == (3, 1)


def test_a_message_from_another_room_is_misrouted(listener: SimulatedClient) -> None:
    deliver(listener, sender=2, seq=0, stamp_ns=IN_WINDOW, now_ns=IN_WINDOW)
    deliver(listener, sender=3, seq=0, stamp_ns=IN_WINDOW, now_ns=IN_WINDOW)  # not a sender
    assert (listener.ctx.tally.delivered, listener.ctx.tally.misrouted) == (0, 2)


def test_warm_up_and_drain_messages_are_not_counted(listener: SimulatedClient) -> None:
    deliver(listener, 0, 0, stamp_ns=NS_PER_S - 1, now_ns=NS_PER_S)
    deliver(listener, 0, 9, stamp_ns=3 * NS_PER_S, now_ns=3 * NS_PER_S)
    assert listener.ctx.tally.delivered == 0


def test_a_client_that_joined_late_is_not_a_recipient(listener: SimulatedClient) -> None:
    listener.first_join_ns = NS_PER_S + 1
    deliver(listener, 0, 3, IN_WINDOW, IN_WINDOW)
    assert listener.ctx.tally.delivered == 0


def test_history_after_a_resume_recovers_missed_messages(listener: SimulatedClient) -> None:
    deliver(listener, 0, 3, IN_WINDOW, IN_WINDOW)
    prefix = text_prefix(PLAN.run_id)
    missed = [
        {"id": f"{seq}-0", "text": encode_text(prefix, 0, seq, IN_WINDOW, 80)} for seq in (3, 4, 5)
    ]
    history = {"type": "message_history", "messages": missed, "complete": False}
    listener._on_text(orjson.dumps(history), IN_WINDOW + NS_PER_S)
    tally = listener.ctx.tally
    assert (tally.delivered, tally.recovered, tally.duplicated) == (3, 2, 1)
    assert tally.history_incomplete == 1
    assert len(tally.latency_windows[0]) == 1  # recovered messages are not timed
    assert listener.last_ids == {0: "5-0"}


def test_resuming_as_someone_else_is_an_identity_change(listener: SimulatedClient) -> None:
    welcome = {"type": "welcome", "member": {"id": "m1"}, "token": "t1"}
    listener.first_join_ns = None  # the first join
    listener._on_text(orjson.dumps(welcome), 0)
    listener.first_join_ns = 0
    listener._on_text(orjson.dumps(welcome), 0)  # resumed as the same member
    listener._on_text(orjson.dumps({**welcome, "member": {"id": "m2"}}), 0)
    assert listener.ctx.tally.identity_changes == 1
    assert listener.token == "t1"


def test_error_frames_and_garbage_are_counted(listener: SimulatedClient) -> None:
    listener._on_text(b'{"type":"error","code":"rate_limited","detail":"slow down"}', 0)
    listener._on_text(b"not json", 0)
    assert listener.ctx.tally.error_frames == {"rate_limited": 1, "unreadable_frame": 1}


def test_an_ack_times_the_senders_own_message() -> None:
    ctx = ClientContext(PLAN, t0_ns=0, tally=Tally.with_windows(PLAN.window_count))
    sender = SimulatedClient(0, ctx, sender_rank=0)
    sender.unacked["7"] = IN_WINDOW
    sender._on_text(b'{"type":"ack","ref":"7","id":"9-0"}', IN_WINDOW + 4_000_000)
    sender._on_text(b'{"type":"ack","ref":"7","id":"9-0"}', IN_WINDOW + 5_000_000)
    assert (ctx.tally.acks, list(ctx.tally.ack_us)) == (1, [4000])


def test_stamps_are_offsets_from_t0_so_other_clocks_agree() -> None:
    """A shard on another host has another CLOCK_MONOTONIC: the text carries the offset
    from the run's start, which each receiver places on its own clock."""
    t0_elsewhere = 7_000 * NS_PER_S
    ctx = ClientContext(PLAN, t0_ns=t0_elsewhere, tally=Tally.with_windows(PLAN.window_count))
    client = SimulatedClient(1, ctx, sender_rank=None)
    client.first_join_ns = t0_elsewhere
    deliver(client, sender=0, seq=0, stamp_ns=IN_WINDOW, now_ns=t0_elsewhere + IN_WINDOW + 4000)
    assert list(ctx.tally.latency_windows[0]) == [4]


# --rooms-per-client 2: client 1 has rooms 0 (its join's) and 1 on its socket; sender 2
# (room 1's block) sends seq 0 to room 1 and seq 1 to room 0.
PLAN_K2 = RunPlan(
    urls=("ws://x/ws",), clients=4, rooms=2, rooms_per_client=2, senders=2,
    ramp_up=0, warm_up=1, duration=2,
)  # fmt: skip


def in_room(client: SimulatedClient, room: int, sender: int, seq: int) -> None:
    text = encode_text(text_prefix(PLAN_K2.run_id), sender, seq, IN_WINDOW, 80)
    message = {"id": f"{seq}-{room}", "text": text}
    name = PLAN_K2.room_name(room)
    frame = {"type": "messages", "room": name, "message": message}
    client._on_text(orjson.dumps(frame), IN_WINDOW)


def test_with_two_rooms_a_client_hears_each_in_the_room_it_was_sent_to() -> None:
    ctx = ClientContext(PLAN_K2, t0_ns=0, tally=Tally.with_windows(PLAN_K2.window_count))
    client = SimulatedClient(1, ctx, sender_rank=None)
    client.first_join_ns = 0
    assert client.rooms == (0, 1)
    in_room(client, room=1, sender=2, seq=0)
    in_room(client, room=0, sender=2, seq=1)
    in_room(client, room=0, sender=2, seq=2)  # seq 2 went to room 1: misrouted
    assert (ctx.tally.delivered, ctx.tally.misrouted) == (2, 1)
    assert client.last_ids == {1: "0-1", 0: "2-0"}


def test_a_join_ends_with_the_history_of_every_room() -> None:
    ctx = ClientContext(PLAN_K2, t0_ns=0, tally=Tally.with_windows(PLAN_K2.window_count))
    client = SimulatedClient(1, ctx, sender_rank=None)

    async def join() -> None:
        client.joining = asyncio.get_running_loop().create_future()
        client.histories_due = 2
        for room in (0, 1):
            history = {"type": "message_history", "room": PLAN_K2.room_name(room), "messages": []}
            assert not client.joining.done()
            client._on_text(orjson.dumps(history), 0)
        assert client.joining.done()

    asyncio.run(join())


def test_the_plan_spreads_rooms_and_counts_their_members() -> None:
    plan = RunPlan(urls=("ws://x/ws",), clients=6, rooms=3, rooms_per_client=2, senders=3)
    assert [plan.rooms_of(c) for c in range(6)] == [(0, 1)] * 2 + [(1, 2)] * 2 + [(2, 0)] * 2
    assert [plan.room_size(r) for r in range(3)] == [4, 4, 4]
    assert [plan.room_of_send(0, seq) for seq in range(4)] == [0, 1, 0, 1]
