"""A private Prometheus server for tests: its own config, data folder and loopback port,
scraping and evaluating every second. Started and stopped by its pid, never as a service."""

import json
import shutil
import subprocess
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from streams.devstack.process import free_port, wait_until

RULES = Path(__file__).resolve().parents[2] / "ops" / "prometheus" / "alerts.yml"
JOB = "cdc-replicator"  # the job name alerts.yml's CdcWorkerDown expects


def scaled_rules(target: Path, replace: dict[str, str], for_seconds: int = 1) -> Path:
    """The shipped rules with thresholds swapped (`replace`: text in `expr`) and every `for`
    cut to seconds, so a test sees them fire in seconds, not minutes."""
    rules = yaml.safe_load(RULES.read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            for old, new in replace.items():
                rule["expr"] = rule["expr"].replace(old, new)
            if "for" in rule:
                rule["for"] = f"{for_seconds}s"
    target.write_text(yaml.safe_dump(rules))
    return target


class PrometheusServer:
    def __init__(self, folder: Path, rules: Path, targets: list[str]) -> None:
        self.folder = folder
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(rules)],
            "scrape_configs": [{"job_name": JOB, "static_configs": [{"targets": targets}]}],
        }
        self.config = folder / "prometheus.yml"
        self.config.write_text(yaml.safe_dump(config))
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> "PrometheusServer":
        binary = shutil.which("prometheus")
        assert binary, "prometheus is missing: `make test` installs it (apt-get install prometheus)"
        self.log = self.folder / "prometheus.log"
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [
                    binary,
                    f"--config.file={self.config}",
                    f"--storage.tsdb.path={self.folder / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        assert wait_until(self._ready, 30), self.log.read_text()[-2000:]
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as response:  # noqa: S310
                return bool(response.status == 200)
        except OSError:
            return False

    def api(self, path: str, **params: str) -> Any:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        with urllib.request.urlopen(f"{self.url}/api/v1/{path}{query}", timeout=5) as response:  # noqa: S310
            body = json.loads(response.read())
        assert body["status"] == "success", body
        return body["data"]

    def firing(self, alertname: str) -> list[dict[str, str]]:
        """The labels of each firing alert of that name."""
        alerts = self.api("alerts")["alerts"]
        return [
            a["labels"]
            for a in alerts
            if a["labels"]["alertname"] == alertname and a["state"] == "firing"
        ]

    def value(self, query: str) -> list[tuple[dict[str, str], float]]:
        result = self.api("query", query=query)["result"]
        return [(r["metric"], float(r["value"][1])) for r in result]
