"""A local stack without Docker: Kafka from Maven Central jars, redis-server, moto (DynamoDB)."""
