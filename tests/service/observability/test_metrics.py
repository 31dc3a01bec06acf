"""Metrics: counts that match the traffic a test drives, Prometheus text, EMF lines."""

from __future__ import annotations

import asyncio
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from contract.metrics import DEFINITIONS, EMF_METRICS, PER_TASK_METRICS
from harness.client import ChatClient
from harness.polling import wait_until
from harness.redis_server import RedisServer
from harness.relay import RelayProcess
from service.broker import MemoryBrokerSettings, memory_backend
from service.hub import Hub
from service.observability.emf import EmfReporter
from service.observability.metrics import (
    FANOUT_BOUNDS_MS,
    Histogram,
    PrometheusExposition,
    RelayMetrics,
    quantile,
)

pytestmark = pytest.mark.anyio


def scrape(relay: RelayProcess) -> dict[str, float]:
    """Every sample of ``/metrics`` as ``name{label="v",...}`` -> value, parsed by
    prometheus_client's own parser (so the text is valid exposition format)."""
    with urllib.request.urlopen(f"{relay.http}/metrics", timeout=5) as response:
        assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
        text = response.read().decode()
    samples: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return samples


def emf_lines(output: str) -> list[dict]:
    return [d for d in map(_json, output.splitlines()) if d is not None and "_aws" in d]


def _json(line: str) -> dict | None:
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


@pytest.fixture
def emf_relay() -> Iterator[RelayProcess]:
    env = {
        "METRICS_EMF_INTERVAL": "1",
        "METRICS_NAMESPACE": "ChatRelayTest",
        "METRICS_SERVICE_NAME": "chat-relay-test",
        "METRICS_TASK_ID": "task-1",
    }
    with RelayProcess(env=env) as relay:
        yield relay


async def test_counts_match_the_traffic(relay: RelayProcess) -> None:
    before = scrape(relay)
    assert before["chat_relay_connections"] == 0
    clients = [await ChatClient.connect(relay.ws) for _ in range(3)]
    try:
        for client in clients:
            await client.join("counted")
        for n in range(5):
            await clients[n % 3].say(f"message {n}")
        for client in clients:
            for _ in range(5):
                await client.recv_type("messages")
        during = scrape(relay)
    finally:
        for client in clients:
            await client.close()
    assert during["chat_relay_connections"] == 3
    assert during["chat_relay_rooms"] == 1
    assert during["chat_relay_connections_opened_total"] == 3
    assert during["chat_relay_joins_total"] == 3
    assert during["chat_relay_messages_received_total"] == 5
    assert during["chat_relay_messages_fanned_out_total"] == 5
    assert during['chat_relay_deliveries_total{kind="message"}'] == 15
    # member_add: the 2nd joiner's reaches 1 client, the 3rd's reaches 2.
    assert during['chat_relay_deliveries_total{kind="presence"}'] == 3
    assert during["chat_relay_fanout_latency_seconds_count"] == 5
    assert during['chat_relay_fanout_latency_seconds_bucket{le="+Inf"}'] == 5
    assert during['chat_relay_fanout_latency_seconds_bucket{le="1.0"}'] == 5  # loopback
    assert during["chat_relay_broker_ready"] == 1
    assert during["chat_relay_redis_reconnects_total"] == 0
    assert during["chat_relay_event_loop_lag_seconds_count"] >= 0
    assert "process_resident_memory_bytes" in during

    after = wait_until(
        lambda: (s := scrape(relay))["chat_relay_connections"] == 0 and s, 10, what="closes"
    )
    assert after['chat_relay_connections_closed_total{code="1000"}'] == 3
    assert after["chat_relay_rooms"] == 0


async def test_a_retried_send_counts_once(relay: RelayProcess) -> None:
    async with await ChatClient.connect(relay.ws) as client:
        await client.join("retry")
        first = await client.say("once", ref="r1")
        again = await client.say("once", ref="r1")
        assert first["id"] == again["id"]
    assert scrape(relay)["chat_relay_messages_received_total"] == 1


async def test_rate_limit_hits_and_refused_origins_are_counted() -> None:
    env = {"RATE_LIMIT": "1", "RATE_BURST": "2"}
    with RelayProcess(env=env) as relay:
        async with await ChatClient.connect(relay.ws) as client:
            for _ in range(6):
                await client.send({"type": "ping"})
            await client.recv_type("error")
        with pytest.raises(Exception):  # noqa: B017, PT011 - the handshake fails with 403
            await ChatClient.connect(relay.ws, origin="https://evil.example")
        samples = scrape(relay)
    assert samples["chat_relay_rate_limited_frames_total"] >= 3
    assert samples['chat_relay_connections_refused_total{reason="origin"}'] == 1


def test_metrics_endpoint_can_be_turned_off() -> None:
    with RelayProcess(env={"METRICS_ENDPOINT": "false"}) as relay:
        with pytest.raises(urllib.error.HTTPError) as error:
            urllib.request.urlopen(f"{relay.http}/metrics", timeout=5)
        assert error.value.code == 404


async def test_emf_lines_carry_the_declared_metrics(emf_relay: RelayProcess) -> None:
    async with (
        await ChatClient.connect(emf_relay.ws) as alice,
        await ChatClient.connect(emf_relay.ws) as bob,
    ):
        await alice.join("emf")
        await bob.join("emf")
        for n in range(4):
            await alice.say(f"emf {n}")
        for _ in range(4):
            await bob.recv_type("messages")
        lines = wait_until(
            lambda: [d for d in emf_lines(emf_relay.output()) if d["Connections"] == 2],
            10,
            what="an EMF line with both clients connected",
        )
    line = lines[-1]
    directives = line["_aws"]["CloudWatchMetrics"]
    assert isinstance(line["_aws"]["Timestamp"], int)
    assert abs(line["_aws"]["Timestamp"] / 1000 - time.time()) < 30
    assert [d["Dimensions"] for d in directives] == [[["ServiceName"]], [["ServiceName", "TaskId"]]]
    assert {d["Namespace"] for d in directives} == {"ChatRelayTest"}
    assert line["ServiceName"] == "chat-relay-test"
    assert line["TaskId"] == "task-1"
    for directive in directives:
        for metric in directive["Metrics"]:
            assert set(metric) == {"Name", "Unit"}
            assert isinstance(line[metric["Name"]], int | float), metric  # a value per metric
    service_metrics = {m["Name"] for m in directives[0]["Metrics"]}
    assert {
        "Connections",
        "ConnectionsOpened",
        "Joins",
        "MessagesIn",
        "MessagesOut",
        "Deliveries",
        "SlowConsumerCloses",
        "RateLimitedFrames",
        "RedisReconnects",
        "ProbeFailures",
        "BackfilledMessages",
        "BrokerReady",
    } <= service_metrics
    # Counters are per-interval deltas: summed over every line they give the totals.
    every = emf_lines(emf_relay.output())
    assert sum(d["MessagesIn"] for d in every) == 4
    assert sum(d["Deliveries"] for d in every) == 8
    assert sum(d["Joins"] for d in every) == 2
    with_latency = [d for d in every if "FanoutLatencyP99" in d]
    assert with_latency, "the interval with messages reports fan-out latency"
    assert all(0 <= d["FanoutLatencyP99"] <= d["FanoutLatencyMax"] for d in with_latency)
    assert "FanoutLatencyP99" in {
        m["Name"] for m in with_latency[0]["_aws"]["CloudWatchMetrics"][1]["Metrics"]
    }


@pytest.mark.redis
async def test_redis_recovery_is_counted() -> None:
    """A Redis restart: the subscriber reconnects, backfills, and both show in /metrics."""
    with RedisServer() as redis_server, RelayProcess(env={"REDIS_URL": redis_server.url}) as relay:
        async with await ChatClient.connect(relay.ws) as client:
            await client.join("recovering")
            await client.say("before the restart")
            assert scrape(relay)["chat_relay_redis_reconnects_total"] == 0
            redis_server.stop()
            wait_until(lambda: scrape(relay)["chat_relay_broker_ready"] == 0, 10, what="not ready")
            await asyncio.sleep(1.5)  # an outage, not a blip: the subscriber retries meanwhile
            redis_server.start()
            samples = wait_until(
                lambda: (
                    (s := scrape(relay))["chat_relay_redis_reconnects_total"] >= 1
                    and s["chat_relay_broker_ready"] == 1
                    and s
                ),
                20,
                what="the subscriber reconnected",
            )
    assert samples["chat_relay_redis_probe_failures_total"] >= 0
    assert samples["chat_relay_backfilled_messages_total"] >= 0


async def test_emf_is_off_by_default(relay: RelayProcess) -> None:
    async with await ChatClient.connect(relay.ws) as client:
        await client.join()
        await asyncio.sleep(1.2)
    assert emf_lines(relay.output()) == []


def test_quantile_interpolates_inside_a_bucket_and_caps_at_the_max() -> None:
    histogram = Histogram(FANOUT_BOUNDS_MS)
    for value in [1.5] * 98 + [40, 45]:
        histogram.observe(value)
    counts = histogram.counts
    assert 1 < quantile(histogram.bounds, counts, 0.5, histogram.max) <= 2
    assert 35 < quantile(histogram.bounds, counts, 0.99, histogram.max) <= 45
    assert quantile(histogram.bounds, [0] * len(counts), 0.99, 0) is None
    histogram.observe(99_000)  # beyond every bound: +Inf, capped by the max
    assert quantile(histogram.bounds, histogram.counts, 1.0, histogram.max) == 99_000


def test_emf_reporter_sends_deltas_and_leaves_out_empty_latency() -> None:
    metrics = RelayMetrics()
    hub = Hub(memory_backend(MemoryBrokerSettings(history_max_len=10)), metrics)
    written: list[str] = []
    reporter = EmfReporter(
        hub, metrics, namespace="N", service_name="s", task="t", write=written.append
    )
    metrics.messages_in += 3
    metrics.fanout_latency.observe(12.0)
    reporter.emit()
    metrics.messages_in += 1
    reporter.emit()
    first, second = map(orjson.loads, written)
    assert (first["MessagesIn"], second["MessagesIn"]) == (3, 1)
    assert first["FanoutLatencyMax"] == 12.0
    assert "FanoutLatencyP99" not in second
    names = {m["Name"] for m in second["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert "FanoutLatencyP99" not in names


def test_every_table_entry_appears_in_both_outputs() -> None:
    """One definition table: each entry is a Prometheus family and its EMF metrics are in
    the line, with the table's kind, unit and per-task set, read from the same value."""
    metrics = RelayMetrics()
    hub = Hub(memory_backend(MemoryBrokerSettings(history_max_len=10)), metrics)
    written: list[str] = []
    reporter = EmfReporter(
        hub, metrics, namespace="N", service_name="s", task="t", write=written.append
    )
    metrics.closed(1000)
    metrics.closed(1006)
    metrics.refuse("origin")
    metrics.deliveries += 3
    metrics.presence_deliveries += 1
    metrics.fanout_latency.observe(12.0)
    metrics.loop_lag.observe(1.0)
    text = PrometheusExposition(hub, metrics).render().decode()
    exposed = {family.name: family for family in text_string_to_metric_families(text)}
    for definition in DEFINITIONS:
        family = exposed[definition.prometheus.removesuffix("_total")]
        assert (family.type, family.documentation) == (definition.kind, definition.help)
        for sample in family.samples:
            assert set(sample.labels) <= {*definition.labels, "le"}
    reporter.emit()
    line = orjson.loads(written[0])
    service_set, task_set = line["_aws"]["CloudWatchMetrics"]
    sent = [(m["Name"], m["Unit"]) for m in service_set["Metrics"]]
    assert sent == [(e.name, e.unit) for e in EMF_METRICS]
    assert [m["Name"] for m in task_set["Metrics"]] == [e.name for e in PER_TASK_METRICS]
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in exposed.values()
        for s in family.samples
    }
    assert line["Deliveries"] == samples[("chat_relay_deliveries_total", (("kind", "message"),))]
    assert line["ConnectionsClosed"] == 2
    ready = int(hub.snapshot().broker.ready)
    assert line["BrokerReady"] == samples[("chat_relay_broker_ready", ())] == ready
