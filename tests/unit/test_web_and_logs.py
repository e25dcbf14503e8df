import logging
from collections.abc import Iterator

import pytest

from streams.logs import scrub_secrets
from streams.settings import Settings
from streams.worker.web import web_options


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "", "10.1.2.3", "worker.example.com"])  # noqa: S104
def test_a_bind_beyond_loopback_warns_that_the_endpoints_are_open(
    host: str, caplog: pytest.LogCaptureFixture
) -> None:
    web_options(Settings(web_host=host).worker)
    [warning] = caplog.records
    assert warning.levelname == "WARNING" and "no authentication" in warning.getMessage()
    assert f"CDC_WEB_HOST={host}:" in warning.getMessage()


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_a_loopback_bind_is_quiet(host: str, caplog: pytest.LogCaptureFixture) -> None:
    web_options(Settings(web_host=host).worker)
    web_options(Settings(web_host="0.0.0.0", web_enabled=False).worker)  # noqa: S104 -- no server
    assert caplog.records == []


def test_faust_serves_none_of_its_own_pages() -> None:
    options = web_options(Settings().worker)
    pages = ["router", "tables", "stats", "graph", "metrics"]
    assert [options[f"web_{page}_enabled"] for page in pages] == [False] * len(pages)


@pytest.fixture
def restored_record_factory() -> Iterator[None]:
    factory = logging.getLogRecordFactory()
    yield
    logging.setLogRecordFactory(factory)


@pytest.mark.usefixtures("restored_record_factory")
def test_secrets_are_masked_in_every_record_whoever_logs_them(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    scrub_secrets(["AKIDEXAMPLE", "hunter2", ""])
    logging.getLogger("botocore.endpoint").debug("headers={'Authorization': 'Credential=%s/x'}",
                                                 "AKIDEXAMPLE")  # fmt: skip
    logging.getLogger("anything").info("redis://:hunter2@host and %d%%", 5)
    logging.getLogger("anything").info("nothing secret: %s", "ok")
    assert [r.getMessage() for r in caplog.records] == [
        "headers={'Authorization': 'Credential=***/x'}",
        "redis://:***@host and 5%",
        "nothing secret: ok",
    ]
