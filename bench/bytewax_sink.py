"""Bytewax draining the benchmark topic into Redis: its Kafka source, and a Redis sink that
writes each batch it is handed in one pipeline of SETs (the Kafka key and value, as Quix
Streams' RedisSink writes them). Bytewax ships no Redis sink; this is the one its docs' custom
sink pattern (DynamicSink, StatelessSinkPartition.write_batch) gives.

Runs under the peer's own virtualenv (see bench/peer.py), so it imports nothing of ours:

    python bench/bytewax_sink.py BOOTSTRAP TOPIC REDIS_HOST REDIS_PORT REDIS_DB

The source reads from the earliest offset and stops at the end of every partition
(`tail=False`), so the dataflow ends once the topic is drained. Prints a JSON line: seconds
from the first message to the dataflow's end, after its last batch was written.
"""

import json
import sys
import time

import bytewax.operators as op
import redis
from bytewax.connectors.kafka import KafkaSource, KafkaSourceMessage
from bytewax.dataflow import Dataflow
from bytewax.outputs import DynamicSink, StatelessSinkPartition
from bytewax.run import cli_main

Pair = tuple[bytes, bytes]


class _RedisPartition(StatelessSinkPartition[Pair]):
    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    def write_batch(self, items: list[Pair]) -> None:
        pipe = self.client.pipeline(transaction=False)
        for key, value in items:
            pipe.set(key, value)
        pipe.execute()


class RedisSink(DynamicSink[Pair]):
    def __init__(self, host: str, port: int, db: int) -> None:
        self.host, self.port, self.db = host, port, db

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _RedisPartition:
        return _RedisPartition(redis.Redis(host=self.host, port=self.port, db=self.db))


def main() -> None:
    bootstrap, topic, host, port, db = sys.argv[1:6]
    first: list[float] = []

    def pair(message: KafkaSourceMessage) -> Pair:
        if not first:
            first.append(time.perf_counter())
        return message.key, message.value

    flow = Dataflow("bench")
    messages = op.input("kafka", flow, KafkaSource([bootstrap], [topic], tail=False))
    op.output("redis", op.map("pair", messages, pair), RedisSink(host, int(port), int(db)))
    cli_main(flow)
    print(json.dumps({"seconds": time.perf_counter() - first[0]}))


if __name__ == "__main__":
    main()
