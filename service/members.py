"""Members: who a connection is. Random Faker names (or the name a person chose, or the
identity the load balancer signed in), avatars served by the relay."""

from __future__ import annotations

import hashlib
import secrets
import sys
from dataclasses import dataclass, field

import orjson
from faker import Faker

MEMBER_ID_BYTES = 8
TOKEN_BYTES = 24


@dataclass(frozen=True, slots=True)
class Member:
    id: str
    username: str
    avatar: str
    # Encoded once and interned: each room a connection is in keeps the member's JSON (its
    # presence entry, the room's roster), and with many rooms per connection the copies
    # cost ~140 B a room (docs/benchmarks.md, "What an idle connection holds").
    _json: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        encoded = orjson.dumps({"id": self.id, "username": self.username, "avatar": self.avatar})
        object.__setattr__(self, "_json", sys.intern(encoded.decode()))

    def to_json(self) -> str:
        return self._json

    @classmethod
    def from_json(cls, raw: str | bytes) -> Member:
        obj = orjson.loads(raw)
        return cls(id=str(obj["id"]), username=str(obj["username"]), avatar=str(obj["avatar"]))


def avatar_path(member_id: str) -> str:
    return f"/avatars/{member_id}.svg"


class MemberFactory:
    """Creates new members. One Faker per process: building one costs ~0.1 s."""

    def __init__(self, seed: int | None = None) -> None:
        self._faker = Faker()
        if seed is not None:
            self._faker.seed_instance(seed)

    def create(self) -> Member:
        member_id = secrets.token_hex(MEMBER_ID_BYTES)
        return Member(id=member_id, username=self._faker.name(), avatar=avatar_path(member_id))


def signed_in_member(issuer: str, subject: str, username: str) -> Member:
    """The member for a person the load balancer signed in: the same id on every relay,
    in every tab and room (derived from the identity provider's issuer and ``sub``)."""
    digest = hashlib.sha256(f"{issuer}\n{subject}".encode()).hexdigest()
    member_id = digest[: 2 * MEMBER_ID_BYTES]
    return Member(id=member_id, username=username, avatar=avatar_path(member_id))


def api_member(username: str) -> Member:
    """The author of messages a product's backend posts through the server API under
    ``username``: the same member on every relay, so its avatar and id stay put."""
    digest = hashlib.sha256(f"server-api\n{username}".encode()).hexdigest()
    member_id = digest[: 2 * MEMBER_ID_BYTES]
    return Member(id=member_id, username=username, avatar=avatar_path(member_id))


def new_token() -> str:
    """An unguessable resume token; it maps to the member in the broker's identity store."""
    return secrets.token_urlsafe(TOKEN_BYTES)
