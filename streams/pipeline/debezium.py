"""Debezium change events (Kafka Connect's JSON converter) as our change events.

The envelope comes with or without `schema`/`payload` (`value.converter.schemas.enable`).
`op` c, u and r (a snapshot read, initial or incremental) upsert `after`; d deletes the row
`before` or the record key names; t (truncate, sent when the connector's `skipped.operations`
leaves it in) cannot be replayed row by row and is dead-lettered as `truncate`, naming the
table. The source table, `<source.name>.<source.schema>.<source.table>`, names the declared
tables: every table declaring it on the record's topic gets the change (one record, several
tables). A row flattened by the `ExtractNewRecordState` transform has lost the envelope and is
dead-lettered, naming the transform.

A Kafka tombstone (null value) after a delete only lets compaction drop the key, and is
skipped; on a compacted topic it can be all that is left of the delete, and it is then the
delete of the row its key names, placed in the version order as `tombstone_version` says.

Version: Debezium's `ts_ms` is a wall clock and does not follow the database's commit order (a
snapshot read can carry a later `ts_ms` than a change committed after the snapshot began), so
the version comes from the log position instead; see streams/pipeline/debezium_order.py.
"""

from collections.abc import Mapping
from typing import Any

from streams.kafka.records import Record
from streams.model.errors import InvalidEventError
from streams.model.events import ChangeEvent, Version, build_event
from streams.model.tables import TableSpec
from streams.pipeline.debezium_order import Trail, postgres_version, tombstone_version
from streams.pipeline.debezium_schema import FLATTENED, Schemas, Shape, record_key, split_change
from streams.pipeline.debezium_unavailable import Unavailable
from streams.pipeline.decoders import Decoded

UPSERT_OPS = frozenset({"c", "u", "r"})
Declared = list[tuple[str, TableSpec]]


class DebeziumDecoder:
    """Decodes the records of the Debezium topics the declared tables name, in each partition's
    offset order (it remembers what each partition showed last: see `Trail`). A `Decoder`
    (streams/pipeline/decoders.py)."""

    def __init__(self, tables: Mapping[str, TableSpec]) -> None:
        self.tables = dict(tables)
        self.by_source: dict[tuple[str, str], Declared] = {}
        self.by_topic: dict[str, Declared] = {}
        for name, spec in tables.items():
            if spec.format == "debezium" and spec.source:
                topic = spec.feed_topic("")
                self.by_source.setdefault((topic, spec.source), []).append((name, spec))
                self.by_topic.setdefault(topic, []).append((name, spec))
        self.topics = frozenset(self.by_topic)
        # What the connector sends for a TOASTed value it did not read: left unchanged.
        self.unavailable = {
            name: Unavailable(spec.unavailable_value_placeholder)
            for name, spec in tables.items()
            if spec.format == "debezium"
        }
        self.schemas = Schemas()
        self.trails: dict[tuple[str, int], Trail] = {}
        # Tombstones waiting for the next record of their partition, across batches (see
        # _tombstone); their offsets are not committed meanwhile (`held_back`).
        self.waiting: dict[tuple[str, int], list[Record]] = {}

    def decode(self, record: Record) -> Decoded:
        """One record's events, or the reason it can never apply."""
        done = Decoded()
        self.decode_into(record, done)
        return done

    def decode_into(self, record: Record, done: Decoded) -> None:
        where = (record.topic, record.partition)
        trail = self._trail(where, record.offset)
        if record.value is None:
            self._tombstone(record, trail, done)
            return
        try:
            self._change(record, where, trail, done)
        except InvalidEventError as exc:
            done.problems.append((record, exc))

    def held_back(self) -> dict[tuple[str, int], int]:
        """Per partition, the offset of the first tombstone still waiting: its delete is in no
        store yet, so the partition's committed offset must stay at it (consumed again after a
        restart or a rebalance, it waits again)."""
        return {where: waiting[0].offset for where, waiting in self.waiting.items() if waiting}

    def _trail(self, where: tuple[str, int], offset: int) -> Trail:
        trail = self.trails.get(where)
        if trail is None or offset <= trail.offset:  # new, or consumed again from before
            trail = self.trails[where] = Trail()
            self.waiting.pop(where, None)
        trail.offset = offset
        return trail

    def _change(self, record: Record, where: tuple[str, int], trail: Trail, done: Decoded) -> None:
        payload, shape = self.schemas.value(record.value, where)
        op = payload.get("op")
        source = payload.get("source")
        if type(source) is not dict:
            raise InvalidEventError("schema", FLATTENED if _flattened(payload) else
                                    "source: an object is required")  # fmt: skip
        if op == "t":
            raise self._truncated(record.topic, source)
        declared = self._declared(record.topic, source)
        version, read_at = postgres_version(source, op, trail)
        trail.deleted_key = record.key if op == "d" else None
        if read_at is not None:
            trail.snapshot_at = read_at
        if self.waiting:
            self._settle(record, version, done)
        problem = None
        for name, _ in declared:
            try:
                event = _event(
                    name, op, payload, shape, record=record, version=version, tables=self.tables,
                    unavailable=self.unavailable[name],
                )  # fmt: skip
                done.events.append((event, record))
            except InvalidEventError as exc:
                problem = problem or _named(exc, name, len(declared))
        if problem:
            done.problems.append((record, problem))

    def _tombstone(self, record: Record, trail: Trail, done: Decoded) -> None:
        """A tombstone right after its own delete record (the usual pair) changes nothing.
        Otherwise compaction removed that delete, and the tombstone is it: placed just below
        the next record of its partition, which it waits for, across batches (the cleaner only
        cleans behind the segment a later record opened, so one exists)."""
        declared = self.by_topic.get(record.topic, [])
        single_source = len({spec.source for _, spec in declared}) == 1
        if record.key is None or not single_source or record.key == trail.deleted_key:
            done.skipped_tombstones += 1
            return
        trail.deleted_key = record.key
        self.waiting.setdefault((record.topic, record.partition), []).append(record)

    def _settle(self, record: Record, following: Version, done: Decoded) -> None:
        """Place the tombstones that waited for this record: just below it."""
        for tombstone in self.waiting.pop((record.topic, record.partition), []):
            self._deleted(tombstone, tombstone_version(following), done)

    def _deleted(self, record: Record, version: Version, done: Decoded) -> None:
        try:
            for name, spec in self.by_topic[record.topic]:
                fields = {"table": name, "op": "delete", "key": record_key(record.key, spec)}
                event = build_event(fields | version._asdict(), self.tables)
                done.events.append((event, record))
        except InvalidEventError as exc:
            done.problems.append((record, exc))

    def _declared(self, topic: str, source: dict[str, Any]) -> Declared:
        name = _source_table(source)
        found = self.by_source.get((topic, name))
        if found is None:
            where = f"source table {name!r} is not declared"
            raise InvalidEventError("unknown_table", where + _elsewhere(self.by_source, name))
        return found

    def _truncated(self, topic: str, source: dict[str, Any]) -> InvalidEventError:
        """A truncate's letter names the table and the command that empties the stores' copy."""
        found = self.by_source.get((topic, _source_table(source)))
        where = f"source table {_source_table(source)!r}"
        if found is None:
            return InvalidEventError("truncate", f"{where} was truncated (a table not declared)")
        names = " and ".join(repr(name) for name, _ in found)
        commands = "; ".join(
            f"`cdc-replicator verify --source postgres --table {name} --store dynamodb --repair`"
            for name, _ in found
        )
        return InvalidEventError(
            "truncate",
            f"{where} was truncated: a truncate cannot be replicated row by row; delete what the"
            f" stores still hold of table {names} with {commands}",
        )


def _event(
    name: str, op: object, payload: dict[str, Any], shape: Shape, *, record: Record,
    version: Version, tables: Mapping[str, TableSpec], unavailable: Unavailable,
) -> ChangeEvent:  # fmt: skip
    spec = tables[name]
    ts, origin, event_id = version
    fields: dict[str, Any]
    if op in UPSERT_OPS:
        row = payload.get("after")
        if type(row) is not dict:
            raise InvalidEventError("schema", f"op {op!r}: 'after' must be an object")
        # A snapshot reads every value; a change may lack TOASTed ones it left unchanged.
        after = shape.row("after")
        columns = after.columns(name, spec, unavailable)
        key, data, unchanged = split_change(
            row, columns, after.fields, None if op == "r" else unavailable
        )
        fields = {"table": name, "op": "upsert", "key": key, "data": data, "ts": ts,
                  "origin": origin, "event_id": event_id}  # fmt: skip
        if unchanged:
            fields["unchanged"] = unchanged
    elif op == "d":
        before = payload.get("before")
        if type(before) is dict:
            before_row = shape.row("before")
            columns = before_row.columns(name, spec, unavailable)
            key = split_change(before, columns, before_row.fields, None)[0]
        else:
            key = record_key(record.key, spec)
        fields = {"table": name, "op": "delete", "key": key, "ts": ts,
                  "origin": origin, "event_id": event_id}  # fmt: skip
    else:
        raise InvalidEventError("schema", f"op: expected c, u, r, d or t, got {op!r}")
    return build_event(fields, tables)


def _named(exc: InvalidEventError, table: str, tables: int) -> InvalidEventError:
    """With one record feeding several tables, a letter says which one it could not feed."""
    if tables == 1:
        return exc
    return InvalidEventError(exc.reason, f"table {table!r}: {exc}")


def _elsewhere(by_source: Mapping[tuple[str, str], Declared], name: str) -> str:
    topics = sorted(topic for topic, source in by_source if source == name)
    return f" for this topic (it is read from {', '.join(topics)})" if topics else ""


def _flattened(payload: Mapping[str, Any]) -> bool:
    return not payload.keys() & {"op", "source", "before", "after"}


def _source_table(source: Mapping[str, Any]) -> str:
    """`<topic.prefix>.<schema>.<table>`, as a declaration's `source` names it."""
    return f"{source.get('name')}.{source.get('schema')}.{source.get('table')}"
