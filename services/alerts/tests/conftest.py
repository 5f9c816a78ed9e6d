"""Fixtures of the alerts service's tests: the app on a fresh database with its loops driven
by hand, a target for Tuyên Quang's districts, and local SMTP/webhook servers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from ioc_alerts.testing import Harness, MailSink, alerts_harness, district_target


@pytest.fixture
def mail_sink() -> Iterator[MailSink]:
    sink = MailSink().start()
    yield sink
    sink.stop()


@pytest.fixture
async def harness(fresh_database_url: str, mail_sink: MailSink) -> AsyncIterator[Harness]:
    async with alerts_harness(
        fresh_database_url, smtp_port=mail_sink.port, seed_targets=False
    ) as h:
        response = await h.client.post("/v1/targets", json=district_target(h.clock().date()))
        assert response.status_code == 201, response.text
        yield h
