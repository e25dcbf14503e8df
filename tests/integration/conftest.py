import asyncio

import pytest

from streams.kafka.topics import changes_topics, ensure_topics
from streams.settings import Settings
from streams.stores import ensure_tables


@pytest.fixture
def env_settings(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """A test's settings as CDC_* variables (for the CLI), with its topics and tables created."""
    for name, value in settings.as_env().items():
        monkeypatch.setenv(name, value)
    asyncio.run(ensure_topics(settings.kafka_bootstrap_servers, changes_topics(settings.changes)))
    ensure_tables(settings.dynamodb, settings.tables)
    return settings
