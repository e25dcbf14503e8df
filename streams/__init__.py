"""cdc-replicator: change events from Kafka applied to Redis and DynamoDB, last writer wins."""
