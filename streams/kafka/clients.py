"""Where the Kafka brokers are and how to talk to them; every Kafka client we open is built here,
so security settings (`CDC_KAFKA_SECURITY_PROTOCOL`, SASL, SSL) reach all of them (Faust's
producer gets the same through streams.worker.app)."""

import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.helpers import create_ssl_context

from streams.settings_parts import KafkaSettings, revealed


@dataclass(frozen=True)
class Kafka:
    bootstrap: str
    options: Mapping[str, Any] = field(default_factory=dict)  # security, for every client

    @classmethod
    def of(cls, kafka: KafkaSettings) -> "Kafka":
        return cls(kafka.bootstrap_servers, client_options(kafka))

    def consumer(self, *topics: str, **kw: Any) -> AIOKafkaConsumer:
        return _Consumer(*topics, bootstrap_servers=self.bootstrap, **self.options, **kw)

    def producer(self, **kw: Any) -> AIOKafkaProducer:
        return _Producer(bootstrap_servers=self.bootstrap, **self.options, **kw)

    def admin(self) -> AIOKafkaAdminClient:
        return AIOKafkaAdminClient(bootstrap_servers=self.bootstrap, **self.options)

    def __repr__(self) -> str:  # options may hold a password
        return f"Kafka({self.bootstrap!r}, {self.options.get('security_protocol', 'PLAINTEXT')})"


class _ClosedIfStartFails:
    """Closes the client when it fails to start (Kafka down, say): callers stop a client only
    once started, and an unclosed one prints "Unclosed AIOKafkaConsumer" at exit."""

    async def start(self) -> None:
        try:
            await super().start()  # type: ignore[misc]
        except BaseException:
            await self.stop()  # type: ignore[attr-defined]
            raise


class _Consumer(_ClosedIfStartFails, AIOKafkaConsumer):
    pass


class _Producer(_ClosedIfStartFails, AIOKafkaProducer):
    pass


KafkaLike = Kafka | str  # a bare bootstrap string: plaintext, for tests and the local stack


def as_kafka(kafka: KafkaLike) -> Kafka:
    return Kafka(kafka) if isinstance(kafka, str) else kafka


def ssl_context(kafka: KafkaSettings) -> ssl.SSLContext | None:
    if not kafka.security_protocol.endswith("SSL"):
        return None
    return create_ssl_context(
        cafile=kafka.ssl_cafile,
        certfile=kafka.ssl_certfile,
        keyfile=kafka.ssl_keyfile,
        password=revealed(kafka.ssl_key_password),
    )


def client_options(kafka: KafkaSettings) -> dict[str, Any]:
    """Keyword arguments for aiokafka's consumer, producer and admin client."""
    options: dict[str, Any] = {"security_protocol": kafka.security_protocol}
    context = ssl_context(kafka)
    if context is not None:
        options["ssl_context"] = context
    if kafka.security_protocol.startswith("SASL"):
        options |= {
            "sasl_mechanism": kafka.sasl_mechanism,
            "sasl_plain_username": kafka.sasl_username,
            "sasl_plain_password": revealed(kafka.sasl_password),
        }
    return options
