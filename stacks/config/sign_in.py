"""Sign-in settings: [stages.<stage>.sign_in] in stages.toml (stacks/sign_in.py builds it).

Plain data and checks, no CDK: stacks/config/validation.py checks them with the rest of a stage.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SIGN_IN_MODES = ("none", "cognito", "oidc")
_HTTPS_URL = re.compile(r"^https://[a-z0-9.-]+(?::[0-9]{1,5})?(?:/[^\s]*)?$", re.IGNORECASE)
_DOMAIN_PREFIX = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_SECRET_NAME = re.compile(r"^[A-Za-z0-9/_+=.@-]{1,512}$")


@dataclass(frozen=True)
class SignInSettings:
    """[stages.<stage>.sign_in] in stages.toml."""

    mode: str = "none"
    # How long the ALB keeps a person signed in without asking the identity provider.
    session_timeout_seconds: int = 86400
    scope: str = "openid email profile"
    # cognito: the hosted UI's domain prefix, `<prefix>.auth.<region>.amazoncognito.com`;
    # globally unique, so it defaults to the stage's prefix and account.
    cognito_domain_prefix: str | None = None
    # oidc: the identity provider's endpoints (from its .well-known/openid-configuration),
    # the client id, and the *name* of a Secrets Manager secret holding the client secret
    # (the template references it; the secret never appears in it).
    issuer: str | None = None
    authorization_endpoint: str | None = None
    token_endpoint: str | None = None
    user_info_endpoint: str | None = None
    client_id: str | None = None
    client_secret_name: str | None = None
    # oidc: where Sign out ends (the provider's logout endpoint); unset: back to the page.
    logout_url: str | None = None

    @property
    def enabled(self) -> bool:
        return self.mode != "none"


OIDC_FIELDS = (
    "issuer",
    "authorization_endpoint",
    "token_endpoint",
    "user_info_endpoint",
    "client_id",
    "client_secret_name",
)


def sign_in_problems(
    s: SignInSettings, *, stage: str, https: bool, domain_name: str | None
) -> list[str]:
    where = f"[stages.{stage}.sign_in]"
    if s.mode not in SIGN_IN_MODES:
        return [f"{where} mode = {s.mode!r}: use one of {', '.join(SIGN_IN_MODES)}."]
    problems = []
    if s.enabled and (not https or domain_name is None):
        problems.append(
            f"{where} mode = {s.mode!r} needs HTTPS and a domain: the ALB authenticates only on "
            f"an HTTPS listener and the identity provider returns to https://<domain_name>/"
            f"oauth2/idpresponse; set certificate_arn and domain_name in [stages.{stage}]."
        )
    if s.enabled and not 60 <= s.session_timeout_seconds <= 604800:
        problems.append(
            f"{where} session_timeout_seconds = {s.session_timeout_seconds}: use 60..604800 "
            "(the ALB's limit is 7 days)."
        )
    if s.mode == "oidc":
        for name in OIDC_FIELDS:
            if getattr(s, name) is None:
                problems.append(f"{where} mode = 'oidc' needs {name}.")
        for name in ("issuer", "authorization_endpoint", "token_endpoint", "user_info_endpoint"):
            value = getattr(s, name)
            if value is not None and not _HTTPS_URL.match(value):
                problems.append(f"{where} {name} = {value!r}: use the provider's https:// URL.")
        if s.client_secret_name is not None and not _SECRET_NAME.match(s.client_secret_name):
            problems.append(
                f"{where} client_secret_name = {s.client_secret_name!r}: use the name of a "
                "Secrets Manager secret, e.g. chat-relay/prod/oidc-client-secret."
            )
    if s.logout_url is not None and not _HTTPS_URL.match(s.logout_url):
        problems.append(f"{where} logout_url = {s.logout_url!r}: use an https:// URL.")
    if s.mode == "cognito" and s.cognito_domain_prefix is not None:
        prefix = s.cognito_domain_prefix
        reserved = any(word in prefix for word in ("aws", "amazon", "cognito"))
        if not _DOMAIN_PREFIX.match(prefix) or reserved:
            problems.append(
                f"{where} cognito_domain_prefix = {prefix!r}: use lower-case letters, digits "
                "and '-' (no 'aws', 'amazon' or 'cognito'), e.g. chat-relay-prod-123456789012."
            )
    return problems
