"""Attachments on S3, with moto's server standing in for S3 over real HTTP.

moto 5.2 does not enforce a presigned POST's policy conditions (it stores an 11-byte
file or a text/html one under a form that allows 10 bytes of image/png), so the refusal
itself cannot be shown here: the conditions are checked in the signed form instead.
"""

from __future__ import annotations

import asyncio
import base64
import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from harness.moto_server import MotoServer
from service.attachments import Attachments
from service.attachments.s3_store import S3Store
from service.attachments.scan_results import apply_scan_result
from service.broker import MemoryBrokerSettings, memory_backend
from service.config import Settings
from service.hub import Hub
from service.part_settings import attachment_settings
from service.protocol import ProtocolError
from service.security_headers import content_security_policy
from tests.service.attachments.test_local_store import http, multipart
from tests.service.test_hub import ALICE, RecordingConnection, burst_to

pytestmark = pytest.mark.anyio

BUCKET = "chat-relay-test-attachments"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoServer]:
    with MotoServer() as server:
        server.client("s3").create_bucket(Bucket=BUCKET)
        yield server


@pytest.fixture
def attachments(moto: MotoServer) -> Attachments:
    settings = attachment_settings(Settings(attachment_bucket=BUCKET))
    return Attachments(settings, s3_client=moto.client("s3"))


def scan_event(
    key: str, verdict: str, bucket: str = BUCKET, version: str | None = None
) -> dict[str, Any]:
    """An EventBridge event as GuardDuty Malware Protection for S3 sends it (``versionId``:
    the scanned version, in a versioned bucket)."""
    where = {"bucketName": bucket, "objectKey": key}
    if version is not None:
        where["versionId"] = version
    return {
        "source": "aws.guardduty",
        "detail-type": "GuardDuty Malware Protection Object Scan Result",
        "detail": {
            "scanStatus": "COMPLETED",
            "resourceType": "S3_OBJECT",
            "s3ObjectDetails": where,
            "scanResultDetails": {"scanResultStatus": verdict, "threats": None},
        },
    }


async def slot(
    attachments: Attachments, size: int = len(PNG), content_type: str = "image/png"
) -> Any:
    fields = {"name": "shot.png", "size": size, "content_type": content_type, "ref": "u"}
    return json.loads(await attachments.handle("upload", fields, "room", "alice"))


def upload(answer: dict[str, Any], data: bytes) -> int:
    body, content_type = multipart(answer["upload"]["fields"], data)
    request = urllib.request.Request(
        answer["upload"]["url"], data=body, headers={"content-type": content_type}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return int(response.status)


async def link(attachments: Attachments, attachment_id: str) -> dict[str, Any]:
    answer = await attachments.handle("download", {"attachment": attachment_id}, "room", "bob")
    return dict(json.loads(answer))


async def test_the_presigned_post_holds_the_file_to_the_declared_size_and_type(
    attachments: Attachments,
) -> None:
    answer = await slot(attachments, size=1234, content_type="application/pdf")
    fields = answer["upload"]["fields"]
    assert answer["upload"]["url"].endswith(BUCKET) or BUCKET in answer["upload"]["url"]
    assert fields["key"] == "attachments/" + answer["attachment"]
    assert fields["Content-Type"] == "application/pdf"
    policy = json.loads(base64.b64decode(fields["policy"]))
    conditions = policy["conditions"]
    assert ["content-length-range", 1234, 1234] in conditions
    assert {"Content-Type": "application/pdf"} in conditions
    assert {"bucket": BUCKET} in conditions and {"key": fields["key"]} in conditions


async def test_no_link_before_a_clean_verdict(attachments: Attachments) -> None:
    answer = await slot(attachments)
    attachment_id = answer["attachment"]
    with pytest.raises(ProtocolError, match="POST the upload form"):
        await attachments.for_message((attachment_id,), "room", "alice")
    assert upload(answer, PNG) == 204
    [metadata] = await attachments.for_message((attachment_id,), "room", "alice")
    assert metadata["status"] == "scanning"
    with pytest.raises(ProtocolError, match="is scanning; no link"):
        await link(attachments, attachment_id)
    # A verdict about another bucket's object, or a failed scan, changes nothing.
    key = "attachments/" + attachment_id
    other_bucket = scan_event(key, "NO_THREATS_FOUND", "other-bucket")
    assert await attachments.scan_result(other_bucket) is None
    assert await attachments.scan_result(scan_event(key, "UNSUPPORTED")) is None
    with pytest.raises(ProtocolError):
        await link(attachments, attachment_id)

    changed = await attachments.scan_result(scan_event(key, "NO_THREATS_FOUND"))
    assert changed is not None and changed[0] == "room"
    assert json.loads(changed[1])["attachment"]["status"] == "clean"
    answer = await link(attachments, attachment_id)
    assert answer["type"] == "download_link"
    status, body, headers = await asyncio.to_thread(http, answer["url"])
    assert (status, body) == (200, PNG)
    assert headers["content-type"] == "image/png"
    assert headers["content-disposition"] == "inline; filename*=UTF-8''shot.png"


async def test_an_infected_file_never_gets_a_link(attachments: Attachments) -> None:
    answer = await slot(attachments)
    assert upload(answer, PNG) == 204
    key = "attachments/" + answer["attachment"]
    assert await attachments.scan_result(scan_event(key, "THREATS_FOUND")) is not None
    with pytest.raises(ProtocolError, match="is infected; no link"):
        await link(attachments, answer["attachment"])
    record = await attachments.records.get(answer["attachment"])
    assert record is not None and record.status == "infected"
    # A later "clean" (an earlier scan's verdict arriving late) never reopens it.
    assert await attachments.scan_result(scan_event(key, "NO_THREATS_FOUND")) is None
    with pytest.raises(ProtocolError, match="is infected; no link"):
        await link(attachments, answer["attachment"])


async def test_members_get_attachment_updated(attachments: Attachments) -> None:
    hub = Hub(memory_backend(MemoryBrokerSettings(history_max_len=100)))
    await hub.start()
    try:
        member = RecordingConnection()
        hub.register(member)
        await hub.join("room", member, ALICE, None, 10, burst_to(member))
        answer = await slot(attachments)
        assert upload(answer, PNG) == 204
        event = scan_event("attachments/" + answer["attachment"], "NO_THREATS_FOUND")
        assert await apply_scan_result(attachments, hub.backend.broker, event)
        assert not await apply_scan_result(attachments, hub.backend.broker, event)  # no change
        await asyncio.sleep(0)
        updated = member.received()[-1]
        assert updated == {
            "type": "attachment_updated",
            "room": "room",  # every frame about a room names it
            "attachment": {
                "id": answer["attachment"],
                "name": "shot.png",
                "size": len(PNG),
                "content_type": "image/png",
                "status": "clean",
            },
        }
    finally:
        await hub.close()


def test_the_csp_allows_exactly_the_bucket_origin(
    attachments: Attachments, moto: MotoServer
) -> None:
    assert attachments.origins() == (moto.url,)  # path-style on moto; the bucket's host on AWS
    policy = content_security_policy("wss://chat.example.com", attachments.origins())
    assert f"img-src 'self' {moto.url};" in policy
    assert f"connect-src 'self' wss://chat.example.com {moto.url};" in policy
    assert content_security_policy(None) == content_security_policy(None, ())


VERSIONED = "chat-relay-test-versioned"


async def test_a_link_serves_the_scanned_version_not_bytes_posted_again(
    moto: MotoServer,
) -> None:
    """The upload form stays valid for ATTACHMENT_LINK_SECONDS: posted again after the clean
    verdict, other bytes become a newer, unscanned version, and the link never serves it."""
    s3 = moto.client("s3")
    s3.create_bucket(Bucket=VERSIONED)
    s3.put_bucket_versioning(Bucket=VERSIONED, VersioningConfiguration={"Status": "Enabled"})
    versioned = Attachments(
        attachment_settings(Settings(attachment_bucket=VERSIONED)), s3_client=s3
    )
    answer = await slot(versioned)
    key = "attachments/" + answer["attachment"]
    assert upload(answer, PNG) == 204
    scanned = s3.head_object(Bucket=VERSIONED, Key=key)["VersionId"]
    await versioned.for_message((answer["attachment"],), "room", "alice")
    verdict = scan_event(key, "NO_THREATS_FOUND", VERSIONED, version=scanned)
    assert await versioned.scan_result(verdict) is not None

    swapped = bytes(reversed(PNG))  # same size and type: the form's conditions allow it
    assert upload(answer, swapped) == 204
    assert s3.head_object(Bucket=VERSIONED, Key=key)["VersionId"] != scanned
    link_answer = await link(versioned, answer["attachment"])
    status, body, _ = await asyncio.to_thread(http, link_answer["url"])
    assert (status, body) == (200, PNG)


def test_links_and_the_csp_name_the_buckets_regional_endpoint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On AWS (AWS_REGION set by ECS) the URLs name <bucket>.s3.<region>.amazonaws.com, not
    the global name that redirects for a bucket outside us-east-1; signing needs no network."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLEEXAMPLE00")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "example-secret-example-secret-example-00")
    settings = attachment_settings(Settings(attachment_bucket=BUCKET, aws_region="eu-west-1"))
    store = Attachments(settings).store
    assert isinstance(store, S3Store)
    host = f"https://{BUCKET}.s3.eu-west-1.amazonaws.com"
    assert store.origins() == (host,)
    assert store.upload_form("a" * 22, "image/png", 10)["url"] == host + "/"
