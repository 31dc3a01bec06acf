"""Sign-in at the load balancer: `none` (anonymous, the default), `cognito` or `oidc`.

With sign-in on, the HTTPS listener authenticates every request before forwarding it
(`authenticate-cognito` / `authenticate-oidc`, then `forward`): the page, its files and
the WebSocket upgrade. The browser sends the ALB's session cookie
(`AWSELBAuthSessionCookie-0`, ...) on the upgrade like on any same-origin request, so a
signed-in page's socket is authenticated too, and the ALB adds `x-amzn-oidc-data`, which the
relay verifies (service/identity_alb.py; AUTH_MODE=alb, ALB_ARN). Requests a browser
cannot send through a login redirect (the WebSocket upgrade, the page's `fetch` of
`/auth/session`) get 401 from the ALB instead of a redirect to the identity provider.

Reference: "Authenticate users using an Application Load Balancer" (Elastic Load Balancing
user guide): listener-authenticate-users.html.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from aws_cdk import Duration, RemovalPolicy, SecretValue
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_elasticloadbalancingv2_actions as actions
from constructs import Construct

from stacks.compliance import acknowledge_nag

SIGN_IN_MODES = ("none", "cognito", "oidc")
SESSION_COOKIE = "AWSELBAuthSessionCookie"
# Paths a browser reaches by script, where a login redirect cannot be followed: a 401
# lets the page say "sign in again" (docs/web-client.md) instead of failing silently.
NO_REDIRECT_PATHS = ["/ws", "/auth/session"]
NO_REDIRECT_PRIORITY = 5  # before every other rule (HideMetrics is 10)
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
        if not _DOMAIN_PREFIX.match(prefix) or "aws" in prefix or "cognito" in prefix:
            problems.append(
                f"{where} cognito_domain_prefix = {prefix!r}: use lower-case letters, digits "
                "and '-' (no 'aws', 'amazon' or 'cognito'), e.g. chat-relay-prod-123456789012."
            )
    return problems


class SignIn(Construct):
    """Puts sign-in in front of every listener path; `relay_environment` is what the relay
    needs to trust it (AUTH_MODE, ALB_ARN, AUTH_LOGOUT_URL)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: SignInSettings,
        listener: elbv2.ApplicationListener,
        target_group: elbv2.IApplicationTargetGroup,
        load_balancer_arn: str,
        domain_name: str,
        prefix: str,
        region: str,
        account: str,
        retain: bool,
    ) -> None:
        super().__init__(scope, construct_id)
        self.settings = settings
        page = f"https://{domain_name}/"
        self.logout_url = settings.logout_url
        if settings.mode == "cognito":
            authenticate = self._cognito(
                domain_name, page, prefix, region, account, retain, target_group
            )
        else:
            authenticate = self._oidc(target_group)
        listener.add_action("SignIn", action=authenticate(elbv2.UnauthenticatedAction.AUTHENTICATE))
        listener.add_action(
            "SignInNoRedirect",
            priority=NO_REDIRECT_PRIORITY,
            conditions=[elbv2.ListenerCondition.path_patterns(NO_REDIRECT_PATHS)],
            action=authenticate(elbv2.UnauthenticatedAction.DENY),
        )
        self.relay_environment = {"AUTH_MODE": "alb", "ALB_ARN": load_balancer_arn}
        if self.logout_url:
            self.relay_environment["AUTH_LOGOUT_URL"] = self.logout_url

    def _cognito(self, domain_name, page, prefix, region, account, retain, target_group):
        s = self.settings
        self.user_pool = cognito.UserPool(
            self,
            "UserPool",
            user_pool_name=prefix,
            # The team adds its people (console, CLI or a federated IdP): no strangers.
            self_sign_up_enabled=False,
            sign_in_aliases=cognito.SignInAliases(email=True),
            standard_attributes=cognito.StandardAttributes(
                fullname=cognito.StandardAttribute(required=False, mutable=True)
            ),
            password_policy=cognito.PasswordPolicy(
                min_length=12,
                require_lowercase=True,
                require_uppercase=True,
                require_digits=True,
                require_symbols=True,
                temp_password_validity=Duration.days(3),
            ),
            mfa=cognito.Mfa.OPTIONAL,
            mfa_second_factor=cognito.MfaSecondFactor(sms=False, otp=True),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            feature_plan=cognito.FeaturePlan.ESSENTIALS,
            deletion_protection=retain,
            removal_policy=RemovalPolicy.RETAIN if retain else RemovalPolicy.DESTROY,
        )
        acknowledge_nag(
            self.user_pool,
            "AwsSolutions-COG2",
            "MFA is optional (TOTP) rather than required: a team chat behind a company "
            "identity; turn it to REQUIRED in the pool when policy asks for it.",
        )
        acknowledge_nag(
            self.user_pool,
            "AwsSolutions-COG3",
            "Threat protection (advanced security) is a paid Plus-plan feature; the pool "
            "has no self sign-up, so only people an administrator added can sign in.",
        )
        self.client = self.user_pool.add_client(
            "AlbClient",
            # The ALB exchanges the code itself, with the secret (AWS: the client must
            # generate a secret and use the authorization code grant).
            generate_secret=True,
            o_auth=cognito.OAuthSettings(
                flows=cognito.OAuthFlows(authorization_code_grant=True),
                scopes=[
                    cognito.OAuthScope.OPENID,
                    cognito.OAuthScope.EMAIL,
                    cognito.OAuthScope.PROFILE,
                ],
                callback_urls=[f"https://{domain_name}/oauth2/idpresponse"],
                logout_urls=[page],
            ),
            supported_identity_providers=[cognito.UserPoolClientIdentityProvider.COGNITO],
            prevent_user_existence_errors=True,
        )
        domain_prefix = s.cognito_domain_prefix or f"{prefix}-{account}"
        self.domain = self.user_pool.add_domain(
            "HostedDomain", cognito_domain=cognito.CognitoDomainOptions(domain_prefix=domain_prefix)
        )
        self.logout_url = self.logout_url or (
            f"https://{domain_prefix}.auth.{region}.amazoncognito.com/logout"
            f"?client_id={self.client.user_pool_client_id}&logout_uri={page}"
        )
        forward = elbv2.ListenerAction.forward([target_group])

        def authenticate(unauthenticated: elbv2.UnauthenticatedAction) -> elbv2.ListenerAction:
            return actions.AuthenticateCognitoAction(
                next=forward,
                user_pool=self.user_pool,
                user_pool_client=self.client,
                user_pool_domain=self.domain,
                on_unauthenticated_request=unauthenticated,
                scope=s.scope,
                session_cookie_name=SESSION_COOKIE,
                session_timeout=Duration.seconds(s.session_timeout_seconds),
                allow_https_outbound=False,  # the network stack holds every rule
            )

        return authenticate

    def _oidc(self, target_group):
        s = self.settings
        # A dynamic reference: CloudFormation resolves it at deploy; the template holds
        # only the secret's name.
        secret = SecretValue.secrets_manager(s.client_secret_name)
        forward = elbv2.ListenerAction.forward([target_group])

        def authenticate(unauthenticated: elbv2.UnauthenticatedAction) -> elbv2.ListenerAction:
            return elbv2.ListenerAction.authenticate_oidc(
                next=forward,
                issuer=s.issuer,
                authorization_endpoint=s.authorization_endpoint,
                token_endpoint=s.token_endpoint,
                user_info_endpoint=s.user_info_endpoint,
                client_id=s.client_id,
                client_secret=secret,
                on_unauthenticated_request=unauthenticated,
                scope=s.scope,
                session_cookie_name=SESSION_COOKIE,
                session_timeout=Duration.seconds(s.session_timeout_seconds),
                allow_https_outbound=False,  # the network stack holds every rule
            )

        return authenticate
