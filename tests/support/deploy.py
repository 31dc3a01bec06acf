"""ECS's order for replacing a task behind an ALB, played on the local stand-ins.

What ECS does when a service stops a task that sits in a target group (docs/reliability.md
cites AWS's pages), and what the stand-in does at each step:

1. ``DEACTIVATING``: the task is deregistered. The ALB routes no new connection to it
   (sticky ones neither) and keeps the open ones; ``DescribeTargetHealth`` says
   ``draining``. Here: HAProxy puts the relay in maintenance, the ELB stand-in answers
   ``draining`` for its target.
2. The deregistration delay. It ends early once no connection to the target is left open
   (ELB completes the deregistration then); otherwise the ALB closes what is still open.
   Here: HAProxy's open sessions to the relay are polled; at the deadline they are shut.
3. ``STOPPING``: SIGTERM, SIGKILL after ``stopTimeout``; the metadata endpoint's
   ``DesiredStatus`` turns ``STOPPED`` now. Here: the same to the relay process.

A new task is started, passes its health checks and enters rotation before an old one is
stopped (``minimumHealthyPercent`` 100).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import time
from dataclasses import dataclass

from harness.balancer import HAProxy
from harness.ecs import EcsStandIn
from harness.polling import wait_for
from harness.relay import RelayProcess

POLL_SECONDS = 0.1


@dataclass(frozen=True)
class TaskStop:
    name: str
    connections_at_deregistration: int
    cut_by_balancer: int  # connections still open when the deregistration delay ended
    deregistration_s: float  # deregistration to its completion (early or at the delay)
    exit_s: float  # SIGTERM to exit
    exit_code: int | None


class EcsService:
    """Relays named like the balancer's servers; `replace` swaps one for another, ECS's way."""

    def __init__(
        self,
        balancer: HAProxy,
        relays: dict[str, RelayProcess],
        *,
        deregistration_delay: float,
        stop_timeout: float,
        ecs: EcsStandIn | None = None,
    ) -> None:
        self.balancer = balancer
        self.relays = relays
        self.deregistration_delay = deregistration_delay
        self.stop_timeout = stop_timeout
        self.ecs = ecs
        self.stops: list[TaskStop] = []

    async def start_task(self, name: str, timeout: float = 60) -> None:
        await asyncio.to_thread(self.relays[name].start)
        self.balancer.start_routing(name)
        await wait_for(
            lambda: self.balancer.server_states()[name] == "UP", timeout, f"{name} UP", POLL_SECONDS
        )

    async def stop_task(self, name: str) -> TaskStop:
        relay = self.relays[name]
        assert relay.process is not None
        connections = self.balancer.server_sessions(name)
        started = time.monotonic()
        self.balancer.stop_routing(name)
        if self.ecs is not None:
            self.ecs.set_state("127.0.0.1", relay.port, "draining")
        with contextlib.suppress(TimeoutError):  # the delay ran out: the cut follows
            await wait_for(
                lambda: self.balancer.server_sessions(name) == 0,
                self.deregistration_delay,
                f"no connection left to {name}",
                POLL_SECONDS,
            )
        cut = self.balancer.server_sessions(name)
        self.balancer.cut(name)
        deregistration_s = time.monotonic() - started
        if self.ecs is not None:
            self.ecs.set_state("127.0.0.1", relay.port, "unused")
            self.ecs.set_desired_status(name, "STOPPED")
        signalled = time.monotonic()
        relay.process.send_signal(signal.SIGTERM)
        try:
            exit_code = await asyncio.to_thread(relay.process.wait, self.stop_timeout)
        except subprocess.TimeoutExpired:
            relay.process.kill()  # what ECS does after stopTimeout
            await asyncio.to_thread(relay.process.wait, 10)
            exit_code = None
        stop = TaskStop(
            name=name,
            connections_at_deregistration=connections,
            cut_by_balancer=cut,
            deregistration_s=deregistration_s,
            exit_s=time.monotonic() - signalled,
            exit_code=exit_code,
        )
        self.stops.append(stop)
        return stop

    async def replace(self, old: str, new: str) -> TaskStop:
        """`maximumPercent` one task above the count: one replacement at a time."""
        await self.start_task(new)
        return await self.stop_task(old)

    async def replace_all(self, old: tuple[str, ...], new: tuple[str, ...]) -> list[TaskStop]:
        """`maximumPercent` 200: every replacement first, then every old task stops at once."""
        await asyncio.gather(*(self.start_task(name) for name in new))
        return list(await asyncio.gather(*(self.stop_task(name) for name in old)))
