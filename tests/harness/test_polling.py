"""The one poller: it returns as soon as the condition holds, and never waits past its
deadline."""

from __future__ import annotations

import itertools
import time

import pytest

from harness.polling import wait_for, wait_until

pytestmark = pytest.mark.anyio


def test_wait_until_returns_the_first_truthy_value() -> None:
    counter = itertools.count()
    assert wait_until(lambda: next(counter) >= 3 and "done", 5, interval=0.001) == "done"


def test_wait_until_raises_naming_what_it_waited_for() -> None:
    started = time.monotonic()
    with pytest.raises(TimeoutError, match=r"the impossible not reached within 0\.2s"):
        wait_until(lambda: False, 0.2, interval=0.01, what="the impossible")
    assert 0.2 <= time.monotonic() - started < 2


async def test_wait_for_returns_the_seconds_it_took() -> None:
    deadline = time.monotonic() + 0.1
    took = await wait_for(lambda: time.monotonic() >= deadline, 5, "a tenth of a second", 0.01)
    assert 0.05 <= took < 2


async def test_wait_for_raises_after_its_timeout() -> None:
    with pytest.raises(TimeoutError, match=r"never not reached within 0\.1s"):
        await wait_for(lambda: False, 0.1, "never", 0.01)
