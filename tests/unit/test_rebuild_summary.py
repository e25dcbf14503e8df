from connectors.store import WriteOutcome
from streams.pipeline.rebuild import RebuildSummary, _count
from streams.pipeline.replicator import BatchReport
from tests.support import upsert


def test_a_rebuilds_counts_add_up_to_the_records_it_read() -> None:
    refused = upsert("a", "b", 1)
    outcome = WriteOutcome(applied=7, stale=6, rejected=[(refused, "redis: key taken")])
    report = BatchReport(records=20, items=14, outcomes={"redis": outcome})
    report.dead_letters = [object(), object(), object()]  # type: ignore[list-item]
    summary = RebuildSummary("g")

    _count(report, "redis", summary)

    assert (summary.applied, summary.stale, summary.refused, summary.invalid) == (7, 6, 1, 2)
    assert summary.superseded == 4  # 20 records, of which 16 were written, refused or invalid
