"""`make bench`: the replicator against its ceilings and a peer, side by side, on loopback.

    python -m bench [--runs 3] [--events 200000] [--items 50000] [--dynamodb-events 4000] ...

Starts a Kafka broker, redis-server and moto on free ports of its own (a running stack is never
touched), publishes each workload once, then measures every contender in each run, so ratios
compare figures taken minutes apart, not sessions apart. Prints one table and writes it, with
the machine's description and bench/HISTORY.md, to bench/RESULTS.md.
"""

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench import ceilings, debezium, latency, layouts, legacy_job, ours, peer, report, snapshot
from bench.cpu import CpuMeter, breakdown, totals
from bench.dynamodb_client import ClientRun, boto3_ceiling, client_ceiling
from bench.dynamodb_endpoint import instant_endpoint
from bench.report import Row, check, ratio_of
from bench.workload import MIX, Workload, make_events, publish_workload
from streams.devstack.manager import Stack, private_stack
from streams.settings import Settings

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parent


def main() -> None:
    args = _arguments()
    begin = time.perf_counter()
    with (
        tempfile.TemporaryDirectory() as tmp,
        private_stack(Path(tmp), PROJECT / ".cache") as (base, stack),
    ):
        settings = base.model_copy(update={"stack_dir": tmp})
        meter, cache = _service_meter(stack), PROJECT / ".cache"
        groups: dict[str, Callable[[], list[Row]]] = {
            "redis": lambda: _redis_rows(settings, args, peer.peer_python(cache), meter),
            "layouts": lambda: layouts.redis_rows(settings, args),
            "debezium": lambda: debezium.rows(settings, args, meter),
            "dynamodb": lambda: _dynamodb_rows(settings, args),
            "client": lambda: _dynamodb_client_rows(settings, args),
            "seed-job": lambda: legacy_job.rows(settings, args, cache),
            "latency": lambda: _latency_rows(settings, args),
            "snapshot": lambda: _snapshot_rows(settings, args, Path(tmp), meter),
        }
        chosen = args.only.split(",") if args.only else list(groups)
        rows = [row for name in chosen for row in groups[name]()]
    minutes = (time.perf_counter() - begin) / 60
    text = _results(rows, args, minutes)
    print(text)
    args.out.write_text(text)
    print(f"\nwritten to {args.out}")


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--items", type=int, default=50_000)
    parser.add_argument(
        "--dynamodb-events",
        type=int,
        default=4_000,
        help="the DynamoDB workload (same mix; moto applies a few hundred writes/s)",
    )
    parser.add_argument(
        "--client-items",
        type=int,
        default=20_000,
        help="items our DynamoDB client writes to the instant endpoint, per write mode and run",
    )
    parser.add_argument("--latency-rate", type=float, default=50.0)
    parser.add_argument("--latency-seconds", type=float, default=20.0)
    parser.add_argument("--snapshot-owners", type=int, default=10_000)
    parser.add_argument("--snapshot-per-owner", type=int, default=100)
    parser.add_argument("--out", type=Path, default=HERE / "RESULTS.md")
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated row groups (redis, layouts, debezium, dynamodb, client, seed-job, "
        "latency, snapshot); the default is every group",
    )
    parser.add_argument(
        "--seed-owners",
        type=int,
        default=200,
        help="the legacy app's job (legacy Redis -> snapshot -> worker -> DynamoDB): owners x 100 "
        "items",
    )
    return parser.parse_args()


def _service_meter(stack: Stack) -> CpuMeter:
    """The CPU time of the stack's Kafka broker and redis-server."""
    names = {"kafka": "Kafka broker", "redis": "redis-server"}
    pids = {names[s.name]: s.process().pid() for s in stack.services if s.name in names}
    return CpuMeter({name: pid for name, pid in pids.items() if pid is not None})


def _redis_rows(base: Settings, args: argparse.Namespace, quix: Path, meter: CpuMeter) -> list[Row]:
    print(f"Kafka -> Redis: {args.events:,} events over {args.items:,} items ({MIX})")
    wl = asyncio.run(publish_workload(base, make_events(args.events, args.items), "redis"))
    n = len(wl.events)
    bare, direct, mine, theirs, rss, cpu = [], [], [], [], [], []
    bytewax_python = peer.peer_python(PROJECT / ".cache", "bytewax", peer.BYTEWAX)
    others: dict[str, list[float]] = {"Bytewax": [], "Bytewax LWW": [], "Faust": []}
    two = _TwoWorkers.published(base, args)
    for run in range(args.runs):
        bare.append(n / asyncio.run(ceilings.bare_consumer(wl)))
        direct.append(n / asyncio.run(ceilings.redis_direct(wl)))
        drain = ours.drain(wl, "redis", meter)
        mine.append(n / drain.seconds)
        rss.append(drain.peak_rss_mb)
        cpu.append(drain.cpu_us)
        theirs.append(n / peer.quix_drain(wl, quix, db=1 + run))
        others["Bytewax"].append(n / peer.bytewax_drain(wl, bytewax_python, db=14))
        others["Bytewax LWW"].append(n / peer.bytewax_drain(wl, bytewax_python, 13, lww=True))
        others["Faust"].append(n / peer.faust_drain(wl, db=15))
        two.measure(meter)
        print(
            f"  run {run + 1}: bare {bare[-1]:,.0f}/s, LWW script {direct[-1]:,.0f}/s, ours "
            f"{mine[-1]:,.0f}/s ({rss[-1]:.0f} MB), Quix {theirs[-1]:,.0f}/s, "
            f"Bytewax {others['Bytewax'][-1]:,.0f}/s (LWW script "
            f"{others['Bytewax LWW'][-1]:,.0f}/s), Faust agent {others['Faust'][-1]:,.0f}/s",
            flush=True,
        )
    vs_bare, vs_quix = ratio_of(mine, bare), ratio_of(mine, theirs)
    vs_bytewax, vs_faust = ratio_of(mine, others["Bytewax"]), ratio_of(mine, others["Faust"])
    vs_bytewax_lww = ratio_of(mine, others["Bytewax LWW"])
    return [
        Row("Ceiling: bare aiokafka consumer, reads only", "events/s", bare),
        Row("Ceiling: Redis LWW script driven directly, pipelined", "ops/s", direct),
        Row("Peer: Quix Streams RedisSink (plain SET, no LWW)", "events/s", theirs),
        Row("Peer: Bytewax, Kafka source, pipelined Redis SETs (no LWW)", "events/s",
            others["Bytewax"]),
        Row("Peer: Bytewax, Kafka source, our LWW script per batch (like for like)", "events/s",
            others["Bytewax LWW"]),
        Row("Peer: plain Faust agent, one Redis SET per event (no LWW)", "events/s",
            others["Faust"]),
        Row("Ours: one worker -> Redis (LWW)", "events/s", mine,
            f"{vs_quix:.2f}x Quix, {vs_bytewax:.2f}x Bytewax (SETs), {vs_bytewax_lww:.2f}x "
            f"Bytewax (LWW script), {vs_faust:.1f}x Faust agent; "
            f"{100 * vs_bare:.0f}% of bare consumer",
            ">= 1.5x Quix, > 1x Bytewax; >= 60% of bare",
            check(vs_quix, 1.5) and check(vs_bytewax, 1.0001) and check(vs_bare, 0.6)),
        _rss_row("Ours: worker peak RSS (Redis runs)", rss),
        Row("Ours -> Redis: the worker's CPU per event", "us", [run["worker"] for run in cpu],
            "", "<= 15 us", statistics.median(run["worker"] for run in cpu) <= 15),
        _cpu_row("Ours -> Redis: CPU per event, all processes", cpu, "events"),
        *two.rows(mine, theirs, others["Bytewax"]),
    ]  # fmt: skip


@dataclass
class _TwoWorkers:
    """Scaling out on this machine's two cores: two workers in one group, in the same runs as
    the one-process contenders. Their workload is three times as long (same mix), so that most
    of the drain has both workers at work: the first to join the group starts alone. (Quix
    Streams in two processes of one group was tried too: its second process got no partition
    before the first had drained the topic, so it has no figure.)"""

    workload: Workload
    rates: list[float]
    cpu: list[dict[str, float]]

    @classmethod
    def published(cls, base: Settings, args: argparse.Namespace) -> "_TwoWorkers":
        events = make_events(3 * args.events, 3 * args.items)
        return cls(asyncio.run(publish_workload(base, events, "redis-x3")), [], [])

    def measure(self, meter: CpuMeter) -> None:
        drain = ours.drain(self.workload, "redis", meter, workers=2)
        self.rates.append(len(self.workload.events) / drain.seconds)
        self.cpu.append(drain.cpu_us)
        print(f"  two workers: {self.rates[-1]:,.0f}/s", flush=True)

    def rows(self, one: list[float], quix: list[float], bytewax: list[float]) -> list[Row]:
        return [
            Row("Ours: two workers in one group -> Redis (LWW)", "events/s", self.rates,
                f"{ratio_of(self.rates, one):.2f}x one worker; {ratio_of(self.rates, quix):.2f}x "
                f"Quix, {ratio_of(self.rates, bytewax):.2f}x Bytewax (one process each)"),
            _cpu_row("Ours (two workers) -> Redis: CPU per event, all processes", self.cpu,
                     "events", one_process=False),
        ]  # fmt: skip


def _dynamodb_rows(base: Settings, args: argparse.Namespace) -> list[Row]:
    events, items = args.dynamodb_events, max(1, args.dynamodb_events // 4)
    print(f"Kafka -> DynamoDB: {events:,} events over {items:,} items ({MIX})")
    wl = asyncio.run(publish_workload(base, make_events(events, items), "dynamodb"))
    n = len(wl.events)
    direct, mine, both, rss = [], list[float](), list[float](), []
    each: dict[str, list[float]] = {"redis": [], "dynamodb": []}  # both: each store's group
    for run in range(args.runs):
        direct.append(n / asyncio.run(ceilings.dynamodb_direct(wl)))
        for mode, into in (("dynamodb", mine), ("both", both)):
            drain = ours.drain(wl, mode)
            into.append(n / drain.seconds)
            rss.append(drain.peak_rss_mb)
        for store, rates in each.items():
            rates.append(n / drain.store_seconds[store])
        print(f"  run {run + 1}: direct {direct[-1]:,.0f}/s, ours {mine[-1]:,.0f}/s, "
              f"both {both[-1]:,.0f}/s (redis {each['redis'][-1]:,.0f}/s, "
              f"dynamodb {each['dynamodb'][-1]:,.0f}/s)", flush=True)  # fmt: skip
    vs_direct, both_vs = ratio_of(mine, direct), ratio_of(both, direct)
    concurrency = base.dynamodb_concurrency
    return [
        *_dynamodb_one_write_each(base, args),
        Row(f"Ceiling: DynamoDB conditional PutItem, {concurrency} in flight", "ops/s", direct),
        Row("Ours: one worker -> DynamoDB", "events/s", mine, f"{100 * vs_direct:.0f}% of direct",
            ">= 80% of direct", check(vs_direct, 0.8)),
        Row("Ours: one worker -> Redis and DynamoDB", "events/s", both,
            f"{100 * both_vs:.0f}% of DynamoDB direct"),
        Row("  of which Redis (its own group and agent)", "events/s", each["redis"]),
        Row("  of which DynamoDB (its own group and agent)", "events/s", each["dynamodb"]),
        _rss_row("Ours: worker peak RSS (DynamoDB runs)", rss),
    ]  # fmt: skip


def _dynamodb_one_write_each(base: Settings, args: argparse.Namespace) -> list[Row]:
    """Every event a different item and no duplicates: coalescing cannot help, so this compares
    write for write with the direct ceiling."""
    events = args.dynamodb_events // 2
    print(f"Kafka -> DynamoDB: {events:,} events, each a different item (no coalescing)")
    wl = asyncio.run(
        publish_workload(base, make_events(events, events * 1000, duplicates=0), "distinct")
    )
    n = len(wl.events)
    direct, mine = [], list[float]()
    for run in range(args.runs):
        direct.append(n / asyncio.run(ceilings.dynamodb_direct(wl)))
        mine.append(n / ours.drain(wl, "dynamodb").seconds)
        print(f"  run {run + 1}: direct {direct[-1]:,.0f}/s, ours {mine[-1]:,.0f}/s", flush=True)
    vs_direct = ratio_of(mine, direct)
    return [
        Row("Ceiling: DynamoDB direct, a different item per event", "ops/s", direct),
        Row("Ours -> DynamoDB, a different item per event", "events/s", mine,
            f"{100 * vs_direct:.0f}% of direct", ">= 80% of direct", check(vs_direct, 0.8)),
    ]  # fmt: skip


def _dynamodb_client_rows(base: Settings, args: argparse.Namespace) -> list[Row]:
    """Our DynamoDB client against an endpoint that answers at once, beside boto3 alone sending
    the same requests (the store's client before): CPU per item and items/s per process, per
    write mode, measured in the same runs."""
    events = make_events(args.client_items, args.client_items * 1000, duplicates=0)
    print(f"DynamoDB client -> instant endpoint: {len(events):,} items, a different one each")
    runs: dict[str, list[ClientRun]] = {k: [] for k in ("boto3 put", "put", "boto3 transact",
                                                         "transact")}  # fmt: skip
    with instant_endpoint() as (url, pid):
        for run in range(args.runs):
            for name, results in runs.items():
                measure = boto3_ceiling if name.startswith("boto3") else client_ceiling
                mode = name.removeprefix("boto3 ")
                results.append(asyncio.run(measure(base, events, url, pid, mode)))
            print(f"  run {run + 1}: " + ", ".join(
                f"{name} {r[-1].rate:,.0f}/s ({r[-1].cpu_us:.0f} us/item)"
                for name, r in runs.items()
            ), flush=True)  # fmt: skip
    rates = {name: [r.rate for r in results] for name, results in runs.items()}
    cpu = {name: [r.cpu_us for r in results] for name, results in runs.items()}
    put_vs, transact_vs = ratio_of(cpu["put"], cpu["boto3 put"]), ratio_of(
        cpu["transact"], cpu["boto3 transact"])  # fmt: skip
    return [
        Row("boto3 alone -> instant endpoint, conditional PutItem (the baseline)", "items/s",
            rates["boto3 put"]),
        _client_cpu_row("  its CPU per item (boto3 PutItem)", runs["boto3 put"]),
        Row("Our DynamoDB client -> instant endpoint, put mode (conditional PutItem)", "items/s",
            rates["put"], f"{ratio_of(rates['put'], rates['boto3 put']):.1f}x boto3"),
        _client_cpu_row("  its CPU per item (put mode)", runs["put"],
                        f"{put_vs:.2f}x boto3's per PutItem", "<= 1/3 of boto3's",
                        check(put_vs, 1 / 3, above=False)),
        Row("boto3 alone -> instant endpoint, TransactWriteItems of 100", "items/s",
            rates["boto3 transact"]),
        _client_cpu_row("  its CPU per item (boto3 TransactWriteItems)", runs["boto3 transact"]),
        Row("Our DynamoDB client -> instant endpoint, transact mode", "items/s",
            rates["transact"], f"{ratio_of(rates['transact'], rates['put']):.1f}x put mode",
            ">= 5,000 items/s", check(statistics.median(rates["transact"]), 5000)),
        _client_cpu_row("  its CPU per item (transact mode)", runs["transact"],
                        f"{transact_vs:.2f}x boto3's", "<= 1/2 of boto3's",
                        check(transact_vs, 1 / 2, above=False)),
    ]  # fmt: skip


def _client_cpu_row(
    name: str, runs: list[ClientRun], ratio: str = "", target: str = "", met: bool | None = None
) -> Row:
    cpu = [r.cpu_us for r in runs]
    endpoint = statistics.median(r.endpoint_cpu_us for r in runs)
    bound = 1e6 / statistics.median(cpu)
    shown = f"{ratio}; " if ratio else ""
    return Row(
        name, "us", cpu,
        f"{shown}at most {bound:,.0f} items/s per process; endpoint {endpoint:.1f} us",
        target, met,
    )  # fmt: skip


def _rss_row(name: str, rss: list[float]) -> Row:
    return Row(name, "MB", rss, "", "< 250 MB", check(max(rss), 250, above=False))


def _cpu_row(name: str, runs: list[dict[str, float]], unit: str, one_process: bool = True) -> Row:
    """Total CPU per unit over every process, its split and the bounds it sets."""
    return Row(name, "us", totals(runs), breakdown(runs, unit, one_process))


def _latency_rows(base: Settings, args: argparse.Namespace) -> list[Row]:
    rate, seconds = args.latency_rate, args.latency_seconds
    print(f"Latency: {rate:.0f} events/s for {seconds:.0f}s, publish to visible in both stores")
    p50, p99 = [], []
    for _ in range(args.runs):
        topic = asyncio.run(publish_workload(base, [], "latency"))
        result = asyncio.run(latency.measure(topic, rate, seconds))
        p50.append(1000 * result.percentile(50))
        p99.append(1000 * result.percentile(99))
        print(f"  p50 {p50[-1]:.0f} ms, p99 {p99[-1]:.0f} ms", flush=True)
    return [
        Row(f"Latency p50 at {rate:.0f} events/s (both stores)", "ms", p50),
        Row(f"Latency p99 at {rate:.0f} events/s (both stores)", "ms", p99),
    ]


def _snapshot_rows(
    base: Settings, args: argparse.Namespace, tmp: Path, meter: CpuMeter
) -> list[Row]:
    owners, per_owner = args.snapshot_owners, args.snapshot_per_owner
    print(f"Snapshot: {owners * per_owner:,} legacy items ({owners:,} owners x {per_owner})")
    asyncio.run(snapshot.generate_legacy(base, owners, per_owner))
    reads, snaps, splits = [], [], []
    for run in range(args.runs):
        reads.append(asyncio.run(snapshot.read_seconds(base, meter)))
        snaps.append(asyncio.run(snapshot.snapshot_seconds(base, tmp, meter)))
        splits.append(asyncio.run(snapshot.parallel_snapshot_seconds(base, tmp, meter, 2)))
        print(f"  run {run + 1}: read {reads[-1].rate:,.0f}/s, snapshot {snaps[-1].rate:,.0f}/s, "
              f"2 workers {splits[-1].rate:,.0f}/s", flush=True)  # fmt: skip
    read, snap, split = [r.rate for r in reads], [s.rate for s in snaps], [s.rate for s in splits]
    return [
        Row("Raw read of the legacy layout (SCAN, ZRANGE, MGET)", "items/s", read),
        Row("Snapshot: legacy Redis -> Kafka, acks=all", "items/s", snap,
            f"{100 * ratio_of(snap, read):.0f}% of raw read", ">= 100,000 items/s",
            check(min(snap), 100_000)),
        _cpu_row("Raw read: CPU per item, all processes", [r.cpu_us for r in reads], "items"),
        _cpu_row("Snapshot: CPU per item, all processes", [s.cpu_us for s in snaps], "items"),
        Row("Snapshot --workers 2 (processes, a part of the owners each)", "items/s", split,
            f"{ratio_of(split, snap):.2f}x one process"),
        _cpu_row("Snapshot --workers 2: CPU per item, all processes",
                 [s.cpu_us for s in splits], "items", one_process=False),
    ]  # fmt: skip


def _results(rows: list[Row], args: argparse.Namespace, minutes: float) -> str:
    history = HERE / "HISTORY.md"
    return "\n\n".join([
        "# Benchmark results",
        f"`make bench`: median of {args.runs} runs, every contender measured in each run; the "
        f"whole benchmark took {minutes:.1f} min. Throughput counts from the first event "
        "processed to the last one durable (for ours: applied in every store; start-up apart).",
        "## Machine\n\n" + report.machine(),
        "## Figures\n\n" + report.table(rows),
        history.read_text() if history.exists() else "",
    ])  # fmt: skip


if __name__ == "__main__":
    main()
