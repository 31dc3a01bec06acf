"""Sign-in at the load balancer: [stages.<stage>.sign_in] mode none (default), cognito, oidc."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App

from stacks.assembly import build_app
from stacks.config import STAGES, StageConfigError, load_stage_config
from stacks.config.settings_file import read_settings_file
from stacks.config.sign_in import SignInSettings, sign_in_problems
from tests.stacks.conftest import REPO_ROOT, SIGN_IN_TABLES, Synthesized, settings_with
from tests.stacks.test_nag import acknowledged, reviewed
from tests.stacks.test_service import environment, one

DOMAIN = "staging.chat.example.com"
LISTENER = "AWS::ElasticLoadBalancingV2::Listener"
RULE = "AWS::ElasticLoadBalancingV2::ListenerRule"


def only(stage: Synthesized, resource_type: str, key: str, value: int) -> dict[str, Any]:
    """Properties of the one service-stack resource of `resource_type` whose `key` is `value`."""
    (props,) = [
        r["Properties"]
        for r in stage.resources("service", resource_type).values()
        if r["Properties"][key] == value
    ]
    return props


def https_listener(stage: Synthesized) -> dict[str, Any]:
    return only(stage, LISTENER, "Port", 443)


def no_redirect_rule(stage: Synthesized) -> dict[str, Any]:
    return only(stage, RULE, "Priority", 5)


def alb_egress_443(stage: Synthesized) -> list[dict[str, Any]]:
    return [
        r["Properties"]
        for logical_id, r in stage.resources("network", "AWS::EC2::SecurityGroupEgress").items()
        if logical_id.startswith("AlbToIdentityProvider443")
    ]


@pytest.mark.parametrize("mode", ["cognito", "oidc"])
def test_every_request_is_authenticated_then_forwarded(
    sign_in: dict[str, Synthesized], mode: str
) -> None:
    stage = sign_in[mode]
    kind = f"authenticate-{mode}"
    config_key = "AuthenticateCognitoConfig" if mode == "cognito" else "AuthenticateOidcConfig"
    first, forward = https_listener(stage)["DefaultActions"]
    assert (first["Type"], first["Order"]) == (kind, 1)
    assert first[config_key]["OnUnauthenticatedRequest"] == "authenticate"  # the page: log in
    assert first[config_key]["SessionCookieName"] == "AWSELBAuthSessionCookie"
    assert first[config_key]["Scope"] == "openid email profile"
    assert (forward["Type"], forward["Order"]) == ("forward", 2)
    # A WebSocket or a fetch cannot follow a login redirect: 401 from the ALB instead.
    rule = no_redirect_rule(stage)
    (condition,) = rule["Conditions"]
    assert condition["PathPatternConfig"]["Values"] == ["/ws", "/auth/session"]
    deny, forward_too = rule["Actions"]
    assert deny["Type"] == kind and deny[config_key]["OnUnauthenticatedRequest"] == "deny"
    assert forward_too["Type"] == "forward"
    # /api/* closed (off by default) before sign-in is asked for; /metrics is on another
    # port (METRICS_PORT), nothing to hide here.
    priorities = sorted(
        r["Properties"]["Priority"] for r in stage.resources("service", RULE).values()
    )
    assert priorities == [5, 40]


@pytest.mark.parametrize("mode", ["cognito", "oidc"])
def test_the_relay_is_told_to_verify_this_load_balancer(
    sign_in: dict[str, Synthesized], mode: str
) -> None:
    stage = sign_in[mode]
    env = environment(stage)
    assert env["AUTH_MODE"] == "alb"
    (load_balancer,) = stage.resources("service", "AWS::ElasticLoadBalancingV2::LoadBalancer")
    assert env["ALB_ARN"] == {"Ref": load_balancer}
    assert env["ALLOWED_ORIGINS"] == f"https://{DOMAIN}"
    logout = json.dumps(env["AUTH_LOGOUT_URL"])
    if mode == "oidc":
        assert env["AUTH_LOGOUT_URL"] == "https://idp.example.com/logout"
    else:
        assert ".auth.us-east-1.amazoncognito.com/logout?client_id=" in logout
        assert f"&logout_uri=https://{DOMAIN}/" in logout


@pytest.mark.parametrize("mode", ["cognito", "oidc"])
def test_the_load_balancer_may_reach_the_identity_provider(
    sign_in: dict[str, Synthesized], mode: str
) -> None:
    (egress,) = alb_egress_443(sign_in[mode])
    assert (egress["FromPort"], egress["ToPort"], egress["CidrIp"]) == (443, 443, "0.0.0.0/0")


def test_cognito_pool_client_and_hosted_domain(sign_in: dict[str, Synthesized]) -> None:
    stage = sign_in["cognito"]
    pool = one(stage, "AWS::Cognito::UserPool")
    assert pool["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True  # no self sign-up
    assert pool["UsernameAttributes"] == ["email"]
    policy = pool["Policies"]["PasswordPolicy"]
    assert policy["MinimumLength"] >= 12
    assert all(policy[k] for k in ("RequireLowercase", "RequireUppercase", "RequireNumbers"))
    assert pool["MfaConfiguration"] == "OPTIONAL"
    client = one(stage, "AWS::Cognito::UserPoolClient")
    assert client["GenerateSecret"] is True  # the ALB exchanges the code with it
    assert client["AllowedOAuthFlows"] == ["code"]
    assert client["AllowedOAuthScopes"] == ["openid", "email", "profile"]
    assert client["CallbackURLs"] == [f"https://{DOMAIN}/oauth2/idpresponse"]
    assert client["LogoutURLs"] == [f"https://{DOMAIN}/"]
    assert client["SupportedIdentityProviders"] == ["COGNITO"]
    domain = json.dumps(one(stage, "AWS::Cognito::UserPoolDomain")["Domain"])
    assert "chat-relay-staging-" in domain and "111111111111" in domain
    (pool_id,) = stage.resources("service", "AWS::Cognito::UserPool")
    action = https_listener(stage)["DefaultActions"][0]["AuthenticateCognitoConfig"]
    assert action["UserPoolArn"] == {"Fn::GetAtt": [pool_id, "Arn"]}
    assert stage.templates["service"]["Outputs"]["SignInUserPoolId"]["Value"] == {"Ref": pool_id}


def test_oidc_secret_is_a_reference_never_a_value(sign_in: dict[str, Synthesized]) -> None:
    stage = sign_in["oidc"]
    action = https_listener(stage)["DefaultActions"][0]["AuthenticateOidcConfig"]
    assert action["ClientSecret"] == (
        "{{resolve:secretsmanager:chat-relay/staging/oidc-client-secret:SecretString:::}}"
    )
    assert action["Issuer"] == "https://idp.example.com"
    assert action["TokenEndpoint"] == "https://idp.example.com/oauth2/token"
    assert action["UserInfoEndpoint"] == "https://idp.example.com/oauth2/userinfo"
    assert action["ClientId"] == "chat-relay-staging"
    assert stage.resources("service", "AWS::Cognito::UserPool") == {}


def test_anonymous_default_has_no_sign_in(stage: Synthesized) -> None:
    env = environment(stage)
    assert not {"AUTH_MODE", "ALB_ARN", "AUTH_LOGOUT_URL"} & set(env)
    assert stage.resources("service", "AWS::Cognito::UserPool") == {}
    assert alb_egress_443(stage) == []
    for listener in stage.resources("service", LISTENER).values():
        types = [a["Type"] for a in listener["Properties"]["DefaultActions"]]
        assert not any(t.startswith("authenticate") for t in types)


@pytest.mark.parametrize("mode", ["cognito", "oidc"])
def test_sign_in_passes_cdk_nag(sign_in: dict[str, Synthesized], mode: str) -> None:
    stage = sign_in[mode]
    assert stage.nag_findings == [], "\n".join(stage.nag_findings)
    extra = {
        ("service/SignIn/UserPool", "AwsSolutions-COG2"),
        ("service/SignIn/UserPool", "AwsSolutions-COG8"),
    }
    assert acknowledged(stage, "staging") == reviewed("staging") | (
        extra if mode == "cognito" else set()
    )


# --- settings ---------------------------------------------------------------------------


def load_with(tmp_path: Path, stage: str, table: str):
    path = settings_with(tmp_path, table)
    return load_stage_config({"stage": stage}, {}, read_settings_file(path, STAGES))


def test_the_file_sets_the_mode(tmp_path: Path) -> None:
    config = load_with(tmp_path, "staging", SIGN_IN_TABLES["oidc"])
    assert config.sign_in.mode == "oidc"
    assert config.sign_in.client_secret_name == "chat-relay/staging/oidc-client-secret"


def test_dev_cannot_sign_in_without_https(tmp_path: Path) -> None:
    with pytest.raises(StageConfigError) as raised:
        load_with(tmp_path, "dev", '\n[stages.dev.sign_in]\nmode = "cognito"\n')
    assert "needs HTTPS and a domain" in str(raised.value)
    assert "certificate_arn and domain_name" in str(raised.value)


@pytest.mark.parametrize("mode", sorted(SIGN_IN_TABLES))
def test_the_pipeline_refuses_a_signed_in_staging(tmp_path: Path, mode: str) -> None:
    """The pipeline's smoke check and load-test gate are anonymous: behind sign-in they
    get 401, so a signed-in staging with [pipeline] is refused at synth."""
    path = settings_with(tmp_path, SIGN_IN_TABLES[mode])
    context = {"stage": "dev", "settingsFile": str(path)}
    with pytest.raises(StageConfigError) as raised:
        build_app(App(), context, {}, repo_root=REPO_ROOT)
    message = str(raised.value)
    assert "sign_in is set for staging" in message and "401" in message
    assert "Remove [stages.staging.sign_in]" in message


def test_unknown_sign_in_key_names_the_valid_ones(tmp_path: Path) -> None:
    with pytest.raises(StageConfigError) as raised:
        load_with(tmp_path, "staging", '\n[stages.staging.sign_in]\nprovider = "okta"\n')
    assert "[stages.staging.sign_in] provider: unknown key" in str(raised.value)


OIDC = SignInSettings(
    mode="oidc",
    issuer="https://idp.example.com",
    authorization_endpoint="https://idp.example.com/a",
    token_endpoint="https://idp.example.com/t",
    user_info_endpoint="https://idp.example.com/u",
    client_id="c",
    client_secret_name="chat/oidc",
)


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        (SignInSettings(mode="saml"), "mode = 'saml': use one of none, cognito, oidc"),
        (SignInSettings(mode="oidc"), "mode = 'oidc' needs issuer"),
        (SignInSettings(mode="oidc", client_id="c"), "needs client_secret_name"),
        (
            SignInSettings(**{**OIDC.__dict__, "token_endpoint": "http://idp/t"}),
            "token_endpoint = 'http://idp/t': use the provider's https:// URL",
        ),
        (
            SignInSettings(**{**OIDC.__dict__, "client_secret_name": "my secret"}),
            "client_secret_name = 'my secret': use the name of a Secrets Manager secret",
        ),
        (
            SignInSettings(mode="cognito", cognito_domain_prefix="my-aws-chat"),
            "cognito_domain_prefix = 'my-aws-chat'",
        ),
        (
            SignInSettings(mode="cognito", session_timeout_seconds=10),
            "session_timeout_seconds = 10: use 60..604800",
        ),
    ],
)
def test_bad_sign_in_settings_fail_with_a_fix(settings: SignInSettings, expected: str) -> None:
    problems = sign_in_problems(settings, stage="prod", https=True, domain_name="chat.example.com")
    assert any(expected in p for p in problems), problems


def test_good_sign_in_settings_have_no_problem() -> None:
    for settings in (SignInSettings(), SignInSettings(mode="cognito"), OIDC):
        assert (
            sign_in_problems(settings, stage="prod", https=True, domain_name="c.example.com") == []
        )
