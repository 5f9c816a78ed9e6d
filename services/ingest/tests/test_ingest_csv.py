"""CSV uploads as departments export them, and the downloadable templates."""

from __future__ import annotations

from datetime import datetime

import pytest

from ioc_common.events import BtsEvent, CashlessEvent, Family, ObservationEvent, decode_telemetry
from ioc_common.timeutil import utc_now
from ioc_ingest.csv_upload import normalize_header, normalize_number, parse_csv
from ioc_ingest.testing import FIXED_NOW, Harness, memory_harness, settings_for_tests

BTS_TOPIC = "ioc.telemetry.bts.v1"


@pytest.mark.parametrize(
    ("text", "integer", "expected"),
    [
        ("1234", True, "1234"),
        ("1.234", True, "1234"),
        ("1.234.567", False, "1234567"),
        ("1 234 567", True, "1234567"),
        ("1234,5", False, "1234.5"),
        ("1.234,5", False, "1234.5"),
        ("1,234.5", False, "1234.5"),
        ("0,125", False, "0.125"),
        ("0.125", False, "0.125"),
        ("12.5", False, "12.5"),
        ("abc", True, "abc"),
    ],
)
def test_numbers_in_vietnamese_and_international_forms(
    text: str, integer: bool, expected: str
) -> None:
    assert normalize_number(text, integer=integer) == expected


def test_vietnamese_headers_with_or_without_diacritics() -> None:
    assert normalize_header("Mã đơn vị") == "ma_don_vi"
    assert normalize_header(" MA DON VI ") == "ma_don_vi"
    assert normalize_header("Số thôn có sóng") == "so_thon_co_song"


async def test_excel_export_with_bom_semicolons_and_vietnamese_headers(harness: Harness) -> None:
    text = (
        "\ufeffSTT;Mã đơn vị;Kỳ báo cáo;Nhà mạng;Công nghệ;Số trạm BTS;Tổng số thôn;"
        "Số thôn có sóng\r\n"
        "1;071;2025-05;Viettel;4G;1.042;65;63\r\n"
        "2;02233;2025-05;VNPT;3G;12;20;19\r\n"
    )
    r = await harness.upload("bts", text)
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["accepted"] == 2
    assert [x["row"] for x in body["results"]] == [2, 3]
    events = [decode_telemetry(rec.value) for rec in harness.broker.records(BTS_TOPIC)]
    sites = sorted(e.payload.sites for e in events if isinstance(e, BtsEvent))
    assert sites == [12, 1042]
    assert {rec.key for rec in harness.broker.records(BTS_TOPIC)} == {"071"}


async def test_per_row_errors_reference_the_row_number(harness: Harness) -> None:
    text = (
        "unit_code,observed_at,channel,transactions,value_vnd\n"
        "070,2025-06-18,qr,18240,5230000000\n"
        "070,2025-06-18,cash,10,10\n"
        "\n"
        '070,2025-06-18,card,"12,5",100\n'
    )
    r = await harness.upload("cashless", text)
    assert r.status_code == 202
    results = r.json()["results"]
    assert [(x["row"], x["status"]) for x in results] == [
        (2, "accepted"),
        (3, "rejected"),
        (5, "rejected"),
    ]
    assert results[1]["errors"][0]["field"] == "payload.channel"
    assert results[2]["errors"][0]["field"] == "payload.transactions"
    [record] = harness.broker.records("ioc.telemetry.cashless.v1")
    event = decode_telemetry(record.value)
    assert isinstance(event, CashlessEvent)
    assert event.payload.value_vnd == 5_230_000_000


async def test_uploading_the_same_file_twice_answers_duplicates(harness: Harness) -> None:
    text = "unit_code,observed_at,channel,transactions,value_vnd\n070,2025-06,qr,1,2\n"
    first = await harness.upload("cashless", text)
    again = await harness.upload("cashless", text)
    assert first.json()["accepted"] == 1
    assert again.status_code == 200
    assert again.json()["duplicates"] == 1
    # A correction with a higher revision is a new event.
    fixed = "unit_code,observed_at,channel,transactions,value_vnd,revision\n070,2025-06,qr,1,3,2\n"
    r = await harness.upload("cashless", fixed)
    assert r.json()["accepted"] == 1


async def test_observation_csv_with_decimal_comma_as_a_raw_text_body(harness: Harness) -> None:
    text = (
        "Mã chỉ tiêu;Mã đơn vị;Kỳ báo cáo;Giá trị;Tử số;Mẫu số\n"
        "households_fixed_broadband;08;2025-Q1;;80470,5;100000\n"
    )
    r = await harness.client.post(
        "/v1/uploads?family=observation",
        content=text.encode(),
        headers={**harness.headers(), "Content-Type": "text/csv"},
    )
    assert r.status_code == 202, r.text
    [record] = harness.broker.records("ioc.telemetry.observation.v1")
    event = decode_telemetry(record.value)
    assert isinstance(event, ObservationEvent)
    assert event.payload.numerator == 80470.5


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ("unit_code,observed_at\nChiêm Hóa,2025-05\n".encode("latin-1"), "UTF-8"),
        ("unit_code,observed_at\n".encode("utf-16"), "UTF-16"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00", "not a CSV"),
        (b"", "empty"),
        (
            b"unit_code,observed_at,operator,technology,sites,villages_total,villages_covered\n",
            "no data",
        ),
    ],
)
async def test_unreadable_files_get_a_clear_422(harness: Harness, data: bytes, needle: str) -> None:
    r = await harness.upload("bts", data)
    assert r.status_code == 422, r.text
    assert needle in r.json()["error"]["message_en"]


async def test_header_problems_name_the_columns(harness: Harness) -> None:
    text = "unit_code,observed_at,operatr,sites\n071,2025-05,Viettel,1\n"
    r = await harness.upload("bts", text)
    assert r.status_code == 422
    fields = {d["field"] for d in r.json()["error"]["details"]}
    assert {"operatr", "operator", "technology", "villages_total"} <= fields


def test_too_many_rows_and_too_long_lines_are_refused() -> None:
    head = "unit_code,observed_at,channel,transactions,value_vnd\n"
    rows = "070,2025-06,qr,1,2\n" * 3
    with pytest.raises(Exception, match="more than 2"):
        parse_csv((head + rows).encode(), Family.CASHLESS, max_rows=2, max_line_chars=200)
    with pytest.raises(Exception, match="longer than"):
        parse_csv(
            (head + "070," + "9" * 300 + "\n").encode(),
            Family.CASHLESS,
            max_rows=10,
            max_line_chars=200,
        )


async def test_missing_family_is_422(harness: Harness) -> None:
    r = await harness.client.post(
        "/v1/uploads",
        files={"file": ("x.csv", b"a,b\n1,2\n", "text/csv")},
        headers=harness.headers(),
    )
    assert r.status_code == 422
    assert r.json()["error"]["details"][0]["field"] == "family"


@pytest.mark.parametrize("family", [f.value for f in Family])
@pytest.mark.parametrize("lang", ["en", "vi"])
@pytest.mark.parametrize("clock", [FIXED_NOW, utc_now()], ids=["before-reform", "today"])
async def test_each_template_uploads_as_is(family: str, lang: str, clock: datetime) -> None:
    """Downloaded and uploaded unchanged, with a key of the province the example names: no
    backfill flag needed, a unit that exists in that period, before and after the reform."""
    async with memory_harness(settings_for_tests(), now=lambda: clock) as h:
        t = await h.client.get(f"/v1/uploads/template/{family}", params={"lang": lang})
        assert t.status_code == 200
        assert t.headers["content-type"].startswith("text/csv")
        assert t.content.startswith(b"\xef\xbb\xbf")
        r = await h.upload(family, t.content)  # the key is scoped to Tuyên Quang (08)
        assert r.status_code == 202, r.text
        assert r.json()["accepted"] == 1, r.text
