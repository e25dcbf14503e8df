"""Debezium's snapshot reads racing live changes converge to the database's final state."""

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.kafka.records import RawRecord
from streams.model.events import ChangeEvent, ItemId
from streams.model.tables import OPPONENTS
from streams.pipeline.debezium import DebeziumDecoder
from tests.debezium_support import SOURCE, USERS, envelope, record_key
from tests.support import visible_state

TABLES = {"opponents": OPPONENTS, "users": USERS}
DECODER = DebeziumDecoder(TABLES)
ROWS = (1, 2, 3)

Change = tuple[int, str | None]  # row id, new name (None: delete)


class Database:
    """A table and its write-ahead log: each change takes the next LSN, each commit one more."""

    def __init__(self) -> None:
        self.rows: dict[int, str] = {}
        self.lsn = 1000
        self.last_commit: int | None = None  # as Debezium knows it: None before the first

    def write(self, changes: list[Change]) -> list[tuple[int, int, str | None]]:
        """A transaction's writes, each at the next LSN; none is visible before its commit."""
        writes = []
        for row, name in changes:
            self.lsn += 1
            writes.append((self.lsn, row, name))
        return writes

    def commit(self, writes: list[tuple[int, int, str | None]], streamed: bool) -> list[bytes]:
        """Apply a transaction's writes; its Debezium events if it committed after the
        snapshot (all sent at its commit, each with the commit LSN Debezium saw before)."""
        events = []
        for lsn, row, name in writes:
            old = self.rows.get(row)
            if name is None and old is not None:
                del self.rows[row]
                events.append(envelope("d", lsn, before={"id": row}, last_commit=self.last_commit))
            elif name is not None:
                self.rows[row] = name
                op = "u" if old is not None else "c"
                events.append(envelope(op, lsn, after={"id": row, "name": name},
                                       last_commit=self.last_commit))  # fmt: skip
        self.lsn += 1
        if streamed:  # Debezium learns a commit's LSN from the commits it streams
            self.last_commit = self.lsn
            return events
        return []

    def snapshot(self) -> list[bytes]:
        """Every row as read at this moment, at the snapshot's start LSN."""
        # The consistent point: where the next change will be written.
        return [envelope("r", self.lsn + 1, after={"id": row, "name": name})
                for row, name in self.rows.items()]  # fmt: skip


changes = st.lists(
    st.tuples(st.sampled_from(ROWS), st.one_of(st.none(), st.sampled_from("abcdef"))),
    min_size=1,
    max_size=3,
)


def decoded(values: list[bytes]) -> list[ChangeEvent]:
    return [DECODER.decode(RawRecord(SOURCE, 0, 0, record_key(0), v)) for v in values]


@settings(max_examples=300)
@given(
    before=st.lists(changes, max_size=4),
    straddling=changes,
    after=st.lists(changes, min_size=1, max_size=6),
    data=st.data(),
)
def test_any_interleaving_of_snapshot_reads_and_changes_ends_in_the_final_table(
    before: list[list[Change]],
    straddling: list[Change],
    after: list[list[Change]],
    data: st.DataObject,
) -> None:
    """A table's history around Debezium's initial snapshot: transactions committed before it
    (read by it), one that writes row 3 before the snapshot's start but commits after the
    first streamed transaction (row 3 is locked meanwhile, so those leave it alone), then more.
    Delivered in any order, with redeliveries, the LWW fold is the table's final state."""
    db = Database()
    for transaction in before:
        db.commit(db.write(transaction), streamed=False)  # the snapshot holds their result
    early = db.write([(3, name) for _, name in straddling])  # uncommitted at the snapshot
    reads = db.snapshot()
    first, *rest = after
    live = db.commit(db.write([c for c in first if c[0] != 3]), streamed=True)
    live += db.commit(early, streamed=True)
    for transaction in rest:
        live += db.commit(db.write(transaction), streamed=True)
    delivered = data.draw(st.permutations(reads + live))
    delivered += data.draw(st.lists(st.sampled_from(delivered), max_size=5)) if delivered else []
    expected: dict[ItemId, dict[str, Any]] = {
        ItemId("users", str(row), ""): {"name": name} for row, name in db.rows.items()
    }
    assert visible_state(decoded(delivered), TABLES) == expected


def test_a_read_with_a_later_wall_clock_still_loses_to_a_later_change() -> None:
    """ts_ms says the read is newer; the log position says it is not."""
    read = envelope("r", 500, after={"id": 1, "name": "old"}).replace(b'"ts_ms": 2', b'"ts_ms": 9')
    change = envelope("u", 501, after={"id": 1, "name": "new"}, last_commit=None)
    state = visible_state(decoded([change, read]), TABLES)
    assert state == {ItemId("users", "1", ""): {"name": "new"}}
