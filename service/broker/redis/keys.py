"""The key schema: every key and channel the Redis backend uses.

Per room, under one hash tag so a room lives on one shard: ``chat:{room}:history``
(capped stream) and ``:origin`` (its epoch), ``:conns`` / ``:counts`` / ``:members``
(presence), ``:ref:<idempotency key>`` (idempotent publishes; a client's send has the key
``<member>:<ref>``), ``:tombstones`` (deleted message ids) and the channel ``chat:{room}``.
Identities are ``chat:identity:<token>``; probes go to ``chat:probe:{<tag>}``.
"""

from __future__ import annotations


def channel_of(room: str) -> str:
    return f"chat:{{{room}}}"


def history_key(room: str) -> str:
    return f"chat:{{{room}}}:history"


def origin_key(room: str) -> str:
    """Id of the first message of the stream's current incarnation (its epoch)."""
    return f"chat:{{{room}}}:origin"


def ref_key(room: str, idempotency_key: str | None) -> str:
    """Always a key in the room's slot, with or without an idempotency key (cluster mode
    checks every key's slot)."""
    return f"chat:{{{room}}}:ref:{idempotency_key or ''}"


def tombstones_key(room: str) -> str:
    """A set of the room's deleted message ids; it expires with the history."""
    return f"chat:{{{room}}}:tombstones"


def presence_keys(room: str) -> list[str]:
    """Connections zset, connection counts hash, members hash (the Lua scripts' KEYS)."""
    return [f"chat:{{{room}}}:conns", f"chat:{{{room}}}:counts", f"chat:{{{room}}}:members"]


def identity_key(token: str) -> str:
    return f"chat:identity:{token}"


def probe_channel(process_tag: str, attempt: int | None = None) -> str:
    """A process's probe channel; in a cluster numbered until one hashes to the node."""
    suffix = "" if attempt is None else f"-{attempt}"
    return f"chat:probe:{{{process_tag}{suffix}}}"
