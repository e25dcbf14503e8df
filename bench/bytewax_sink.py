"""Bytewax draining the benchmark topic into Redis: its Kafka source, and a Redis sink that
writes each batch it is handed in one pipeline of SETs (the Kafka key and value, as Quix
Streams' RedisSink writes them). Bytewax ships no Redis sink; this is the one its docs' custom
sink pattern (DynamicSink, StatelessSinkPartition.write_batch) gives.

With a last argument, the path of our LWW script (the three Lua files joined, as our Redis
store loads them), it runs that script instead, like for like with our worker: per batch, calls
of up to 100 items, each item's version token, op, index score, member and data packed as the
script reads them (connectors/redis/lww.lua), under keys of its own. It parses each message's
JSON (the standard library's) but validates nothing.

Runs under the peer's own virtualenv (see bench/peer.py), so it imports nothing of ours:

    python bench/bytewax_sink.py BOOTSTRAP TOPIC REDIS_HOST REDIS_PORT REDIS_DB [LWW_SCRIPT]

The source reads from the earliest offset and stops at the end of every partition
(`tail=False`), so the dataflow ends once the topic is drained. Prints a JSON line: seconds
from the first message to the dataflow's end, after its last batch was written.
"""

import json
import sys
import time
from pathlib import Path

import bytewax.operators as op
import redis
from bytewax.connectors.kafka import KafkaSource, KafkaSourceMessage
from bytewax.dataflow import Dataflow
from bytewax.outputs import DynamicSink, StatelessSinkPartition
from bytewax.run import cli_main

Pair = tuple[bytes, bytes]
CALL_ITEMS = 100
TOMBSTONE_MS = 7 * 24 * 3600 * 1000


class _RedisPartition(StatelessSinkPartition[Pair]):
    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    def write_batch(self, items: list[Pair]) -> None:
        pipe = self.client.pipeline(transaction=False)
        for key, value in items:
            pipe.set(key, value)
        pipe.execute()


class _LwwPartition(StatelessSinkPartition[Pair]):
    """Our LWW script per batch: what our worker asks of Redis, with no validation."""

    def __init__(self, client: redis.Redis, script: str) -> None:
        self.client = client
        self.sha = client.script_load(script)

    def write_batch(self, items: list[Pair]) -> None:
        pipe = self.client.pipeline(transaction=False)
        for start in range(0, len(items), CALL_ITEMS):
            keys: list[bytes] = []
            args: list[str | int] = [TOMBSTONE_MS]
            for key, value in items[start : start + CALL_ITEMS]:
                event = json.loads(value)
                item = event["key"]
                keys += [b"bw:i:" + key, f"bw:x:{item['owner_id']}".encode()]
                data = event.get("data") or {}
                score = data.get("timestamp")
                token = f"{event['ts']:016d} {event['origin']} {event['event_id']}"
                fields = [token, event["op"], "" if score is None else repr(float(score)),
                          item["opponent_id"], ""]  # fmt: skip
                packed = "\0".join(fields) + "\0"
                args.append(packed + json.dumps(data) if event["op"] == "upsert" else packed)
            pipe.evalsha(self.sha, len(keys), *keys, *args)
        pipe.execute()


class RedisSink(DynamicSink[Pair]):
    def __init__(self, host: str, port: int, db: int, script: str | None = None) -> None:
        self.host, self.port, self.db, self.script = host, port, db, script

    def build(
        self, step_id: str, worker_index: int, worker_count: int
    ) -> StatelessSinkPartition[Pair]:
        client = redis.Redis(host=self.host, port=self.port, db=self.db)
        return _LwwPartition(client, self.script) if self.script else _RedisPartition(client)


def main() -> None:
    bootstrap, topic, host, port, db = sys.argv[1:6]
    script = Path(sys.argv[6]).read_text() if len(sys.argv) > 6 else None
    first: list[float] = []

    def pair(message: KafkaSourceMessage) -> Pair:
        if not first:
            first.append(time.perf_counter())
        return message.key, message.value

    flow = Dataflow("bench")
    messages = op.input("kafka", flow, KafkaSource([bootstrap], [topic], tail=False))
    sink = RedisSink(host, int(port), int(db), script)
    op.output("redis", op.map("pair", messages, pair), sink)
    cli_main(flow)
    print(json.dumps({"seconds": time.perf_counter() - first[0]}))


if __name__ == "__main__":
    main()
