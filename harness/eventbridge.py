"""EventBridge on moto's server, read back through SQS, and a stand-in bus that fails.

``EventQueue`` makes a bus with one rule (everything from the relay) targeting an SQS
queue, as a consumer would, and reads what arrived. ``FailingBus`` sits between the relays
and moto: it passes every request through, or, while ``failing``, answers each with 503
as an unavailable AWS endpoint does.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from contract.events import SOURCE
from harness.http_standin import LoopbackHTTPServer, QuietHandler
from harness.moto_server import MotoServer, forward


class EventQueue:
    """A bus whose events (source ``chat-relay``) all land in one SQS queue."""

    def __init__(self, moto: MotoServer, bus: str) -> None:
        self.bus = bus
        self.events = moto.client("events")
        self.sqs = moto.client("sqs")
        self.events.create_event_bus(Name=bus)
        self.queue_url = self.sqs.create_queue(QueueName=f"{bus}-all")["QueueUrl"]
        queue_arn = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url, AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]
        self.events.put_rule(
            Name=f"{bus}-all", EventBusName=bus, EventPattern=json.dumps({"source": [SOURCE]})
        )
        self.events.put_targets(
            Rule=f"{bus}-all", EventBusName=bus, Targets=[{"Id": "queue", "Arn": queue_arn}]
        )
        self.received: list[dict[str, Any]] = []  # EventBridge envelopes, as SQS holds them

    def read(self) -> list[dict[str, Any]]:
        """Whatever the queue holds now (deleted as read), added to ``received``."""
        new: list[dict[str, Any]] = []
        while True:
            answer = self.sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
            )
            messages = answer.get("Messages") or []
            if not messages:
                break
            for message in messages:
                new.append(json.loads(message["Body"]))
                self.sqs.delete_message(
                    QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"]
                )
        self.received += new
        return new

    def wait_for(self, count: int, timeout: float, settle: float = 2.0) -> list[dict[str, Any]]:
        """Read until ``count`` events arrived (or ``timeout``), then ``settle`` seconds more
        so that a duplicate would be seen too; returns everything received."""
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            if not self.read():
                time.sleep(0.1)
        settled = time.monotonic() + settle
        while time.monotonic() < settled:
            self.read()
            time.sleep(0.2)
        return self.received


class FailingBus:
    """An AWS endpoint in front of moto that answers 503 to everything while ``failing``."""

    def __init__(self, moto: MotoServer) -> None:
        self.moto = moto
        self.failing = False
        self.refused = 0
        self.lock = threading.Lock()
        proxy = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if proxy.failing:
                    with proxy.lock:
                        proxy.refused += 1
                    error = {"__type": "ServiceUnavailable", "message": "stand-in outage"}
                    content_type = {"Content-Type": "application/json"}
                    self.reply(503, json.dumps(error).encode(), content_type)
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                status, content, passed = forward(proxy.moto.url + self.path, "POST", body, headers)
                self.reply(status, content, passed)

        self.server = LoopbackHTTPServer(Handler)

    def env(self) -> dict[str, str]:
        """A relay's environment: AWS through this stand-in, credentials for moto."""
        return {**self.moto.env(), "AWS_ENDPOINT_URL": self.server.url}

    def __enter__(self) -> FailingBus:
        self.server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop()
