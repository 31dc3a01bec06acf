"""A local stand-in for what an ECS task asks AWS about itself: the task metadata endpoint
v4 and the Elastic Load Balancing API's ``DescribeTargetHealth``.

One real HTTP server on a free loopback port (a thread, stopped by whoever started it):

- ``GET /v4/<task>/task`` answers the task metadata v4 JSON (``TaskARN``,
  ``DesiredStatus``, ``KnownStatus``, ``Containers[].Networks[].IPv4Addresses``) for each
  task registered with `add_task`; `ECS_CONTAINER_METADATA_URI_V4` is ``<url>/v4/<task>``.
- ``POST /`` answers the ELB Query API (form-encoded ``Action=DescribeTargetHealth``,
  ``TargetGroupArn``, ``Targets.member.1.Id`` / ``.Port``) with the XML the real API returns,
  the target's state taken from `set_state` (``healthy`` until told otherwise); requests must
  carry a SigV4 ``Authorization`` header for the region and the ``elasticloadbalancing``
  service, as the real endpoint demands. `throttle(n)` makes the next n calls fail with
  ``Throttling``, as the real API does under load.

What it models, from AWS's documentation (docs/reliability.md cites the pages): a target being
deregistered is ``draining`` for the deregistration delay, and the task's ``DesiredStatus``
turns ``STOPPED`` only when the stop reaches the task (with SIGTERM), not while it is
``DEACTIVATING``.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

import orjson

from harness.http_standin import LoopbackHTTPServer, QuietHandler

REGION = "us-east-1"
TARGET_GROUP_ARN = (
    f"arn:aws:elasticloadbalancing:{REGION}:123456789012:targetgroup/chat-relay/0123456789abcdef"
)
XMLNS = "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/"
REASONS = {  # the reason codes of API_TargetHealth for the states the stand-in uses
    "draining": ("Target.DeregistrationInProgress", "Target deregistration is in progress"),
    "unused": ("Target.NotRegistered", "Target is not registered to the target group"),
}
SIGV4 = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=[^/]+/\d{8}/([a-z0-9-]+)/([a-z0-9-]+)/aws4_request"
)


@dataclass
class Task:
    name: str
    ip: str
    desired_status: str = "RUNNING"
    known_status: str = "RUNNING"


@dataclass
class Calls:
    """What the stand-in was asked, for assertions."""

    metadata: int = 0
    describe_target_health: list[tuple[str, str, int]] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)


class EcsStandIn:
    def __init__(self) -> None:
        self.tasks: dict[str, Task] = {}
        self.states: dict[tuple[str, int], str] = {}
        self.calls = Calls()
        self._throttle = 0
        self._lock = threading.Lock()
        self.server = LoopbackHTTPServer(self._handler())

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def url(self) -> str:
        return self.server.url

    def add_task(self, name: str, ip: str = "127.0.0.1") -> str:
        """Register a task; returns its ECS_CONTAINER_METADATA_URI_V4."""
        with self._lock:
            self.tasks[name] = Task(name, ip)
        return f"{self.url}/v4/{name}"

    def relay_env(self, name: str) -> dict[str, str]:
        """The environment a relay in task `name` gets on ECS, pointed at this stand-in."""
        return {
            "ECS_CONTAINER_METADATA_URI_V4": self.add_task(name),
            "DRAIN_TARGET_GROUP_ARN": TARGET_GROUP_ARN,
            "AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2": self.url,
            # Static test credentials; botocore signs with them as with the task role's.
            "AWS_ACCESS_KEY_ID": "AKIDSTANDIN",
            "AWS_SECRET_ACCESS_KEY": "stand-in-secret",
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": "/dev/null",
            "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        }

    def set_state(self, ip: str, port: int, state: str) -> None:
        with self._lock:
            self.states[(ip, port)] = state

    def set_desired_status(self, name: str, status: str) -> None:
        with self._lock:
            self.tasks[name].desired_status = status

    def throttle(self, calls: int) -> None:
        with self._lock:
            self._throttle = calls

    # --- serving ----------------------------------------------------------------------------

    def _metadata(self, name: str) -> tuple[int, bytes, str]:
        with self._lock:
            self.calls.metadata += 1
            task = self.tasks.get(name)
            if task is None:
                return 404, b"task not found", "text/plain"
            body = {
                "Cluster": "chat-relay",
                "TaskARN": f"arn:aws:ecs:{REGION}:123456789012:task/chat-relay/{name}",
                "Family": "chat-relay",
                "Revision": "1",
                "DesiredStatus": task.desired_status,
                "KnownStatus": task.known_status,
                "LaunchType": "FARGATE",
                "Containers": [
                    {
                        "Name": "relay",
                        "DesiredStatus": task.desired_status,
                        "KnownStatus": task.known_status,
                        "Networks": [{"NetworkMode": "awsvpc", "IPv4Addresses": [task.ip]}],
                    }
                ],
            }
        return 200, orjson.dumps(body), "application/json"

    def _elb(self, headers: dict[str, str], form: dict[str, list[str]]) -> tuple[int, bytes, str]:
        signed = SIGV4.match(headers.get("authorization", ""))
        if signed is None or signed.groups() != (REGION, "elasticloadbalancing"):
            self.calls.refused.append("unsigned")
            return _error(403, "Sender", "IncompleteSignature", "missing or wrong SigV4 scope")
        action = form.get("Action", [""])[0]
        if action != "DescribeTargetHealth":
            self.calls.refused.append(action)
            return _error(400, "Sender", "InvalidAction", f"{action} is not modelled")
        arn = form.get("TargetGroupArn", [""])[0]
        ip = form.get("Targets.member.1.Id", [""])[0]
        port = int(form.get("Targets.member.1.Port", ["0"])[0])
        with self._lock:
            self.calls.describe_target_health.append((arn, ip, port))
            if self._throttle > 0:
                self._throttle -= 1
                return _error(400, "Sender", "Throttling", "Rate exceeded")
            state = self.states.get((ip, port), "healthy")
        if arn != TARGET_GROUP_ARN:
            return _error(400, "Sender", "TargetGroupNotFound", f"{arn} not found")
        reason = ""
        if state in REASONS:
            code, text = REASONS[state]
            reason = f"<Reason>{code}</Reason><Description>{escape(text)}</Description>"
        body = (
            f'<DescribeTargetHealthResponse xmlns="{XMLNS}"><DescribeTargetHealthResult>'
            "<TargetHealthDescriptions><member>"
            f"<HealthCheckPort>{port}</HealthCheckPort>"
            f"<TargetHealth><State>{state}</State>{reason}</TargetHealth>"
            f"<Target><Id>{escape(ip)}</Id><Port>{port}</Port></Target>"
            "</member></TargetHealthDescriptions></DescribeTargetHealthResult>"
            "<ResponseMetadata><RequestId>stand-in</RequestId></ResponseMetadata>"
            "</DescribeTargetHealthResponse>"
        )
        return 200, body.encode(), "text/xml"

    def _handler(self) -> type[QuietHandler]:
        stand_in = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server names
                match = re.fullmatch(r"/v4/([\w-]+)/task", self.path)
                if match is None:
                    self._answer(404, b"not found", "text/plain")
                    return
                self._answer(*stand_in._metadata(match.group(1)))

            def do_POST(self) -> None:  # noqa: N802 - http.server names
                length = int(self.headers.get("Content-Length") or 0)
                form = parse_qs(self.rfile.read(length).decode())
                headers = {k.lower(): v for k, v in self.headers.items()}
                self._answer(*stand_in._elb(headers, form))

            def _answer(self, status: int, body: bytes, content_type: str) -> None:
                self.reply(status, body, {"Content-Type": content_type})

        return Handler

    def start(self) -> EcsStandIn:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def __enter__(self) -> EcsStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _error(status: int, kind: str, code: str, message: str) -> tuple[int, bytes, str]:
    body = (
        f'<ErrorResponse xmlns="{XMLNS}"><Error><Type>{kind}</Type><Code>{code}</Code>'
        f"<Message>{escape(message)}</Message></Error><RequestId>stand-in</RequestId>"
        "</ErrorResponse>"
    )
    return status, body.encode(), "text/xml"
