"""The worker's web views (Faust web, 127.0.0.1 by default): /metrics, /stats, /lag, /dashboard."""

import time
from importlib.resources import files

import faust
from faust.web import Request, Response, View
from prometheus_client import CONTENT_TYPE_LATEST

from streams.kafka import Kafka
from streams.lag import fetch_lag_when_ready
from streams.metrics import ReplicationMetrics
from streams.settings import Settings

DASHBOARD = files("streams").joinpath("dashboard.html").read_text()
LAG_REFRESH_SECONDS = 5.0
# aiohttp refuses a charset inside content_type; the exposition format is UTF-8 by definition.
EXPOSITION_TYPE = "; ".join(
    p for p in CONTENT_TYPE_LATEST.split("; ") if not p.startswith("charset")
)


def add_views(app: faust.App, metrics: ReplicationMetrics, settings: Settings, group: str) -> None:
    kafka = Kafka.of(settings)  # once: with SSL, building it reads the CA file

    @app.page("/metrics")
    async def prometheus(self: View, request: Request) -> Response:
        return self.bytes(metrics.exposition(), content_type=EXPOSITION_TYPE)

    @app.page("/stats")
    async def stats(self: View, request: Request) -> Response:
        return self.json(metrics.stats() | {"group": group, "topic": settings.topic})

    @app.page("/lag")
    async def lag(self: View, request: Request) -> Response:
        return self.json({"group": group, "topic": settings.topic, "partitions": metrics.lag})

    @app.page("/dashboard")
    async def dashboard(self: View, request: Request) -> Response:
        return self.html(DASHBOARD)

    @app.timer(LAG_REFRESH_SECONDS)
    async def refresh_lag() -> None:
        await _refresh_lag(metrics, kafka, group, settings.topic)


async def _refresh_lag(metrics: ReplicationMetrics, kafka: Kafka, group: str, topic: str) -> None:
    partitions = await fetch_lag_when_ready(kafka, group, topic, with_times=True)
    if partitions:
        metrics.set_lag(partitions, int(time.time() * 1000))
