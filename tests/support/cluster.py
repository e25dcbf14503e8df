"""A local 3-master Redis Cluster for tests: redis-server x3 plus `redis-cli --cluster create`."""

import random
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from streams.devstack.process import ManagedProcess, port_open, wait_until

# Client and bus ports both below Linux's ephemeral range (32768-60999): the default bus
# port (port + 10000) landed in it, and an outgoing connection took it once in CI.
PORT_RANGE = (20_000, 32_000)
START_ATTEMPTS = 5


def _free_port_pair(rng: random.Random) -> tuple[int, int]:
    while True:
        port, bus = rng.sample(range(*PORT_RANGE), 2)
        if not port_open(port) and not port_open(bus):
            return port, bus


def _start_node(n: int, workdir: Path, rng: random.Random) -> tuple[ManagedProcess, int]:
    """Start one cluster node; a port taken between the check and the bind means new ports."""
    for attempt in range(START_ATTEMPTS):
        port, bus = _free_port_pair(rng)
        folder = workdir / f"node-{port}"
        folder.mkdir(parents=True)
        argv = [
            "redis-server", "--port", str(port), "--cluster-port", str(bus),
            "--bind", "127.0.0.1", "--cluster-enabled", "yes",
            "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "5000",
            "--save", "", "--appendonly", "no", "--dir", str(folder),
        ]  # fmt: skip
        node = ManagedProcess(f"cluster-{n}-{attempt}", argv, workdir, env={"LC_ALL": "C"})
        node.start()
        if wait_until(lambda: port_open(port) or node.pid() is None, 20) and port_open(port):  # noqa: B023
            return node, port
        node.stop()
    raise AssertionError(f"cluster node {n} never started:\n{node.log_tail()}")


@contextmanager
def redis_cluster(workdir: Path, masters: int = 3) -> Iterator[str]:
    """Yield a `redis+cluster://` URL; every node is stopped on exit."""
    rng = random.Random()
    nodes: list[ManagedProcess] = []
    ports: list[int] = []
    try:
        for n in range(masters):
            node, port = _start_node(n, workdir, rng)
            nodes.append(node)
            ports.append(port)
        addresses = [f"127.0.0.1:{p}" for p in ports]
        create = [
            "redis-cli",
            "--cluster",
            "create",
            *addresses,
            "--cluster-replicas",
            "0",
            "--cluster-yes",
        ]
        subprocess.run(create, check=True, capture_output=True, timeout=60)
        assert wait_until(lambda: all(_cluster_ok(p) for p in ports), 30), "cluster never became ok"
        yield f"redis+cluster://127.0.0.1:{ports[0]}/0"
    finally:
        for node in nodes:
            node.stop()


def _cluster_ok(port: int) -> bool:
    info = subprocess.run(
        ["redis-cli", "-p", str(port), "cluster", "info"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    return "cluster_state:ok" in info
