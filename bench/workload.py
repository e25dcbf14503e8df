"""The benchmark workload: change events over a set of items, published once, read by everyone."""

import random
import uuid
from dataclasses import dataclass
from pathlib import Path

from streams.kafka.publisher import Publisher
from streams.model.events import ChangeEvent
from streams.model.tables import OPPONENTS
from streams.settings import Settings
from streams.worker.run import prepare

MIX = "10% deletes, 20% duplicates, shuffled versions"


def make_events(
    events: int, items: int, seed: int = 1, duplicates: float = 0.2
) -> list[ChangeEvent]:
    """`events` writes over `items` items: 10% deletes, 20% duplicates, versions shuffled."""
    rng = random.Random(seed)
    distinct = int(events * (1 - duplicates))
    out: list[ChangeEvent] = []
    for i in range(distinct):
        item = rng.randrange(items)
        owner, opponent = f"owner-{item // 10}", f"opp-{item % 10}"
        ts = 1_700_000_000_000_000 + rng.randrange(10**9)
        op = "delete" if rng.random() < 0.1 else "upsert"
        data = (
            {"metadata": f"message {i}", "timestamp": ts // 1_000_000} if op == "upsert" else None
        )
        out.append(ChangeEvent.model_validate({
            "table": "opponents", "op": op, "key": {"owner_id": owner, "opponent_id": opponent},
            "data": data, "ts": ts, "origin": "bench", "event_id": f"e{i}",
        }))  # fmt: skip
    out += rng.choices(out, k=events - distinct)
    rng.shuffle(out)
    return out


@dataclass(frozen=True)
class Workload:
    """Events published once to `settings.topic`; every contender reads that topic."""

    events: list[ChangeEvent]
    settings: Settings

    def for_run(self, tag: str) -> Settings:
        """Same topic; a group, Redis prefix, DynamoDB table and data folder of the run's own,
        so a run never finds the previous run's data (LWW would make its writes no-ops)."""
        run = f"{tag}-{uuid.uuid4().hex[:6]}"
        table = OPPONENTS.model_copy(update={"dynamodb_table": f"bench-{run}"})
        return self.settings.model_copy(
            update={
                "group_id": f"bench-{run}",
                "redis_key_prefix": f"b{run.replace('-', '')}"[:32],
                "tables": {"opponents": table},
                "data_dir": str(Path(self.settings.stack_dir) / f"worker-{run}"),
            }
        )


async def publish_workload(base: Settings, events: list[ChangeEvent], name: str) -> Workload:
    settings = base.model_copy(update={"topic": f"bench-{name}-{uuid.uuid4().hex[:6]}"})
    await prepare(settings, [])
    async with Publisher(
        settings.kafka_bootstrap_servers, settings.topic, settings.tables, "bench"
    ) as publisher:
        await publisher.publish(events)
    return Workload(events, settings)
