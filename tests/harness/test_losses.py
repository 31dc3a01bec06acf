"""The one loss counter: arrivals counted once, repeats and reordering counted, not listed."""

from __future__ import annotations

from harness.losses import Arrivals, Delivery, id_key


def test_ids_compare_as_integer_pairs() -> None:
    assert id_key("1700000000000-10") > id_key("1700000000000-9")
    assert id_key("1700000000001") > id_key("1700000000000-99")


def test_each_message_is_listed_once_in_arrival_order() -> None:
    arrivals = Arrivals()
    assert arrivals.record("1-0") and arrivals.record("2-0")
    assert not arrivals.record("1-0")
    assert arrivals.ids == ["1-0", "2-0"]
    assert arrivals.duplicates == 1 and arrivals.out_of_order == 0


def test_an_older_id_after_a_newer_one_is_out_of_order() -> None:
    arrivals = Arrivals()
    for message_id in ("1-0", "3-0", "2-0", "4-0"):
        arrivals.record(message_id)
    assert arrivals.out_of_order == 1
    assert arrivals.ids == ["1-0", "3-0", "2-0", "4-0"]


def test_delivery_against_the_acknowledged_ids() -> None:
    arrivals = Arrivals()
    for message_id in ("1-0", "2-0", "9-0", "2-0"):
        arrivals.record(message_id)
    delivery = arrivals.against(["1-0", "2-0", "3-0"])
    assert delivery == Delivery(
        expected=3, delivered=2, lost=1, duplicated=1, out_of_order=0, foreign=1
    )
    assert arrivals.missing({"1-0", "3-0"}) == {"3-0"}
