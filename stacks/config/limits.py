"""The AWS limits and fixed values the stage checks hold settings against."""

from __future__ import annotations

STAGES = ("dev", "staging", "prod")

# ElastiCache's hard limit on nodes (primaries plus replicas) in one cluster-mode group;
# the default account quota is 90 and AWS raises it on request.
MAX_CACHE_NODES = 500

# Offline synth (tests, CI, a laptop without AWS credentials) needs a concrete region for
# the ALB access-log bucket policy and the AZ names; the account may stay unresolved.
DEFAULT_REGION = "us-east-1"

# CloudWatch Logs accepts only these retention periods (days).
LOG_RETENTION_DAYS = (
    *(1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731),
    *(1096, 1827, 2192, 2557, 2922, 3288, 3653),
)

# Fargate task architectures; Fargate Spot runs only X86_64 tasks (AWS docs, cited in
# docs/infrastructure.md), so a Spot share needs x86_64.
CPU_ARCHITECTURES = ("arm64", "x86_64")
# AWS WAF rate-based rules: the evaluation windows it offers and its lowest limit.
WAF_EVALUATION_WINDOWS = (60, 120, 300, 600)
WAF_RATE_ACTIONS = ("block", "count")
WAF_MIN_RATE_LIMIT = 10

# An ALB listener rule takes at most 5 condition values; the `/api/*` path uses one, so
# each rule that lets the API through lists up to 4 source CIDRs. Listeners take 100 rules.
ALB_SOURCE_IPS_PER_RULE = 4
API_MAX_CIDRS = 40

# Fargate refuses a container stopTimeout above 120 seconds.
FARGATE_MAX_STOP_TIMEOUT = 120
# What the drain timings leave over (see relay_checks.drain_timing_problems): the last 1012 close
# handshakes, one slow DescribeTargetHealth call, a SIGTERM drain's presence removal.
DRAIN_MARGIN_SECONDS = 5

# Valid Fargate (cpu units -> memory MiB) combinations, the small end of the table.
FARGATE_SIZES: dict[int, tuple[int, ...]] = {
    256: (512, 1024, 2048),
    512: (1024, 2048, 3072, 4096),
    1024: (2048, 3072, 4096, 5120, 6144, 7168, 8192),
    2048: tuple(range(4096, 16385, 1024)),
    4096: tuple(range(8192, 30721, 1024)),
}


def retention_problems(name: str, days: int, *, any_days: bool = False) -> list[str]:
    if any_days:
        return [] if days >= 1 else [f"{name}={days}: use at least 1 day."]
    if days in LOG_RETENTION_DAYS:
        return []
    return [
        f"{name}={days}: CloudWatch Logs accepts only {', '.join(map(str, LOG_RETENTION_DAYS))}."
    ]
