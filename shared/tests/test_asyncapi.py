from __future__ import annotations

from pathlib import Path

from ioc_common.asyncapi import build_asyncapi, render_asyncapi
from ioc_common.topics import ALL_TOPICS

DOC = Path(__file__).resolve().parents[2] / "docs" / "asyncapi.json"


def test_every_topic_has_a_channel_with_a_schema() -> None:
    doc = build_asyncapi()
    addresses = {c["address"] for c in doc["channels"].values()}
    assert addresses == set(ALL_TOPICS)
    schemas = doc["components"]["schemas"]
    assert {"BtsEvent", "MetricUpdated", "AlertChanged", "DeadLetter", "BtsPayload"} <= set(schemas)
    assert "sites" in schemas["BtsPayload"]["properties"]


def test_published_document_is_up_to_date() -> None:
    # Regenerate with: ioc asyncapi --output docs/asyncapi.json
    assert DOC.read_text(encoding="utf-8") == render_asyncapi()
