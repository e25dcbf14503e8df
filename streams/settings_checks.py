"""Checks of single settings values, and the one-line message for a bad one."""

import re
from collections.abc import Mapping
from urllib.parse import parse_qs, urlsplit

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from streams.model.table_errors import one_line, table_problem
from streams.model.tables import TableSpec

ENV_PREFIX = "CDC_"
REDIS_SCHEMES = ("redis", "rediss", "unix", "redis+cluster", "rediss+cluster")


def is_utf8(text: str) -> bool:
    """False for text holding bytes the locale could not decode (kept by Python as lone
    surrogates): no client can send it, and each fails its own way, deep inside."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def undecodable_variables(environ: Mapping[str, str]) -> list[str]:
    """The CDC_* variables whose value is not UTF-8 text; a value is never shown (secrets)."""
    return sorted(
        name for name, value in environ.items()
        if name.upper().startswith(ENV_PREFIX) and not is_utf8(value)
    )  # fmt: skip


def describe_validation_error(exc: ValidationError) -> str:
    first = exc.errors()[0]
    error = (first.get("ctx") or {}).get("error")  # our own validators' message, unprefixed
    if not first["loc"] and error:  # a check across settings: its message names them
        return str(error)
    if _in_a_table(first):
        return f"{ENV_PREFIX}TABLES: {_table_problems(exc)}"
    field, *inner = first["loc"] or ("?",)
    where = f"{'.'.join(map(str, inner))}: " if inner else ""  # inside CDC_TABLES, say
    message = str(error) if first["type"] == "value_error" and error else first["msg"]
    extra = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{ENV_PREFIX}{str(field).upper()}: {where}{message}{extra}"


def _in_a_table(error: ErrorDetails) -> bool:
    return len(error["loc"]) > 1 and error["loc"][0] == "tables"


def _table_problems(exc: ValidationError) -> str:
    """Every problem inside CDC_TABLES, each naming its table and field, in one line."""
    errors = exc.errors()
    problems = [
        table_problem(str(e["loc"][1]), e, e["loc"][2:]).dotted() for e in errors if _in_a_table(e)
    ]
    return one_line(problems, others=len(errors) - len(problems))


# Kafka's topic names, with room for the dead-letter topic's ".dlq" in its 249 characters.
TOPIC_NAME = re.compile(r"[a-zA-Z0-9._-]{1,245}")
# Each service URL setting: the schemes it takes, and an example for the error.
URL_SHAPES = {
    "redis_url": (REDIS_SCHEMES, "redis://host:port/db"),
    "dynamodb_endpoint_url": (("http", "https"), "http://host:port"),
    "postgres_url": (("postgresql", "postgres"), "postgresql://user@host:port/dbname"),
    "connect_url": (("http",), "http://host:port"),
}


# DynamoDB's table and index names (its API reference): 3 to 255 of these.
DYNAMODB_NAME = re.compile(r"[A-Za-z0-9_.-]{3,255}")


def check_dynamodb_names(tables: Mapping[str, TableSpec]) -> None:
    """Each table's DynamoDB table and listing index names are ones DynamoDB takes (an emulator
    may take others, and DynamoDB would refuse every call on the table)."""
    for name, spec in tables.items():
        physical = spec.physical_name(name)
        if not DYNAMODB_NAME.fullmatch(physical):
            what, hint = ("dynamodb_table", "") if spec.dynamodb_table else _UNNAMED_TABLE
            raise ValueError(f"{name}: {what} {physical!r} {_NOT_A_NAME}{hint}")
        index = spec.lsi_name()
        if index and not DYNAMODB_NAME.fullmatch(index):
            what, hint = ("index_name", "") if spec.index_name else _UNNAMED_INDEX
            raise ValueError(f"{name}: {what} {index!r} {_NOT_A_NAME}{hint}")


_NOT_A_NAME = "is not a DynamoDB name (3 to 255 of A-Z a-z 0-9 _ . -)"
_UNNAMED_TABLE = ("the table name", "; set dynamodb_table")
_UNNAMED_INDEX = ("the index name by_<index_attribute>", "; set index_name")


def check_bootstrap_servers(value: str) -> str:
    for server in value.split(","):
        host, sep, port = server.strip().rpartition(":")
        if not (sep and host and port.isdigit() and 0 < int(port) < 65536):
            raise ValueError(f"expected host:port[,host:port...], got {server!r}")
    return value


def check_topic_name(value: str) -> str:
    if not TOPIC_NAME.fullmatch(value) or value in {".", ".."} or value.startswith("__"):
        raise ValueError(
            f"expected a Kafka topic name: 1 to 245 of a-z A-Z 0-9 . _ - (room for "
            f"'.dlq'), not . or .., not starting with __ (Kafka's own), got {value!r}"
        )
    return value


def check_aws_region(region: str) -> str:
    """A region name (`us-east-1`, `us-gov-west-1`): it is signed into every DynamoDB request
    and names AWS's host, so anything else fails later with a message that does not say why."""
    if not re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)+", region):
        raise ValueError(f"expected an AWS region like us-east-1, got {region!r}")
    return region


def check_service_url(setting: str, url: str) -> str:
    if setting in ("dynamodb_endpoint_url", "connect_url") and not url:  # real AWS; unwatched
        return url
    if setting == "redis_url":
        return check_redis_url(url)
    schemes, example = URL_SHAPES[setting]
    check_url(url, schemes, example)
    return url


def check_redis_url(url: str) -> str:
    """`url` if it is a Redis URL redis-py (or our cluster scheme) can open; else ValueError."""
    schemes, example = URL_SHAPES["redis_url"]
    check_url(url, schemes, example)
    parts = urlsplit(url)
    databases = parse_qs(parts.query).get("db", [])
    if parts.scheme != "unix":  # a unix URL's path is its socket
        databases.append(parts.path.strip("/") or "0")
    if not all(db.isdigit() for db in databases):  # redis-py would use 0 without a word
        raise ValueError(f"the database in {redact_url(url)!r} must be a number")
    return url


def check_url(url: str, schemes: tuple[str, ...], example: str) -> None:
    parts = urlsplit(url)
    shown = redact_url(url)
    if parts.scheme not in schemes:
        raise ValueError(f"expected a URL like {example} ({', '.join(schemes)}), got {shown!r}")
    if parts.scheme != "unix" and not parts.hostname:
        raise ValueError(f"no host in {shown!r}")
    try:
        parts.port  # noqa: B018 -- urlsplit checks the port only when asked
    except ValueError:
        raise ValueError(f"bad port in {shown!r}") from None


def redact_url(url: str) -> str:
    """The URL with any password replaced, safe to print."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()
