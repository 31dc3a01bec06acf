"""Who a joining client is, and how long the relay keeps that identity.

Signed in, the load balancer's identity wins; anonymous, a resume token brings back its
member (under a newly chosen name if one is given) and no token makes a new member. An
anonymous identity is kept only IDENTITY_UNUSED_TTL until its first message, then
IDENTITY_TTL_DAYS: a flood of joins that never speak does not fill the store.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable

from contract.protocol import CLOSE_TRY_AGAIN

from . import protocol
from .address_quota import AddressQuota
from .broker import BrokerUnavailable, IdentityStore
from .connection import ClientConnection
from .frame_reader import Disconnected
from .identity_alb import SignedIn
from .members import Member, MemberFactory, new_token
from .protocol import Join

log = logging.getLogger("service.session")


class IdentityLease:
    __slots__ = (
        "_address",
        "_connection",
        "_factory",
        "_identities",
        "_quota",
        "_signed_in",
        "_unused_ttl",
        "_used",
        "member",
        "token",
    )

    def __init__(
        self,
        identities: IdentityStore,
        member_factory: MemberFactory,
        signed_in: SignedIn | None,
        unused_ttl: int,
        quota: AddressQuota | None,
        address: Callable[[], str],
        connection: ClientConnection,
    ) -> None:
        self._identities = identities
        self._factory = member_factory
        self._signed_in = signed_in
        self._unused_ttl = unused_ttl  # IDENTITY_UNUSED_TTL, seconds
        self._quota = quota  # new anonymous identities per client address
        self._address = address
        self._connection = connection
        self._used = False
        self.member: Member | None = None
        self.token: str | None = None

    async def identify(self, join: Join) -> tuple[Member, str]:
        """The member and its resume token; raises ``Disconnected`` (after an ``error``)
        when the client's address made too many new identities this minute."""
        identities = self._identities
        known = await identities.load_identity(join.token) if join.token else None
        token = join.token
        signed_in = self._signed_in
        if signed_in is not None:
            member = signed_in.member
            if known is None or known.id != member.id:
                token = None
        elif known is None:
            member, token = self._factory.create(), None
        else:
            member = known
        if signed_in is None and join.name is not None and join.name != member.username:
            member = dataclasses.replace(member, username=join.name)
        if signed_in is not None:
            token = token or new_token()
            await identities.save_identity(token, member)
        elif token is None:
            self._count_new_identity()
            token = new_token()
            await identities.save_identity(token, member, ttl_seconds=self._unused_ttl)
        else:
            await identities.save_identity(
                token, member, ttl_seconds=self._unused_ttl, keep_ttl=True
            )
        return member, token

    def accept(self, member: Member, token: str) -> None:
        """The join went through: this is the connection's identity from now on."""
        self.member, self.token = member, token
        self._used = self._signed_in is not None  # the load balancer's identity is kept anyway

    async def spoke(self) -> None:
        """The member sent a message: keep its identity IDENTITY_TTL_DAYS from now on."""
        if self._used or self.token is None or self.member is None:
            return
        self._used = True
        try:
            await self._identities.save_identity(self.token, self.member)
        except BrokerUnavailable:
            self._used = False  # try again with the next message

    def _count_new_identity(self) -> None:
        if self._quota is None or self._quota.allow(self._address()):
            return
        log.warning("new identities over the limit", extra={"address": self._address()})
        detail = (
            f"over {self._quota.limit} new identities a minute from this address; "
            "join with your token, or wait a minute"
        )
        self._connection.send_text(protocol.error("rate_limited", detail))
        raise Disconnected(CLOSE_TRY_AGAIN, "too many new identities from this address")
