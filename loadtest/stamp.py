"""The text of a load-test message: who sent it, its sequence number and its time stamp.

Format: ``lt|<run id>|<sender>|<seq>|<stamp ns>|<padding>``. The run id keeps concurrent
or earlier runs in the same rooms from being counted; the time stamp is nanoseconds since
the run's start instant t0. Each process reads it on its own CLOCK_MONOTONIC, placed so
that t0 is the same instant for all: one host's processes share the clock exactly, the
shards of a run on several hosts agree to within their wall clocks' synchronisation.
"""

from __future__ import annotations

from typing import NamedTuple


class Stamp(NamedTuple):
    sender: int
    seq: int
    stamp_ns: int  # since t0


def text_prefix(run_id: str) -> str:
    return f"lt|{run_id}|"


def encode_text(prefix: str, sender: int, seq: int, stamp_ns: int, size: int) -> str:
    head = f"{prefix}{sender}|{seq}|{stamp_ns}|"
    return head + "x" * (size - len(head)) if size > len(head) else head


def decode_text(text: str, prefix: str) -> Stamp | None:
    """The stamp of a message from this run, or None for anyone else's text."""
    if not text.startswith(prefix):
        return None
    try:
        sender, seq, stamp_ns, _ = text[len(prefix) :].split("|", 3)
        return Stamp(int(sender), int(seq), int(stamp_ns))
    except ValueError:
        return None
