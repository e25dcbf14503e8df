"""Quix Streams draining the benchmark topic into Redis with its RedisSink, defaults untouched.

Runs under the peer's own virtualenv (see bench/peer.py), so it imports nothing of ours:

    python bench/quix_sink.py BOOTSTRAP TOPIC GROUP REDIS_HOST REDIS_PORT REDIS_DB EVENTS

The one setting given is where to start: the earliest offset, as our worker does (Quix's
default is the latest, which would read nothing of a topic published before it started).
Prints a JSON line: seconds from the first message to run() returning after its final
checkpoint, which flushes the sink's last batch to Redis.
"""

import json
import sys
import time

from quixstreams import Application
from quixstreams.sinks.community.redis import RedisSink


def main() -> None:
    bootstrap, topic, group, host, port, db, events = sys.argv[1:8]
    app = Application(broker_address=bootstrap, consumer_group=group, auto_offset_reset="earliest")
    first: list[float] = []

    def mark(value: object) -> None:
        if not first:
            first.append(time.perf_counter())

    sdf = app.dataframe(app.topic(topic))
    sdf = sdf.update(mark)
    sdf.sink(RedisSink(host=host, port=int(port), db=int(db)))
    app.run(count=int(events), collect=False)
    print(json.dumps({"seconds": time.perf_counter() - first[0]}))


if __name__ == "__main__":
    main()
