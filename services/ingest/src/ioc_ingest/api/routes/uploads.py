"""``POST /v1/uploads`` (a CSV file) and ``GET /v1/uploads/template/{family}``."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from starlette.datastructures import UploadFile

from ioc_common.errors import FieldError, InvalidInput
from ioc_common.events import Family
from ioc_common.timeutil import VIETNAM_TZ
from ioc_ingest.api.responses import WRITE_ERRORS
from ioc_ingest.api.routes.results import batch_response
from ioc_ingest.csv_upload import parse_csv, template
from ioc_ingest.deps import KeyDep, State
from ioc_ingest.schemas import BatchResult

router = APIRouter(prefix="/v1/uploads", tags=["uploads"])

_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "family": {"type": "string", "enum": [f.value for f in Family]},
                    },
                }
            },
            "text/csv": {"schema": {"type": "string"}},
        },
    }
}


async def _read_upload(request: Request) -> tuple[bytes, str | None]:
    """The file's bytes and a ``family`` form field, from multipart or a raw text/csv body."""
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        async with request.form(max_files=1, max_fields=10) as form:
            file = form.get("file")
            family = form.get("family")
            if not isinstance(file, UploadFile):
                raise InvalidInput(
                    "Thiếu tệp CSV (trường 'file')",
                    "No CSV file (form field 'file')",
                    [FieldError("file", "bắt buộc / required")],
                )
            return await file.read(), family if isinstance(family, str) else None
    return await request.body(), None


@router.post(
    "",
    summary="Tải lên tệp CSV / Upload a CSV file",
    description=(
        "Tệp CSV theo mẫu của từng nhóm (GET /v1/uploads/template/{family}): UTF-8 có hoặc "
        "không có BOM, dấu phân cách ',' ';' hoặc tab, tiêu đề tiếng Việt hoặc tiếng Anh, số "
        "thập phân dùng dấu phẩy được chấp nhận. Kết quả theo từng dòng (dòng tiêu đề là 1).\n\n"
        "A CSV file in the family's layout (GET /v1/uploads/template/{family}): UTF-8 with or "
        "without BOM, ',' ';' or tab delimited, Vietnamese or English headers, decimal comma "
        "accepted. Per-row results (the header is row 1). Send it as multipart form field "
        "'file' or as a text/csv body; give the family as ?family= or a form field."
    ),
    status_code=202,
    response_model=None,
    responses={
        202: {"model": BatchResult, "description": "Ít nhất một dòng được nhận / some accepted"},
        200: {"model": BatchResult, "description": "Không dòng nào mới / nothing new accepted"},
        **WRITE_ERRORS,
    },
    openapi_extra=_UPLOAD_BODY,
)
async def upload_csv(
    request: Request,
    state: State,
    key: KeyDep,
    family: Annotated[
        Family | None, Query(description="Nhóm dữ liệu của tệp / the file's family")
    ] = None,
) -> Response:
    data, form_family = await _read_upload(request)
    chosen = family or form_family
    if chosen is None or chosen not in {f.value for f in Family}:
        raise InvalidInput(
            "Cần chỉ rõ nhóm dữ liệu (family)",
            "Say which family the file holds (?family= or form field 'family')",
            [
                FieldError(
                    "family",
                    f"một trong / one of: {', '.join(f.value for f in Family)}",
                )
            ],
        )
    settings = state.settings
    rows = parse_csv(
        data,
        Family(chosen),
        max_rows=settings.max_batch_events,
        max_line_chars=settings.max_csv_line_chars,
    )
    outcomes = await state.ingestor.ingest(
        key, [r.item for r in rows], endpoint="upload", item_keys=True
    )
    return batch_response(outcomes, rows=[r.row for r in rows])


@router.get(
    "/template/{family}",
    summary="Tệp CSV mẫu / CSV template",
    description=(
        "Tiêu đề cột và một dòng ví dụ (tháng trước, mã tỉnh 08) tải lên được ngay; lang=vi cho "
        "tiêu đề tiếng Việt. / The header and an example row (last month, province code 08) "
        "that uploads as it is; lang=vi for Vietnamese headers."
    ),
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}, "description": "CSV (UTF-8 with BOM)"}},
)
async def csv_template(
    state: State, family: Family, lang: Annotated[Literal["en", "vi"], Query()] = "en"
) -> Response:
    today = state.ingestor.validator.now().astimezone(VIETNAM_TZ).date()
    return Response(
        template(family, today=today, vietnamese=lang == "vi").encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="ioc-{family.value}.csv"'},
    )
