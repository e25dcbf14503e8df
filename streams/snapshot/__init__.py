"""Filling the stores from data that never went through Kafka: sources, parts, progress."""
