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

from collections.abc import Callable
from typing import Any

from aws_cdk import CfnOutput, Duration, RemovalPolicy, SecretValue, Stack
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_elasticloadbalancingv2_actions as actions
from constructs import Construct

from stacks.compliance import acknowledge_nag
from stacks.config.sign_in import SignInSettings

SESSION_COOKIE = "AWSELBAuthSessionCookie"
# Paths a browser reaches by script, where a login redirect cannot be followed: a 401
# lets the page say "sign in again" (docs/web-client.md) instead of failing silently.
NO_REDIRECT_PATHS = ["/ws", "/auth/session"]
NO_REDIRECT_PRIORITY = 5  # before every other rule (the API's start at 20)
# An authenticate action (then forward) for a given answer to an unauthenticated request.
Authenticate = Callable[[elbv2.UnauthenticatedAction], elbv2.ListenerAction]


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
        retain: bool,
    ) -> None:
        super().__init__(scope, construct_id)
        self.settings = settings
        page = f"https://{domain_name}/"
        self.logout_url = settings.logout_url
        if settings.mode == "cognito":
            authenticate = self._cognito(domain_name, page, prefix, region, retain, target_group)
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

    def _cognito(
        self,
        domain_name: str,
        page: str,
        prefix: str,
        region: str,
        retain: bool,
        target_group: elbv2.IApplicationTargetGroup,
    ) -> Authenticate:
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
            removal_policy=RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE
            if retain
            else RemovalPolicy.DESTROY,
        )
        acknowledge_nag(
            self.user_pool,
            "AwsSolutions-COG2",
            "MFA is optional (TOTP) rather than required: a team chat behind a company "
            "identity; turn it to REQUIRED in the pool when policy asks for it.",
        )
        acknowledge_nag(
            self.user_pool,
            "AwsSolutions-COG8",
            "The Essentials plan, not Plus: threat protection is a paid Plus feature, and the "
            "pool has no self sign-up, so only people an administrator added can sign in.",
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
        # Globally unique: the stage's prefix and its account (a token when unpinned).
        domain_prefix = s.cognito_domain_prefix or f"{prefix}-{Stack.of(self).account}"
        CfnOutput(
            Stack.of(self),
            "SignInUserPoolId",
            value=self.user_pool.user_pool_id,
            description="Cognito user pool of the chat's people (add them with admin-create-user)",
        )
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
                user_pool=self.user_pool,
                user_pool_client=self.client,
                user_pool_domain=self.domain,
                **self._session(forward, unauthenticated),
            )

        return authenticate

    def _oidc(self, target_group: elbv2.IApplicationTargetGroup) -> Authenticate:
        s = self.settings
        # A dynamic reference: CloudFormation resolves it at deploy; the template holds
        # only the secret's name.
        secret = SecretValue.secrets_manager(_given(s.client_secret_name, "client_secret_name"))
        forward = elbv2.ListenerAction.forward([target_group])

        def authenticate(unauthenticated: elbv2.UnauthenticatedAction) -> elbv2.ListenerAction:
            return elbv2.ListenerAction.authenticate_oidc(
                issuer=_given(s.issuer, "issuer"),
                authorization_endpoint=_given(s.authorization_endpoint, "authorization_endpoint"),
                token_endpoint=_given(s.token_endpoint, "token_endpoint"),
                user_info_endpoint=_given(s.user_info_endpoint, "user_info_endpoint"),
                client_id=_given(s.client_id, "client_id"),
                client_secret=secret,
                **self._session(forward, unauthenticated),
            )

        return authenticate

    def _session(
        self, forward: elbv2.ListenerAction, unauthenticated: elbv2.UnauthenticatedAction
    ) -> dict[str, Any]:
        """What both kinds of authenticate action share: the session and what follows."""
        return {
            "next": forward,
            "on_unauthenticated_request": unauthenticated,
            "scope": self.settings.scope,
            "session_cookie_name": SESSION_COOKIE,
            "session_timeout": Duration.seconds(self.settings.session_timeout_seconds),
            "allow_https_outbound": False,  # the network stack holds every rule
        }


def _given(value: str | None, key: str) -> str:
    """An oidc setting that sign_in_problems already required (synth stops before this)."""
    if value is None:
        raise ValueError(f"sign_in.{key} is missing: mode = 'oidc' needs it")
    return value
