"""Checks of the relay's own settings and of the timings of a task's stop."""

from __future__ import annotations

from contract.settings import ChoiceSetting
from stacks.config.limits import (
    CPU_ARCHITECTURES,
    DRAIN_MARGIN_SECONDS,
    FARGATE_MAX_STOP_TIMEOUT,
    FARGATE_SIZES,
    retention_problems,
)
from stacks.config.model import RelaySettings, StageConfig
from stacks.config.relay_contract import ALL_RELAY_VARIABLES


def relay_problems(c: StageConfig) -> list[str]:
    r = c.relay
    problems = []
    if r.memory_mib not in FARGATE_SIZES.get(r.cpu, ()):
        problems.append(
            f"relay.cpu={r.cpu} with relay.memory_mib={r.memory_mib} is not a Fargate size: "
            f"valid cpu values are {sorted(FARGATE_SIZES)}, each with its memory range."
        )
    if r.min_tasks < 2:
        problems.append(f"relay.min_tasks={r.min_tasks}: run at least 2 tasks across AZs.")
    if r.max_tasks < r.min_tasks:
        problems.append(f"relay.max_tasks={r.max_tasks} is below relay.min_tasks={r.min_tasks}.")
    if not 10 <= r.cpu_target_percent <= 90:
        problems.append(f"relay.cpu_target_percent={r.cpu_target_percent}: use 10 to 90.")
    if not 1 <= r.connections_target_per_task <= r.max_connections:
        problems.append(
            f"relay.connections_target_per_task={r.connections_target_per_task}: use 1 to "
            f"relay.max_connections ({r.max_connections})."
        )
    if r.scale_in_cooldown_seconds < r.scale_out_cooldown_seconds:
        problems.append("relay.scale_in_cooldown_seconds must be at least the scale-out cooldown.")
    # The values the relay itself accepts (log_level's levels, the variables' bounds).
    problems += contract_problems(r)
    problems += retention_problems("relay.log_retention_days", r.log_retention_days)
    if r.cpu_architecture not in CPU_ARCHITECTURES:
        problems.append(
            f'relay.cpu_architecture={r.cpu_architecture!r}: use "arm64" (Graviton) or "x86_64".'
        )
    if not 0 <= r.spot_percent <= 100:
        problems.append(f"relay.spot_percent={r.spot_percent}: use 0 (no Spot) to 100.")
    elif r.spot_percent > 0 and r.cpu_architecture != "x86_64":
        problems.append(
            f"relay.spot_percent={r.spot_percent} with cpu_architecture = "
            f"{r.cpu_architecture!r}: Fargate Spot runs only x86_64 tasks; set "
            'cpu_architecture = "x86_64" or spot_percent = 0.'
        )
    if not 0 <= r.on_demand_base <= r.max_tasks:
        problems.append(
            f"relay.on_demand_base={r.on_demand_base}: use 0 to relay.max_tasks ({r.max_tasks})."
        )
    return problems


def drain_timing_problems(c: StageConfig) -> list[str]:
    """The order of a task's stop, and the one place its timings are checked together.

    ECS deregisters the task (the ALB sends it no new connections and keeps the open ones),
    waits the deregistration delay, cuts what is still open, then sends SIGTERM and, after
    stopTimeout, SIGKILL. The relay notices `draining` within drain_poll_seconds and closes
    its clients with 1012 over drain_seconds, so the delay must hold both plus a margin or
    the ALB cuts clients mid-drain. stopTimeout bounds a SIGTERM-only drain (half of
    drain_seconds for closes, then presence removal and exit). A deploy never goes
    below 100 % running tasks and can start at least one replacement at a time.
    """
    lb, r = c.load_balancer, c.relay
    problems = []
    needed = r.drain_poll_seconds + r.drain_seconds + DRAIN_MARGIN_SECONDS
    if not needed <= lb.deregistration_delay_seconds <= 3600:
        problems.append(
            f"load_balancer.deregistration_delay_seconds={lb.deregistration_delay_seconds}: "
            f"the ALB would cut clients before the relay moved them; use {needed} to 3600 s "
            f"(relay.drain_poll_seconds {r.drain_poll_seconds} + relay.drain_seconds "
            f"{r.drain_seconds} + {DRAIN_MARGIN_SECONDS} s margin), or shorten the drain."
        )
    if not 1 <= r.drain_poll_seconds <= 60:
        problems.append(
            f"relay.drain_poll_seconds={r.drain_poll_seconds}: use 1 to 60 s "
            "(each task calls DescribeTargetHealth once per poll)."
        )
    if not 1 <= r.drain_seconds <= 110:
        problems.append(f"relay.drain_seconds={r.drain_seconds}: use 1 to 110 s.")
    # The relay exits within drain_seconds plus uvicorn's last 30 % of it (service/__main__.py).
    stop_needed = r.drain_seconds + 2 * DRAIN_MARGIN_SECONDS
    if not stop_needed <= r.stop_timeout_seconds <= FARGATE_MAX_STOP_TIMEOUT:
        problems.append(
            f"relay.stop_timeout_seconds={r.stop_timeout_seconds}: a SIGTERM drain needs "
            f"relay.drain_seconds ({r.drain_seconds} s) + {2 * DRAIN_MARGIN_SECONDS} s before "
            f"SIGKILL; use {stop_needed} to Fargate's {FARGATE_MAX_STOP_TIMEOUT} s."
        )
    if r.min_healthy_percent < 100:
        problems.append(
            f"relay.min_healthy_percent={r.min_healthy_percent}: use 100, so a deploy starts "
            "each replacement before it stops an old task and the remaining tasks never "
            "have to hold the stopped ones' clients."
        )
    room = r.min_tasks * r.max_healthy_percent // 100 - r.min_tasks
    if room < 1:
        problems.append(
            f"relay.max_healthy_percent={r.max_healthy_percent}: with relay.min_tasks="
            f"{r.min_tasks} a deploy could start no replacement; use at least "
            f"{-(-100 * (r.min_tasks + 1) // r.min_tasks)} (200 replaces all tasks at once)."
        )
    return problems


def contract_problems(relay: RelaySettings) -> list[str]:
    """Each `relay` value the relay itself would refuse at start (stopping the task), with
    the fix."""
    problems = []
    for field, variable in ALL_RELAY_VARIABLES.items():
        value = getattr(relay, field)
        if variable.accepts(value):
            continue
        if isinstance(variable, ChoiceSetting):
            allowed = ", ".join(variable.choices)
            problems.append(
                f"relay.{field}={value!r}: the relay accepts {allowed} ({variable.name})."
            )
        else:
            problems.append(
                f"relay.{field}={value}: the relay accepts {_number(variable.low)} to "
                f"{_number(variable.high)} ({variable.name}); its default is "
                f"{_number(variable.default)}."
            )
    return problems


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)
