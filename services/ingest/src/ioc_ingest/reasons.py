"""Why a field was refused, in Vietnamese and English: pydantic's error types put in words a
department can act on. ``REASONS`` must name every type a submission can produce (a test feeds
every field hostile values and fails on a type missing here); our own validators already
raise bilingual messages (``value_error``), which pass through as they are."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from ioc_common.events import Family

_FAMILIES: Final = ", ".join(f.value for f in Family)
#: "vi / en" templates by pydantic error type; ``{name}`` placeholders come from the error's
#: context (``ge``, ``expected``, …).
REASONS: Final[dict[str, tuple[str, str]]] = {
    "union_tag_invalid": (f"phải là một trong: {_FAMILIES}", f"must be one of: {_FAMILIES}"),
    "union_tag_not_found": (f"bắt buộc, một trong: {_FAMILIES}", f"required, one of: {_FAMILIES}"),
    "missing": ("bắt buộc, chưa có", "required, missing"),
    "extra_forbidden": (
        "không có trường này trong mẫu của nhóm; bỏ đi hoặc sửa tên (xem GET /v1/families)",
        "not a field of this family: remove it or fix its name (see GET /v1/families)",
    ),
    "none_required": (
        "nhóm này không dùng trường này; bỏ đi",
        "this family does not use this field; leave it out",
    ),
    "string_type": ("phải là chuỗi ký tự", "must be a string"),
    "string_too_short": (
        "phải có ít nhất {min_length} ký tự",
        "must have at least {min_length} characters",
    ),
    "string_too_long": (
        "không được dài quá {max_length} ký tự",
        "must have at most {max_length} characters",
    ),
    "string_pattern_mismatch": ("sai định dạng", "does not have the expected form"),
    "enum": ("phải là một trong: {expected}", "must be one of: {expected}"),
    "literal_error": ("phải là một trong: {expected}", "must be one of: {expected}"),
    "int_type": ("phải là số nguyên", "must be a whole number"),
    "int_parsing": ("phải là số nguyên", "must be a whole number"),
    "int_from_float": (
        "phải là số nguyên, không có phần thập phân",
        "must be a whole number, without a fraction",
    ),
    "int_parsing_size": ("số quá lớn", "the number is too large"),
    "float_type": ("phải là một số", "must be a number"),
    "float_parsing": ("phải là một số", "must be a number"),
    "finite_number": ("phải là số hữu hạn", "must be a finite number"),
    "bool_type": ("phải là true hoặc false", "must be true or false"),
    "bool_parsing": ("phải là true hoặc false", "must be true or false"),
    "greater_than": ("phải lớn hơn {gt}", "must be greater than {gt}"),
    "greater_than_equal": ("không được nhỏ hơn {ge}", "must be at least {ge}"),
    "less_than": ("phải nhỏ hơn {lt}", "must be less than {lt}"),
    "less_than_equal": ("không được lớn hơn {le}", "must be at most {le}"),
    "model_type": ("phải là một đối tượng JSON {{…}}", "must be a JSON object {{…}}"),
    "model_attributes_type": ("phải là một đối tượng JSON {{…}}", "must be a JSON object {{…}}"),
    "dict_type": ("phải là một đối tượng JSON {{…}}", "must be a JSON object {{…}}"),
    "uuid_type": (
        "phải là một UUID, ví dụ 3f2b8c4e-8d1a-4f7b-9c2d-0a1b2c3d4e5f",
        "must be a UUID, e.g. 3f2b8c4e-8d1a-4f7b-9c2d-0a1b2c3d4e5f",
    ),
    "uuid_parsing": (
        "phải là một UUID, ví dụ 3f2b8c4e-8d1a-4f7b-9c2d-0a1b2c3d4e5f",
        "must be a UUID, e.g. 3f2b8c4e-8d1a-4f7b-9c2d-0a1b2c3d4e5f",
    ),
    "date_type": ("phải là một ngày, ví dụ 2024-05-31", "must be a date, e.g. 2024-05-31"),
    "date_parsing": ("phải là một ngày, ví dụ 2024-05-31", "must be a date, e.g. 2024-05-31"),
    "datetime_type": (
        "phải là ngày giờ ISO, ví dụ 2024-05-31T08:00:00+07:00",
        "must be an ISO date-time, e.g. 2024-05-31T08:00:00+07:00",
    ),
    "datetime_parsing": (
        "phải là ngày giờ ISO, ví dụ 2024-05-31T08:00:00+07:00",
        "must be an ISO date-time, e.g. 2024-05-31T08:00:00+07:00",
    ),
}

#: The form of a field whose pattern did not match, by field.
PATTERNS: Final[dict[str, tuple[str, str]]] = {
    "unit_code": (
        "mã đơn vị hành chính gồm 2 chữ số (tỉnh), 3 (huyện) hoặc 5 (xã), ví dụ 08, 071, 02227",
        "an administrative unit code is 2 digits (province), 3 (district) or 5 (commune), "
        "e.g. 08, 071, 02227",
    ),
    "indicator": (
        "mã chỉ tiêu: chữ thường không dấu, số và dấu _ (xem GET /v1/families)",
        "an indicator code: lower-case letters, digits and _ (see GET /v1/families)",
    ),
}


def _expected(text: str) -> str:
    # pydantic writes "'a', 'b' or 'c'"; the lists read the same in both languages as "a, b, c".
    return text.replace("'", "").replace(" or ", ", ")


def reason(err: Mapping[str, Any], field: str) -> str:
    """One pydantic error of ``field`` as "vi / en"; ``err`` comes from ``errors()`` with its
    context included."""
    kind = str(err["type"])
    message = str(err["msg"]).removeprefix("Value error, ")
    if kind == "value_error":
        return message  # our validators write both languages
    if kind == "string_pattern_mismatch" and (form := PATTERNS.get(field.rsplit(".", 1)[-1])):
        return f"{form[0]} / {form[1]}"
    template = REASONS.get(kind)
    if template is None:  # a type no test produced: keep pydantic's words, say it is invalid
        return f"giá trị không hợp lệ / invalid value: {message}"
    ctx = {k: _expected(str(v)) if k == "expected" else v for k, v in err.get("ctx", {}).items()}
    try:
        vi, en = (t.format(**ctx) for t in template)
    except (KeyError, IndexError):
        vi, en = (t.replace("{{", "{").replace("}}", "}") for t in template)
    return f"{vi} / {en}"
