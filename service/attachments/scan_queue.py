"""Scan verdicts from an SQS queue: an EventBridge rule sends GuardDuty Malware Protection
for S3's "Object Scan Result" events there and the relay applies them one by one.

Every relay task reads the queue and each message reaches one of them; the records are
in Redis with several tasks (service.attachments.redis_records), so whichever task reads
a verdict applies it, and the broker carries ``attachment_updated`` to every relay.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from ..broker import Broker, BrokerUnavailable
from .scan_results import apply_scan_result
from .service import Attachments

log = logging.getLogger("service.attachments")

WAIT_SECONDS = 10  # SQS long poll
RETRY_SECONDS = 5.0  # after SQS failed


async def consume_scan_results(
    attachments: Attachments,
    broker: Broker,
    sqs: Any,
    queue_url: str,
    wait_seconds: int = WAIT_SECONDS,
) -> None:
    """Runs until cancelled."""
    while True:
        try:
            answer = await asyncio.to_thread(
                sqs.receive_message,
                QueueUrl=queue_url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=wait_seconds,
            )
        except Exception as exc:  # botocore's errors; the queue comes back
            log.warning("reading scan results failed", extra={"error": str(exc)})
            await asyncio.sleep(RETRY_SECONDS)
            continue
        for message in answer.get("Messages", []):
            try:
                event = json.loads(message["Body"])
                changed = await apply_scan_result(attachments, broker, event)
            except (ValueError, AttributeError) as exc:
                log.warning("unreadable scan result dropped", extra={"error": str(exc)})
                changed = False
            except BrokerUnavailable as exc:
                # Kept on the queue: SQS hands it out again after its visibility timeout.
                log.warning("scan result not applied: Redis unreachable", extra={"error": str(exc)})
                continue
            if not changed:
                log.info("a scan result changed no attachment (unknown, expired or settled)")
            await asyncio.to_thread(
                sqs.delete_message, QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"]
            )
