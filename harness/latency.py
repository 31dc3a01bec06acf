"""The latency stamp harness traffic carries: the load-test tool's wire format, one format.

A stamped text is `loadtest.stamp`'s ``lt|<run id>|<sender>|<seq>|<stamp ns>|``, with the
run id `RUN_ID` and the stamp read on this process's CLOCK_MONOTONIC (t0 is the clock's own
origin): sender and receivers live in one process, so their clocks agree exactly.
"""

from __future__ import annotations

import time

from loadtest.stamp import decode_text, encode_text, text_prefix

RUN_ID = "harness"
PREFIX = text_prefix(RUN_ID)


def stamped_text(sender: int, seq: int) -> str:
    """A message text stamped with the time it is made."""
    return encode_text(PREFIX, sender, seq, time.monotonic_ns(), 0)


def latency_ns(text: str, received_ns: int) -> int | None:
    """Nanoseconds from a stamped text's stamp to `received_ns`; None for other texts."""
    stamp = decode_text(text, PREFIX)
    return None if stamp is None else received_ns - stamp.stamp_ns
