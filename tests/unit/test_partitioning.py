from aiokafka.partitioner import DefaultPartitioner
from aiokafka.partitioner import murmur2 as reference
from hypothesis import given
from hypothesis import strategies as st

from streams.kafka.partitioning import murmur2, partition_for


@given(st.binary(max_size=200))
def test_murmur2_matches_the_kafka_client(data: bytes) -> None:
    assert murmur2(data) == reference(data)


@given(st.binary(min_size=1, max_size=80), st.integers(1, 64))
def test_partition_matches_the_default_partitioner(key: bytes, partitions: int) -> None:
    everything = list(range(partitions))
    assert partition_for(key, partitions) == DefaultPartitioner()(key, everything, everything)
