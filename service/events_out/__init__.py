"""Events out: the chat's events to an EventBridge bus (EVENT_BUS_NAME; docs/events.md).

``create_chat_events(settings, metrics)`` gives the relay its ``ChatEvents``: with no bus
configured, one that does nothing; else one whose outbox batches PutEvents in the
background. Callers use ``ChatEvents.emit`` (contract.events names the types and fields).
"""

from __future__ import annotations

from ..config import Settings
from ..observability.counters import RelayMetrics
from .bus import EventBridgeBus
from .chat_events import ChatEvents, MemberLike, iso_time
from .outbox import WORKERS, Outbox

__all__ = ["ChatEvents", "EventBridgeBus", "MemberLike", "Outbox", "create_chat_events", "iso_time"]


def create_chat_events(settings: Settings, metrics: RelayMetrics) -> ChatEvents:
    bus = settings.event_bus_name
    if bus is None:
        return ChatEvents()
    outbox = Outbox(EventBridgeBus(bus, threads=WORKERS), settings.event_buffer_size, metrics)
    return ChatEvents(outbox, bus)
