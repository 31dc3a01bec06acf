"""Moderation over Redis: bans are keys with a TTL; a disconnect is published on one channel
every relay subscribes to, and each relay answers with how many connections it closed.

Keys: ``chat:ban:<member id>`` (a ban, expiring when it ends) and
``chat:moderation:reply:<request id>`` (the relays' answers to one disconnect, a list
that expires). Channel: ``chat:moderation``. In cluster mode the channel is an ordinary
(cluster-wide) Pub/Sub channel; PUBLISH then counts only the subscribers of one node, so
the answer waits out REPLY_SECONDS for relays it cannot count.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets

import orjson

from ..broker.redis.backoff import full_jitter
from ..broker.redis.clients import STANDALONE, RedisClients
from ..broker.settings import RedisBrokerSettings
from .base import MemberCloser, Moderation

log = logging.getLogger("service.moderation")

CHANNEL = "chat:moderation"
REPLY_SECONDS = 3.0  # how long a disconnect waits for every relay's answer
REPLY_KEY_TTL = 30
LISTEN_READY_SECONDS = 5.0


def ban_key(member_id: str) -> str:
    return f"chat:ban:{member_id}"


def reply_key(request_id: str) -> str:
    return f"chat:moderation:reply:{request_id}"


class RedisModeration(Moderation):
    def __init__(self, settings: RedisBrokerSettings) -> None:
        self._clients = RedisClients(settings)
        self._redis = self._clients.commands
        self._closer: MemberCloser | None = None
        self._listener: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()

    async def start(self, closer: MemberCloser) -> None:
        self._closer = closer
        self._listener = asyncio.get_running_loop().create_task(
            self._listen(), name="moderation-listener"
        )
        # Ready only once disconnects asked on other relays reach this one; if Redis is
        # down the listener keeps trying and the broker's readiness says so.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._listening.wait(), LISTEN_READY_SECONDS)

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._listener
        await self._clients.close()

    async def ban(self, member_id: str, seconds: int) -> None:
        async with self._clients.guard():
            if seconds > 0:
                await self._redis.set(ban_key(member_id), "1", ex=seconds)
            else:
                await self._redis.delete(ban_key(member_id))

    async def banned_for(self, member_id: str) -> float:
        async with self._clients.guard():
            millis = int(await self._redis.pttl(ban_key(member_id)))
        return max(0.0, millis / 1000)  # -2: no ban, -1 cannot happen (always set with EX)

    async def disconnect(self, member_id: str, reason: str) -> int:
        request_id = secrets.token_hex(8)
        answers = reply_key(request_id)
        payload = orjson.dumps({"member": member_id, "reason": reason, "reply": answers})
        loop = asyncio.get_running_loop()
        closed = 0
        async with self._clients.guard():
            relays = int(await self._redis.publish(CHANNEL, payload))
            deadline = loop.time() + REPLY_SECONDS
            answered = 0
            while answered < relays or self._clients.cluster:
                left = deadline - loop.time()
                if left <= 0:
                    break
                got = await self._redis.blpop([answers], timeout=left)
                if got is None:
                    break
                answered += 1
                closed += int(got[1])
            await self._redis.delete(answers)
        return closed

    async def _listen(self) -> None:
        attempt = 0
        while True:
            try:
                await self._listen_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any failure: resubscribe after a pause, never die
                self._listening.clear()
                attempt += 1
                log.warning("moderation channel lost; resubscribing", extra={"error": str(exc)})
                await asyncio.sleep(full_jitter(attempt))

    async def _listen_once(self) -> None:
        node = STANDALONE
        if self._clients.cluster:
            await self._redis.initialize()
            node = self._redis.get_nodes()[0].name
        client = self._clients.subscriber_client(node)
        try:
            async with client.pubsub() as pubsub:
                await pubsub.subscribe(CHANNEL)
                async for message in pubsub.listen():
                    if message["type"] == "subscribe":
                        self._listening.set()
                    elif message["type"] == "message":
                        await self._carry_out(message["data"])
        finally:
            await client.aclose()

    async def _carry_out(self, payload: str) -> None:
        try:
            request = orjson.loads(payload)
            member_id, reason, answers = request["member"], request["reason"], request["reply"]
        except (ValueError, KeyError, TypeError):
            log.warning("ignored a malformed moderation request")
            return
        closed = self._closer.disconnect_member(str(member_id), str(reason)) if self._closer else 0
        try:
            await self._redis.rpush(answers, closed)
            await self._redis.expire(answers, REPLY_KEY_TTL)
        except Exception as exc:
            log.warning("could not answer a disconnect", extra={"error": str(exc)})
