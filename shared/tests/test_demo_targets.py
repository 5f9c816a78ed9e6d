"""The demo province's targets: with the real ones (targets.yaml) every pillar has one; the
demo ones say so (``demo: true``) and a target that does not is refused as a demo one."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from ioc_common.catalogue import load_catalogue, load_yaml, read_data_file
from ioc_common.catalogue.targets import DemoTargetSet, load_demo_targets, load_targets

DEMO_PROVINCE = "08"  # the simulator's default province


def test_every_pillar_of_the_demo_province_has_a_target() -> None:
    catalogue = load_catalogue()
    real = [t for t in load_targets() if t.province_code == DEMO_PROVINCE]
    demo = [t for t in load_demo_targets() if t.province_code == DEMO_PROVINCE]
    pillars = {catalogue.require(t.indicator).pillar for t in real + demo}
    assert pillars == {i.pillar for i in catalogue.indicators}
    assert real, "the seed articles give the demo province real targets"
    assert not any(t.demo for t in real)
    assert demo
    assert all(t.demo for t in demo)
    # A demo target never takes the id of a real one.
    assert not {t.id for t in demo} & {t.id for t in load_targets()}


def test_a_demo_target_must_say_it_is_one() -> None:
    data = load_yaml(read_data_file("demo_targets.yaml"))
    data["targets"][0]["demo"] = False
    with pytest.raises(ValidationError, match="demo: true"):
        DemoTargetSet.model_validate(data, context={"catalogue": load_catalogue()})
