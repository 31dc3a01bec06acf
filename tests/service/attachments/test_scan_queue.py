"""End to end on moto's server: a real relay with ATTACHMENT_BUCKET and a scan-result
queue; the scan verdict arrives on SQS as EventBridge would put it there."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from harness.client import ChatClient
from harness.moto_server import MotoServer
from harness.relay import RelayProcess
from tests.service.attachments.test_local_store import http, multipart
from tests.service.attachments.test_s3_store import BUCKET, PNG, scan_event

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def aws() -> Iterator[tuple[MotoServer, str, RelayProcess]]:
    with MotoServer() as moto:
        moto.client("s3").create_bucket(Bucket=BUCKET)
        queue = moto.client("sqs").create_queue(QueueName="scan-results")["QueueUrl"]
        env = {**moto.env(), "ATTACHMENT_BUCKET": BUCKET, "ATTACHMENT_SCAN_QUEUE_URL": queue}
        with RelayProcess(env=env) as relay:
            yield moto, queue, relay


async def answer(client: ChatClient, *types: str) -> dict[str, Any]:
    while True:
        frame = await client.recv()
        if frame["type"] in (*types, "error"):
            return frame


async def test_the_scan_result_flips_the_status_and_members_get_the_frame(
    aws: tuple[MotoServer, str, RelayProcess],
) -> None:
    moto, queue, relay = aws
    async with (
        await ChatClient.connect(relay.ws) as alice,
        await ChatClient.connect(relay.ws) as bob,
    ):
        await alice.join("scanned")
        await bob.join("scanned")
        await alice.send(
            {"type": "upload", "name": "x.png", "size": len(PNG), "content_type": "image/png"}
        )
        slot = await answer(alice, "upload_slot")
        assert slot["upload"]["url"].startswith(moto.url)
        body, content_type = multipart(slot["upload"]["fields"], PNG)
        assert http(slot["upload"]["url"], body, content_type)[0] == 204
        await alice.send({"type": "send", "text": "look", "attachments": [slot["attachment"]]})
        message = (await answer(bob, "messages"))["message"]
        assert message["attachments"][0]["status"] == "scanning"

        await bob.send({"type": "download", "attachment": slot["attachment"]})
        refused = await answer(bob, "download_link")
        assert refused["type"] == "error" and refused["code"] == "bad_attachment"

        event = scan_event("attachments/" + slot["attachment"], "NO_THREATS_FOUND")
        moto.client("sqs").send_message(QueueUrl=queue, MessageBody=json.dumps(event))
        for client in (alice, bob):
            updated = await answer(client, "attachment_updated")
            assert updated["attachment"]["id"] == slot["attachment"]
            assert updated["attachment"]["status"] == "clean"
        await bob.send({"type": "download", "attachment": slot["attachment"]})
        link = await answer(bob, "download_link")
        assert http(link["url"])[:2] == (200, PNG)
