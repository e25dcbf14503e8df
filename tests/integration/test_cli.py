"""The commands people type: publish a file, get and list items from either store."""

import asyncio
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from streams.cli.main import main
from streams.devstack.process import free_port
from streams.kafka.publisher import Publisher
from streams.settings import Settings
from streams.stores import dynamodb_client
from tests.conftest import Services
from tests.support import delete, upsert
from tests.support.worker import read_topic, write_direct

pytestmark = pytest.mark.integration


def test_publish_refuses_a_file_with_a_bad_line_unless_told(
    env_settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = [upsert("o", "p", 1), delete("o", "q", 2)]
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join([good[0].to_json(), b'{"table": "opponents"}', good[1].to_json()]))
    assert main(["publish", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}:2: schema" in err
    assert err.endswith(f"error: 1 invalid line in {path}, nothing published; "
                        "--skip-invalid publishes the other 2 events\n")  # fmt: skip
    assert main(["publish", str(path), "--skip-invalid"]) == 0
    published = asyncio.run(read_topic(env_settings, env_settings.topic, 2))
    assert sorted(json.loads(value)["event_id"] for value, _ in published) == sorted(
        e.event_id for e in good
    )


def test_publish_skipping_every_line_publishes_nothing_and_exits_1(
    env_settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(b'{"table": "opponents"}\nnot json\n')
    assert main(["publish", str(path), "--skip-invalid"]) == 1
    err = capsys.readouterr().err
    assert f"{path}:1: schema" in err and f"{path}:2: not_json" in err
    assert err.endswith(f"nothing published: every line of {path} is invalid\n")


def test_publish_accepts_a_utf8_byte_order_mark(
    env_settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    event = upsert("o", "bom", 1)
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + event.to_json() + b"\n")
    assert main(["publish", str(path)]) == 0, capsys.readouterr().err
    assert "published 1 event to" in capsys.readouterr().out
    [(value, _)] = asyncio.run(read_topic(env_settings, env_settings.topic, 1))
    assert json.loads(value)["event_id"] == event.event_id


def test_get_and_list_print_the_same_json_from_both_stores(
    env_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    owner = uuid.uuid4().hex
    events = [
        upsert(owner, "p", 1, metadata="hé", timestamp=20, score=1.5, tags=["a"], nested={"n": 1}),
        upsert(owner, "q", 2, metadata="x", timestamp=10),
        upsert(owner, "r", 3, metadata="gone", timestamp=30),
        delete(owner, "r", 4),
    ]

    for name in ("redis", "dynamodb"):
        asyncio.run(write_direct(env_settings, name, events))
    printed = {}
    for store in ("redis", "dynamodb"):
        assert (
            main(["get", "--store", store, "opponents", f"owner_id={owner}", "opponent_id=p"]) == 0
        )
        assert main(["list", "--store", store, "opponents", owner]) == 0
        assert (
            main(["get", "--store", store, "opponents", f"owner_id={owner}", "opponent_id=r"]) == 1
        )
        printed[store] = capsys.readouterr().out
    assert printed["redis"] == printed["dynamodb"]
    lines = [json.loads(line) for line in printed["redis"].splitlines()]
    assert lines[0] == {"owner_id": owner, "opponent_id": "p", "metadata": "hé", "timestamp": 20,
                        "score": 1.5, "tags": ["a"], "nested": {"n": 1}}  # fmt: skip
    assert [item["opponent_id"] for item in lines[1:]] == ["p", "q"]


def test_get_prints_the_key_attributes_in_the_declarations_order_from_both_stores(
    env_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    """A service that lists the sort key first: DynamoDB keeps the attributes in the order
    written, Redis builds the key from the declaration. Both print the key attributes first,
    as declared, then the others by name."""
    owner = f"user:{uuid.uuid4().hex[:6]}"
    written = upsert(owner, "a b", 1, zeta=1, metadata="50%", timestamp=5)
    event = written.model_copy(update={"key": {"opponent_id": "a b", "owner_id": owner}})
    printed = []
    for store in ("redis", "dynamodb"):
        asyncio.run(write_direct(env_settings, store, [event]))
        argv = ["get", "--store", store, "opponents", f"owner_id={owner}", "opponent_id=a b"]
        assert main(argv) == 0
        printed.append(capsys.readouterr().out)
    expected = json.dumps({"owner_id": owner, "opponent_id": "a b", "metadata": "50%",
                           "timestamp": 5, "zeta": 1}, separators=(",", ":"))  # fmt: skip
    assert printed == [expected + "\n"] * 2


def test_get_and_list_show_dynamodb_sets_and_binary_in_their_documented_form(
    env_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    """Types JSON lacks: a binary as {"$binary": base64}, a set as its sorted members."""
    owner = uuid.uuid4().hex
    client = dynamodb_client(env_settings.dynamodb)
    client.put_item(
        TableName=env_settings.tables["opponents"].physical_name("opponents"),
        Item={"owner_id": {"S": owner}, "opponent_id": {"S": "p"}, "timestamp": {"N": "1"},
              "blob": {"B": b"\x00\xff\x01"}, "tags": {"SS": ["y", "x"]},
              "nums": {"NS": ["2.5", "1"]}, "keys": {"BS": [b"b", b"a"]},
              "deep": {"L": [{"M": {"b": {"B": b"z"}}}]}},
    )  # fmt: skip
    client.close()
    assert (
        main(["get", "--store", "dynamodb", "opponents", f"owner_id={owner}", "opponent_id=p"]) == 0
    )
    assert main(["list", "--store", "dynamodb", "opponents", owner]) == 0
    got, listed = capsys.readouterr().out.splitlines()
    assert got == listed
    assert json.loads(got) == {
        "owner_id": owner, "opponent_id": "p", "timestamp": 1,
        "blob": {"$binary": "AP8B"}, "tags": ["x", "y"], "nums": [1, 2.5],
        "keys": [{"$binary": "YQ=="}, {"$binary": "Yg=="}], "deep": [{"b": {"$binary": "eg=="}}],
    }  # fmt: skip


def test_get_and_list_read_an_empty_key_value_that_only_redis_can_hold(
    env_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    """An empty key value is an item Redis holds (DynamoDB dead-letters it for itself): `get`
    and `list` read it from Redis, and DynamoDB has no such item."""
    owner = f"user:{uuid.uuid4().hex[:6]}"
    events = [
        upsert(owner, "", 1, metadata="m", timestamp=5),
        upsert("", "p", 1, metadata="n", timestamp=6),
    ]
    asyncio.run(write_direct(env_settings, "redis", events))
    assert main(["get", "--store", "redis", "opponents", f"owner_id={owner}", "opponent_id="]) == 0
    shown = {"owner_id": owner, "opponent_id": "", "metadata": "m", "timestamp": 5}
    assert json.loads(capsys.readouterr().out) == shown
    assert main(["list", "--store", "redis", "opponents", ""]) == 0
    listed = {"owner_id": "", "opponent_id": "p", "metadata": "n", "timestamp": 6}
    assert [json.loads(line) for line in capsys.readouterr().out.splitlines()] == [listed]
    argv = ["get", "--store", "dynamodb", "opponents", f"owner_id={owner}", "opponent_id="]
    assert main(argv) == 1
    assert capsys.readouterr().err == "not found\n"
    assert main(["list", "--store", "dynamodb", "opponents", ""]) == 0
    assert capsys.readouterr().out == ""


def test_get_names_a_missing_key_attribute(
    env_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["get", "--store", "redis", "opponents", "owner_id=x"]) == 2
    assert "missing opponent_id" in capsys.readouterr().err


def test_publisher_fills_versions_that_never_go_back(env_settings: Settings) -> None:
    async def run() -> list[int]:
        async with Publisher(env_settings.kafka_bootstrap_servers, env_settings.topic,
                             env_settings.tables, "svc") as publisher:  # fmt: skip
            key = {"owner_id": "o", "opponent_id": "p"}
            first = await publisher.upsert("opponents", key, {"metadata": "a", "timestamp": 1})
            second = await publisher.delete("opponents", key)
            return [first.ts, second.ts]

    stamps = asyncio.run(run())
    assert stamps[0] < stamps[1]
    published = asyncio.run(read_topic(env_settings, env_settings.topic, 2))
    assert [json.loads(v)["op"] for v, _ in published] == ["upsert", "delete"]


GET = ["get", "--store", "redis", "opponents", "owner_id=o", "opponent_id=p"]
NO_INDEX = {"CDC_TABLES": '{"tbl": {"partition_key": "id", "sort_key": "s"}}'}
JSONL = ["snapshot", "--source", "jsonl", "--file", "{tmp}/events.jsonl",
         "--checkpoint", "{tmp}/snap.json"]  # fmt: skip
LEGACY = ["snapshot", "--source", "redis-legacy", "--checkpoint", "{tmp}/snap.json"]
WIDGETS = {"CDC_TABLES": '{"widgets": {"partition_key": "id", "dynamodb_table": "widgets"}}'}
# fmt: off
ONE_LINE_ERRORS = [
    ("publish-missing", ["publish", "{tmp}/nosuch.jsonl"], {}, "no such file"),
    ("publish-directory", ["publish", "{tmp}"], {}, "is a directory"),
    ("tables-not-json", ["lag"], {"CDC_TABLES": "not json"}, "CDC_TABLES: not valid JSON"),
    ("redis-url", GET, {"CDC_REDIS_URL": "notaurl"}, "CDC_REDIS_URL: expected a URL"),
    ("bootstrap-port", ["stack", "status"], {"CDC_KAFKA_BOOTSTRAP_SERVERS": "host:abc"},
     "CDC_KAFKA_BOOTSTRAP_SERVERS: expected host:port"),
    ("get-redis-down", GET, {}, "cannot reach Redis"),
    ("get-dynamodb-down", ["get", "--store", "dynamodb", *GET[3:]], {}, "cannot reach DynamoDB"),
    ("verify-down", ["verify"], {}, "cannot reach"),
    ("lag-down", ["lag", "--samples", "1"], {}, "cannot reach Kafka"),
    ("publish-down", ["publish", "{tmp}/events.jsonl"], {}, "cannot reach Kafka"),
    ("dlq-list-down", ["dlq", "list"], {}, "cannot reach Kafka"),
    ("dlq-replay-down", ["dlq", "replay"], {}, "cannot reach Kafka"),
    ("snapshot-down", JSONL, {}, "cannot reach Kafka"),
    ("snapshot-dynamodb-down", ["snapshot", "--source", "dynamodb", "--checkpoint",
                                "{tmp}/snap.json"], {}, "cannot reach Kafka"),
    ("seed-legacy-down", ["seed-legacy", "--owners", "1", "--per-owner", "1"], {},
     "cannot reach Redis"),
    ("get-no-value", ["get", "--store", "dynamodb", "opponents", "owner_id", "opponent_id=p"],
     {}, "expected attribute=value, got 'owner_id'"),
    ("get-extra-key", [*GET, "owner=o"], {}, "owner: not a key attribute of 'opponents'"),
    ("get-repeated-key", [*GET, "opponent_id=q"], {},
     "opponent_id: a key attribute given more than once"),
    ("list-limit-0", ["list", "--store", "redis", "opponents", "o", "--limit", "0"], {},
     "--limit: must be at least 1, got 0"),
    ("list-limit-negative", ["list", "--store", "redis", "opponents", "o", "--limit", "-1"], {},
     "--limit: must be at least 1, got -1"),
    ("list-no-index", ["list", "--store", "dynamodb", "tbl", "o"], NO_INDEX, "no index_attribute"),
    ("seed-owners-negative", ["seed-legacy", "--owners", "-5", "--per-owner", "3"], {},
     "--owners: must be at least 1"),
    ("seed-per-owner-0", ["seed-legacy", "--owners", "5", "--per-owner", "0"], {},
     "--per-owner: must be at least 1"),
    ("seed-table-unknown", ["seed-legacy", "--owners", "1", "--per-owner", "1", "--table",
                            "nosuch"], {}, "'nosuch' is not declared"),
    ("max-rate-0", [*JSONL, "--max-rate", "0"], {}, "--max-rate: must be a finite number above 0"),
    ("max-rate-negative", [*JSONL, "--max-rate", "-5"], {}, "--max-rate: must be a finite"),
    ("max-rate-nan", [*JSONL, "--max-rate", "nan"], {}, "--max-rate: must be a finite"),
    ("chunk-0", [*JSONL, "--chunk", "0"], {}, "--chunk: must be at least 1"),
    ("chunk-negative", [*JSONL, "--chunk", "-1"], {}, "--chunk: must be at least 1"),
    ("segments-0", ["snapshot", "--source", "dynamodb", "--segments", "0"], {},
     "--segments: must be at least 1"),
    ("resume-nothing", [*JSONL, "--resume"], {}, "--resume: no checkpoint"),
    ("snapshot-legacy-no-sort-key", [*LEGACY, "--table", "widgets"], WIDGETS,
     "table 'widgets' has no sort_key"),
    ("verify-legacy-no-sort-key", ["verify", "--source", "redis-legacy", "--table", "widgets"],
     WIDGETS, "table 'widgets' has no sort_key"),
    ("seed-legacy-no-sort-key", ["seed-legacy", "--owners", "1", "--per-owner", "1", "--table",
                                 "widgets"], WIDGETS, "table 'widgets' has no sort_key"),
    ("zset-pattern-no-placeholder", [*LEGACY, "--zset-pattern", "nope"], {},
     "--zset-pattern 'nope' must hold {owner_id} once"),
    ("meta-pattern-no-placeholder", [*LEGACY, "--meta-pattern", "m:{owner_id}"], {},
     "--meta-pattern 'm:{owner_id}' must hold {opponent_id}"),
    # Bytes the locale cannot decode (a Latin-1 terminal, say) reach Python as surrogates.
    ("get-key-not-utf8", [*GET[:4], "owner_id=\udcff", "opponent_id=p"], {},
     "owner_id: not UTF-8 text"),
    ("list-partition-not-utf8", ["list", "--store", "redis", "opponents", "o\udcff"], {},
     "argument partition: not UTF-8 text"),
    ("zset-pattern-not-utf8", [*LEGACY, "--zset-pattern", "\udcff:{owner_id}"], {},
     "--zset-pattern: not UTF-8 text"),
    ("group-not-utf8", ["lag", "--group", "g\udcff"], {}, "--group: not UTF-8 text"),
    ("group-id-not-utf8", ["lag"], {"CDC_GROUP_ID": "g\udcff"}, "CDC_GROUP_ID: not UTF-8 text"),
    ("password-not-utf8", GET, {"CDC_REDIS_PASSWORD": "pw\udcff"},
     "CDC_REDIS_PASSWORD: not UTF-8 text"),
]
# fmt: on


@pytest.mark.parametrize(
    ("argv", "env", "says"),
    [pytest.param(argv, env, says, id=name) for name, argv, env, says in ONE_LINE_ERRORS],
)
def test_a_user_error_is_one_line_and_exit_code_2(
    argv: list[str], env: dict[str, str], says: str, tmp_path: Path
) -> None:
    (tmp_path / "events.jsonl").write_bytes(upsert("o", "p", 1).to_json() + b"\n")
    done = run_cli([arg.replace("{tmp}", str(tmp_path)) for arg in argv], services_down() | env)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1, done.stderr
    assert says in done.stderr and "Traceback" not in done.stderr
    assert not list(tmp_path.glob("snap*")), "nothing written"


def test_dlq_list_without_a_dlq_topic_says_so(services: Services) -> None:
    settings = services.settings()  # its topics were never created
    done = run_cli(["dlq", "list"], services.env(settings))
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr == f"error: topic {settings.dlq_topic} does not exist: create it with " \
        "`cdc-replicator init` (the dead-letter topic, 1 partition)\n"  # fmt: skip


def services_down() -> dict[str, str]:
    """Every service on a closed loopback port, for the cases that get as far as connecting."""
    down = f"127.0.0.1:{free_port()}"
    return {"CDC_KAFKA_BOOTSTRAP_SERVERS": down, "CDC_REDIS_URL": f"redis://{down}/0",
            "CDC_DYNAMODB_ENDPOINT_URL": f"http://{down}"}  # fmt: skip


def run_cli(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The real CLI in a subprocess: what a user sees, including what prints at exit."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CDC_")}
    return subprocess.run([sys.executable, "-m", "streams.cli.main", *argv], env=clean | env,
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip


@pytest.mark.slow  # aiokafka waits its request timeout (40 s) for an answer
def test_kafka_bootstrap_at_a_port_that_is_not_kafka_names_a_cause(services: Services) -> None:
    redis_port = urlsplit(services.redis_url).port  # a server that never answers Kafka's request
    done = run_cli(
        ["lag", "--samples", "1"], {"CDC_KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{redis_port}"}
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr == (
        f"error: cannot reach Kafka at 127.0.0.1:{redis_port} (CDC_KAFKA_BOOTSTRAP_SERVERS): "
        "no answer in Kafka's protocol in time (TimeoutError); is the server there Kafka?\n"
    )


def test_a_split_snapshot_that_cannot_reach_kafka_is_one_line_before_any_part(
    tmp_path: Path,
) -> None:
    (tmp_path / "events.jsonl").write_bytes(upsert("o", "p", 1).to_json() + b"\n")
    argv = [arg.replace("{tmp}", str(tmp_path)) for arg in [*JSONL, "--workers", "2"]]
    done = run_cli(argv, services_down())
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.startswith("error: cannot reach Kafka") and done.stderr.count("\n") == 1
    assert not list(tmp_path.glob("snap*")), "no checkpoint of any part is written"
    assert "Traceback" not in done.stderr and "Unclosed" not in done.stderr


def test_big_integral_floats_print_the_same_from_both_stores_and_verify_agrees(
    env_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    owner = uuid.uuid4().hex
    event = upsert(owner, "p", 1, a=1e23, b=float(2**60), c=1.5e18, d=1e125)
    for name in ("redis", "dynamodb"):
        asyncio.run(write_direct(env_settings, name, [event]))
    capsys.readouterr()
    printed = {}
    for store in ("redis", "dynamodb"):
        key = [f"owner_id={owner}", "opponent_id=p"]
        assert main(["get", "--store", store, "opponents", *key]) == 0
        printed[store] = capsys.readouterr().out
    assert printed["redis"] == printed["dynamodb"]
    assert '"a":100000000000000000000000,' in printed["redis"]  # not 99999999999999991611392
    assert main(["verify"]) == 0


def test_a_snapshot_with_problems_creates_its_snapshots_folder(
    env_settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("CDC_STACK_DIR", str(tmp_path / "fresh"))
    items = tmp_path / "items.jsonl"
    lines = [{"table": "opponents", "key": {"owner_id": "o", "opponent_id": name}, "data": data}
             for name, data in (("bad", {"": 1}), ("ok", {"x": 1}))]  # fmt: skip
    items.write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert main(["snapshot", "--source", "jsonl", "--file", str(items)]) == 0
    out = capsys.readouterr().out
    assert "published 1 items" in out and "1 problems" in out
    [listed] = (tmp_path / "fresh" / "snapshots").glob("*.problems.jsonl")
    assert "data attribute '' is empty" in listed.read_text()
