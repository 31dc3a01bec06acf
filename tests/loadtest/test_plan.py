from __future__ import annotations

from collections import Counter

from loadtest.plan import NS_PER_S, RunPlan

URLS = ("ws://a/ws", "ws://b/ws")


def test_rooms_are_balanced_and_consistent_with_their_member_lists() -> None:
    plan = RunPlan(urls=URLS, clients=103, rooms=10)
    sizes = Counter(plan.room_of(c) for c in range(plan.clients))
    assert set(sizes) == set(range(10))
    assert max(sizes.values()) - min(sizes.values()) <= 1
    for room in range(plan.rooms):
        assert all(plan.room_of(c) == room for c in plan.room_members(room))
    assert sum(len(plan.room_members(r)) for r in range(plan.rooms)) == plan.clients


def test_every_room_spans_every_url() -> None:
    plan = RunPlan(urls=URLS, clients=1000, rooms=100)
    for room in range(plan.rooms):
        assert {plan.url_of(c) for c in plan.room_members(room)} == set(URLS)


def test_senders_are_spread_round_robin_over_rooms() -> None:
    plan = RunPlan(urls=URLS, clients=40, rooms=4, senders=6)
    ranks = plan.sender_ranks()
    assert sorted(ranks.values()) == list(range(6))
    per_room = Counter(plan.room_of(c) for c in ranks)
    assert per_room == {0: 2, 1: 2, 2: 1, 3: 1}


def test_senders_spread_over_urls_and_workers() -> None:
    """Even-sized rooms used to put every sender on the first URL and worker 0."""
    plan = RunPlan(urls=URLS, clients=1000, rooms=10, senders=40, workers=2)
    ranks = plan.sender_ranks()
    assert len(ranks) == 40
    assert Counter(plan.url_of(c) for c in ranks) == {URLS[0]: 20, URLS[1]: 20}
    assert Counter(plan.worker_of(c) for c in ranks) == {0: 20, 1: 20}
    assert Counter(plan.room_of(c) for c in ranks) == {room: 4 for room in range(10)}
    for room in range(10):  # each room's senders on both relays, too
        urls = Counter(plan.url_of(c) for c in ranks if plan.room_of(c) == room)
        assert urls == {URLS[0]: 2, URLS[1]: 2}
    three = RunPlan(urls=URLS, clients=1200, rooms=6, senders=12, workers=3)
    slots = Counter((three.url_of(c), three.worker_of(c)) for c in three.sender_ranks())
    assert len(slots) == 6 and set(slots.values()) == {2}


def test_more_senders_than_a_room_holds_spill_into_other_rooms() -> None:
    plan = RunPlan(urls=URLS, clients=5, rooms=2, senders=5)
    assert sorted(plan.sender_ranks()) == [0, 1, 2, 3, 4]


def test_workers_partition_the_clients() -> None:
    plan = RunPlan(urls=URLS, clients=10, workers=3)
    seen = [c for w in range(3) for c in plan.clients_of_worker(w)]
    assert sorted(seen) == list(range(10))
    assert all(plan.worker_of(c) == w for w in range(3) for c in plan.clients_of_worker(w))


def test_timeline_orders_ramp_warm_up_measurement_and_drain() -> None:
    plan = RunPlan(urls=URLS, clients=4, ramp_up=2, warm_up=3, duration=10, drain=1)
    assert [plan.connect_offset_ns(c) for c in range(4)] == [
        0,
        NS_PER_S // 2,
        NS_PER_S,
        1.5 * NS_PER_S,
    ]
    assert plan.send_start_ns == 2 * NS_PER_S
    assert plan.measure_start_ns == 5 * NS_PER_S
    assert plan.measure_end_ns == 15 * NS_PER_S
    assert plan.stop_ns == 16 * NS_PER_S
    assert plan.window_count == 10


def test_room_names_are_fresh_per_run_unless_a_prefix_is_given() -> None:
    first, second = RunPlan(urls=URLS), RunPlan(urls=URLS)
    assert first.room_name(0) != second.room_name(0)
    assert RunPlan(urls=URLS, room_prefix="stage").room_name(3) == "stage-3"


def test_shards_cut_the_plan_of_one_run_with_as_many_workers() -> None:
    """3 shards x 2 workers assign clients, rooms, URLs and senders exactly as one run of
    6 workers: the same generator runs the same clients either way."""
    whole = RunPlan(urls=URLS, clients=100, rooms=7, senders=13, workers=6, run_id="r1")
    shards = [
        RunPlan(
            urls=URLS,
            clients=100,
            rooms=7,
            senders=13,
            workers=2,
            run_id="r1",
            shard_count=3,
            shard_index=k,
        )
        for k in range(3)
    ]
    assert all(s.sender_ranks() == whole.sender_ranks() for s in shards)
    by_generator = [list(s.clients_of_worker(w)) for s in shards for w in range(s.workers)]
    assert by_generator == [list(whole.clients_of_worker(w)) for w in range(6)]
    assert sorted(c for s in shards for c in s.clients_of_shard()) == list(range(100))
    assert all(
        shards[0].shard_of(c) == k for k, s in enumerate(shards) for c in s.clients_of_shard()
    )
    # the senders spread over the shards too
    assert Counter(shards[0].shard_of(c) for c in whole.sender_ranks()) == {0: 5, 1: 4, 2: 4}
