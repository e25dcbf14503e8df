"""An existing DynamoDB table is checked, never used without its key, listing index or TTL."""

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from connectors.dynamodb.schema import ensure_table, table_definition
from connectors.dynamodb.store import EXPIRES_ATTR
from streams.cli.main import main
from streams.kafka.topics import changes_topics, ensure_topics
from streams.settings import Settings
from streams.stores import dynamodb_client, ensure_tables
from tests.conftest import Services
from tests.support.worker import WorkerProcess

pytestmark = [pytest.mark.integration, pytest.mark.emulators]


def without_lsi(d: dict[str, Any]) -> None:
    del d["LocalSecondaryIndexes"]
    d["AttributeDefinitions"] = d["AttributeDefinitions"][:2]


def another_sort_key(d: dict[str, Any]) -> None:
    d["AttributeDefinitions"][1]["AttributeName"] = "peer_id"
    d["KeySchema"][1]["AttributeName"] = "peer_id"
    del d["LocalSecondaryIndexes"]
    d["AttributeDefinitions"] = d["AttributeDefinitions"][:2]


def keys_only_lsi(d: dict[str, Any]) -> None:
    d["LocalSecondaryIndexes"][0]["Projection"] = {"ProjectionType": "KEYS_ONLY"}


def create_by_hand(
    settings: Settings, change: Callable[[dict[str, Any]], None], ttl: bool, items: int = 1
) -> str:
    """The table as someone made it before the replicator: our definition, changed, holding
    `items` items of theirs."""
    name = settings.tables["opponents"].physical_name("opponents")
    definition = table_definition(name, settings.tables["opponents"])
    change(definition)
    keys = [a["AttributeName"] for a in definition["KeySchema"]]
    client = dynamodb_client(settings.dynamodb)
    try:
        client.create_table(**definition)
        if ttl:
            client.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": EXPIRES_ATTR},
            )
        for i in range(items):
            item = {key: {"S": f"user:{i}"} for key in keys} | {"metadata": {"S": "theirs"}}
            client.put_item(TableName=name, Item=item)
    finally:
        client.close()
    return name


Case = tuple[Callable[[dict[str, Any]], None], bool, str]  # change, TTL enabled, the line


@pytest.mark.parametrize(
    "case",
    [
        (without_lsi, True, "no local secondary index by_timestamp on owner_id (S) + "
         "timestamp (N) projecting ALL, which lists a partition"),
        (another_sort_key, True, "its key is owner_id (S) + peer_id (S), the replicator needs "
         "owner_id (S) + opponent_id (S)"),
        (keys_only_lsi, True, "its index by_timestamp is not the local secondary index"),
        (lambda d: None, False, "TTL is not enabled on _expires_at, so tombstones would never "
         "expire; enable it: aws dynamodb update-time-to-live --table-name"),
    ],
    ids=["no-lsi", "other-key", "keys-only-lsi", "no-ttl"],
)  # fmt: skip
def test_init_refuses_a_table_without_what_the_replicator_needs(
    services: Services,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    case: Case,
) -> None:
    change, ttl, says = case
    settings = services.settings()
    name = create_by_hand(settings, change, ttl)
    for variable, value in settings.as_env().items():
        monkeypatch.setenv(variable, value)
    assert main(["init"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: DynamoDB table {name}: {says}"), err
    assert err.count("\n") == 1


def test_a_table_made_right_by_hand_or_by_us_passes(services: Services) -> None:
    settings = services.settings()
    create_by_hand(settings, lambda d: None, ttl=True)
    # Exists, checked, nothing to create.
    assert ensure_tables(settings.dynamodb, settings.tables) == []
    ours = services.settings()
    created = [ours.tables["opponents"].physical_name("opponents")]
    assert ensure_tables(ours.dynamodb, ours.tables) == created
    client = dynamodb_client(ours.dynamodb)
    try:  # what we created passes our own check
        spec = ours.tables["opponents"]
        assert ensure_table(client, spec.physical_name("opponents"), spec) is False
    finally:
        client.close()


def test_a_table_whose_creation_stopped_before_its_ttl_is_finished(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Creating a table and enabling TTL are two calls: an empty table exactly ours but for TTL
    (a start stopped between them) is finished by the next start, not refused."""
    settings = services.settings()
    name = create_by_hand(settings, lambda d: None, ttl=False, items=0)
    for variable, value in settings.as_env().items():
        monkeypatch.setenv(variable, value)
    assert main(["init"]) == 0
    client = dynamodb_client(settings.dynamodb)
    try:
        ttl = client.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
    finally:
        client.close()
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": EXPIRES_ATTR}
    assert ensure_tables(settings.dynamodb, settings.tables) == []  # now checked and left alone


def test_the_worker_stops_with_one_line_on_a_table_without_ttl(
    services: Services, tmp_path: Path
) -> None:
    settings = services.settings()
    name = create_by_hand(settings, lambda d: None, ttl=False)
    asyncio.run(ensure_topics(settings.kafka_bootstrap_servers, changes_topics(settings.changes)))
    worker = WorkerProcess(services, settings, tmp_path / "worker.log", stores="dynamodb")
    code = worker.start().exit_code()
    log = worker.log.read_text()
    assert code == 2, log
    assert log.splitlines()[-1].startswith(f"error: DynamoDB table {name}: TTL is not enabled")
    assert "Traceback" not in log
