"""The plain Faust agent a Faust user would write: `@app.agent` on the topic, one Redis SET per
event (the Kafka key and value, as Quix Streams' RedisSink writes them), defaults untouched.

    python -m bench.faust_peer BOOTSTRAP TOPIC GROUP REDIS_URL EVENTS DATADIR

The one setting given is where to start: the earliest offset, as our worker does. Prints a JSON
line: seconds from the first event to the last one written, then exits at once (Faust's
graceful stop takes seconds and is not part of the figure).
"""

import json
import os
import sys
import time

import faust
import redis.asyncio as aioredis


def main() -> None:
    bootstrap, topic_name, group, redis_url, events, datadir = sys.argv[1:7]
    app = faust.App(
        group,
        broker=f"kafka://{bootstrap}",
        datadir=datadir,
        consumer_auto_offset_reset="earliest",
        web_enabled=False,
    )
    topic = app.topic(topic_name, key_type=bytes, value_type=bytes, value_serializer="raw")
    total = int(events)

    @app.agent(topic)
    async def write(stream: faust.StreamT[bytes]) -> None:
        client = aioredis.from_url(redis_url)
        first, seen = 0.0, 0
        async for event in stream.events():
            first = first or time.perf_counter()
            await client.set(event.key, event.value)
            seen += 1
            if seen == total:
                figure = json.dumps({"seconds": time.perf_counter() - first})
                os.write(1, f"{figure}\n".encode())  # Faust redirects sys.stdout to its log
                os._exit(0)

    sys.argv[1:] = ["worker", "--loglevel", "warn"]  # what app.main() reads
    app.main()


if __name__ == "__main__":
    main()
