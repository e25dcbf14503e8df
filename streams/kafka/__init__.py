"""Talking to Kafka: client settings, the changes topic and its health, publishing, groups, lag."""
