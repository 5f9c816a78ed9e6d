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

    def is_silent(self, reporter: Reporter, on: date) -> bool:
        return (
            self.silent is not None
            and reporter.district == self.silent
            and (self.silent_from is None or on >= self.silent_from)
        )
