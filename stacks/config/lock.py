"""Settings a deployed stage cannot change in place, and the lock file that records them.

A few settings map to properties CloudFormation can only set when it creates a resource
(`createOnlyProperties` in the resource schemas, or documented as such): changing them
would replace a stateful resource that has a fixed name or is exported to another stack,
and the deploy fails, rolls back or deadlocks on "export in use". stages.lock.toml (beside
stages.toml, committed) records, per deployed stage, the value each such setting was
created with; synth refuses a stage whose settings differ, naming the safe procedure.
tests/stacks/test_settings_matrix.py finds these settings by changing every setting and
classifying the template diff, and fails if one is missing here.

    python -m stacks.settings_lock STAGE [--if-missing]   (make settings-lock STAGE=...)

writes the stage's current values (after its first deploy, or after a procedure below).
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stacks.config.model import StageConfig, StageConfigError

LOCK_SUFFIX = ".lock.toml"

_NEW_STAGE = (
    "deploy the changed settings as a new stage (its own name, so its own stacks), move "
    "clients to it by DNS, then `make destroy` the old one"
)


@dataclass(frozen=True)
class LockedSetting:
    """A setting fixed at creation: why, and what to do instead of editing it."""

    name: str
    why: str
    procedure: str
    # Whether the setting reaches a create-only property in this stage's shape.
    applies: Callable[[StageConfig], bool] = lambda config: True


def _cluster_mode(config: StageConfig) -> bool:
    return config.cache.cluster_mode


LOCKED_SETTINGS: tuple[LockedSetting, ...] = (
    LockedSetting(
        "network.cidr",
        "the VPC's CidrBlock is create-only: a new VPC, with every subnet, the cache and "
        "the load balancer in it",
        _NEW_STAGE,
    ),
    LockedSetting(
        "network.az_count",
        "subnet ranges follow their position, so another zone count moves existing subnets "
        "to new CidrBlocks (create-only); the subnets are exported to the cache and service "
        "stacks, so the update fails on the export in use",
        _NEW_STAGE,
    ),
    LockedSetting(
        "network.availability_zones",
        "a subnet's AvailabilityZone is create-only and the subnets are exported",
        _NEW_STAGE,
    ),
    LockedSetting(
        "network.interface_endpoints",
        "turning the endpoints off removes the endpoint security group, whose id the "
        "load-generator stack imports: the network update fails on the export in use",
        "destroy the load-generator stack first (`node_modules/.bin/cdk destroy "
        "'chat-relay-<stage>/chat-relay-<stage>-loadgen'`; it holds no data), deploy, then "
        "`make settings-lock` (the next deploy recreates it)",
    ),
    LockedSetting(
        "cache.port",
        "the replication group's Port is create-only and its ReplicationGroupId is fixed, "
        "so CloudFormation cannot create the replacement beside it",
        "keep the port (it is not the well-known 6379 already), or create the cache anew as "
        "a new stage",
    ),
    LockedSetting(
        "cache.cluster_mode",
        "ElastiCache moves cluster mode only from disabled to compatible to enabled, with "
        "every client migrated in between (the ClusterMode property's own documentation); "
        "one template change cannot do that, and the relay's client changes with it",
        "follow AWS's 'Modify cluster mode' steps by hand (modify-replication-group "
        "--cluster-mode compatible, then enabled), or create the cache anew as a new stage; "
        "then `make settings-lock`",
    ),
    LockedSetting(
        "cache.replicas_per_shard",
        "in cluster mode a ReplicasPerNodeGroup change is documented as a replacement of the "
        "replication group, whose ReplicationGroupId is fixed",
        "change the replica count online with `aws elasticache increase-replica-count` (or "
        "decrease-replica-count) --apply-immediately, wait until the group is available, "
        "then set the same value here and run `make settings-lock`",
        applies=_cluster_mode,
    ),
)


def setting_value(config: StageConfig, name: str) -> Any:
    """The value of a dotted setting (`cache.port`), as TOML holds it (tuples as lists)."""
    value: Any = config
    for part in name.split("."):
        value = getattr(value, part)
    return list(value) if isinstance(value, tuple) else value


def lock_path(settings_path: Path) -> Path:
    """stages.toml -> stages.lock.toml, beside it."""
    return settings_path.with_name(settings_path.stem + LOCK_SUFFIX)


def read_lock(path: Path) -> dict[str, dict[str, Any]]:
    """stage -> {setting: value}; no file is no deployed stage."""
    if not path.exists():
        return {}
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as error:
        raise StageConfigError(f"{path.name} is not valid TOML ({error}).") from None
    stages = data.get("stages", {})
    return {stage: dict(values) for stage, values in stages.items()}


def locked_values(config: StageConfig) -> dict[str, Any]:
    return {s.name: setting_value(config, s.name) for s in LOCKED_SETTINGS}


def lock_problems(config: StageConfig, locked: Mapping[str, Any] | None, *, lock: str) -> list[str]:
    """One message per locked setting whose value differs from what the stage was created
    with; none when the stage is not in the lock (not deployed yet)."""
    if not locked:
        return []
    problems = []
    for setting in LOCKED_SETTINGS:
        if setting.name not in locked or not setting.applies(config):
            continue
        before, now = locked[setting.name], setting_value(config, setting.name)
        if before != now:
            problems.append(
                f"{setting.name} = {json.dumps(now)}, but stage '{config.name}' was created "
                f"with {json.dumps(before)} ({lock}): {setting.why}. Refused; instead "
                f"{setting.procedure}."
            )
    return problems


def render_lock(stages: Mapping[str, Mapping[str, Any]]) -> str:
    lines = [
        "# What each deployed stage was created with, for the settings CloudFormation can only",
        "# set on create (stacks/config/lock.py). Synth refuses a change of these; written by",
        "# `make settings-lock STAGE=...` (and `make deploy`). Committed, reviewed like code.",
    ]
    for stage in sorted(stages):
        lines += ["", f"[stages.{stage}]"]
        for name, value in sorted(stages[stage].items()):
            text = str(value).lower() if isinstance(value, bool) else json.dumps(value)
            lines.append(f'"{name}" = {text}')
    return "\n".join(lines) + "\n"


def write_stage(path: Path, config: StageConfig, *, if_missing: bool = False) -> bool:
    """Record the stage's current values; with `if_missing`, only a stage not yet in it."""
    stages = read_lock(path)
    if if_missing and config.name in stages:
        return False
    stages[config.name] = locked_values(config)
    path.write_text(render_lock(stages))
    return True
