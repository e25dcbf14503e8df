"""The worker's web views (Faust web, 127.0.0.1 by default): /metrics, /stats, /lag, /dashboard,
and /health and /ready for supervisors and orchestrators."""

import ipaddress
import logging
import time
from collections import defaultdict, deque
from importlib.resources import files
from typing import Any

import faust
from aiokafka.errors import KafkaError
from faust.web import Request, Response, View
from prometheus_client import CONTENT_TYPE_LATEST

from streams.kafka.clients import Kafka
from streams.kafka.lag import (
    GroupSample,
    Status,
    consumed_topics,
    fetch_lag_when_ready,
    group_members,
    group_status,
    worst_status,
)
from streams.settings_parts import IntakeSettings, WorkerSettings
from streams.worker.health import Health
from streams.worker.metrics import ReplicationMetrics

log = logging.getLogger(__name__)

DASHBOARD = files("streams.worker").joinpath("dashboard.html").read_text()
STATUS_WINDOW = 6  # lag samples the group's status is judged over (30 s at the default rate)
# aiohttp refuses a charset inside content_type; the exposition format is UTF-8 by definition.
EXPOSITION_TYPE = "; ".join(
    p for p in CONTENT_TYPE_LATEST.split("; ") if not p.startswith("charset")
)


def web_options(worker: WorkerSettings) -> dict[str, Any]:
    """faust.App's web settings: our views only. Faust's own pages are off: /router/ and /table/
    answer 500 with a logged traceback for any unknown key (a log flood for anyone who can
    reach the port), and its statistics pages expose internals. "/" stays Faust's static
    {"status": "OK"}."""
    if worker.web_enabled and not is_loopback(worker.web_host):
        log.warning(
            "CDC_WEB_HOST=%s: the web server listens beyond this machine, and /metrics, /stats, "
            "/lag, /health, /ready and /dashboard have no authentication (firewall it, or put a "
            "proxy in front)",
            worker.web_host,
        )
    return {
        "web_enabled": worker.web_enabled,
        "web_bind": worker.web_host,
        "web_host": worker.web_host,
        "web_port": worker.web_port,
        "web_router_enabled": False,
        "web_tables_enabled": False,
        "web_stats_enabled": False,
        "web_graph_enabled": False,
        "web_metrics_enabled": False,
    }


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name, or "" (every interface): assume it is reachable
        return False


def add_views(
    app: faust.App,
    metrics: ReplicationMetrics,
    health: Health,
    settings: IntakeSettings,
    groups: dict[str, str],
) -> None:
    """`groups`: each store's consumer group; /lag, /metrics and the dashboard show each, on
    the topics the intake reads."""
    topic = settings.changes.name
    kafka = Kafka.of(settings.kafka)  # once: with SSL, building it reads the CA file
    # Per (store, topic): each topic's partitions are judged on their own.
    samples: defaultdict[tuple[str, str], deque[GroupSample]] = defaultdict(
        lambda: deque(maxlen=STATUS_WINDOW)
    )

    @app.page("/health")
    async def alive(self: View, request: Request) -> Response:
        verdict = health.liveness()
        return self.json(verdict.body(), status=verdict.http_status)

    @app.page("/ready")
    async def ready(self: View, request: Request) -> Response:
        verdict = health.readiness()
        body = verdict.body(partitions=health.assigned)
        return self.json(body, status=verdict.http_status)

    @app.page("/metrics")
    async def prometheus(self: View, request: Request) -> Response:
        return self.bytes(metrics.exposition(), content_type=EXPOSITION_TYPE)

    @app.page("/stats")
    async def stats(self: View, request: Request) -> Response:
        return self.json(metrics.stats() | {"groups": groups, "topic": topic})

    @app.page("/lag")
    async def lag(self: View, request: Request) -> Response:
        sources = [source.as_json() for source in metrics.sources]
        shown = {"topic": topic, "groups": _lag_by_group(metrics, groups)}
        return self.json(shown | ({"sources": sources} if sources else {}))

    @app.page("/dashboard")
    async def dashboard(self: View, request: Request) -> Response:
        return self.html(DASHBOARD)

    @app.timer(settings.worker.lag_refresh_seconds)
    async def refresh_lag() -> None:
        topics = await consumed_topics(kafka, settings.tables, topic)
        for store, group in groups.items():
            statuses = [
                await _refresh_lag(
                    metrics, kafka, store, group, topic, samples=samples[(store, topic)]
                )
                for topic in topics
            ]
            known = [status for status in statuses if status is not None]
            if known:  # the worst topic's status is the group's
                metrics.set_status(store, group, worst_status(known))


def _lag_by_group(metrics: ReplicationMetrics, groups: dict[str, str]) -> list[dict[str, Any]]:
    shown = []
    for store, group in groups.items():
        partitions = metrics.store_lag(store)
        lag = sum(p["lag"] for p in partitions)
        status = metrics.group_status.get(store)
        shown.append({"store": store, "group": group, "lag": lag, "status": status,
                      "partitions": partitions})  # fmt: skip
    return shown


async def _refresh_lag(
    metrics: ReplicationMetrics,
    kafka: Kafka,
    store: str,
    group: str,
    topic: str,
    *,
    samples: "deque[GroupSample]",
) -> Status | None:
    """The group's lag on `topic`, and its status there over the last samples (the rules
    `cdc-replicator lag` applies); None while it cannot be judged."""
    partitions = await fetch_lag_when_ready(kafka, group, topic, with_times=True)
    if not partitions:
        return None
    now_ms = int(time.time() * 1000)
    metrics.set_lag(store, group, topic, partitions, now_ms)
    try:
        members = await group_members(kafka, group, topic)
    except KafkaError as exc:  # the coordinator moving: judge the status at the next refresh
        if not exc.retriable:
            raise
        return None
    samples.append(GroupSample(now_ms, members, partitions))
    return group_status(list(samples))
