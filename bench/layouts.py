"""The Redis drain per layout: `cdc`, `hash` and the legacy app's `template`, each drained
by its own worker from the same topic in every run, so their ratios compare like with like."""

import argparse
import asyncio
from dataclasses import dataclass

from bench import ours
from bench.report import Row, ratio_of
from bench.workload import MIX, Workload, make_events, publish_workload
from streams.model.redis_layout_spec import RedisLayoutSpec
from streams.model.tables import TableSpec
from streams.settings import Settings

LAYOUTS = ("cdc", "hash", "template")


def layout_spec(layout: str, prefix: str) -> RedisLayoutSpec:
    """The layout under keys of the run's own (a run must not find another's data)."""
    if layout == "hash":
        return RedisLayoutSpec(
            layout="hash",
            key=f"{prefix}:o:{{{{owner_id}}}}:{{opponent_id}}",
            index_key=f"{prefix}:idx:{{{{owner_id}}}}",
        )
    if layout == "template":  # the legacy app's
        return RedisLayoutSpec(
            layout="template",
            index_key=f"{prefix}:opponents:{{owner_id}}",
            key=f"{prefix}:opponent:{{owner_id}}:{{opponent_id}}",
            value_attribute="metadata",
        )
    return RedisLayoutSpec()


@dataclass(frozen=True)
class LayoutWorkload(Workload):
    layout: str = "cdc"

    def for_run(self, tag: str) -> Settings:
        settings = super().for_run(f"{tag}-{self.layout}")
        spec = settings.tables["opponents"].model_dump()
        spec["redis"] = layout_spec(self.layout, settings.redis_key_prefix).model_dump()
        return settings.model_copy(update={"tables": {"opponents": TableSpec(**spec)}})


def redis_rows(base: Settings, args: argparse.Namespace) -> list[Row]:
    print(f"Kafka -> Redis per layout: {args.events:,} events over {args.items:,} items ({MIX})")
    wl = asyncio.run(publish_workload(base, make_events(args.events, args.items), "layouts"))
    n, rates = len(wl.events), {layout: list[float]() for layout in LAYOUTS}
    for run in range(args.runs):
        for layout, into in rates.items():
            drain = ours.drain(LayoutWorkload(wl.events, wl.settings, layout), "redis")
            into.append(n / drain.seconds)
        shown = ", ".join(f"{layout} {into[-1]:,.0f}/s" for layout, into in rates.items())
        print(f"  run {run + 1}: {shown}", flush=True)
    return [
        Row(f"Ours -> Redis, layout {layout}", "events/s", into,
            "" if layout == "cdc" else f"{ratio_of(into, rates['cdc']):.2f}x cdc")
        for layout, into in rates.items()
    ]  # fmt: skip
