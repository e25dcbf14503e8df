"""Create a declared table in DynamoDB: key schema, the listing LSI and TTL on `_expires_at`
(tombstones', and expiring items' when the table declares an expiry: a table has one TTL
attribute); or check that an existing one has them (the legacy app's table existed before).

Creating a table and enabling its TTL are two calls: a table that is exactly ours, holds no
item and lacks only TTL is one whose creation stopped between them, and is finished. A table
holding items is someone's: it is never changed, only checked.
"""

import logging
import time
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from connectors.dynamodb.client import error_code
from connectors.dynamodb.items import EXPIRES_ATTR
from streams.model.errors import StoreSchemaError
from streams.model.tables import TableSpec

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

log = logging.getLogger(__name__)
ENABLED = {"TimeToLiveStatus": "ENABLED", "AttributeName": EXPIRES_ATTR}


def ensure_table(client: "DynamoDBClient", name: str, spec: TableSpec, timeout: float = 60) -> bool:
    """Create the table unless it exists; True when it was created. An existing table is
    checked: StoreSchemaError names what it lacks."""
    try:
        table = client.describe_table(TableName=name)["Table"]
    except ClientError as exc:
        if error_code(exc) != "ResourceNotFoundException":
            raise
    else:
        ttl = client.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        problem = table_problem(dict(table), dict(ttl), spec)
        if problem and _unfinished(client, dict(table), dict(ttl), spec):
            log.warning("DynamoDB table %s: created without its TTL; enabling it", name)
            _wait_active(client, name, timeout)
            _enable_ttl(client, name)
            return True
        if problem:
            raise StoreSchemaError(f"DynamoDB table {name}: {problem}")
        return False
    client.create_table(**table_definition(name, spec))
    _wait_active(client, name, timeout)
    _enable_ttl(client, name)
    return True


def _enable_ttl(client: "DynamoDBClient", name: str) -> None:
    client.update_time_to_live(
        TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": EXPIRES_ATTR}
    )


def _unfinished(
    client: "DynamoDBClient", table: dict[str, Any], ttl: dict[str, Any], spec: TableSpec
) -> bool:
    """A table whose creation stopped before its TTL: exactly ours but for TTL (never enabled,
    not being changed), and empty. A Scan refused counts as not known to be empty."""
    if ttl.get("TimeToLiveStatus") != "DISABLED" or table_problem(table, ENABLED, spec):
        return False
    try:
        found = client.scan(TableName=table["TableName"], Limit=1, Select="COUNT")
    except ClientError:
        return False
    return found.get("Count", 1) == 0 and "LastEvaluatedKey" not in found


def table_problem(table: dict[str, Any], ttl: dict[str, Any], spec: TableSpec) -> str | None:
    """What an existing table (describe_table's and describe_time_to_live's answers) lacks of
    what the replicator relies on, or None."""
    wanted = table_definition(str(table.get("TableName", "")), spec)
    types = {a["AttributeName"]: a["AttributeType"] for a in table["AttributeDefinitions"]}
    want_types = {a["AttributeName"]: a["AttributeType"] for a in wanted["AttributeDefinitions"]}
    have_key, want_key = _keys(table["KeySchema"], types), _keys(wanted["KeySchema"], want_types)
    if have_key != want_key:
        return f"its key is {have_key}, the replicator needs {want_key}"
    for index in wanted.get("LocalSecondaryIndexes", []):
        problem = _index_problem(table, index, types, want_types)
        if problem:
            return problem
    if ttl.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING") or (
        ttl.get("AttributeName") != EXPIRES_ATTR
    ):
        expiring = "tombstones and expired items" if spec.expiry else "tombstones"
        return (
            f"TTL is not enabled on {EXPIRES_ATTR}, so {expiring} would never expire; "
            f"enable it: aws dynamodb update-time-to-live --table-name {table['TableName']} "
            f"--time-to-live-specification Enabled=true,AttributeName={EXPIRES_ATTR}"
        )
    return None


def _index_problem(
    table: dict[str, Any], index: dict[str, Any], types: dict[str, str], want: dict[str, str]
) -> str | None:
    name = index["IndexName"]
    needed = f"local secondary index {name} on {_keys(index['KeySchema'], want)} projecting ALL"
    found = {i["IndexName"]: i for i in table.get("LocalSecondaryIndexes", [])}
    if name not in found:
        return f"no {needed}, which lists a partition (set index_name if yours is named otherwise)"
    have = found[name]
    if _keys(have["KeySchema"], types) != _keys(index["KeySchema"], want) or (
        have["Projection"]["ProjectionType"] != "ALL"
    ):
        return f"its index {name} is not the {needed}"
    return None


def _keys(schema: list[Any], types: dict[str, str]) -> str:
    """A key schema as `owner_id (S) + opponent_id (S)`, hash key first."""
    ordered = sorted(schema, key=lambda k: k["KeyType"] != "HASH")
    return " + ".join(
        f"{k['AttributeName']} ({types.get(k['AttributeName'], '?')})" for k in ordered
    )


def table_definition(name: str, spec: TableSpec) -> dict[str, Any]:
    attributes = [{"AttributeName": spec.partition_key, "AttributeType": "S"}]
    key_schema = [{"AttributeName": spec.partition_key, "KeyType": "HASH"}]
    if spec.sort_key:
        attributes.append({"AttributeName": spec.sort_key, "AttributeType": "S"})
        key_schema.append({"AttributeName": spec.sort_key, "KeyType": "RANGE"})
    definition: dict[str, Any] = {
        "TableName": name,
        "AttributeDefinitions": attributes,
        "KeySchema": key_schema,
        "BillingMode": "PAY_PER_REQUEST",
    }
    index = spec.lsi_name()
    if index and spec.index_attribute:
        attributes.append({"AttributeName": spec.index_attribute, "AttributeType": "N"})
        definition["LocalSecondaryIndexes"] = [
            {
                "IndexName": index,
                "KeySchema": [
                    {"AttributeName": spec.partition_key, "KeyType": "HASH"},
                    {"AttributeName": spec.index_attribute, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ]
    return definition


def _wait_active(client: "DynamoDBClient", name: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while client.describe_table(TableName=name)["Table"]["TableStatus"] != "ACTIVE":
        if time.monotonic() > deadline:
            raise TimeoutError(f"table {name} not ACTIVE after {timeout}s")
        time.sleep(0.2)
