"""ElastiCache IAM authentication: a short-lived token, signed with the task role, per connection.

The token is what AWS documents (https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/
auth-iam.html, "Connecting"): a SigV4 presigned GET of
``http://<replication group id>/?Action=connect&User=<user id>`` for the service
``elasticache``, valid 15 minutes, with the ``http://`` scheme left off; a serverless cache
adds ``ResourceType=ServerlessCache`` before signing. It is sent as the password of the
IAM-enabled user (whose user name must equal its user id) in ``AUTH``/``HELLO``.

redis-py asks the ``CredentialProvider`` for credentials each time it opens a connection,
so every new connection (a reconnect after the 12-hour limit included) authenticates with a
fresh token. A token is reused for at most ``TOKEN_REUSE_SECONDS``: a reconnect storm signs
once, and no connection ever presents a token near its expiry.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from urllib.parse import urlencode

import botocore.session
from botocore.auth import SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from redis.credentials import CredentialProvider

SIGNING_SERVICE = "elasticache"
TOKEN_LIFETIME_SECONDS = 900  # AWS: an IAM authentication token is valid for 15 minutes
TOKEN_REUSE_SECONDS = 60.0  # far inside the lifetime: a reused token still has 14 minutes


def iam_auth_token(
    credentials: Credentials,
    *,
    user_id: str,
    cache_name: str,
    region: str,
    serverless: bool = False,
) -> str:
    """The IAM authentication token for ``user_id`` on ``cache_name`` (a replication group
    id, or a serverless cache's name), signed now with ``credentials``."""
    params = {"Action": "connect", "User": user_id}
    if serverless:
        params["ResourceType"] = "ServerlessCache"
    # ElastiCache stores cache names in lower case and checks the signature against that.
    request = AWSRequest(method="GET", url=f"http://{cache_name.lower()}/?{urlencode(params)}")
    SigV4QueryAuth(credentials, SIGNING_SERVICE, region, expires=TOKEN_LIFETIME_SECONDS).add_auth(
        request
    )
    url: str = request.url
    return url.removeprefix("http://")


class IamCredentialProvider(CredentialProvider):
    """(user id, token) for each new Redis connection, signed with the process's AWS
    credentials: on ECS, the task role's, which botocore fetches and refreshes itself."""

    def __init__(
        self,
        *,
        user_id: str,
        cache_name: str,
        region: str,
        credentials: Credentials | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.user_id = user_id
        self.cache_name = cache_name
        self.region = region
        self._credentials = credentials
        self._now = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._signed_at = 0.0
        self.signed = 0  # tokens signed so far (tests and operators)

    def _aws_credentials(self) -> Credentials:
        if self._credentials is None:
            found = botocore.session.get_session().get_credentials()
            if found is None:
                raise RuntimeError(
                    "REDIS_IAM_USER is set but no AWS credentials were found: on ECS give the "
                    "task a role; elsewhere set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"
                )
            self._credentials = found
        # Refreshable credentials (the task role) renew themselves here when near expiry.
        frozen = self._credentials.get_frozen_credentials()
        return Credentials(frozen.access_key, frozen.secret_key, frozen.token)

    def token(self) -> str:
        with self._lock:
            now = self._now()
            if self._token is None or now - self._signed_at >= TOKEN_REUSE_SECONDS:
                self._token = iam_auth_token(
                    self._aws_credentials(),
                    user_id=self.user_id,
                    cache_name=self.cache_name,
                    region=self.region,
                )
                self._signed_at = now
                self.signed += 1
            return self._token

    def get_credentials(self) -> tuple[str, str]:
        return self.user_id, self.token()

    async def get_credentials_async(self) -> tuple[str, str]:
        # Refreshing the task role's credentials is an HTTP call: keep it off the event loop.
        return await asyncio.to_thread(self.get_credentials)
