from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from ioc_common.logs import REDACTED, configure_logging, get_logger


def test_logs_are_json_with_event_id_and_secrets_redacted() -> None:
    stream = io.StringIO()
    configure_logging("INFO", stream=stream)
    get_logger("ioc.test").info(
        "ingest.accepted", provider="so-tttt", api_key="ioc_live_abc", count=3
    )
    line = json.loads(stream.getvalue().strip().splitlines()[-1])
    assert line["event"] == "ingest.accepted"
    assert line["provider"] == "so-tttt"
    assert line["count"] == 3
    assert line["api_key"] == REDACTED
    assert "ioc_live_abc" not in stream.getvalue()
    assert line["level"] == "info"
    assert line["logger"] == "ioc.test"


@pytest.fixture
def uvicorn_loggers() -> Iterator[None]:
    """uvicorn's loggers as a fresh process has them (an in-process server of an earlier test
    may have set their levels), restored afterwards."""
    loggers = [logging.getLogger(n) for n in ("uvicorn", "uvicorn.error", "uvicorn.access")]
    saved = [(lg.level, lg.handlers[:], lg.propagate, lg.filters[:]) for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.NOTSET)
    try:
        yield
    finally:
        for lg, (level, handlers, propagate, filters) in zip(loggers, saved, strict=True):
            lg.setLevel(level)
            lg.handlers[:], lg.propagate, lg.filters[:] = handlers, propagate, filters
        configure_logging("INFO")


@pytest.mark.usefixtures("uvicorn_loggers")
def test_query_strings_and_credentials_never_reach_a_line() -> None:
    stream = io.StringIO()
    configure_logging("INFO", stream=stream)
    logging.getLogger("uvicorn.access").info(
        '%s - "%s %s HTTP/%s" %d',
        "127.0.0.1:5000",
        "GET",
        "/v1/live/sse?after=3&token=sess-abc",
        "1.1",
        200,
    )
    logging.getLogger("uvicorn.error").info(
        '%s - "WebSocket %s" [accepted]', "127.0.0.1:5001", "/v1/live?token=sess-def"
    )
    get_logger("ioc.test").warning(
        "x.failed",
        url="https://hooks.example/h?sig=whsec-ghi",
        header="Bearer sess-jkl",
        note="đăng nhập / log in?",
    )
    text = stream.getvalue()
    for secret in ("sess-abc", "sess-def", "whsec-ghi", "sess-jkl"):
        assert secret not in text
    lines = [json.loads(line) for line in text.splitlines()]
    assert lines[0]["event"] == '127.0.0.1:5000 - "GET /v1/live/sse?*** HTTP/1.1" 200'
    assert lines[2]["url"] == f"https://hooks.example/h?{REDACTED}"
    assert lines[2]["header"] == f"Bearer {REDACTED}"
    assert lines[2]["note"] == "đăng nhập / log in?"


@pytest.mark.usefixtures("uvicorn_loggers")
def test_no_access_log_stays_off() -> None:
    """uvicorn's ``--no-access-log`` leaves ``uvicorn.access`` without handler or propagation;
    configuring the logs must not bring its lines (nor the WebSocket handshake lines) back."""
    access = logging.getLogger("uvicorn.access")
    access.handlers[:] = []
    access.propagate = False
    stream = io.StringIO()
    configure_logging("DEBUG", stream=stream)
    assert not access.hasHandlers()
    access.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:1", "GET", "/healthz", "1.1", 200)
    logging.getLogger("uvicorn.error").info(
        '%s - "WebSocket %s" [accepted]', "127.0.0.1:2", "/v1/live"
    )
    logging.getLogger("uvicorn.error").info("Application startup complete.")
    assert [json.loads(line)["event"] for line in stream.getvalue().splitlines()] == [
        "Application startup complete."
    ]
    # With access logs on (uvicorn's default gives the logger a handler), they come through.
    access.addHandler(logging.NullHandler())
    configure_logging("DEBUG", stream=stream)
    assert access.propagate
    access.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:1", "GET", "/healthz", "1.1", 200)
    assert "GET /healthz" in stream.getvalue()
