"""Who may write what: missing, wrong, revoked and out-of-scope keys; the rate limit."""

from __future__ import annotations

from typing import Any

from ioc_ingest.testing import Harness, memory_harness, settings_for_tests

TOPIC = "ioc.telemetry.bts.v1"


def code(body: dict[str, Any]) -> str:
    return str(body["error"]["code"])


async def test_missing_key_is_401(harness: Harness, make_bts: Any) -> None:
    r = await harness.client.post("/v1/events", json=make_bts())
    assert r.status_code == 401
    assert code(r.json()) == "unauthenticated"
    assert "Bearer" in r.json()["error"]["message_en"]


async def test_wrong_and_malformed_keys_are_401(harness: Harness, make_bts: Any) -> None:
    prefix = harness.key.split("_")[1]
    for bad in (
        f"ioc_{prefix}_not-the-secret",  # right prefix, wrong secret
        "ioc_zzzzzzzz_" + "a" * 43,  # unknown prefix
        "just-a-string",
        harness.key + "x",
    ):
        r = await harness.client.post(
            "/v1/events", json=make_bts(), headers={"Authorization": f"Bearer {bad}"}
        )
        assert r.status_code == 401, bad
    assert harness.broker.records(TOPIC) == []
    assert harness.metric("ioc_ingest_auth_failures_total", {"reason": "unauthenticated"}) == 4


async def test_x_api_key_header_works_too(harness: Harness, make_bts: Any) -> None:
    r = await harness.client.post("/v1/events", json=make_bts(), headers={"X-API-Key": harness.key})
    assert r.status_code == 202


async def test_revoked_key_is_401(harness: Harness, make_bts: Any) -> None:
    key = harness.create_key()
    ok = await harness.client.post("/v1/events", json=make_bts(), headers=harness.headers(key))
    assert ok.status_code == 202
    harness.keys.revoke(key.split("_")[1])
    r = await harness.client.post("/v1/events", json=make_bts(), headers=harness.headers(key))
    assert r.status_code == 401
    assert "revoked" in r.json()["error"]["message_en"]


async def test_revocation_waits_for_the_cache_ttl_when_caching(make_bts: Any) -> None:
    async with memory_harness(settings_for_tests(key_cache_ttl_seconds=3600)) as h:
        assert (await h.client.post("/v1/events", json=make_bts(), headers=h.headers())).is_success
        h.keys.revoke(h.key.split("_")[1])
        # Documented: a revoked key keeps working until its cache entry expires.
        r = await h.client.post("/v1/events", json=make_bts(), headers=h.headers())
        assert r.status_code == 202


async def test_family_out_of_scope_is_403_naming_the_family(
    harness: Harness, make_bts: Any
) -> None:
    key = harness.create_key(families=["cashless"])
    r = await harness.client.post("/v1/events", json=make_bts(), headers=harness.headers(key))
    assert r.status_code == 403
    body = r.json()
    assert code(body) == "forbidden"
    assert "'bts'" in body["error"]["message_en"]
    assert [d["field"] for d in body["error"]["details"]] == ["family"]


async def test_district_key_writes_its_district_and_communes_only(
    harness: Harness, make_bts: Any
) -> None:
    key = harness.create_key(units=["071"])
    for unit in ("071", "02233"):  # the district, and a commune of it
        r = await harness.client.post(
            "/v1/events", json=make_bts(unit), headers=harness.headers(key)
        )
        assert r.status_code == 202, unit
    for unit in ("072", "02431", "08"):  # a sibling district, its commune, the province
        r = await harness.client.post(
            "/v1/events", json=make_bts(unit), headers=harness.headers(key)
        )
        assert r.status_code == 403, unit
        assert unit in r.json()["error"]["message_en"]


async def test_indicator_scope_limits_observations(harness: Harness) -> None:
    key = harness.create_key(families=["observation"], indicators=["internet_users_rate"])
    event = {
        "idempotency_key": "x",
        "family": "observation",
        "indicator": "households_fixed_broadband",
        "unit_code": "08",
        "observed_at": "2025",
        "payload": {"numerator": 1, "denominator": 2},
    }
    r = await harness.client.post(
        "/v1/events:batch", json={"events": [event]}, headers=harness.headers(key)
    )
    [result] = r.json()["results"]
    assert result["code"] == "forbidden"
    assert result["errors"][0]["field"] == "indicator"


async def test_all_units_key_writes_anywhere(harness: Harness, make_bts: Any) -> None:
    key = harness.create_key(all_units=True)
    r = await harness.client.post("/v1/events", json=make_bts("001"), headers=harness.headers(key))
    assert r.status_code == 202


async def test_rate_limit_per_key_answers_429_with_retry_after(make_bts: Any) -> None:
    async with memory_harness(settings_for_tests(rate_per_second=0.01, rate_burst=2)) as h:
        other = h.create_key()
        codes = [
            (await h.client.post("/v1/events", json=make_bts(), headers=h.headers())).status_code
            for _ in range(2)
        ]
        assert codes == [202, 202]
        r = await h.client.post("/v1/events", json=make_bts(), headers=h.headers())
        assert r.status_code == 429
        assert code(r.json()) == "rate_limited"
        assert int(r.headers["Retry-After"]) >= 1
        # Another key has its own bucket.
        r = await h.client.post("/v1/events", json=make_bts(), headers=h.headers(other))
        assert r.status_code == 202
