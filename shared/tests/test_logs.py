from __future__ import annotations

import io
import json

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
