"""A snapshot's progress as Prometheus metrics, on `snapshot --metrics-port N`: a long backfill
shows up on the dashboard that shows the lag it creates.

Served from a thread (prometheus_client's server), so a busy snapshot loop never delays a
scrape. The values are those of the progress bar: counts from the parts' checkpoints (a
resumed run includes what earlier runs published), the rate of this run, the ETA from the
source's estimate when it has one.
"""

from collections.abc import Mapping
from threading import Thread
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Gauge, start_http_server

from streams.snapshot.run import SnapshotSummary
from streams.worker.startup import ensure_port_free

PartCounts = Mapping[str, Mapping[str, int]]  # "K/N" -> {"published": .., "problems": ..}


class SnapshotMetrics:
    def __init__(self, source: str, total: int | None) -> None:
        self.source = source
        self.total = total
        self.registry = reg = CollectorRegistry()
        self.items = Gauge(
            "cdc_snapshot_items", "Items done, by part and outcome (published or problems)",
            ["source", "part", "outcome"], registry=reg,
        )  # fmt: skip
        self.rate = Gauge(
            "cdc_snapshot_items_per_second", "Items published per second in this run",
            ["source"], registry=reg,
        )  # fmt: skip
        self.estimate = Gauge(
            "cdc_snapshot_items_estimated", "The source's estimate of its items (all parts)",
            ["source"], registry=reg,
        )  # fmt: skip
        self.eta = Gauge(
            "cdc_snapshot_eta_seconds", "Seconds left at this run's rate, from the estimate",
            ["source"], registry=reg,
        )  # fmt: skip
        self.done = Gauge(
            "cdc_snapshot_done", "1 once every part has finished", ["source"], registry=reg
        )
        if total:
            self.estimate.labels(source).set(total)
        self.done.labels(source).set(0)
        self._server: tuple[WSGIServer, Thread] | None = None

    def serve(self, host: str, port: int) -> None:
        ensure_port_free(host, port, "--metrics-port")  # one line, not a traceback
        self._server = start_http_server(port, addr=host, registry=self.registry)

    def update(self, summary: SnapshotSummary, parts: PartCounts) -> None:
        for part, counts in parts.items():
            for outcome in ("published", "problems"):
                self.items.labels(self.source, part, outcome).set(counts.get(outcome, 0))
        self.rate.labels(self.source).set(summary.rate)
        if self.total and summary.rate:
            done = summary.counts["published"] + summary.counts["problems"]
            self.eta.labels(self.source).set(max(self.total - done, 0) / summary.rate)

    def finished(self) -> None:
        self.done.labels(self.source).set(1)
        self.eta.labels(self.source).set(0)

    def close(self) -> None:
        if self._server is not None:
            server, thread = self._server
            server.shutdown()
            server.server_close()
            thread.join(5)
