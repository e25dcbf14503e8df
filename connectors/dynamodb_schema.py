"""Create a declared table in DynamoDB: key schema, the listing LSI and TTL on tombstones."""

import time
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from connectors.dynamodb_items import EXPIRES_ATTR
from connectors.dynamodb_store import error_code
from streams.tables import TableSpec

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


def ensure_table(client: "DynamoDBClient", name: str, spec: TableSpec, timeout: float = 60) -> bool:
    """Create the table unless it exists; True when it was created."""
    try:
        client.describe_table(TableName=name)
    except ClientError as exc:
        if error_code(exc) != "ResourceNotFoundException":
            raise
    else:
        return False
    client.create_table(**table_definition(name, spec))
    _wait_active(client, name, timeout)
    client.update_time_to_live(
        TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": EXPIRES_ATTR}
    )
    return True


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
