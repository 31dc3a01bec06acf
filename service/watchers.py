"""The relay's background tasks, each started by the lifespan when its settings ask for it:
the event-loop lag probe, CloudWatch EMF metrics, attachment scan verdicts from SQS, and
the load balancer's deregistration of this task (which starts a drain)."""

from __future__ import annotations

import asyncio
import logging
import socket

import botocore.session

from .attachments import Attachments
from .attachments.scan_queue import consume_scan_results
from .broker import Broker
from .config import Settings
from .deregistration import DeregistrationWatcher
from .drain import Drain
from .hub import Hub
from .observability.emf import EmfReporter, task_id
from .observability.metrics import RelayMetrics, watch_loop_lag

log = logging.getLogger("service.app")


async def start_watchers(
    settings: Settings,
    hub: Hub,
    metrics: RelayMetrics,
    broker: Broker,
    attachments: Attachments,
    drain: Drain,
) -> list[asyncio.Task[None]]:
    """Start every background task the settings ask for; the caller cancels them."""
    loop = asyncio.get_running_loop()
    watchers = [loop.create_task(watch_loop_lag(metrics), name="loop-lag")]
    if settings.metrics_emf_interval > 0:
        reporter = await _emf_reporter(settings, hub, metrics)
        emf = reporter.run(settings.metrics_emf_interval)
        watchers.append(loop.create_task(emf, name="emf"))
    if settings.attachment_bucket and settings.attachment_scan_queue_url:
        sqs = botocore.session.get_session().create_client("sqs")
        scans = consume_scan_results(attachments, broker, sqs, settings.attachment_scan_queue_url)
        watchers.append(loop.create_task(scans, name="scan-results"))
    if settings.drain_target_group_arn and settings.ecs_metadata_uri:
        watcher = DeregistrationWatcher(
            target_group_arn=settings.drain_target_group_arn,
            metadata_uri=settings.ecs_metadata_uri,
            port=settings.port,
            poll_seconds=settings.drain_poll_seconds,
            # The balancer holds the connections for its deregistration delay: use it all.
            on_draining=lambda: drain.start("deregistration", settings.drain_seconds),
        )
        watchers.append(loop.create_task(watcher.run(), name="deregistration"))
    return watchers


async def _emf_reporter(settings: Settings, hub: Hub, metrics: RelayMetrics) -> EmfReporter:
    task = settings.metrics_task_id
    if not task:
        metadata_uri, hostname = settings.ecs_metadata_uri, socket.gethostname()
        task = await asyncio.to_thread(task_id, metadata_uri, hostname)
    log.info(
        "publishing CloudWatch metrics (EMF) on stdout",
        extra={
            "namespace": settings.metrics_namespace,
            "service": settings.metrics_service_name,
            "task": task,
            "interval": settings.metrics_emf_interval,
        },
    )
    return EmfReporter(
        hub,
        metrics,
        namespace=settings.metrics_namespace,
        service_name=settings.metrics_service_name,
        task=task,
    )
