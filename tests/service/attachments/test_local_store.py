"""Attachments in single-server mode: a real relay process, real WebSockets, real HTTP.

The slot's form is POSTed as a browser would (multipart/form-data, fields then file);
the store enforces the form's conditions, so a lie about size or type is refused.
"""

from __future__ import annotations

import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from contract.protocol import ATTACHMENT_ID, DOWNLOADABLE_STATUSES
from harness.client import ChatClient
from harness.relay import RelayProcess

pytestmark = pytest.mark.anyio

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4 + b"\r\n--not-a-boundary\r\n"
PDF = b"%PDF-1.4\n" + b"x" * 3000 + b"\n%%EOF\n"


@pytest.fixture(scope="module")
def small_relay() -> Iterator[RelayProcess]:
    env = {"ATTACHMENT_MAX_BYTES": "4096", "ATTACHMENT_UPLOADS_PER_MINUTE": "6"}
    with RelayProcess(env=env) as process:
        yield process


def multipart(fields: dict[str, str], data: bytes, filename: str = "f") -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n".encode()
        + data
        + b"\r\n"
    )
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def http(url: str, body: bytes | None = None, content_type: str = "") -> tuple[int, bytes, Any]:
    headers = {"content-type": content_type} if content_type else {}
    request = urllib.request.Request(url, data=body, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read(), response.headers
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), exc.headers


async def slot(client: ChatClient, **fields: Any) -> dict[str, Any]:
    await client.send({"type": "upload", "ref": "u", **fields})
    while True:  # presence frames may come first
        frame = await client.recv()
        if frame["type"] in ("upload_slot", "error"):
            return frame


def post_form(relay: RelayProcess, answer: dict[str, Any], data: bytes) -> tuple[int, bytes]:
    body, content_type = multipart(answer["upload"]["fields"], data)
    status, text, _ = http(relay.http + answer["upload"]["url"], body, content_type)
    return status, text


async def test_upload_send_and_download(small_relay: RelayProcess) -> None:
    async with (
        await ChatClient.connect(small_relay.ws) as alice,
        await ChatClient.connect(small_relay.ws) as bob,
    ):
        await alice.join("files")
        await bob.join("files")
        answer = await slot(
            alice, room="files", name="C:\\shots\\shot.png", size=len(PNG), content_type="image/png"
        )
        assert answer["type"] == "upload_slot" and answer["ref"] == "u"
        attachment = answer["attachment"]
        assert ATTACHMENT_ID.fullmatch(attachment)
        assert set(answer["upload"]["fields"]) >= {"key", "Content-Type", "policy"}

        # Named on a send before the bytes arrived: refused.
        await alice.send({"type": "send", "text": "", "attachments": [attachment]})
        refused = await alice.recv_type("error")
        assert refused["code"] == "bad_attachment" and "POST the upload form" in refused["detail"]

        assert post_form(small_relay, answer, PNG)[0] == 204
        await alice.send({"type": "send", "text": "", "ref": "m", "attachments": [attachment]})
        ack = await alice.recv_type("ack")
        message = (await bob.recv_type("messages"))["message"]
        assert message["id"] == ack["id"]
        assert message["attachments"] == [
            {
                "id": attachment,
                "name": "shot.png",
                "size": len(PNG),
                "content_type": "image/png",
                "status": "unscanned",  # single server: scanning is off
            }
        ]
        assert "unscanned" in DOWNLOADABLE_STATUSES

        await bob.send({"type": "download", "attachment": attachment, "ref": "d"})
        link = await bob.recv_type("download_link")
        assert link["ref"] == "d" and link["attachment"] == attachment
        status, data, headers = http(small_relay.http + link["url"])
        assert status == 200 and data == PNG
        assert headers["content-type"] == "image/png"
        assert headers["content-disposition"] == "inline; filename*=UTF-8''shot.png"
        assert headers["x-content-type-options"] == "nosniff"

        # A tampered or unsigned link finds nothing.
        assert http(small_relay.http + link["url"].replace("s=", "s=0"))[0] == 404
        assert http(small_relay.http + link["url"].split("?")[0])[0] == 404

        # A PDF goes out as a download, never inline.
        pdf = await slot(
            alice, name="doc.pdf", size=len(PDF) - 3000, content_type="application/pdf"
        )
        small_pdf = PDF[:9] + PDF[3009:]
        assert post_form(small_relay, pdf, small_pdf)[0] == 204
        await alice.send({"type": "send", "text": "a doc", "attachments": [pdf["attachment"]]})
        await alice.recv_type("ack")
        await alice.send({"type": "download", "attachment": pdf["attachment"]})
        pdf_link = await alice.recv_type("download_link")
        status, data, headers = http(small_relay.http + pdf_link["url"])
        assert status == 200 and data == small_pdf
        assert headers["content-disposition"].startswith("attachment;")


async def test_the_form_conditions_are_enforced(small_relay: RelayProcess) -> None:
    async with await ChatClient.connect(small_relay.ws) as alice:
        await alice.join("rules")
        answer = await slot(alice, name="a.txt", size=10, content_type="text/plain")
        # More (or fewer) bytes than declared: refused, nothing stored.
        status, text = post_form(small_relay, answer, b"x" * 11)
        assert status == 403 and b"allows 10..10" in text
        assert post_form(small_relay, answer, b"x" * 9)[0] == 403
        # Another Content-Type than the slot's: refused.
        forged = {**answer, "upload": {**answer["upload"]}}
        forged["upload"]["fields"] = {**answer["upload"]["fields"], "Content-Type": "text/html"}
        status, text = post_form(small_relay, forged, b"x" * 10)
        assert status == 403 and b"Content-Type must be text/plain" in text
        # A policy edited to allow more: the signature no longer holds.
        edited = {**answer, "upload": {**answer["upload"]}}
        edited["upload"]["fields"] = {**answer["upload"]["fields"], "policy": "e30="}
        assert post_form(small_relay, edited, b"x" * 10)[0] == 403
        # A form over the size limit is cut off before it is read whole.
        assert post_form(small_relay, answer, b"x" * 200_000)[0] == 413
        assert post_form(small_relay, answer, b"x" * 10)[0] == 204


async def test_upload_frames_are_checked(small_relay: RelayProcess) -> None:
    async with await ChatClient.connect(small_relay.ws) as alice:
        await alice.send(
            {"type": "upload", "name": "a.png", "size": 1, "content_type": "image/png"}
        )
        assert (await alice.recv_type("error"))["code"] == "not_joined"
        await alice.join("checks")
        too_big = await slot(alice, name="a.png", size=4097, content_type="image/png")
        assert too_big["code"] == "file_too_large" and "4096" in too_big["detail"]
        html = await slot(alice, name="a.html", size=10, content_type="text/html")
        assert html["code"] == "file_type_not_allowed" and "image/png" in html["detail"]
        other_room = await slot(alice, room="lobby", name="a.png", size=1, content_type="image/png")
        # A room the connection is not in (the relay takes many rooms per connection: an
        # upload names one it subscribed).
        assert other_room["code"] == "not_subscribed" and other_room["room"] == "lobby"
        nameless = await slot(alice, name="\n", size=1, content_type="image/png")
        assert nameless["code"] == "bad_frame"
        await alice.send({"type": "download", "attachment": "A" * 22})
        assert (await alice.recv_type("error"))["code"] == "bad_attachment"
        await alice.send({"type": "send", "text": "x", "attachments": ["../../etc/passwd"]})
        assert (await alice.recv_type("error"))["code"] == "bad_attachment"


async def test_uploads_per_member_per_minute(small_relay: RelayProcess) -> None:
    async with await ChatClient.connect(small_relay.ws) as alice:
        await alice.join("budget")
        answers = [
            await slot(alice, name="a.png", size=1, content_type="image/png") for _ in range(7)
        ]
        assert [a["type"] for a in answers] == ["upload_slot"] * 6 + ["error"]
        assert (
            answers[-1]["code"] == "rate_limited" and "6 uploads a minute" in answers[-1]["detail"]
        )


async def test_another_room_cannot_use_an_attachment(small_relay: RelayProcess) -> None:
    async with (
        await ChatClient.connect(small_relay.ws) as alice,
        await ChatClient.connect(small_relay.ws) as mallory,
    ):
        await alice.join("private")
        await mallory.join("elsewhere")
        answer = await slot(alice, name="a.txt", size=3, content_type="text/plain")
        assert post_form(small_relay, answer, b"abc")[0] == 204
        await mallory.send({"type": "download", "attachment": answer["attachment"]})
        assert (await mallory.recv_type("error"))["code"] == "bad_attachment"
        await mallory.send({"type": "send", "text": "x", "attachments": [answer["attachment"]]})
        assert (await mallory.recv_type("error"))["code"] == "bad_attachment"
