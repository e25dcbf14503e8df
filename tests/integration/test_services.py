"""The session's services are real and usable from our code."""

import asyncio
import uuid

import pytest
import redis
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from connectors.dynamodb.client import make_client
from connectors.dynamodb.schema import ensure_table
from streams.kafka.topics import TopicSpec, ensure_topics
from streams.model.tables import OPPONENTS
from streams.settings import Settings
from tests.conftest import Services

pytestmark = pytest.mark.integration


def test_kafka_produce_and_consume_round_trip(services: Services) -> None:
    topic, group = f"t-{uuid.uuid4().hex}", f"g-{uuid.uuid4().hex}"

    async def round_trip() -> list[tuple[bytes | None, bytes | None]]:
        await ensure_topics(services.kafka_bootstrap, [TopicSpec(topic, 1, 1, {})])
        producer = AIOKafkaProducer(bootstrap_servers=services.kafka_bootstrap, acks="all")
        await producer.start()
        try:
            for i in range(5):
                await producer.send_and_wait(topic, f"v{i}".encode(), key=b"k")
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=services.kafka_bootstrap,
            group_id=group,
            auto_offset_reset="earliest",
        )
        await consumer.start()
        try:
            got: list[tuple[bytes | None, bytes | None]] = []
            while len(got) < 5:
                batch = await consumer.getmany(timeout_ms=5000)
                assert batch, "no messages within 5 s"
                got += [(m.key, m.value) for msgs in batch.values() for m in msgs]
            await consumer.commit()
            return got
        finally:
            await consumer.stop()

    assert asyncio.run(round_trip()) == [(b"k", f"v{i}".encode()) for i in range(5)]


def test_create_compacted_topic_with_partitions(services: Services) -> None:
    name = f"compact-{uuid.uuid4().hex}"
    spec = TopicSpec(name, 4, 1, {"cleanup.policy": "compact"})

    async def create_and_describe() -> tuple[list[str], list[str], int, dict[str, str]]:
        first = await ensure_topics(services.kafka_bootstrap, [spec])
        again = await ensure_topics(services.kafka_bootstrap, [spec])
        admin = AIOKafkaAdminClient(bootstrap_servers=services.kafka_bootstrap)
        await admin.start()
        try:
            meta = await admin.describe_topics([name])
            configs = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name)])
        finally:
            await admin.close()
        entries = {entry[0]: entry[1] for entry in configs[0].resources[0][4]}
        return first, again, len(meta[0]["partitions"]), entries

    first, again, partitions, config = asyncio.run(create_and_describe())
    assert first == [name] and again == []
    assert partitions == 4
    assert config["cleanup.policy"] == "compact"


def test_the_broker_never_auto_creates_topics(services: Services) -> None:
    """As production clusters usually run: a topic made by a send would have the broker's
    defaults (1 partition, cleanup.policy=delete), not the changes topic's settings."""

    async def auto_create_setting() -> str:
        admin = AIOKafkaAdminClient(bootstrap_servers=services.kafka_bootstrap)
        await admin.start()
        try:
            [broker] = (await admin.describe_cluster())["brokers"]
            resource = ConfigResource(ConfigResourceType.BROKER, str(broker["node_id"]))
            [response] = await admin.describe_configs([resource])
        finally:
            await admin.close()
        entries = {entry[0]: entry[1] for entry in response.resources[0][4]}
        return str(entries["auto.create.topics.enable"])

    assert asyncio.run(auto_create_setting()) == "false"


def test_redis_round_trip(services: Services) -> None:
    client = redis.Redis.from_url(services.redis_url)
    key = f"probe:{uuid.uuid4().hex}"
    try:
        client.set(key, "value", ex=60)
        assert client.get(key) == b"value"
        assert client.ttl(key) > 0
    finally:
        client.delete(key)
        client.close()


def test_dynamodb_legacy_table_and_timestamp_index(services: Services) -> None:
    client = make_client(services.dynamodb_endpoint, "us-east-1", None)
    name = f"opponents-{uuid.uuid4().hex[:8]}"
    try:
        assert ensure_table(client, name, OPPONENTS) is True
        assert ensure_table(client, name, OPPONENTS) is False
        for opponent, ts in [("2,b", 300), ("3,c", 100), ("4,d", 200)]:
            item = {"owner_id": "1,a", "opponent_id": opponent, "metadata": "m"}
            client.put_item(
                TableName=name,
                Item={**{k: {"S": v} for k, v in item.items()}, "timestamp": {"N": str(ts)}},
            )
        client.put_item(
            TableName=name, Item={"owner_id": {"S": "1,a"}, "opponent_id": {"S": "9,z"}}
        )
        found = client.query(
            TableName=name,
            IndexName="by_timestamp",
            KeyConditionExpression="owner_id = :o",
            ExpressionAttributeValues={":o": {"S": "1,a"}},
            ScanIndexForward=False,
        )["Items"]
        # Newest first, and the item without a timestamp is not listed (sparse index).
        assert [item["opponent_id"]["S"] for item in found] == ["2,b", "4,d", "3,c"]
        ttl = client.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        assert ttl.get("AttributeName") == "_expires_at"
    finally:
        client.delete_table(TableName=name)
        client.close()


def test_stack_up_is_idempotent(services: Services) -> None:
    if services.stack is None:
        pytest.skip("services are the user's own (CDC_TEST_*)")
    before = {s.name: s.pid for s in services.stack.status()}
    after = {s.name: s.pid for s in services.stack.up(report=lambda line: None)}
    assert before == after
    assert all(before.values())


def test_settings_fixture_isolates_each_test(services: Services) -> None:
    a, b = services.settings(), services.settings()
    assert isinstance(a, Settings)
    assert a.topic != b.topic and a.group_id != b.group_id
    assert a.tables["opponents"].dynamodb_table != b.tables["opponents"].dynamodb_table
