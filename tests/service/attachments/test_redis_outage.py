"""Redis out of reach: a member's upload or download gets ``unavailable`` (retry), and a
verdict read meanwhile stays on the queue and is applied later: the scan-result reader
neither dies nor deletes it (moto's server for S3 and SQS, a real redis-server, and a port
with nothing listening for the outage)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterator
from typing import Any

import pytest

from harness.moto_server import MotoServer
from harness.ports import free_port
from service.attachments import Attachments
from service.attachments.scan_queue import consume_scan_results
from service.broker import MemoryBrokerSettings, memory_backend
from service.config import load_settings
from service.part_settings import attachment_settings, redis_broker_settings
from service.protocol import ProtocolError
from tests.service.attachments.test_s3_store import BUCKET, PNG, scan_event, upload

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoServer]:
    with MotoServer() as server:
        server.client("s3").create_bucket(Bucket=BUCKET)
        yield server


def attachments_on(redis_url: str, moto: MotoServer) -> Attachments:
    settings = load_settings({"REDIS_URL": redis_url, "ATTACHMENT_BUCKET": BUCKET})
    return Attachments(
        attachment_settings(settings), redis_broker_settings(settings), moto.client("s3")
    )


async def read_queue_for(seconds: float, attachments: Attachments, sqs: Any, queue: str) -> None:
    broker = memory_backend(MemoryBrokerSettings(history_max_len=10)).broker
    reader = asyncio.get_running_loop().create_task(
        consume_scan_results(attachments, broker, sqs, queue, wait_seconds=1)
    )
    await asyncio.sleep(seconds)
    assert not reader.done(), reader  # an outage never ends the reader
    reader.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await reader


async def test_a_verdict_waits_out_a_redis_outage(redis_url: str, moto: MotoServer) -> None:
    sqs = moto.client("sqs")
    created = sqs.create_queue(QueueName="scan-outage", Attributes={"VisibilityTimeout": "1"})
    queue = created["QueueUrl"]
    healthy = attachments_on(redis_url, moto)
    cut_off = attachments_on(f"redis://127.0.0.1:{free_port()}/0", moto)
    try:
        fields = {"name": "x.png", "size": len(PNG), "content_type": "image/png"}
        slot = json.loads(await healthy.handle("upload", fields, "room", "alice"))
        assert await asyncio.to_thread(upload, slot, PNG) == 204
        event = scan_event("attachments/" + slot["attachment"], "NO_THREATS_FOUND")
        await asyncio.to_thread(sqs.send_message, QueueUrl=queue, MessageBody=json.dumps(event))

        await read_queue_for(2.0, cut_off, sqs, queue)
        record = await healthy.records.get(slot["attachment"])
        assert record is not None and record.status == "scanning"

        await read_queue_for(3.0, healthy, sqs, queue)  # visible again after 1 s
        record = await healthy.records.get(slot["attachment"])
        assert record is not None and record.status == "clean"
    finally:
        await healthy.close()
        await cut_off.close()


async def test_members_are_told_to_retry(moto: MotoServer) -> None:
    cut_off = attachments_on(f"redis://127.0.0.1:{free_port()}/0", moto)
    try:
        fields = {"name": "x.png", "size": len(PNG), "content_type": "image/png"}
        with pytest.raises(ProtocolError) as refused:
            await cut_off.handle("upload", fields, "room", "alice")
        assert refused.value.code == "unavailable"
        with pytest.raises(ProtocolError) as refused:
            await cut_off.for_message(("AAAAAAAAAAAAAAAAAAAAAA",), "room", "alice")
        assert refused.value.code == "unavailable"
    finally:
        await cut_off.close()
