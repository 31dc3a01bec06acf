"""Attachments across two real relay processes on one redis-server, with moto's server
standing in for S3 and SQS: an upload slot asked on one relay is sent and opened on the
other, and a verdict read by one relay reaches members on both.

Only relay A reads the scan-result queue, so which relay applies a verdict is known."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from harness.client import ChatClient
from harness.moto_server import MotoServer
from harness.redis_server import RedisServer
from harness.relay import RelayFleet, RelayProcess
from tests.service.attachments.test_local_store import http, multipart
from tests.service.attachments.test_s3_store import BUCKET, PNG, scan_event

pytestmark = pytest.mark.anyio

UPLOADS_PER_MINUTE = 3


@dataclass
class Fleet:
    moto: MotoServer
    queue: str
    a: RelayProcess  # reads the scan-result queue
    b: RelayProcess


@pytest.fixture(scope="module")
def fleet(redis_server: RedisServer) -> Iterator[Fleet]:
    with MotoServer() as moto:
        moto.client("s3").create_bucket(Bucket=BUCKET)
        queue = moto.client("sqs").create_queue(QueueName="scan-results")["QueueUrl"]
        env = {
            **moto.env(),
            "REDIS_URL": redis_server.url,
            "ATTACHMENT_BUCKET": BUCKET,
            "ATTACHMENT_UPLOADS_PER_MINUTE": str(UPLOADS_PER_MINUTE),
        }
        with RelayFleet(env) as relays:
            [a] = relays.start(1, ATTACHMENT_SCAN_QUEUE_URL=queue)
            [b] = relays.start(1)
            yield Fleet(moto, queue, a, b)


async def answer(client: ChatClient, *types: str) -> dict[str, Any]:
    """The next frame of one of ``types`` (or an error), skipping presence and the like."""
    while True:
        frame = await client.recv()
        if frame["type"] in (*types, "error"):
            return frame


async def upload_slot(client: ChatClient) -> dict[str, Any]:
    await client.send(
        {"type": "upload", "name": "x.png", "size": len(PNG), "content_type": "image/png"}
    )
    return await answer(client, "upload_slot")


async def post_to_bucket(slot: dict[str, Any]) -> int:
    body, content_type = multipart(slot["upload"]["fields"], PNG)
    return (await asyncio.to_thread(http, slot["upload"]["url"], body, content_type))[0]


async def download(client: ChatClient, attachment_id: str) -> dict[str, Any]:
    await client.send({"type": "download", "attachment": attachment_id})
    return await answer(client, "download_link")


async def test_a_slot_from_one_relay_is_sent_and_opened_on_the_other(fleet: Fleet) -> None:
    room = "across"
    async with (
        await ChatClient.connect(fleet.a.ws) as alice_on_a,
        await ChatClient.connect(fleet.b.ws) as bob_on_b,
        await ChatClient.connect(fleet.a.ws) as carol_on_a,
    ):
        joined = await alice_on_a.join(room)
        await bob_on_b.join(room)
        await carol_on_a.join(room)
        slot = await upload_slot(alice_on_a)
        assert slot["type"] == "upload_slot", slot
        attachment_id = slot["attachment"]
        assert await post_to_bucket(slot) == 204
        await alice_on_a.close()

        # Alice's connection comes back through the balancer to relay B.
        async with await ChatClient.connect(fleet.b.ws) as alice_on_b:
            resumed = await alice_on_b.join(room, token=joined.token)
            assert resumed.member["id"] == joined.member["id"]
            await alice_on_b.send(
                {"type": "send", "text": "look", "ref": "m1", "attachments": [attachment_id]}
            )
            ack = await answer(alice_on_b, "ack")
            assert ack["type"] == "ack", ack
            for member in (bob_on_b, carol_on_a):
                message = (await answer(member, "messages"))["message"]
                assert message["attachments"][0]["id"] == attachment_id
                assert message["attachments"][0]["status"] == "scanning"

            # No link before the scan, on either relay.
            for member in (bob_on_b, carol_on_a):
                refused = await download(member, attachment_id)
                assert refused["type"] == "error" and refused["code"] == "bad_attachment"
                assert "is scanning; no link" in refused["detail"]

            # The verdict reaches relay A (the one reading the queue); members on both
            # relays get the frame.
            event = scan_event("attachments/" + attachment_id, "NO_THREATS_FOUND")
            sqs = fleet.moto.client("sqs")
            await asyncio.to_thread(
                sqs.send_message, QueueUrl=fleet.queue, MessageBody=json.dumps(event)
            )
            for member in (bob_on_b, alice_on_b, carol_on_a):
                updated = await answer(member, "attachment_updated")
                assert updated["room"] == room
                assert updated["attachment"]["id"] == attachment_id
                assert updated["attachment"]["status"] == "clean"

            for member in (bob_on_b, carol_on_a):
                link = await download(member, attachment_id)
                assert link["type"] == "download_link", link
                status, body, _ = await asyncio.to_thread(http, link["url"])
                assert (status, body) == (200, PNG)


async def test_an_unknown_verdict_changes_nothing_and_the_queue_moves_on(fleet: Fleet) -> None:
    """A verdict for an id no relay issued (or one expired) is ignored; the next applies."""
    room = "unknown-verdict"
    async with (
        await ChatClient.connect(fleet.a.ws) as alice,
        await ChatClient.connect(fleet.b.ws) as bob,
    ):
        await alice.join(room)
        await bob.join(room)
        slot = await upload_slot(alice)
        assert await post_to_bucket(slot) == 204
        sqs = fleet.moto.client("sqs")
        unknown = scan_event("attachments/AAAAAAAAAAAAAAAAAAAAAA", "THREATS_FOUND")
        known = scan_event("attachments/" + slot["attachment"], "THREATS_FOUND")
        for event in (unknown, known):
            await asyncio.to_thread(
                sqs.send_message, QueueUrl=fleet.queue, MessageBody=json.dumps(event)
            )
        updated = await answer(bob, "attachment_updated")
        assert updated["attachment"]["id"] == slot["attachment"]
        assert updated["attachment"]["status"] == "infected"
        refused = await download(bob, slot["attachment"])
        assert refused["type"] == "error" and "is infected" in refused["detail"]


async def test_the_upload_budget_is_shared_by_the_relays(fleet: Fleet) -> None:
    room = "budget"
    async with await ChatClient.connect(fleet.a.ws) as on_a:
        joined = await on_a.join(room)
        async with await ChatClient.connect(fleet.b.ws) as on_b:
            await on_b.join(room, token=joined.token)
            answers = [
                await upload_slot(client) for client in (on_a, on_b, on_a, on_b)
            ]  # fmt: skip
    assert [frame["type"] for frame in answers] == ["upload_slot"] * 3 + ["error"]
    assert answers[-1]["code"] == "rate_limited"
