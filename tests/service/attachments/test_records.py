"""The attachment record store and the upload budget, one suite for every backend: in
memory, and Redis on a real redis-server and a real three-primary Redis Cluster.

Two Redis stores over separate connections stand for two relays of a fleet."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from service.attachments.budget import MemoryUploadBudget, UploadBudget
from service.attachments.records import (
    Attachment,
    AttachmentRecords,
    MemoryAttachmentRecords,
    new_attachment_id,
)
from service.config import load_settings
from service.part_settings import redis_broker_settings

pytestmark = pytest.mark.anyio

TTL = 7 * 86400
PER_MINUTE = 3


@dataclass
class Relays:
    """Each relay's view of the records and of the budget (one shared pair in memory)."""

    records: tuple[AttachmentRecords, AttachmentRecords]
    budgets: tuple[UploadBudget, UploadBudget]
    redis: Any = None  # a plain client of the same Redis (redis.Redis or RedisCluster)


def scanning(room: str = "room") -> Attachment:
    return Attachment(new_attachment_id(), room, "alice", "shot.png", 10, "image/png", "scanning")


@pytest.fixture(params=["memory", "redis", "cluster"])
async def relays(request: pytest.FixtureRequest) -> AsyncIterator[Relays]:
    if request.param == "memory":
        records = MemoryAttachmentRecords(TTL)
        budget = MemoryUploadBudget(PER_MINUTE)
        yield Relays((records, records), (budget, budget))
        return
    from service.attachments.redis_records import redis_records

    cluster = request.param == "cluster"
    url = request.getfixturevalue("cluster_url" if cluster else "redis_url")
    settings = redis_broker_settings(
        load_settings({"REDIS_URL": url, "REDIS_CLUSTER": str(cluster)})
    )
    one = redis_records(settings, TTL, PER_MINUTE)
    two = redis_records(settings, TTL, PER_MINUTE)
    server = request.getfixturevalue("redis_cluster" if cluster else "redis_server")
    plain = server.client()
    yield Relays((one[0], two[0]), (one[1], two[1]), plain)
    plain.close()
    for records, _ in (one, two):
        await records.close()


async def test_a_record_added_on_one_relay_is_read_on_the_other(relays: Relays) -> None:
    a, b = relays.records
    attachment = scanning()
    await a.add(attachment)
    assert await b.get(attachment.id) == attachment
    assert await b.get(new_attachment_id()) is None
    await b.mark_uploaded(attachment.id)
    found = await a.get(attachment.id)
    assert found is not None and found.uploaded
    # A copy: changing it changes no record.
    found.status = "clean"
    assert (await a.get(attachment.id)) == Attachment(**{**vars_of(attachment), "uploaded": True})


def vars_of(attachment: Attachment) -> dict[str, object]:
    return {name: getattr(attachment, name) for name in Attachment.__slots__}


async def test_verdicts_follow_the_allowed_transitions(relays: Relays) -> None:
    a, b = relays.records
    attachment = scanning()
    await a.add(attachment)
    assert (await a.get(attachment.id)).version is None  # type: ignore[union-attr]
    changed = await b.apply_verdict(attachment.id, "clean", "v1")
    assert changed is not None and changed.status == "clean" and changed.room == "room"
    assert changed.version == "v1"  # links serve the version that was scanned
    assert await a.apply_verdict(attachment.id, "clean", "v2") is None  # no change, no frame
    assert (await a.get(attachment.id)).version == "v1"  # type: ignore[union-attr]
    infected = await a.apply_verdict(attachment.id, "infected")  # a later scan overrules
    assert infected is not None and infected.status == "infected"
    assert await b.apply_verdict(attachment.id, "clean") is None  # infected is final
    found = await b.get(attachment.id)
    assert found is not None and found.status == "infected"


async def test_a_verdict_for_an_unknown_id_creates_nothing(relays: Relays) -> None:
    a, b = relays.records
    unknown = new_attachment_id()
    assert await a.apply_verdict(unknown, "clean") is None
    await b.mark_uploaded(unknown)
    assert await a.get(unknown) is None
    if relays.redis is not None:
        assert relays.redis.exists(f"chat:attachment:{unknown}") == 0


async def test_a_record_expires_with_the_rooms_history(relays: Relays) -> None:
    if relays.redis is None:
        pytest.skip("test_memory_records_expire: the memory store on its own clock")
    a, _ = relays.records
    attachment = scanning()
    await a.add(attachment)
    await a.apply_verdict(attachment.id, "clean")
    await a.mark_uploaded(attachment.id)
    assert TTL - 5 <= relays.redis.ttl(f"chat:attachment:{attachment.id}") <= TTL


async def test_racing_verdicts_settle_once(relays: Relays) -> None:
    """Many relays apply the same pair of verdicts at once: exactly one change to clean
    (when it came first) and one to infected; the record ends infected."""
    a, b = relays.records
    attachment = scanning()
    await a.add(attachment)
    verdicts = [
        store.apply_verdict(attachment.id, status)
        for _ in range(20)
        for store, status in ((a, "clean"), (b, "infected"))
    ]
    changes = [found for found in await asyncio.gather(*verdicts) if found is not None]
    statuses = [found.status for found in changes]
    assert statuses.count("infected") == 1 and statuses.count("clean") <= 1
    found = await b.get(attachment.id)
    assert found is not None and found.status == "infected"


async def test_the_upload_budget_is_shared(relays: Relays) -> None:
    a, b = relays.budgets
    allowed = [await budget.allow("alice") for budget in (a, b, a, b)]
    assert allowed == [True, True, True, False]  # PER_MINUTE across both relays
    assert await b.allow("bob")  # every member has their own budget


async def test_the_budget_window_slides(relays: Relays) -> None:
    """The slots of the last 60 s count, not those of the current minute: Redis keeps
    each slot as a score in milliseconds and drops it from the set a minute later."""
    a, b = relays.budgets
    assert all([await a.allow("carol") for _ in range(PER_MINUTE)])
    if relays.redis is not None:
        key = "chat:uploads:carol"
        assert relays.redis.zcard(key) == PER_MINUTE
        assert 0 < relays.redis.pttl(key) <= 60_000
        scores = [score for _, score in relays.redis.zrange(key, 0, -1, withscores=True)]
        assert max(scores) - min(scores) < 5_000
    assert not await b.allow("carol")


async def test_the_memory_budget_is_a_sliding_window() -> None:
    now = [0.0]
    budget = MemoryUploadBudget(2, clock=lambda: now[0])
    assert await budget.allow("alice")
    now[0] = 30.0
    assert await budget.allow("alice")
    assert not await budget.allow("alice")  # two in the last 60 s
    now[0] = 60.0  # the slot at 0 left the window; the one at 30 has not
    assert await budget.allow("alice")
    assert not await budget.allow("alice")


async def test_the_memory_budget_forgets_members_idle_for_a_minute() -> None:
    now = [0.0]
    budget = MemoryUploadBudget(2, clock=lambda: now[0])
    for index in range(100):
        assert await budget.allow(f"member-{index}")
    assert len(budget) == 100
    now[0] = 59.0
    assert await budget.allow("member-0")  # used again: kept
    now[0] = 61.0
    assert await budget.allow("newcomer")
    assert len(budget) == 2  # member-0 (at 59) and the newcomer; the other 99 are gone


async def test_memory_records_expire() -> None:
    now = [0.0]
    records = MemoryAttachmentRecords(TTL, clock=lambda: now[0])
    old, new = scanning(), scanning()
    await records.add(old)
    now[0] = TTL - 1.0
    await records.add(new)
    now[0] = TTL + 1.0
    assert await records.get(old.id) is None
    assert await records.apply_verdict(old.id, "clean") is None
    assert await records.get(new.id) == new
