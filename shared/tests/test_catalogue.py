"""The indicator catalogue: the shipped data is sound and a broken file is refused clearly."""

from __future__ import annotations

import copy
import re
import unicodedata
from collections.abc import Callable
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from ioc_common.catalogue import (
    FAMILY_FIELDS,
    MIN_INDICATORS_PER_PILLAR,
    AggregationKind,
    Catalogue,
    Direction,
    FieldRole,
    Pillar,
    Unit,
    UnknownIndicatorError,
    load_catalogue,
    load_yaml,
    parse_catalogue,
    read_data_file,
)
from ioc_common.events import Family

# Vietnamese letters beyond ASCII, precomposed (NFC).
VIETNAMESE_LETTERS = set("àáảãạăằắẳẵặâầấẩẫậèéẻẽẹêềếểễệìíỉĩịòóỏõọôồốổỗộơờớởỡợùúủũụưừứửữựỳýỷỹỵđ")


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return load_catalogue()


def test_shipped_catalogue_loads(catalogue: Catalogue) -> None:
    assert catalogue.version
    assert 18 <= len(catalogue.indicators) <= 30
    assert load_catalogue() is catalogue  # cached: parsed once per process


def test_every_pillar_has_indicators(catalogue: Catalogue) -> None:
    for pillar in Pillar:
        assert len(catalogue.by_pillar(pillar)) >= MIN_INDICATORS_PER_PILLAR, pillar
    assert {i.pillar for i in catalogue.indicators} == set(Pillar)
    assert catalogue.by_pillar("infrastructure") == catalogue.by_pillar(Pillar.INFRASTRUCTURE)


def test_codes_are_unique_snake_case(catalogue: Catalogue) -> None:
    codes = catalogue.codes
    assert len(set(codes)) == len(codes)
    for code in codes:
        assert re.fullmatch(r"[a-z][a-z0-9]*(_[a-z0-9]+)*", code), code


def test_seed_figures_have_an_indicator(catalogue: Catalogue) -> None:
    # One indicator per figure the seed articles report (see shared/seeds/README.md).
    seeds = {
        "bts_sites",  # 1,060 BTS sites, Tuyên Quang
        "villages_fibre",  # 1,693 villages with fibre, Tuyên Quang
        "villages_mobile_coverage",  # 98.89%, Hà Giang
        "dossiers_processed_online_rate",  # 90/80/60%, Thái Bình
        "full_online_services_rate",  # 100% level 4, Thái Bình
        "e_documents_signed_rate",  # 99.6%, Thái Bình
        "community_digital_team_members",  # 2,000+, Tuyên Quang
        "households_fixed_broadband",  # 80.47%, Huế
        "internet_users_rate",  # 79.8%, Huế
        "smartphone_subscribers",  # 850,000, Huế
        "open_datasets",  # 111, Huế
        "national_databases_connected_rate",  # 18/22, Hà Giang
        "ecommerce_products",  # 2,300, Thái Bình
        "ocop_products_ecommerce_rate",  # 100%, Hà Giang
        "postal_service_points",  # 204, Huế
        "poor_households_internet_supported",  # 31,100, Hà Giang
        "citizens_digital_signature_rate",  # lagging, Hà Giang
        "dt_tasks_completed_rate",  # 11/21, 5/9, 1/6, Quảng Trị
        "e_documents_fully_signed_rate",  # 82.2%, Thái Bình
        "report_regimes_connected_rate",  # 100%, Thái Bình
        "services_on_national_portal",  # 582, Tuyên Quang
        "dossiers_submitted_online_rate",  # online ÷ total, from the public-service feed
    }
    assert seeds <= set(catalogue.codes)


def test_the_three_telemetry_families_feed_indicators(catalogue: Catalogue) -> None:
    def codes(family: str) -> set[str]:
        return {i.code for i in catalogue.derived_from(family)}

    assert codes("bts") == {"bts_sites", "villages_mobile_coverage"}
    assert codes("public_service") == {
        "dossiers_online",
        "dossiers_processed_online_rate",
        "dossiers_submitted_online_rate",
        "online_payment_rate",
    }
    assert codes("cashless") == {"cashless_transactions", "cashless_value_vnd"}
    derived = codes("bts") | codes("public_service") | codes("cashless")
    assert codes(Family.OBSERVATION) == set(catalogue.codes) - derived


def test_ratio_indicators_name_numerator_and_denominator(catalogue: Catalogue) -> None:
    ratios = [i for i in catalogue.indicators if i.kind is AggregationKind.RATIO]
    assert len(ratios) >= 8
    for indicator in catalogue.indicators:
        if indicator.is_ratio:
            assert indicator.numerator is not None
            assert indicator.denominator is not None
            assert indicator.numerator.kind in {AggregationKind.FLOW, AggregationKind.STOCK}
            assert indicator.denominator.kind in {AggregationKind.FLOW, AggregationKind.STOCK}
            assert indicator.scale == 100
            assert indicator.unit is Unit.PERCENT
            assert indicator.unit_vi == "%"
        else:
            assert indicator.numerator is None
            assert indicator.denominator is None
            assert indicator.scale == 1
            assert indicator.unit is not Unit.PERCENT


def test_source_fields_exist_in_their_family(catalogue: Catalogue) -> None:
    for indicator in catalogue.indicators:
        source = indicator.source
        fields = FAMILY_FIELDS[source.family]
        if source.is_observation:
            assert not source.measure_fields()
            assert not source.series_by
            continue
        expected_roles = {"numerator", "denominator"} if indicator.is_ratio else {"value"}
        assert set(source.measure_fields()) == expected_roles, indicator.code
        for field in source.measure_fields().values():
            assert fields[field].role is FieldRole.MEASURE, (indicator.code, field)
        for field in source.series_by:
            assert fields[field].role is FieldRole.DIMENSION, (indicator.code, field)


def test_bts_sites_sums_the_latest_value_per_operator_and_technology(
    catalogue: Catalogue,
) -> None:
    bts = catalogue.require("bts_sites")
    assert bts.kind is AggregationKind.STOCK
    assert bts.source.value == "sites"
    assert bts.source.series_by == ("operator", "technology")
    coverage = catalogue.require("villages_mobile_coverage")
    assert (coverage.source.numerator, coverage.source.denominator) == (
        "villages_covered",
        "villages_total",
    )
    assert coverage.numerator is not None
    assert coverage.numerator.kind is AggregationKind.STOCK


def test_family_fields_match_the_event_models() -> None:
    events = pytest.importorskip("ioc_common.events")
    for family, fields in FAMILY_FIELDS.items():
        payload_model = events.PAYLOAD_MODELS[events.Family(family.value)]
        assert set(fields) == set(payload_model.model_fields), family


def test_vietnamese_text_has_diacritics_and_is_nfc(catalogue: Catalogue) -> None:
    for indicator in catalogue.indicators:
        for text in (indicator.name_vi, indicator.description_vi):
            # Precomposed, so the same name never compares unequal to itself.
            assert unicodedata.normalize("NFC", text) == text, indicator.code
            assert VIETNAMESE_LETTERS & set(text.lower()), (indicator.code, text)
        assert indicator.name_en.isascii(), indicator.code


def test_descriptions_are_one_sentence(catalogue: Catalogue) -> None:
    for indicator in catalogue.indicators:
        for text in (indicator.description_vi, indicator.description_en):
            assert text.endswith("."), (indicator.code, text)
            assert ". " not in text.rstrip("."), (indicator.code, text)


def test_reporting_intervals_fit_the_kind(catalogue: Catalogue) -> None:
    for indicator in catalogue.indicators:
        assert 1 <= indicator.reporting_interval_days <= 366
        if indicator.kind is AggregationKind.FLOW and not indicator.source.is_observation:
            # Live telemetry flows are expected at least weekly.
            assert indicator.reporting_interval_days <= 7, indicator.code


def test_one_indicator_is_better_when_lower(catalogue: Catalogue) -> None:
    lower = [i.code for i in catalogue.indicators if i.direction is Direction.LOWER_IS_BETTER]
    assert lower == ["subscribers_2g_only"]


def test_lookup_helpers(catalogue: Catalogue) -> None:
    assert catalogue.get("open_datasets") is catalogue.require("open_datasets")
    assert catalogue.get("nope") is None
    assert "bts_sites" in catalogue
    assert "nope" not in catalogue
    with pytest.raises(UnknownIndicatorError) as caught:
        catalogue.require("bts_site")
    assert isinstance(caught.value, KeyError)
    assert caught.value.code == "bts_site"
    assert str(caught.value) == (
        "unknown indicator 'bts_site': not in the catalogue; did you mean 'bts_sites'?"
    )
    with pytest.raises(ValueError, match="not_a_family"):
        catalogue.derived_from("not_a_family")


# --- a broken catalogue is refused, naming the field ------------------------------------------

Mutation = Callable[[dict[str, Any]], None]


def _indicator(data: dict[str, Any], code: str) -> dict[str, Any]:
    found: dict[str, Any] = next(i for i in data["indicators"] if i["code"] == code)
    return found


def _set(code: str, path: str, value: Any) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target = _indicator(data, code)
        for part in parents:
            target = target[part]
        target[last] = value

    return mutate


def _drop(code: str, field: str) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        del _indicator(data, code)[field]

    return mutate


def _duplicate(code: str) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        data["indicators"].append(copy.deepcopy(_indicator(data, code)))

    return mutate


def _thin_out(pillar: str) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        of_pillar = [i for i in data["indicators"] if i["pillar"] == pillar]
        for extra in of_pillar[MIN_INDICATORS_PER_PILLAR - 1 :]:
            data["indicators"].remove(extra)

    return mutate


BROKEN: list[tuple[str, Mutation, list[str]]] = [
    ("missing unit", _drop("open_datasets", "unit"), ["unit", "Field required"]),
    ("unknown pillar", _set("open_datasets", "pillar", "culture"), ["pillar", "culture"]),
    ("extra field", _set("open_datasets", "colour", "red"), ["colour", "Extra inputs"]),
    (
        "ratio without denominator",
        _drop("households_fixed_broadband", "denominator"),
        ["households_fixed_broadband", "denominator required"],
    ),
    (
        "numerator on a stock",
        _set("open_datasets", "numerator", {"kind": "stock"}),
        ["open_datasets", "numerator"],
    ),
    (
        "ratio part that is a ratio",
        _set("households_fixed_broadband", "numerator", {"kind": "ratio"}),
        ["numerator.kind", "flow or a stock"],
    ),
    (
        "derived stock without source.value",
        _set("bts_sites", "source", {"family": "bts", "series_by": ["operator"]}),
        ["bts_sites", "source.value required"],
    ),
    (
        "field not in the family",
        _set("villages_mobile_coverage", "source.numerator", "villages_coverd"),
        ["source.numerator", "'villages_coverd'", "bts payload"],
    ),
    (
        "field of another family",
        _set("cashless_transactions", "source.value", "sites"),
        ["source.value", "'sites'", "cashless payload"],
    ),
    (
        "series_by not a dimension",
        _set("bts_sites", "source.series_by", ["operator", "sites"]),
        ["source.series_by", "'sites'"],
    ),
    (
        "series_by on a flow",
        _set("cashless_transactions", "source.series_by", ["channel"]),
        ["cashless_transactions", "series_by only applies to stock"],
    ),
    (
        "flow read as a stock",
        _set("cashless_transactions", "kind", "stock"),
        ["cashless_transactions", "source.value", "is a flow"],
    ),
    (
        "observation naming a field",
        _set("open_datasets", "source.value", "value"),
        ["source.value", "observation source names no payload fields"],
    ),
    (
        "percent on a stock",
        _set("open_datasets", "unit", "percent"),
        ["open_datasets", "unit 'percent'"],
    ),
    (
        "zero reporting interval",
        _set("open_datasets", "reporting_interval_days", 0),
        ["reporting_interval_days", "greater than or equal to 1"],
    ),
    ("duplicate code", _duplicate("bts_sites"), ["duplicate code", "bts_sites"]),
    ("thin pillar", _thin_out("digital_economy"), ["digital_economy", "fewer than 3"]),
]


@pytest.mark.parametrize(
    ("mutate", "expected"), [pytest.param(m, e, id=name) for name, m, e in BROKEN]
)
def test_broken_catalogue_is_rejected_naming_the_field(
    mutate: Mutation, expected: list[str]
) -> None:
    data = copy.deepcopy(load_yaml(read_data_file("indicators.yaml")))
    parse_catalogue(yaml.safe_dump(data, allow_unicode=True))  # the unbroken copy is fine
    mutate(data)
    with pytest.raises(ValidationError) as caught:
        parse_catalogue(yaml.safe_dump(data, allow_unicode=True))
    message = str(caught.value)
    for fragment in expected:
        assert fragment in message


def test_unquoted_version_is_rejected() -> None:
    with pytest.raises(ValidationError, match="version"):
        parse_catalogue("version: 2025.1\nindicators: []\n")


def test_duplicate_yaml_key_is_rejected() -> None:
    text = read_data_file("indicators.yaml").replace(
        "    unit: site\n", "    unit: site\n    unit: village\n", 1
    )
    with pytest.raises(yaml.YAMLError, match="duplicate key 'unit'"):
        parse_catalogue(text)


def test_models_are_frozen(catalogue: Catalogue) -> None:
    with pytest.raises(ValidationError, match="frozen"):
        catalogue.require("bts_sites").code = "other"  # type: ignore[misc]
