"""Harness traffic carries the load-test tool's stamp, so one decoder reads both."""

from __future__ import annotations

import time

from harness.latency import PREFIX, latency_ns, stamped_text
from loadtest.stamp import decode_text


def test_a_stamped_text_is_in_the_load_test_format() -> None:
    before = time.monotonic_ns()
    text = stamped_text(sender=3, seq=41)
    stamp = decode_text(text, PREFIX)
    assert text.startswith("lt|")
    assert stamp is not None and (stamp.sender, stamp.seq) == (3, 41)
    assert before <= stamp.stamp_ns <= time.monotonic_ns()


def test_latency_is_measured_from_the_stamp_and_only_for_stamped_texts() -> None:
    text = stamped_text(0, 0)
    stamp = decode_text(text, PREFIX)
    assert stamp is not None
    assert latency_ns(text, stamp.stamp_ns + 2_500_000) == 2_500_000
    assert latency_ns("hello", time.monotonic_ns()) is None
    assert latency_ns("lt|another-run|0|0|5|", 10) is None
