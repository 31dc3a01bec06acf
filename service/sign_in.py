"""What the page needs to know about sign-in: ``GET /auth/session`` and ``POST /auth/logout``.

The relay never signs anyone in itself. In ``AUTH_MODE=none`` a person picks a display name
(sent on ``join``); in ``AUTH_MODE=alb`` the load balancer signed them in, the relay verifies
its ``x-amzn-oidc-data`` (``service.identity_alb``) and the page offers Sign out.

Sign out follows AWS's logout flow for ALB authentication: expire the load balancer's
session cookie (it is sharded ``<name>-0``, ``<name>-1``, … when over 4 KiB) and send the
browser to the identity provider's logout endpoint (``AUTH_LOGOUT_URL``), so the next
request is not silently signed in again by the ALB. It is a ``POST`` from the relay's own
page (the ``Origin`` check of the WebSocket upgrade): a link or an image on another site
must not sign anyone out.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .config import Settings
from .identity_alb import HEADER, AlbIdentityVerifier, NotSignedIn
from .origins import origin_allowed

SESSION_PATH = "/auth/session"
LOGOUT_PATH = "/auth/logout"
# The ALB shards a session cookie over 4 KiB; it refuses claims + token over 11 KiB, so
# at most three shards exist; one more is cleared for good measure.
COOKIE_SHARDS = 4
NO_STORE = {"Cache-Control": "no-store"}


class SignInEndpoints:
    def __init__(self, settings: Settings, verifier: AlbIdentityVerifier | None) -> None:
        self.settings = settings
        self.verifier = verifier

    async def session(self, request: Request) -> Response:
        if self.verifier is None:
            return JSONResponse({"mode": "none", "signed_in": False}, headers=NO_STORE)
        body: dict[str, object] = {"mode": "alb", "logout_url": LOGOUT_PATH}
        try:
            signed_in = await self.verifier.verify(request.headers.get(HEADER))
        except NotSignedIn as exc:
            body.update(signed_in=False, reason=exc.reason)
            return JSONResponse(body, status_code=401, headers=NO_STORE)
        member = signed_in.member
        body.update(
            signed_in=True,
            member={"id": member.id, "username": member.username, "avatar": member.avatar},
        )
        return JSONResponse(body, headers=NO_STORE)

    async def logout(self, request: Request) -> Response:
        if self.verifier is None:
            return Response("sign-in is off (AUTH_MODE=none)\n", 404, media_type="text/plain")
        if request.headers.get("origin") is None or not origin_allowed(
            request.headers, self.settings.allowed_origins
        ):
            detail = "sign out from the chat page itself (a POST with its Origin)\n"
            return Response(detail, 403, media_type="text/plain", headers=NO_STORE)
        # JSON, not a redirect: the page goes on to the identity provider itself (a form's
        # redirect to another origin would need it in the page's CSP form-action).
        body = {"signed_out": True, "next": self.settings.auth_logout_url or "/"}
        response = JSONResponse(body, headers=NO_STORE)
        cookie = self.settings.auth_session_cookie
        for shard in range(COOKIE_SHARDS):
            response.delete_cookie(f"{cookie}-{shard}", path="/", secure=True, httponly=True)
        return response
