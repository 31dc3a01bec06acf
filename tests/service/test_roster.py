"""Rosters: a room's members from one read plus the presence events around it."""

from __future__ import annotations

import asyncio

import pytest

from service.broker.roster import Rosters

pytestmark = pytest.mark.anyio

A, B, C = ("a", '{"id":"a"}'), ("b", '{"id":"b"}'), ("c", '{"id":"c"}')


async def read_with(rosters: Rosters, snapshot: dict[str, str], during=(), keep=True) -> dict:
    """A read whose fetch returns `snapshot` after the events in `during` arrived."""

    async def fetch() -> dict[str, str]:
        for member_id, member_json in during:
            rosters.event("r", member_id, member_json)
        await asyncio.sleep(0)
        return dict(snapshot)

    return await rosters.read("r", fetch, keep=lambda: keep)


async def test_events_during_the_read_are_replayed_over_it() -> None:
    rosters = Rosters()
    # The read saw a and b; meanwhile b left and c came (whether or not the read saw it).
    members = await read_with(rosters, dict([A, B]), during=[(B[0], None), C])
    assert members == dict([A, C])
    assert rosters.get("r") == dict([A, C])


async def test_stale_events_from_before_the_read_settle_on_the_last_one() -> None:
    rosters = Rosters()
    # b left and came back before the read; both events are delivered after it started.
    members = await read_with(rosters, dict([A, B]), during=[(B[0], None), B])
    assert members == dict([A, B])


async def test_the_roster_follows_events_once_kept() -> None:
    rosters = Rosters()
    await read_with(rosters, dict([A]))
    rosters.event("r", *B)
    rosters.event("r", A[0], None)
    assert rosters.get("r") == dict([B])
    rosters.event("elsewhere", *C)  # another room, no roster: ignored
    assert rosters.get("elsewhere") is None


async def test_not_kept_when_events_do_not_reach_the_process() -> None:
    rosters = Rosters()
    assert await read_with(rosters, dict([A]), keep=False) == dict([A])
    assert rosters.get("r") is None and "r" not in rosters


async def test_drop_forgets_and_a_failed_read_leaves_nothing_behind() -> None:
    rosters = Rosters()
    await read_with(rosters, dict([A]))
    rosters.drop("r")
    assert rosters.get("r") is None

    async def failing() -> dict[str, str]:
        raise ConnectionError("redis went away")

    with pytest.raises(ConnectionError):
        await rosters.read("r", failing, keep=lambda: True)
    assert rosters.get("r") is None
    rosters.event("r", *B)  # no read in flight any more: nothing collects it
    assert await read_with(rosters, dict([A])) == dict([A])


async def test_concurrent_reads_each_see_the_events() -> None:
    rosters = Rosters()
    release = asyncio.Event()

    async def slow() -> dict[str, str]:
        await release.wait()
        return dict([A])

    first = asyncio.create_task(rosters.read("r", slow, keep=lambda: True))
    second = asyncio.create_task(rosters.read("r", slow, keep=lambda: True))
    await asyncio.sleep(0)
    rosters.event("r", *B)
    release.set()
    assert await first == await second == dict([A, B])


async def test_a_read_ending_first_leaves_the_others_collecting() -> None:
    """Two reads in flight with nothing collected yet (equal lists): the second ends first.
    The first must still collect what comes after, and end without error (its list was
    once removed by equality, not identity: a join then failed with ValueError)."""
    rosters = Rosters()
    release_first, release_second = asyncio.Event(), asyncio.Event()

    async def fetch(release: asyncio.Event) -> dict[str, str]:
        await release.wait()
        return dict([A])

    first = asyncio.create_task(rosters.read("r", lambda: fetch(release_first), lambda: True))
    second = asyncio.create_task(rosters.read("r", lambda: fetch(release_second), lambda: True))
    await asyncio.sleep(0)
    release_second.set()
    assert await second == dict([A])
    rosters.event("r", *B)  # after the second read, before the first ends
    release_first.set()
    assert await first == dict([A, B])
    assert rosters.get("r") == dict([A, B])


async def test_get_returns_a_copy() -> None:
    rosters = Rosters()
    await read_with(rosters, dict([A]))
    copy = rosters.get("r")
    assert copy is not None
    copy["x"] = "{}"
    assert rosters.get("r") == dict([A])
