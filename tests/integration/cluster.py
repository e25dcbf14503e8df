"""A local 3-master Redis Cluster for tests: redis-server x3 plus `redis-cli --cluster create`."""

import random
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from streams.stack.process import ManagedProcess, port_open, wait_until

BUS_OFFSET = 10_000  # Redis Cluster's bus listens on port + 10000


def _free_node_port(rng: random.Random) -> int:
    while True:
        port = rng.randrange(20_000, 30_000)
        if not port_open(port) and not port_open(port + BUS_OFFSET):
            return port


@contextmanager
def redis_cluster(workdir: Path, masters: int = 3) -> Iterator[str]:
    """Yield a `redis+cluster://` URL; every node is stopped on exit."""
    rng = random.Random()
    nodes: list[ManagedProcess] = []
    ports: list[int] = []
    try:
        for n in range(masters):
            port = _free_node_port(rng)
            folder = workdir / f"node-{port}"
            folder.mkdir(parents=True)
            argv = [
                "redis-server", "--port", str(port), "--bind", "127.0.0.1",
                "--cluster-enabled", "yes",
                "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "5000",
                "--save", "", "--appendonly", "no", "--dir", str(folder),
            ]  # fmt: skip
            node = ManagedProcess(f"cluster-{n}", argv, workdir, env={"LC_ALL": "C"})
            node.start()
            nodes.append(node)
            ports.append(port)
        for node, port in zip(nodes, ports, strict=True):
            # a port another process took shows in the node's log
            assert wait_until(lambda: port_open(port), 20), node.log_tail()  # noqa: B023
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
