"""Render the generated parts of the docs:

- docs/events.md from docs/asyncapi.json: every topic, its key, every message's fields with
  types and descriptions, and an example of each message built from the real models;
- the settings tables of docs/admin.md (between ``<!-- settings:begin -->`` and
  ``<!-- settings:end -->``) from the services' ``ServiceSettings`` classes.

    python scripts/render_docs.py           # rewrite them
    python scripts/render_docs.py --check   # exit 1 when either is stale

tests/docs/test_generated_docs.py runs the check; regenerate after `ioc asyncapi` or after
adding a setting.
"""

from __future__ import annotations

import argparse
import inspect
import json
import re
import sys
from datetime import UTC, date, datetime
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any
from uuid import UUID

from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from ioc_common.dev import SERVICE_ORDER
from ioc_common.events import (
    AlertChanged,
    BtsEvent,
    CashlessEvent,
    DeadLetter,
    MetricUpdated,
    MetricUpdates,
    ObservationEvent,
    PublicServiceEvent,
)
from ioc_common.settings import ServiceSettings, settings_classes

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "docs" / "asyncapi.json"
TARGET = ROOT / "docs" / "events.md"
ADMIN = ROOT / "docs" / "admin.md"
BEGIN, END = "<!-- settings:begin -->", "<!-- settings:end -->"

_AT = datetime(2024, 6, 3, 2, 15, tzinfo=UTC)
_COMMON: dict[str, Any] = {
    "received_at": _AT,
    "source": "so-tttt-tq",
    "revision": 1,
}

#: One example per message, by message name; each is validated by building the model.
EXAMPLES: dict[str, BaseModel] = {
    "bts_event": BtsEvent.model_validate(
        {
            **_COMMON,
            "event_id": "1b4e28ba-2fa1-4d2e-8c5d-6c8f1f0c2a11",
            "family": "bts",
            "unit_code": "071",
            "observed_at": "2024-05",
            "payload": {
                "operator": "Viettel",
                "technology": "4G",
                "sites": 42,
                "villages_total": 65,
                "villages_covered": 63,
            },
        }
    ),
    "public_service_event": PublicServiceEvent.model_validate(
        {
            **_COMMON,
            "event_id": "5a0b5b2e-8d0c-4a57-9c3e-2f7d2b1e6a10",
            "family": "public_service",
            "unit_code": "02233",
            "observed_at": "2024-05",
            "payload": {
                "service_level": "full_online",
                "dossiers_total": 1250,
                "dossiers_online": 1010,
                "dossiers_processed_online": 990,
                "paid_online": 640,
            },
        }
    ),
    "cashless_event": CashlessEvent.model_validate(
        {
            **_COMMON,
            "event_id": "9e1f7c52-3b8a-4d1e-8f0a-6c2d5e4b3a21",
            "family": "cashless",
            "unit_code": "070",
            "observed_at": "2024-06-02",
            "payload": {"channel": "qr", "transactions": 18240, "value_vnd": 5230000000},
        }
    ),
    "observation_event": ObservationEvent.model_validate(
        {
            **_COMMON,
            "event_id": "c3d2e1f0-4a5b-4c6d-8e7f-9a0b1c2d3e4f",
            "family": "observation",
            "indicator": "households_fixed_broadband",
            "unit_code": "08",
            "observed_at": "2023",
            "payload": {"numerator": 80470, "denominator": 100000},
        }
    ),
    "metric_updates": MetricUpdates(
        updates=[
            MetricUpdated(
                indicator="dossiers_processed_online_rate",
                unit_code="071",
                level="district",  # type: ignore[arg-type]
                granularity="month",  # type: ignore[arg-type]
                period="2024-05",
                period_start=date(2024, 5, 1),
                value=79.2,
                previous_value=81.0,
                numerator=990,
                denominator=1250,
                version=7,
                updated_at=_AT,
            ),
            MetricUpdated(
                indicator="dossiers_processed_online_rate",
                unit_code="071",
                level="district",  # type: ignore[arg-type]
                granularity="year",  # type: ignore[arg-type]
                period="2024",
                period_start=date(2024, 1, 1),
                value=83.5,
                previous_value=83.9,
                numerator=5010,
                denominator=6000,
                version=31,
                updated_at=_AT,
            ),
        ]
    ),
    "alert_changed": AlertChanged(
        alert_id=UUID("0f8c2a7e-6d1b-4e3a-9b5c-7d8e9f0a1b2c"),
        fingerprint="lagging:dossiers_processed_online_rate:071",
        rule="lagging",
        indicator="dossiers_processed_online_rate",
        unit_code="071",
        pillar="digital_government",
        state="firing",  # type: ignore[arg-type]
        severity="warning",  # type: ignore[arg-type]
        summary_vi="Lâm Bình: tỷ lệ hồ sơ xử lý trực tuyến 79,2% — chậm so với kế hoạch 85%",
        summary_en="Lâm Bình: dossiers processed online 79.2% — behind the planned 85%",
        changed_at=_AT,
        actor=None,
        version=1,
    ),
    "dead_letter": DeadLetter(
        topic="ioc.telemetry.bts.v1",
        partition=3,
        offset=1842,
        key="071",
        reason="undecodable",
        detail="payload.sites: Input should be greater than or equal to 0",
        original_b64="eyJmYW1pbHkiOiAiYnRzIiwgIi4uLiI6IDF9",
        consumer="ioc-metrics",
        failed_at=_AT,
    ),
}

#: What each topic is keyed by (the design's rule; the AsyncAPI document names it in prose).
KEYS = {
    "telemetry": "the unit's district code (after 1 July 2025: the commune's former district), "
    "or the province code for a province-level figure — one district's events stay in order",
    "ioc.metrics.updated.v2": "the unit code of every aggregate in the record — one unit's "
    "changes stay in order",
    "ioc.alerts.v1": "the alert's unit code",
    "ioc.dlq.v1": "the key of the failed message",
}


def _ref_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


def _type(schema: dict[str, Any]) -> str:
    if "$ref" in schema:
        name = _ref_name(schema["$ref"])
        return f"[{name}](#{name.lower()})"
    if "const" in schema:
        return f"`{json.dumps(schema['const'])}`"
    if "enum" in schema:
        return " \\| ".join(f"`{v}`" for v in schema["enum"])
    if "anyOf" in schema:
        return " or ".join(_type(s) for s in schema["anyOf"])
    kind = schema.get("type", "any")
    if kind == "array":
        return f"list of {_type(schema.get('items', {}))}"
    if "format" in schema:
        return f"{kind} ({schema['format']})"
    return str(kind)


def _constraints(schema: dict[str, Any]) -> str:
    parts: list[str] = []
    for key, text in (
        ("minimum", "≥ {}"),
        ("exclusiveMinimum", "> {}"),
        ("maximum", "≤ {}"),
        ("minLength", "length ≥ {}"),
        ("maxLength", "length ≤ {}"),
        ("minItems", "≥ {} items"),
        ("maxItems", "≤ {} items"),
        ("pattern", "pattern `{}`"),
    ):
        if key in schema:
            parts.append(text.format(schema[key]))
    if "default" in schema:
        parts.append(f"default `{json.dumps(schema['default'])}`")
    if "examples" in schema:
        parts.append("e.g. " + ", ".join(f"`{e}`" for e in schema["examples"]))
    return "; ".join(parts)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _fields(schema: dict[str, Any]) -> list[str]:
    required = set(schema.get("required", []))
    lines = ["| field | type | required | description |", "|---|---|---|---|"]
    for name, prop in schema.get("properties", {}).items():
        description = prop.get("description", "")
        extra = _constraints(prop)
        text = "; ".join(p for p in (description, extra) if p)
        lines.append(
            f"| `{name}` | {_type(prop)} | {'yes' if name in required else ''} | {_cell(text)} |"
        )
    return lines


def render(doc: dict[str, Any]) -> str:
    schemas: dict[str, Any] = doc["components"]["schemas"]
    messages: dict[str, Any] = doc["components"]["messages"]
    out = [
        "# Sự kiện / Event contracts",
        "",
        "<!-- Generated by scripts/render_events_doc.py from docs/asyncapi.json; do not edit. -->",
        "",
        f"{doc['info']['description']} — AsyncAPI {doc['asyncapi']}, version "
        f"{doc['info']['version']}. The machine-readable document is "
        "[`asyncapi.json`](asyncapi.json) (`ioc asyncapi` writes it from the pydantic models in "
        "`ioc_common.events`; producers and consumers import the same models). Every message is "
        f"`{doc['defaultContentType']}` (UTF-8). Fields marked *yes* are required; no other "
        "field is allowed (`additionalProperties: false`).",
        "",
        "Các chủ đề Kafka của nền tảng / the platform's Kafka topics:",
        "",
        "| topic | message | key | what |",
        "|---|---|---|---|",
    ]
    channels = sorted(doc["channels"].values(), key=lambda c: c["address"])
    for channel in channels:
        address = channel["address"]
        (message,) = channel["messages"]
        key = KEYS["telemetry"] if address.startswith("ioc.telemetry.") else KEYS[address]
        short = key.split(" — ")[0]
        out.append(
            f"| `{address}` | [{message}](#{message}) | {short} | "
            f"{_cell(channel['description'].split('. Key:')[0])} |"
        )
    out += ["", "Keys: " + KEYS["telemetry"] + ".", ""]
    for channel in channels:
        (message,) = channel["messages"]
        payload = _ref_name(messages[message]["payload"]["$ref"])
        schema = schemas[payload]
        out += [f"## {message}", "", f"Topic `{channel['address']}`, payload `{payload}`."]
        if "description" in schema:
            out += ["", schema["description"]]
        out += ["", *_fields(schema), ""]
        example = EXAMPLES[message]
        out += [
            "Example:",
            "",
            f"<!-- example: run model={type(example).__module__}:{type(example).__name__} -->",
            "```json",
            json.dumps(example.model_dump(mode="json"), ensure_ascii=False, indent=2),
            "```",
            "",
        ]
    out += ["## Shared types", ""]
    used = {_ref_name(m["payload"]["$ref"]) for m in messages.values()}
    for name in sorted(schemas):
        if name in used:
            continue
        schema = schemas[name]
        out += [f"### {name}", ""]
        if "description" in schema:
            out += [schema["description"], ""]
        if "enum" in schema:
            out += ["One of " + ", ".join(f"`{v}`" for v in schema["enum"]) + ".", ""]
        else:
            out += [*_fields(schema), ""]
    return "\n".join(out).rstrip("\n") + "\n"


# --- settings ------------------------------------------------------------------------------


def env_name(cls: type[ServiceSettings], name: str, field: FieldInfo) -> str:
    choices = getattr(field.validation_alias, "choices", None)
    if choices:
        return str(choices[0])
    if cls is ServiceSettings:  # read by each service under its own prefix
        return f"IOC_<SERVICE>_{name.upper()}"
    return f"{str(cls.model_config.get('env_prefix', '')).upper()}{name.upper()}"


def comments(cls: type) -> dict[str, str]:
    """The ``#:`` / ``#`` comment lines just above each field in the class's source."""
    lines = inspect.getsource(cls).splitlines()
    found: dict[str, str] = {}
    for i, line in enumerate(lines):
        match = re.match(r"^    (\w+)\s*:", line)
        if not match:
            continue
        above: list[str] = []
        j = i - 1
        while j >= 0 and lines[j].strip().startswith("#"):
            text = lines[j].strip().lstrip("#:").strip()
            if not text.startswith("---"):  # a section marker, not about the field
                above.insert(0, text)
            j -= 1
        found[match[1]] = " ".join(above)
    return found


#: Notes for settings whose code carries no comment.
NOTES = {
    "KAFKA_BOOTSTRAP_SERVERS": "the Kafka brokers, comma-separated host:port",
    "DATABASE_URL": "PostgreSQL, `postgresql+asyncpg://user:password@host:port/db` (a secret)",
    "IOC_LOG_LEVEL": "JSON logs at this level and above",
    "IOC_<SERVICE>_HOST": "the service's own address, only in what it prints",
    "IOC_<SERVICE>_PORT": "the same; uvicorn's `--port` decides where it listens",
    "IOC_INGEST_RATE_BURST": "requests a key may send at once before the rate applies",
    "IOC_METRICS_GROUP_ID": "Kafka consumer group; replicas share the partitions",
    "IOC_ALERTS_GROUP_ID": "Kafka consumer group of the metric updates",
    "IOC_ALERTS_SWEEP_INTERVAL_S": "how often every (indicator, unit) is judged again",
    "IOC_ALERTS_GROUP_WAIT_S": "a recipient's notifications are grouped this long",
    "IOC_ALERTS_REPEAT_INTERVAL_S": "reminder of a firing, unacknowledged alert",
    "IOC_ALERTS_MAX_ATTEMPTS": "deliveries tried this often before `dead`",
    "IOC_ALERTS_SMTP_PASSWORD": "a secret",
    "IOC_ALERTS_ZALO_SECRET_KEY": "a secret",
    "IOC_ALERTS_ZALO_REFRESH_TOKEN": "a secret; Zalo rotates it, the newest is kept in the DB",
    "IOC_ALERTS_ZALO_ACCESS_TOKEN": "a secret",
    "IOC_GATEWAY_SESSION_TTL_S": "how long a login lasts",
    "IOC_GATEWAY_COOKIE_SECURE": "true behind HTTPS",
    "IOC_GATEWAY_CONSUME_TELEMETRY": "show incoming data on the dashboard's ticker",
    "IOC_GATEWAY_FEED_ENABLED": "the live feed (WebSocket/SSE) as a whole",
    "IOC_GATEWAY_GROUP_PREFIX": "each gateway process consumes as `<prefix>-<random>`",
}


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "(required)"
    value = field.get_default(call_default_factory=True)
    if value is None or value is PydanticUndefined:
        return "—"
    if isinstance(value, SecretStr):
        return "(secret)"
    return f"`{json.dumps(value, ensure_ascii=False, default=str)}`"


def _kind(field: FieldInfo) -> str:
    text = str(field.annotation).replace("typing.", "").replace("<class '", "").replace("'>", "")
    return text.replace("pydantic.types.", "")


def settings_rows(cls: type[ServiceSettings], names: list[str]) -> list[str]:
    notes: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if isinstance(klass, type) and issubclass(klass, ServiceSettings):
            notes |= {k: v for k, v in comments(klass).items() if v}
    rows = []
    for name in names:
        field = cls.model_fields[name]
        env = env_name(cls, name, field)
        note = field.description or notes.get(name, "") or NOTES.get(env, "")
        rows.append(f"| `{env}` | {_cell(_kind(field))} | {_default(field)} | {_cell(note)} |")
    return rows


def render_settings() -> str:
    header = ["| variable | type | default | what |", "|---|---|---|---|"]
    out = [BEGIN, "", "Every service (`ioc_common.settings.ServiceSettings`):", "", *header]
    out += settings_rows(ServiceSettings, list(ServiceSettings.model_fields))
    found = {ep.name for ep in entry_points(group="ioc.services")}
    ordered = [n for n in SERVICE_ORDER if n in found] + sorted(found - set(SERVICE_ORDER))
    for service in ordered:
        for cls in settings_classes(service):
            own = [
                n
                for n in cls.model_fields
                if n not in ServiceSettings.model_fields
                or cls.model_fields[n].default != ServiceSettings.model_fields[n].default
            ]
            out += ["", f"**{service}** (`{cls.__module__}.{cls.__name__}`):", "", *header]
            out += settings_rows(cls, own)
    out += ["", END]
    return "\n".join(out)


def render_admin(text: str) -> str:
    start, end = text.index(BEGIN), text.index(END) + len(END)
    return text[:start] + render_settings() + text[end:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="exit 1 if a generated doc is stale")
    args = parser.parse_args(argv)
    wanted = {
        TARGET: render(json.loads(SOURCE.read_text(encoding="utf-8"))),
        ADMIN: render_admin(ADMIN.read_text(encoding="utf-8")),
    }
    stale = [p for p, text in wanted.items() if p.read_text(encoding="utf-8") != text]
    if args.check:
        for path in stale:
            print(f"{path} is stale: run python scripts/render_docs.py", file=sys.stderr)
        return 1 if stale else 0
    for path in stale:
        path.write_text(wanted[path], encoding="utf-8")
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
