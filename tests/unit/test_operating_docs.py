"""The "Operating it" chapter (docs/operating.md) says what the worker and a snapshot really
export, and its scrape config is one Prometheus accepts (`promtool check config`)."""

import re
from collections import Counter
from pathlib import Path

from prometheus_client import CollectorRegistry

from connectors.store import WriteOutcome
from streams.kafka.connector_sources import SourceState
from streams.kafka.lag import PartitionLag, Status
from streams.pipeline.replicator import BatchReport
from streams.snapshot.metrics import SnapshotMetrics
from streams.snapshot.run import SnapshotSummary
from streams.worker.metrics import ReplicationMetrics
from tests.unit.test_alert_rules import RULES, promtool

ROOT = Path(__file__).resolve().parents[2]
OPERATING = ROOT.joinpath("docs", "operating.md").read_text()


def exported(registry: CollectorRegistry) -> dict[str, set[str]]:
    """Each family as a scrape names it (counters with `_total`), with its labels."""
    families = {}
    for family in registry.collect():
        name = f"{family.name}_total" if family.type == "counter" else family.name
        labels = {label for s in family.samples for label in s.labels if label != "le"}
        families[name] = labels
    return families


def worker_metrics() -> CollectorRegistry:
    """A worker's metrics with every family showing its series."""
    metrics = ReplicationMetrics(["redis"])
    metrics.owned["redis"] = {("changes", 0)}
    metrics.observe(BatchReport(1, 1, {"redis": WriteOutcome(applied=1)}))
    metrics.set_lag("redis", "g", "changes", [PartitionLag(0, 1, 2)], now_ms=0)
    metrics.set_status("redis", "g", Status.OK)
    metrics.set_sources([SourceState("app.public.users", ("users",), "RUNNING", "running")])
    return metrics.registry


def documented_table() -> dict[str, set[str]]:
    """The metrics table: `| `name` | `label`, `label` (`value`, ...) | meaning |`."""
    rows = re.findall(r"^\| `(cdc_\w+)` \|([^|]*)\|", OPERATING, re.MULTILINE)
    without_values = {name: re.sub(r"\([^)]*\)", "", cell) for name, cell in rows}
    return {name: set(re.findall(r"`(\w+)`", cell)) for name, cell in without_values.items()}


def test_the_metrics_table_lists_every_family_the_worker_exports_with_its_labels() -> None:
    assert documented_table() == exported(worker_metrics())


def test_the_snapshot_metrics_named_are_those_a_snapshot_exports() -> None:
    metrics = SnapshotMetrics("jsonl", total=10)
    metrics.update(SnapshotSummary(Counter(published=1), seconds=1.0), {"1/1": {"published": 1}})
    named = re.findall(r"`(cdc_snapshot_\w+)\{([^}]*)\}`", OPERATING)
    documented = {name: {label.split("=")[0] for label in ls.split(",")} for name, ls in named}
    assert documented == exported(metrics.registry)


def test_the_scrape_config_for_several_workers_is_valid(tmp_path: Path) -> None:
    config = OPERATING.split("## A scrape config", 1)[1].split("```yaml\n", 1)[1].split("```")[0]
    rules = re.search(r"^  - (\S+)", config, re.MULTILINE)
    assert rules, config
    local = tmp_path / "prometheus.yml"
    local.write_text(config.replace(rules[1], str(RULES / "alerts.yml")))
    checked = promtool("check", "config", str(local))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 1 rule files found" in checked.stdout
