"""``GET /v1/families``: what may be sent, with JSON Schemas and CSV layouts."""

from __future__ import annotations

from typing import Final

from fastapi import APIRouter

from ioc_common.catalogue import AggregationKind, load_catalogue
from ioc_common.events import Family
from ioc_common.topics import telemetry_topic
from ioc_ingest.csv_upload import LAYOUTS
from ioc_ingest.schemas import (
    SUBMISSION_MODELS,
    FamiliesOut,
    FamilyInfo,
    IndicatorInfo,
)

router = APIRouter(prefix="/v1", tags=["reference"])

_DESCRIPTIONS: Final = {
    Family.BTS: (
        "Trạm BTS và thôn có sóng theo nhà mạng, công nghệ",
        "BTS sites and villages covered, per operator and technology",
    ),
    Family.PUBLIC_SERVICE: (
        "Hồ sơ dịch vụ công trực tuyến theo mức độ",
        "Online public-service dossiers, per service level",
    ),
    Family.CASHLESS: (
        "Thanh toán không dùng tiền mặt theo kênh",
        "Cashless payments, per channel",
    ),
    Family.OBSERVATION: (
        "Giá trị của một chỉ tiêu bất kỳ trong danh mục",
        "The value of any catalogue indicator",
    ),
}


@router.get(
    "/families",
    summary="Nhóm dữ liệu và chỉ tiêu / Families and indicators",
    description=(
        "Các nhóm dữ liệu được nhận, JSON Schema của từng loại, bố cục CSV, và danh mục chỉ "
        "tiêu. / The accepted families with their JSON Schemas and CSV layouts, and the "
        "indicator catalogue."
    ),
)
async def families() -> FamiliesOut:
    catalogue = load_catalogue()
    out: list[FamilyInfo] = []
    for family in Family:
        vi, en = _DESCRIPTIONS[family]
        out.append(
            FamilyInfo(
                family=family,
                topic=telemetry_topic(family),
                description_vi=vi,
                description_en=en,
                submission_schema=SUBMISSION_MODELS[family].model_json_schema(),
                csv_columns=[
                    {
                        "name": c.name,
                        "header_vi": c.vi,
                        "required": c.required,
                        "type": c.kind,
                        "example": c.example,
                        "description": c.description_en,
                    }
                    for c in LAYOUTS[family]
                ],
                indicators=[i.code for i in catalogue.derived_from(family.value)],
            )
        )
    indicators = [
        IndicatorInfo(
            code=i.code,
            name_vi=i.name_vi,
            name_en=i.name_en,
            pillar=i.pillar.value,
            kind=i.kind.value,
            unit=i.unit.value,
            source_family=i.source.family.value,
            observation_payload=(
                "numerator+denominator" if i.kind is AggregationKind.RATIO else "value"
            ),
        )
        for i in catalogue.indicators
    ]
    return FamiliesOut(families=out, indicators=indicators)
