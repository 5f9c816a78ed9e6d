"""CSV files as departments export them: one documented column layout per family.

* UTF-8 with or without BOM (Excel's "CSV UTF-8"); anything else is refused with a hint.
* ``,`` ``;`` or tab as the delimiter, sniffed from the header line.
* Headers in English (``unit_code``) or Vietnamese, with or without diacritics and in any case
  (``Mã đơn vị``, ``ma_don_vi``, ``MA DON VI``). Columns ``STT``, ``Tên đơn vị``, ``Ghi chú``
  are ignored; any other unknown column is refused so a misspelt one is not silently dropped.
* Numbers: ``1234``, ``1.234`` or ``1 234`` (thousands), ``1234,5`` or ``1.234,5`` (decimal
  comma), ``1234.5`` (decimal point, for decimal columns only).
* A row without ``event_id`` gets one derived from what identifies the figure (family,
  indicator, unit, period, series, revision), so uploading the same file twice is idempotent;
  a corrected figure needs a higher ``revision``.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Final, Literal

from ioc_common.errors import FieldError, InvalidInput
from ioc_common.events import Family, canonical_choice
from ioc_ingest.validation import Rejection

Kind = Literal["text", "int", "number", "bool"]


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    vi: str
    target: str  # "unit_code" or "payload.sites"
    kind: Kind
    required: bool
    example: str
    description_en: str
    aliases: tuple[str, ...] = ()
    dimension: bool = False


_UNIT = Column(
    "unit_code", "Mã đơn vị", "unit_code", "text", True, "08",
    "official unit code: province 2 digits, district 3 (before 1 July 2025), commune 5",
    ("ma_dvhc", "ma_dia_ban", "don_vi"),
)  # fmt: skip
_OBSERVED = Column(
    "observed_at", "Kỳ báo cáo", "observed_at", "text", True, "2024-05",
    "the period: 2024-05-31 (day), 2024-05 (month), 2024-Q2 (quarter), 2024 (year)",
    ("ngay", "ngay_bao_cao", "ky", "thoi_gian", "thang"),
)  # fmt: skip
_TAIL: Final = (
    Column(
        "revision", "Lần sửa", "revision", "int", False, "1",
        "1 for the first report; raise it to correct a figure", ("phien_ban",),
    ),
    Column(
        "backfill", "Gửi bù", "backfill", "bool", False, "",
        "yes/có for periods older than ~400 days, sent on purpose", ("du_lieu_cu", "bo_sung"),
    ),
    Column(
        "event_id", "Mã sự kiện", "event_id", "text", False, "",
        "optional UUID; derived from the row's identity when empty", (),
    ),
)  # fmt: skip

LAYOUTS: Final[dict[Family, tuple[Column, ...]]] = {
    Family.BTS: (
        _UNIT,
        _OBSERVED,
        Column("operator", "Nhà mạng", "payload.operator", "text", True, "Viettel",
               "Viettel, VNPT, MobiFone, Vietnamobile or Gmobile", dimension=True),
        Column("technology", "Công nghệ", "payload.technology", "text", True, "4G",
               "2G, 3G, 4G or 5G", dimension=True),
        Column("sites", "Số trạm BTS", "payload.sites", "int", True, "42",
               "base stations on air", ("so_tram",)),
        Column("villages_total", "Tổng số thôn", "payload.villages_total", "int", True, "65",
               "villages in the unit", ("so_thon",)),
        Column("villages_covered", "Số thôn có sóng", "payload.villages_covered", "int", True,
               "63", "villages with a mobile signal", ("so_thon_phu_song",)),
        *_TAIL,
    ),
    Family.PUBLIC_SERVICE: (
        _UNIT,
        _OBSERVED,
        Column("service_level", "Mức độ dịch vụ", "payload.service_level", "text", True,
               "full_online", "full_online or partial_online", ("muc_do",), dimension=True),
        Column("dossiers_total", "Tổng hồ sơ", "payload.dossiers_total", "int", True, "1250",
               "dossiers received", ("ho_so_tiep_nhan", "tong_so_ho_so")),
        Column("dossiers_online", "Hồ sơ trực tuyến", "payload.dossiers_online", "int", True,
               "1010", "dossiers submitted online", ("ho_so_nop_truc_tuyen",)),
        Column("dossiers_processed_online", "Hồ sơ xử lý trực tuyến",
               "payload.dossiers_processed_online", "int", True, "990",
               "dossiers processed online"),
        Column("paid_online", "Hồ sơ thanh toán trực tuyến", "payload.paid_online", "int", True,
               "640", "dossiers paid online", ("thanh_toan_truc_tuyen",)),
        *_TAIL,
    ),
    Family.CASHLESS: (
        _UNIT,
        _OBSERVED,
        Column("channel", "Kênh thanh toán", "payload.channel", "text", True, "qr",
               "qr, card, bank_transfer, e_wallet or mobile_money", ("kenh",), dimension=True),
        Column("transactions", "Số giao dịch", "payload.transactions", "int", True, "18240",
               "number of payments"),
        Column("value_vnd", "Giá trị (đồng)", "payload.value_vnd", "int", True, "5230000000",
               "their value in VND", ("gia_tri", "gia_tri_vnd")),
        *_TAIL,
    ),
    Family.OBSERVATION: (
        Column("indicator", "Mã chỉ tiêu", "indicator", "text", True,
               "households_fixed_broadband", "catalogue code (GET /v1/families)",
               ("chi_tieu",), dimension=True),
        _UNIT,
        _OBSERVED,
        Column("value", "Giá trị", "payload.value", "number", False, "",
               "the value of a flow or stock indicator"),
        Column("numerator", "Tử số", "payload.numerator", "number", False, "80470",
               "a ratio's numerator"),
        Column("denominator", "Mẫu số", "payload.denominator", "number", False, "100000",
               "a ratio's denominator"),
        *_TAIL,
    ),
}  # fmt: skip

#: Columns of common exports that carry nothing the platform needs.
IGNORED: Final = frozenset({"stt", "so_thu_tu", "ten_don_vi", "ghi_chu", "ten_chi_tieu"})
_TRUE: Final = frozenset({"true", "1", "yes", "y", "x", "co"})
_FALSE: Final = frozenset({"false", "0", "no", "n", "khong"})


def normalize_header(text: str) -> str:
    """``Mã đơn vị`` → ``ma_don_vi``: no diacritics, lower case, ``_`` between words."""
    text = text.replace("đ", "d").replace("Đ", "D")
    plain = "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))
    return re.sub(r"[^a-z0-9]+", "_", plain.lower()).strip("_")


def _aliases(layout: Iterable[Column]) -> dict[str, Column]:
    table: dict[str, Column] = {}
    for col in layout:
        for alias in (col.name, normalize_header(col.vi), *col.aliases):
            table[alias] = col
    return table


_THOUSANDS_DOT = re.compile(r"-?[1-9]\d{0,2}(\.\d{3})+")
_THOUSANDS_COMMA = re.compile(r"-?[1-9]\d{0,2}(,\d{3}){2,}")


def normalize_number(text: str, *, integer: bool) -> str:
    """A number as written in Vietnam or elsewhere → Python's form; unparsable text passes
    through unchanged so the validator reports it."""
    s = re.sub(r"[\s\u00a0\u202f]", "", text)
    if "," in s and "." in s:
        if s.rfind(",") > s.rfind("."):
            return s.replace(".", "").replace(",", ".")  # 1.234,5
        return s.replace(",", "")  # 1,234.5
    if "," in s:
        if _THOUSANDS_COMMA.fullmatch(s):
            return s.replace(",", "")  # 1,234,567
        return s.replace(",", ".")  # decimal comma
    if "." in s and (s.count(".") > 1 or integer) and _THOUSANDS_DOT.fullmatch(s):
        return s.replace(".", "")  # 1.234.567, or 1.234 in a whole-number column
    return s


def _invalid(vi: str, en: str, details: list[FieldError] | None = None) -> InvalidInput:
    return InvalidInput(
        f"Tệp CSV không đọc được: {vi}", f"Unreadable CSV file: {en}", details or []
    )


def decode(data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise _invalid(
            "tệp đang ở dạng UTF-16; hãy lưu lại dạng 'CSV UTF-8'",
            "the file is UTF-16; save it as 'CSV UTF-8 (Comma delimited)'",
        )
    if b"\x00" in data:
        raise _invalid("đây không phải tệp văn bản CSV", "this is not a CSV text file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise _invalid(
            f"không phải mã UTF-8 (dòng {line}); trong Excel chọn Lưu thành → 'CSV UTF-8'",
            f"not UTF-8 (line {line}); in Excel use Save As → 'CSV UTF-8 (Comma delimited)'",
            [
                FieldError(
                    f"line {line}", "byte không hợp lệ trong UTF-8 / invalid UTF-8 byte sequence"
                )
            ],
        ) from None
    if not text.strip():
        raise _invalid("tệp rỗng", "the file is empty")
    return text


def sniff_delimiter(header_line: str) -> str:
    counts = {d: header_line.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


@dataclass(frozen=True, slots=True)
class ParsedRow:
    row: int  # the spreadsheet row number: the header is row 1
    item: dict[str, object] | Rejection


def parse_csv(
    data: bytes, family: Family, *, max_rows: int, max_line_chars: int
) -> list[ParsedRow]:
    """The file's rows as submissions; raises ``InvalidInput`` for a file that cannot be read."""
    text = decode(data)
    lines = text.splitlines()
    for number, line in enumerate(lines, start=1):
        if len(line) > max_line_chars:
            raise _invalid(
                f"dòng {number} dài quá {max_line_chars} ký tự",
                f"line {number} is longer than {max_line_chars} characters",
            )
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=sniff_delimiter(lines[0])))
    except csv.Error as exc:
        raise _invalid("sai cấu trúc CSV", f"malformed CSV ({exc})") from None
    header, body = rows[0], rows[1:]
    columns = _map_header(header, family)
    data_rows = [(n, r) for n, r in enumerate(body, start=2) if any(c.strip() for c in r)]
    if not data_rows:
        raise _invalid("không có dòng số liệu nào", "no data rows")
    if len(data_rows) > max_rows:
        raise InvalidInput(
            f"Tệp có {len(data_rows)} dòng, vượt quá {max_rows}; hãy chia nhỏ",
            f"The file has {len(data_rows)} rows, more than {max_rows}; split it",
            [FieldError("file", f"tối đa {max_rows} dòng số liệu / at most {max_rows} data rows")],
        )
    return [ParsedRow(n, _row_item(family, columns, r)) for n, r in data_rows]


def _map_header(header: list[str], family: Family) -> list[Column | None]:
    table = _aliases(LAYOUTS[family])
    columns: list[Column | None] = []
    errors: list[FieldError] = []
    used: set[str] = set()
    for cell in header:
        key = normalize_header(cell)
        col = table.get(key)
        if col is None:
            if key and key not in IGNORED:
                errors.append(
                    FieldError(cell.strip(), f"cột không xác định / unknown column for {family}")
                )
            columns.append(None)
            continue
        if col.name in used:
            errors.append(FieldError(cell.strip(), f"cột lặp lại / column {col.name} repeated"))
        used.add(col.name)
        columns.append(col)
    for col in LAYOUTS[family]:
        if col.required and col.name not in used:
            errors.append(FieldError(col.name, f"thiếu cột / missing column ({col.vi})"))
    if errors:
        raise _invalid(
            "tiêu đề cột không khớp mẫu (GET /v1/uploads/template/" + family + ")",
            "the header does not match the template (GET /v1/uploads/template/" + family + ")",
            errors,
        )
    return columns


def _cell_value(col: Column, raw: str) -> object:
    text = raw.strip()
    if col.kind in ("int", "number"):
        return normalize_number(text, integer=col.kind == "int")
    if col.kind == "bool":
        word = normalize_header(text)
        return True if word in _TRUE else False if word in _FALSE else text
    return text


def _row_item(
    family: Family, columns: list[Column | None], cells: list[str]
) -> dict[str, object] | Rejection:
    item: dict[str, object] = {"family": family.value}
    payload: dict[str, object] = {}
    dims: list[str] = []
    extra = [c for c in cells[len(columns) :] if c.strip()]
    if extra:
        return Rejection(
            [
                FieldError(
                    "row",
                    f"{len(cells)} ô nhưng chỉ có {len(columns)} cột / "
                    "more cells than the header has columns",
                )
            ],
            "schema",
            family=family.value,
        )
    for col, raw in zip(columns, cells, strict=False):
        if col is None or not raw.strip():
            continue
        value = _cell_value(col, raw)
        if col.target.startswith("payload."):
            payload[col.target.removeprefix("payload.")] = value
        else:
            item[col.target] = value
        if col.dimension:
            # "Mobifone" and "MobiFone" are one figure: the derived id uses the canonical name.
            dims.append(canonical_choice(raw))
    item["payload"] = payload
    if "event_id" not in item:
        # What identifies the figure: re-uploading the same file answers "duplicate".
        item["idempotency_key"] = ":".join(
            [
                "csv",
                family.value,
                str(item.get("unit_code", "")),
                str(item.get("observed_at", "")),
                *dims,
                f"r{item.get('revision', 1)}",
            ]
        )
    return item


def template(family: Family, *, today: date, vietnamese: bool = False) -> str:
    """The downloadable template: the header and one example row, with a BOM for Excel. The
    example uploads as it is: last month (no backfill needed) for the province code, which
    exists on both sides of the 2025 reform."""
    layout = LAYOUTS[family]
    last_month = today.replace(day=1) - timedelta(days=1)
    example = {_OBSERVED.name: f"{last_month:%Y-%m}"}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([c.vi if vietnamese else c.name for c in layout])
    writer.writerow([example.get(c.name, c.example) for c in layout])
    return "\ufeff" + out.getvalue()
