"""Checks of a stage's edge: the load balancer (certificate, domain, access logs), the WAF
(rate rule, allow lists, logs) and the server API's allow list; each problem with its fix."""

from __future__ import annotations

import ipaddress
import re

from stacks.config.limits import (
    API_MAX_CIDRS,
    WAF_EVALUATION_WINDOWS,
    WAF_MIN_RATE_LIMIT,
    WAF_RATE_ACTIONS,
    retention_problems,
)
from stacks.config.model import StageConfig

_CERTIFICATE_ARN = re.compile(
    r"^arn:aws[a-z-]*:acm:([a-z0-9-]+):(\d{12}):certificate/[0-9a-f-]{36}$"
)
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


def load_balancer_problems(c: StageConfig) -> list[str]:
    lb = c.load_balancer
    r = c.relay
    problems = []
    if lb.certificate_arn is None and c.name != "dev":
        problems.append(
            f"certificate_arn is missing: stage '{c.name}' serves HTTPS only. Set "
            f'certificate_arn = "arn:aws:acm:{c.region}:<account>:certificate/<id>" in '
            f"[stages.{c.name}] of stages.toml, or pass -c certificateArn=arn:aws:acm:... "
            "(an ACM certificate in the stack's region)."
        )
    if lb.certificate_arn is not None:
        match = _CERTIFICATE_ARN.match(lb.certificate_arn)
        if match is None:
            problems.append(
                f"certificate_arn {lb.certificate_arn!r} is not an ACM certificate ARN: "
                "copy it from `aws acm list-certificates`."
            )
        elif match.group(1) != c.region:
            problems.append(
                f"certificate_arn is in {match.group(1)} but the stack deploys to {c.region}: "
                "an ALB needs a certificate from its own region."
            )
        elif c.account is not None and match.group(2) != c.account:
            problems.append(
                f"certificate_arn belongs to account {match.group(2)} but stage '{c.name}' "
                f"deploys to {c.account}: an ALB can use only a certificate of its own "
                "account; request or import it there."
            )
    if lb.domain_name is not None and not _DOMAIN.match(lb.domain_name):
        problems.append(
            f"domain_name {lb.domain_name!r} is not a lower-case DNS name: set domain_name "
            f'= "chat.example.com" in [stages.{c.name}] (or -c domainName=...).'
        )
    if lb.domain_name is not None and lb.certificate_arn is None:
        problems.append(
            "domain_name needs certificate_arn: the relay's origin is https://<domain>; set "
            f"both in [stages.{c.name}]."
        )
    if lb.idle_timeout_seconds < 2 * r.ping_interval_seconds or lb.idle_timeout_seconds > 4000:
        problems.append(
            f"load_balancer.idle_timeout_seconds={lb.idle_timeout_seconds}: use at least twice "
            f"the relay's ping interval ({2 * r.ping_interval_seconds} s) and at most 4000 s."
        )
    if not 1 <= lb.stickiness_seconds <= 604800:
        problems.append(
            f"load_balancer.stickiness_seconds={lb.stickiness_seconds}: use 1 s to 7 days."
        )
    if lb.health_check_path not in ("/healthz", "/readyz"):
        problems.append(
            f"load_balancer.health_check_path={lb.health_check_path!r}: use /healthz or /readyz."
        )
    problems += retention_problems(
        "load_balancer.access_log_retention_days", lb.access_log_retention_days, any_days=True
    )
    return problems


def waf_problems(c: StageConfig) -> list[str]:
    w = c.waf
    problems = []
    if w.upgrade_rate_limit < WAF_MIN_RATE_LIMIT:
        problems.append(
            f"waf.upgrade_rate_limit={w.upgrade_rate_limit}: AWS WAF's lowest rate limit is "
            f"{WAF_MIN_RATE_LIMIT} requests per window; e.g. upgrade_rate_limit = 300."
        )
    if w.evaluation_window_seconds not in WAF_EVALUATION_WINDOWS:
        problems.append(
            f"waf.evaluation_window_seconds={w.evaluation_window_seconds}: AWS WAF accepts "
            f"{', '.join(map(str, WAF_EVALUATION_WINDOWS))}."
        )
    if w.upgrade_rate_action not in WAF_RATE_ACTIONS:
        problems.append(
            f'waf.upgrade_rate_action={w.upgrade_rate_action!r}: use "block" (403 over the '
            'rate) or "count" (metrics and logs only).'
        )
    for cidr in w.allow_cidrs:
        try:
            network = ipaddress.IPv4Network(cidr, strict=True)
        except ValueError:
            problems.append(
                f"waf.allow_cidrs {cidr!r} is not an IPv4 network: write it like "
                '"203.0.113.7/32" (one address) or "198.51.100.0/24", host bits zero.'
            )
            continue
        if network.prefixlen < 8:
            problems.append(
                f"waf.allow_cidrs {cidr!r}: AWS WAF IP sets take /1 to /32 but a network this "
                "wide lets most of the internet skip the web ACL; list the load generators' "
                "own addresses (/8 or narrower)."
            )
    problems += retention_problems("waf.log_retention_days", w.log_retention_days)
    return problems


def api_problems(c: StageConfig) -> list[str]:
    where = f"[stages.{c.name}.api]"
    cidrs = c.api.allow_cidrs
    problems = []
    if cidrs and not c.load_balancer.https:
        problems.append(
            f"{where} allow_cidrs on a stage without certificate_arn: API keys would cross "
            f"the internet in clear text; set certificate_arn in [stages.{c.name}], or leave "
            "allow_cidrs empty (the API stays off at the load balancer)."
        )
    if len(cidrs) > API_MAX_CIDRS:
        problems.append(
            f"{where} allow_cidrs lists {len(cidrs)} networks: at most {API_MAX_CIDRS} "
            "(4 per listener rule); list the backend's egress addresses or wider networks."
        )
    if len(set(cidrs)) != len(cidrs):
        problems.append(f"{where} allow_cidrs lists a network twice; list each once.")
    for cidr in cidrs:
        try:
            network = ipaddress.ip_network(cidr, strict=True)
        except ValueError:
            problems.append(
                f"{where} allow_cidrs {cidr!r} is not a network: write it like "
                '"203.0.113.7/32" (one address), "198.51.100.0/24" or "2001:db8::/48", '
                "host bits zero."
            )
            continue
        if network.prefixlen < (8 if network.version == 4 else 16):
            problems.append(
                f"{where} allow_cidrs {cidr!r} opens the server API to much of the internet; "
                "list the product backend's own egress addresses (/8 or narrower, /16 for "
                "IPv6)."
            )
    return problems
