"""Reading a stage's config: defaults, then stages.toml, then CDK context.

`load_stage_config` is the only reader of CDK context and environment variables. A wrong
or missing setting raises `StageConfigError`, whose message names each bad setting and
how to fix it, so `cdk synth` fails before any construct is created.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from stacks.config.defaults import default_config
from stacks.config.limits import DEFAULT_REGION
from stacks.config.lock import lock_path, lock_problems, read_lock
from stacks.config.model import CacheSettings, StageConfig, StageConfigError
from stacks.config.settings_file import STAGE_KEYS, STAGE_SECTIONS, SettingsFile, apply_table
from stacks.config.validation import validate

# Context keys a platform engineer may pass with `-c key=value` (or put in cdk.json).
CONTEXT_STAGE = "stage"
# Another settings file than the shipped stages.toml (a path, relative to the repository).
CONTEXT_SETTINGS_FILE = "settingsFile"
CONTEXT_ACCOUNT = "account"
CONTEXT_REGION = "region"
CONTEXT_CERTIFICATE_ARN = "certificateArn"
CONTEXT_DOMAIN_NAME = "domainName"
CONTEXT_ALARM_EMAIL = "alarmEmail"
CONTEXT_AVAILABILITY_ZONES = "availabilityZones"
# Cache topology overrides: cluster mode on or off, shards, replicas per shard.
CONTEXT_CACHE_CLUSTER_MODE = "cacheClusterMode"
CONTEXT_CACHE_SHARDS = "cacheShards"
CONTEXT_CACHE_REPLICAS = "cacheReplicasPerShard"
CONTEXT_KEYS = (
    CONTEXT_STAGE,
    CONTEXT_SETTINGS_FILE,
    CONTEXT_ACCOUNT,
    CONTEXT_REGION,
    CONTEXT_CERTIFICATE_ARN,
    CONTEXT_DOMAIN_NAME,
    CONTEXT_ALARM_EMAIL,
    CONTEXT_AVAILABILITY_ZONES,
    CONTEXT_CACHE_CLUSTER_MODE,
    CONTEXT_CACHE_SHARDS,
    CONTEXT_CACHE_REPLICAS,
)


def load_stage_config(
    context: Mapping[str, Any],
    environ: Mapping[str, str],
    settings: SettingsFile | None = None,
    *,
    check_lock: bool = True,
) -> StageConfig:
    """Build the stage's config: defaults, then the settings file, then CDK context.

    `settings` is the parsed stages.toml (None: the defaults alone). Context (`-c
    key=value`) overrides it: `stage`, `account`, `region`, `certificateArn`, `domainName`,
    `alarmEmail`, `availabilityZones`, `cacheClusterMode`, `cacheShards`,
    `cacheReplicasPerShard`. `CDK_DEFAULT_ACCOUNT` / `CDK_DEFAULT_REGION` (the CLI's
    credentials) fill in only what neither pins: a stage pinned to an account never
    follows whichever credentials happen to be active.

    A stage recorded in the settings file's lock (stages.lock.toml, stacks/config/lock.py)
    must keep the values CloudFormation can only set on create, unless `check_lock` is off
    (the lock writer itself).
    """
    stage = _text(context.get(CONTEXT_STAGE))
    if stage is None:
        raise StageConfigError(
            "No stage selected: pass -c stage=dev|staging|prod to cdk "
            "(or STAGE=dev|staging|prod to make)."
        )
    config = default_config(stage)
    pinned: Mapping[str, Any] = {}
    if settings is not None:
        config = apply_settings_file(config, settings)
        pinned = settings.stage(stage)

    region = (
        _text(context.get(CONTEXT_REGION))
        or pinned.get("region")
        or _text(environ.get("CDK_DEFAULT_REGION"))
        or config.region
    )
    account = (
        _text(context.get(CONTEXT_ACCOUNT))
        or pinned.get("account")
        or _text(environ.get("CDK_DEFAULT_ACCOUNT"))
        or config.account
    )
    zones_text = _text(context.get(CONTEXT_AVAILABILITY_ZONES))
    if zones_text is not None:
        zones = tuple(z.strip() for z in zones_text.split(",") if z.strip())
    elif config.network.availability_zones:
        zones = config.network.availability_zones
    elif region == DEFAULT_REGION:
        # Fargate runs in every AZ of us-east-1 (AWS's "Supported Regions for Amazon ECS
        # on AWS Fargate" page); elsewhere some AZ ids lack it, so validate asks for names.
        zones = tuple(f"{region}{letter}" for letter in "abcdef"[: config.network.az_count])
    else:
        zones = ()

    lb = config.load_balancer
    config = dataclasses.replace(
        config,
        region=region,
        account=account,
        alarm_email=_text(context.get(CONTEXT_ALARM_EMAIL)) or config.alarm_email,
        network=dataclasses.replace(config.network, availability_zones=zones),
        cache=_cache_overrides(config.cache, context),
        load_balancer=dataclasses.replace(
            lb,
            certificate_arn=_text(context.get(CONTEXT_CERTIFICATE_ARN)) or lb.certificate_arn,
            domain_name=_text(context.get(CONTEXT_DOMAIN_NAME)) or lb.domain_name,
        ),
    )
    validate(config, source=settings.path.name if settings is not None else None)
    if settings is not None and check_lock:
        # A deployed stage keeps what CloudFormation can only set on create.
        path = lock_path(settings.path)
        problems = lock_problems(config, read_lock(path).get(stage), lock=path.name)
        if problems:
            lines = "\n".join(f"  - {p}" for p in problems)
            raise StageConfigError(
                f"Settings of deployed stage '{stage}' that cannot change in place:\n{lines}"
            )
    return config


def apply_settings_file(config: StageConfig, settings: SettingsFile) -> StageConfig:
    """`config` with the file's [stages.<stage>] table and its sections laid over it."""
    table = settings.stage(config.name)
    where = settings.where("stages", config.name)
    problems = [
        f"{where} {key}: unknown key; valid keys are {', '.join(STAGE_KEYS)} and the "
        f"sections [{'], ['.join(f'stages.{config.name}.{s}' for s in STAGE_SECTIONS)}]."
        for key in table
        if key not in STAGE_KEYS and key not in STAGE_SECTIONS
    ]
    own = {k: v for k, v in table.items() if k in STAGE_KEYS and k not in _LB_KEYS}
    config, found = apply_table(config, own, where)
    problems += found
    changes: dict[str, Any] = {}
    for section in STAGE_SECTIONS:
        values = dict(table.get(section, {})) if isinstance(table.get(section), dict) else {}
        if section in table and not isinstance(table[section], dict):
            problems.append(
                f"{where} {section}: expected a table [stages.{config.name}.{section}]."
            )
        if section == "load_balancer":
            values |= {k: v for k, v in table.items() if k in _LB_KEYS}
        if values:
            changes[section], found = apply_table(
                getattr(config, section), values, settings.where("stages", config.name, section)
            )
            problems += found
    if problems:
        lines = "\n".join(f"  - {p}" for p in problems)
        raise StageConfigError(f"Invalid settings file for stage '{config.name}':\n{lines}")
    return dataclasses.replace(config, **changes)


# Set at the top of [stages.<stage>] (where a platform engineer looks for them), kept in
# LoadBalancerSettings.
_LB_KEYS = ("domain_name", "certificate_arn")


def _cache_overrides(cache: CacheSettings, context: Mapping[str, Any]) -> CacheSettings:
    """The stage's cache settings with the -c cacheClusterMode/Shards/Replicas overrides.

    Turning cluster mode on without naming shards keeps the stage's shard count (1): a
    one-shard cluster that can be resharded online later.
    """
    problems = []
    changes: dict[str, Any] = {}
    for key, name, parse, example in (
        (CONTEXT_CACHE_CLUSTER_MODE, "cluster_mode", _context_bool, "true"),
        (CONTEXT_CACHE_SHARDS, "shards", _context_int, "3"),
        (CONTEXT_CACHE_REPLICAS, "replicas_per_shard", _context_int, "1"),
    ):
        text = _text(context.get(key))
        if text is None:
            continue
        try:
            changes[name] = parse(text)
        except ValueError as error:
            problems.append(f"{key}={text!r} {error}: pass e.g. -c {key}={example}.")
    if problems:
        raise StageConfigError("Invalid context:\n" + "\n".join(f"  - {p}" for p in problems))
    return dataclasses.replace(cache, **changes)


def _context_bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("true", "yes", "1"):
        return True
    if lowered in ("false", "no", "0"):
        return False
    raise ValueError("is not true or false")


def _context_int(text: str) -> int:
    if not text.isdigit():
        raise ValueError("is not a whole number")
    return int(text)


def _text(value: object) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None
