"""Resume tokens in Redis: ``chat:identity:<token>`` holds the member, for
IDENTITY_TTL_DAYS after its last use, so a token works on every relay process."""

from __future__ import annotations

from ...members import Member
from ..base import IdentityStore
from ..settings import RedisBrokerSettings
from .clients import RedisClients
from .keys import identity_key


class RedisIdentityStore(IdentityStore):
    def __init__(self, clients: RedisClients, settings: RedisBrokerSettings) -> None:
        self._clients = clients
        self._redis = clients.commands
        self._ttl = settings.identity_ttl

    async def save_identity(
        self, token: str, member: Member, *, ttl_seconds: int | None = None, keep_ttl: bool = False
    ) -> None:
        key, value = identity_key(token), member.to_json()
        async with self._clients.guard():
            if keep_ttl and await self._redis.set(key, value, keepttl=True, xx=True):
                return
            await self._redis.set(key, value, ex=ttl_seconds or self._ttl)

    async def load_identity(self, token: str) -> Member | None:
        async with self._clients.guard():
            raw = await self._redis.get(identity_key(token))
        return Member.from_json(raw) if raw else None
