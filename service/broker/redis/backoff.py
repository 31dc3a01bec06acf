"""Reconnect delays: exponential with full jitter, so a fleet of relays that lost Redis
together does not come back in lockstep."""

from __future__ import annotations

import random

RECONNECT_BASE = 0.1  # seconds
RECONNECT_CAP = 5.0


def full_jitter(attempt: int) -> float:
    """A delay before reconnect ``attempt`` (1, 2, ...): uniform in [0, min(cap, base*2^n)]."""
    return random.uniform(0, min(RECONNECT_CAP, RECONNECT_BASE * 2**attempt))


def half_jitter(attempt: int) -> float:
    """Like ``full_jitter`` but never under half the cap: a round that must not retry at
    once (re-homing onto a topology that still names a dead primary)."""
    cap = min(RECONNECT_CAP, RECONNECT_BASE * 2**attempt)
    return random.uniform(cap / 2, cap)
