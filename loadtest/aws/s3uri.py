"""s3://bucket/key locations, checked once where they come in."""

from __future__ import annotations

from typing import NamedTuple


class S3Location(NamedTuple):
    bucket: str
    key: str

    @classmethod
    def parse(cls, text: str) -> S3Location:
        if not text.startswith("s3://") or "/" not in text[5:] or text[5:].startswith("/"):
            raise ValueError(f"not an s3://BUCKET/PREFIX/ location: {text!r}")
        bucket, _, key = text[5:].partition("/")
        return cls(bucket, key)

    def join(self, name: str) -> S3Location:
        return S3Location(self.bucket, self.key.rstrip("/") + "/" + name if self.key else name)

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def shard_report_name(index: int) -> str:
    """What shard `index` (1-based) of a run writes below the run's results prefix."""
    return f"out-{index}.json"
