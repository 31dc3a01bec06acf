from __future__ import annotations

from itertools import islice

from loadtest.plan import NS_PER_S
from loadtest.schedule import due_times, stamp_for
from loadtest.stamp import Stamp, decode_text, encode_text, text_prefix


def test_stamp_round_trips_and_pads_to_the_requested_size() -> None:
    prefix = text_prefix("abc123")
    text = encode_text(prefix, sender=17, seq=42, stamp_ns=123456789012345, size=200)
    assert len(text) == 200
    assert decode_text(text, prefix) == Stamp(17, 42, 123456789012345)


def test_text_from_another_run_or_a_person_is_ignored() -> None:
    prefix = text_prefix("abc123")
    other = encode_text(text_prefix("zzz999"), 1, 1, 1, 100)
    assert decode_text(other, prefix) is None
    assert decode_text("hello everyone", prefix) is None
    assert decode_text(prefix + "not|numbers|here|x", prefix) is None


def test_senders_fire_on_a_fixed_grid_with_spread_phases() -> None:
    rate, senders = 4.0, 2
    first = list(islice(due_times(1000, rate, rank=0, senders=senders), 3))
    second = list(islice(due_times(1000, rate, rank=1, senders=senders), 3))
    period = NS_PER_S // 4
    start = 1000 + period // 4  # half of one sender's share of the period
    assert first == [(0, start), (1, start + period), (2, start + 2 * period)]
    assert [t for _, t in second] == [t + period // 2 for _, t in first]


def test_a_late_send_keeps_its_due_time_and_an_early_one_its_real_time() -> None:
    assert stamp_for(due_ns=100, now_ns=150) == 100  # late: the delay counts against latency
    assert stamp_for(due_ns=100, now_ns=90) == 90  # early timer: never claim a later send
