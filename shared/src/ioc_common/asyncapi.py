"""The AsyncAPI 3.0 document of the platform's topics, generated from the pydantic models so
the published contract can never drift from the code (a test compares it with docs/)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from ioc_common import __version__
from ioc_common.events import (
    EVENT_MODELS,
    AlertChanged,
    DeadLetter,
    Family,
    MetricUpdates,
)
from ioc_common.topics import ALERTS, DLQ, METRICS_UPDATED, telemetry_topic

_DESCRIPTIONS = {
    Family.BTS: "Trạm BTS theo nhà mạng và công nghệ / BTS sites per operator and technology",
    Family.PUBLIC_SERVICE: "Hồ sơ dịch vụ công trực tuyến / online public-service dossiers",
    Family.CASHLESS: "Thanh toán không dùng tiền mặt / cashless payments",
    Family.OBSERVATION: "Quan sát chỉ tiêu bất kỳ / any catalogue indicator",
}


def _channel(
    address: str, message: str, model: type[BaseModel], description: str
) -> tuple[str, dict[str, Any], dict[str, Any]]:
    name = address.replace(".", "_")
    channel = {
        "address": address,
        "description": description,
        "messages": {message: {"$ref": f"#/components/messages/{message}"}},
    }
    msg = {
        "name": message,
        "contentType": "application/json",
        "payload": {"$ref": f"#/components/schemas/{model.__name__}"},
    }
    return name, channel, msg


def build_asyncapi() -> dict[str, Any]:
    entries: list[tuple[str, str, type[BaseModel], str, str]] = [
        (
            telemetry_topic(f),
            f"{f.value}_event",
            EVENT_MODELS[f],
            _DESCRIPTIONS[f] + ". Key: the unit's (former) district code, or its province.",
            "receive",
        )
        for f in Family
    ]
    entries += [
        (
            METRICS_UPDATED,
            "metric_updates",
            MetricUpdates,
            "Aggregates changed: one unit's changes from one committed batch, in order",
            "receive",
        ),
        (ALERTS, "alert_changed", AlertChanged, "Alert state or severity changed", "receive"),
        (DLQ, "dead_letter", DeadLetter, "Messages a consumer could not process", "receive"),
    ]
    _, defs = models_json_schema(
        [(m, "validation") for _, _, m, _, _ in entries],
        ref_template="#/components/schemas/{model}",
    )
    channels: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for address, message, model, description, action in entries:
        name, channel, msg = _channel(address, message, model, description)
        channels[name] = channel
        messages[message] = msg
        operations[f"{action}_{name}"] = {
            "action": action,
            "channel": {"$ref": f"#/channels/{name}"},
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "IOC platform events",
            "version": __version__,
            "description": "Kafka topics of the IOC digital-transformation platform",
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": defs.get("$defs", {})},
    }


def render_asyncapi() -> str:
    return json.dumps(build_asyncapi(), ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def write_asyncapi(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_asyncapi(), encoding="utf-8")
    return path
