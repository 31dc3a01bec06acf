"""service.ws_protocol: the lean queue and event behave as the asyncio ones uvicorn calls
(order, waiting, waking, cancellation), and hold no deque while empty."""

from __future__ import annotations

import asyncio

import pytest

from service.ws_protocol import LeanEvent, LeanQueue

pytestmark = pytest.mark.anyio


async def test_queue_hands_items_over_in_order_and_drops_its_deque_when_empty() -> None:
    queue = LeanQueue()
    assert queue.empty()
    queue.put_nowait(1)
    queue.put_nowait(2)
    assert queue.qsize() == 2
    assert [await queue.get(), await queue.get()] == [1, 2]
    assert queue.empty()
    assert queue._items is None


async def test_queue_get_waits_for_a_put() -> None:
    queue = LeanQueue()
    getter = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    assert not getter.done()
    queue.put_nowait("frame")
    assert await asyncio.wait_for(getter, 1) == "frame"


async def test_a_cancelled_get_leaves_the_queue_usable() -> None:
    queue = LeanQueue()
    getter = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    getter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await getter
    queue.put_nowait("later")
    assert await asyncio.wait_for(queue.get(), 1) == "later"


async def test_queue_refuses_a_second_reader() -> None:
    queue = LeanQueue()
    first = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="one reader"):
        await queue.get()
    queue.put_nowait(1)
    assert await asyncio.wait_for(first, 1) == 1


async def test_event_wakes_every_waiter_and_can_be_cleared() -> None:
    event = LeanEvent()
    assert not event.is_set()
    waiters = [asyncio.create_task(event.wait()) for _ in range(3)]
    await asyncio.sleep(0)
    assert not any(w.done() for w in waiters)
    event.set()
    assert await asyncio.wait_for(asyncio.gather(*waiters), 1) == [True, True, True]
    assert event._waiters is None
    event.clear()
    assert not event.is_set()
    late = asyncio.create_task(event.wait())
    await asyncio.sleep(0)
    late.cancel()
    with pytest.raises(asyncio.CancelledError):
        await late
    assert not event._waiters
    event.set()
    assert await asyncio.wait_for(event.wait(), 1) is True
