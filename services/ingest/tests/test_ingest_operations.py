"""Health, readiness, metrics, the families catalogue and the OpenAPI document."""

from __future__ import annotations

from typing import Any

from ioc_ingest.testing import Harness


async def test_health_ready_and_metrics(harness: Harness, make_bts: Any) -> None:
    assert (await harness.client.get("/healthz")).json()["status"] == "ok"
    ready = await harness.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"broker": True, "database": True}
    await harness.client.post("/v1/events", json=make_bts(), headers=harness.headers())
    await harness.client.post("/v1/events", json=make_bts("999"), headers=harness.headers())
    text = (await harness.client.get("/metrics")).text
    assert 'ioc_ingest_events_total{family="bts",outcome="accepted"} 1.0' in text
    assert 'ioc_ingest_events_total{family="bts",outcome="rejected"} 1.0' in text
    assert 'ioc_ingest_rejections_total{reason="unit"} 1.0' in text
    assert "ioc_ingest_publish_seconds_count 1.0" in text


async def test_families_lists_schemas_csv_layouts_and_indicators(harness: Harness) -> None:
    r = await harness.client.get("/v1/families")
    assert r.status_code == 200
    body = r.json()
    families = {f["family"]: f for f in body["families"]}
    assert set(families) == {"bts", "public_service", "cashless", "observation"}
    bts = families["bts"]
    assert bts["topic"] == "ioc.telemetry.bts.v1"
    assert "sites" in bts["submission_schema"]["$defs"]["BtsPayload"]["properties"]
    assert "bts_sites" in bts["indicators"]
    assert {"name": "unit_code", "header_vi": "Mã đơn vị"}.items() <= bts["csv_columns"][0].items()
    ratio = {i["code"]: i for i in body["indicators"]}["households_fixed_broadband"]
    assert ratio["observation_payload"] == "numerator+denominator"


async def test_openapi_documents_bodies_errors_and_both_key_schemes(harness: Harness) -> None:
    doc = (await harness.client.get("/openapi.json")).json()
    single = doc["paths"]["/v1/events"]["post"]
    body_ref = single["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert body_ref == "#/components/schemas/Submission"
    assert "oneOf" in doc["components"]["schemas"]["Submission"]
    assert {"200", "202", "401", "403", "413", "422", "429", "503"} <= set(single["responses"])
    assert "Gửi" in single["summary"]
    assert "Send" in single["summary"]
    assert set(doc["components"]["securitySchemes"]) == {"BearerKey", "HeaderKey"}
    batch = doc["paths"]["/v1/events:batch"]["post"]
    assert batch["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "BatchRequest"
    )
    assert "multipart/form-data" in doc["paths"]["/v1/uploads"]["post"]["requestBody"]["content"]
