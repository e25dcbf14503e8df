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

from streams.settings import Settings


@dataclass(frozen=True)
class Kafka:
    bootstrap: str
    options: Mapping[str, Any] = field(default_factory=dict)  # security, for every client

    @classmethod
    def of(cls, settings: Settings) -> "Kafka":
        return cls(settings.kafka_bootstrap_servers, client_options(settings))

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


def ssl_context(settings: Settings) -> ssl.SSLContext | None:
    if not settings.kafka_security_protocol.endswith("SSL"):
        return None
    password = settings.kafka_ssl_key_password
    return create_ssl_context(
        cafile=settings.kafka_ssl_cafile,
        certfile=settings.kafka_ssl_certfile,
        keyfile=settings.kafka_ssl_keyfile,
        password=password.get_secret_value() if password else None,
    )


def client_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for aiokafka's consumer, producer and admin client."""
    options: dict[str, Any] = {"security_protocol": settings.kafka_security_protocol}
    context = ssl_context(settings)
    if context is not None:
        options["ssl_context"] = context
    if settings.kafka_security_protocol.startswith("SASL"):
        password = settings.kafka_sasl_password
        options |= {
            "sasl_mechanism": settings.kafka_sasl_mechanism,
            "sasl_plain_username": settings.kafka_sasl_username,
            "sasl_plain_password": password.get_secret_value() if password else None,
        }
    return options
