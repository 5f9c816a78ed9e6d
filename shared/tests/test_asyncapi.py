from __future__ import annotations

from pathlib import Path

from ioc_common.asyncapi import build_asyncapi, render_asyncapi
from ioc_common.events import MAX_METRIC_UPDATES
from ioc_common.topics import ALL_TOPICS, METRICS_UPDATED

DOC = Path(__file__).resolve().parents[2] / "docs" / "asyncapi.json"


def test_every_topic_has_a_channel_with_a_schema() -> None:
    doc = build_asyncapi()
    addresses = {c["address"] for c in doc["channels"].values()}
    assert addresses == set(ALL_TOPICS)
    schemas = doc["components"]["schemas"]
    assert {"BtsEvent", "MetricUpdated", "AlertChanged", "DeadLetter", "BtsPayload"} <= set(schemas)
    assert "sites" in schemas["BtsPayload"]["properties"]


def test_metric_updates_carry_a_list_of_metric_updated() -> None:
    doc = build_asyncapi()
    (channel,) = [c for c in doc["channels"].values() if c["address"] == METRICS_UPDATED]
    assert METRICS_UPDATED.endswith(".v2")
    (message,) = channel["messages"]
    payload = doc["components"]["messages"][message]["payload"]["$ref"]
    assert payload == "#/components/schemas/MetricUpdates"
    updates = doc["components"]["schemas"]["MetricUpdates"]["properties"]["updates"]
    assert updates["items"] == {"$ref": "#/components/schemas/MetricUpdated"}
    assert (updates["minItems"], updates["maxItems"]) == (1, MAX_METRIC_UPDATES)


def test_published_document_is_up_to_date() -> None:
    # Regenerate with: ioc asyncapi --output docs/asyncapi.json
    assert DOC.read_text(encoding="utf-8") == render_asyncapi()
