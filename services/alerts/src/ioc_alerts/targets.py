"""Targets as the alerts service keeps them: the shipped provinces' targets plus those an admin
adds through the API. Both are :class:`~ioc_common.catalogue.targets.TargetRule` s, validated the
same way (the indicator exists, the deadline follows the baseline date, tolerances are ordered);
an admin's target need not cite a seed article."""

from __future__ import annotations

from pydantic import Field

from ioc_common.catalogue import Indicator, load_catalogue
from ioc_common.catalogue.targets import Target, TargetRule, TargetSource


class TargetSpec(TargetRule):
    """A target: where an indicator should be by a deadline, and when a unit is lagging."""

    province_code: str | None = Field(default=None, pattern=r"^\d{2}$")
    source_province: str | None = Field(default=None, max_length=200)
    source: TargetSource | None = None
    note_vi: str | None = Field(default=None, max_length=1000)

    @property
    def indicator_def(self) -> Indicator:
        return load_catalogue().require(self.indicator)

    @classmethod
    def from_seed(cls, target: Target) -> TargetSpec:
        return cls.model_validate(target.model_dump(mode="json"))
