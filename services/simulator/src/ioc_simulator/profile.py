"""The simulated province: real units from the reference data, real figures from the news
reports (Tuyên Quang, May 2022: 1,060 BTS sites, fibre to 1,693 villages, 2,000+ members of
community digital teams; Hà Giang, June 2024: 98.89 % of villages covered, 23 without signal)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from ioc_common.events import MobileOperator, PaymentChannel, Technology
from ioc_common.reference.units import REFORM_DATE, unit_tree

#: Shares of BTS sites by operator and technology (national market shape).
OPERATOR_SHARE: dict[MobileOperator, float] = {
    MobileOperator.VIETTEL: 0.47,
    MobileOperator.VNPT: 0.30,
    MobileOperator.MOBIFONE: 0.20,
    MobileOperator.VIETNAMOBILE: 0.03,
}
TECHNOLOGY_SHARE: dict[Technology, float] = {
    Technology.G2: 0.18,
    Technology.G3: 0.20,
    Technology.G4: 0.60,
    Technology.G5: 0.02,
}
#: Daily cashless transactions per commune by channel, and the average value (VND).
CHANNEL_DAILY: dict[PaymentChannel, tuple[int, int]] = {
    PaymentChannel.QR: (130, 180_000),
    PaymentChannel.CARD: (45, 650_000),
    PaymentChannel.BANK_TRANSFER: (90, 2_400_000),
    PaymentChannel.E_WALLET: (60, 120_000),
    PaymentChannel.MOBILE_MONEY: (15, 90_000),
}
PROVINCE_BTS_SITES = 1_060
PROVINCE_VILLAGES = 1_735
VILLAGES_WITHOUT_SIGNAL = 23
DIGITAL_TEAM_MEMBERS = 2_050


@dataclass(frozen=True)
class Figure:
    """How the simulator makes up one indicator reported only as an observation: its size in
    the whole province in May 2022 (the reports' baseline) — a value, or a ratio's
    denominator and the share of it in the numerator — and how it moves each month after."""

    #: Reported once by the province (a province-wide system: the portal, the document
    #: system), not by each district or commune.
    by_province: bool
    total: float
    share: float | None = None  # a ratio: numerator / denominator in May 2022
    share_step: float = 0.0  # added to the share each month
    share_cap: float = 1.0
    growth: float = 0.0  # relative change of ``total`` each month (negative: falling)
    flow: bool = False  # counted over the month (else a stock on the month's last day)


#: Every observation-only indicator of the catalogue, with figures from the news reports
#: where they give one (Tuyên Quang 2022, Hà Giang 2024, Thái Bình 2023, Huế 2022) and
#: plausible orders of magnitude otherwise.
FIGURES: dict[str, Figure] = {
    "villages_fibre": Figure(False, 1_693, growth=0.0005),  # TQ 05/2022: 1,693 villages
    "postal_service_points": Figure(False, 204),  # Huế 2022: 204 points
    "full_online_services_rate": Figure(True, 1_650, 0.55, 0.01, 0.98),
    "e_documents_signed_rate": Figure(True, 14_000, 0.985, 0.0003, 0.998, flow=True),  # 99.6 %
    "e_documents_fully_signed_rate": Figure(True, 14_000, 0.78, 0.002, 0.86, flow=True),
    "report_regimes_connected_rate": Figure(True, 96, 0.85, 0.005, 1.0),
    "services_on_national_portal": Figure(True, 582, growth=0.01),  # TQ 05/2022: 582
    "national_databases_connected_rate": Figure(True, 22, 0.75, 0.01, 1.0),  # HG: 18/22
    "open_datasets": Figure(True, 111, growth=0.015),  # Huế 2022: 111 datasets
    "dt_tasks_completed_rate": Figure(True, 92, 0.30, 0.01, 0.95),  # HG 05/2024: 42/80
    "ecommerce_products": Figure(False, 2_300, growth=0.01),  # Thái Bình 2023: ~2,300
    "ocop_products_ecommerce_rate": Figure(False, 300, 0.9, 0.01, 1.0),  # HG 2024: 100 %
    "enterprises_e_contract_rate": Figure(True, 2_400, 0.25, 0.006, 0.7),
    "households_fixed_broadband": Figure(False, 400_000, 0.55, 0.005, 0.9),  # Huế: 80.47 %
    "internet_users_rate": Figure(False, 1_800_000, 0.62, 0.004, 0.9),  # Huế 2022: 79.8 %
    "smartphone_subscribers": Figure(False, 1_100_000, growth=0.006),
    "subscribers_2g_only": Figure(False, 260_000, growth=-0.01),  # HG: "still high"
    "poor_households_internet_supported": Figure(False, 20_000, growth=0.01),  # HG: ~31,100
    "citizens_digital_signature_rate": Figure(False, 1_200_000, 0.10, 0.006, 0.6),
    # TQ 05/2022: 2,000+ members of community digital teams.
    "community_digital_team_members": Figure(False, DIGITAL_TEAM_MEMBERS),
}


@dataclass(frozen=True)
class Reporter:
    """One unit that reports: a district before the reform, a commune after it."""

    code: str
    district: str  # (former) district, for lagging and silence choices
    weight: float  # share of the province's size (communes under it)


@dataclass
class ProvinceProfile:
    province: str = "08"
    #: Districts whose online processing of dossiers lags (≈ 55 % against 80 %).
    lagging: tuple[str, ...] = ("071", "072")
    #: A district that stops reporting (its units fall silent) from ``silent_from``.
    silent: str | None = "076"
    silent_from: date | None = None
    _cache: dict[bool, list[Reporter]] = field(default_factory=dict)

    def reporters(self, on: date) -> list[Reporter]:
        """Districts report before the reform; communes (keyed to former districts) after."""
        after = on >= REFORM_DATE
        if after not in self._cache:
            tree = unit_tree()
            if after:
                communes = tree.children(self.province, on)
                n = len(communes)
                self._cache[after] = [
                    Reporter(c.code, c.former_district_code or "", 1 / n) for c in communes
                ]
            else:
                districts = tree.children(self.province, on)
                sizes = {d.code: len(tree.children(d.code, on)) or 1 for d in districts}
                total = sum(sizes.values())
                self._cache[after] = [
                    Reporter(d.code, d.code, sizes[d.code] / total) for d in districts
                ]
        return self._cache[after]

    def province_reporter(self) -> Reporter:
        """The province itself, for the figures of its province-wide systems."""
        return Reporter(self.province, "", 1.0)

    def is_silent(self, reporter: Reporter, on: date) -> bool:
        return (
            self.silent is not None
            and reporter.district == self.silent
            and (self.silent_from is None or on >= self.silent_from)
        )
