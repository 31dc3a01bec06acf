"""AWS store: presigned POST for uploads, presigned GET for clean files only.

The POST's policy holds the file to exactly the declared size (``content-length-range``)
and Content-Type; S3 refuses a file that breaks either, so neither is taken on trust.
The relay never sees the bytes. GuardDuty Malware Protection for S3 scans each new
object; its verdict reaches ``Attachments.scan_result``.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote, urlsplit

import botocore.session
from botocore.config import Config

from .records import Attachment

KEY_PREFIX = "attachments/"  # the task role may sign URLs under this prefix only


def regional_s3_client(region: str | None) -> Any:
    """An S3 client whose presigned URLs name the bucket's regional virtual-hosted endpoint,
    ``https://<bucket>.s3.<region>.amazonaws.com``. botocore's default, the global
    ``<bucket>.s3.amazonaws.com``, answers for a bucket outside us-east-1 with a redirect
    (always, for the days a new bucket's DNS takes), which the page's CSP, built from these
    same URLs, would not allow. Without a region: botocore's own choice."""
    session = botocore.session.get_session()
    if region is None:
        return session.create_client("s3")
    suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return session.create_client(
        "s3",
        region_name=region,
        endpoint_url=f"https://s3.{region}.{suffix}",
        config=Config(signature_version="s3v4", s3={"addressing_style": "virtual"}),
    )


class S3Store:
    def __init__(self, client: Any, bucket: str, link_seconds: int) -> None:
        self.client = client  # a botocore S3 client (untyped)
        self.bucket = bucket
        self.link_seconds = link_seconds

    def origins(self) -> tuple[str, ...]:
        """The origins the page talks to for this bucket: the POST target and the GETs'."""
        post = self.client.generate_presigned_post(self.bucket, KEY_PREFIX + "origin")["url"]
        get = self.client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": KEY_PREFIX + "origin"}
        )
        found = (_origin(post), _origin(get))
        return tuple(dict.fromkeys(found))

    def key(self, attachment_id: str) -> str:
        return KEY_PREFIX + attachment_id

    def upload_form(self, attachment_id: str, content_type: str, size: int) -> dict[str, Any]:
        post: dict[str, Any] = self.client.generate_presigned_post(
            self.bucket,
            self.key(attachment_id),
            Fields={"Content-Type": content_type},
            Conditions=[{"Content-Type": content_type}, ["content-length-range", size, size]],
            ExpiresIn=self.link_seconds,
        )
        return {"url": post["url"], "fields": post["fields"]}

    def holds(self, attachment: Attachment) -> bool:
        """S3 has the object at the declared size and type (what the form allowed)."""
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self.key(attachment.id))
        except self.client.exceptions.ClientError:
            return False
        return bool(
            head["ContentLength"] == attachment.size
            and head.get("ContentType") == attachment.content_type
        )

    def download_url(self, attachment: Attachment) -> tuple[str, int]:
        """A short-lived GET of the version the clean verdict was about (the upload form
        stays valid for a while: bytes posted again later are a newer, unscanned version)."""
        disposition = "inline" if attachment.content_type.startswith("image/") else "attachment"
        params = {
            "Bucket": self.bucket,
            "Key": self.key(attachment.id),
            "ResponseContentType": attachment.content_type,
            "ResponseContentDisposition": (
                f"{disposition}; filename*=UTF-8''{quote(attachment.name)}"
            ),
        }
        if attachment.version is not None:
            params["VersionId"] = attachment.version
        url: str = self.client.generate_presigned_url(
            "get_object", Params=params, ExpiresIn=self.link_seconds
        )
        return url, int(time.time()) + self.link_seconds

    def attachment_id(self, bucket: str, key: str) -> str | None:
        """The attachment an object of a scan result is, if it is one of this store's."""
        if bucket != self.bucket or not key.startswith(KEY_PREFIX):
            return None
        return key[len(KEY_PREFIX) :]

    def close(self) -> None:
        pass


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
