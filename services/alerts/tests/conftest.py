"""Fixtures of the alerts service's tests: the app on a fresh database with its loops driven
by hand, a target for Tuyên Quang's districts, and local SMTP/webhook servers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from ioc_alerts.testing import Harness, MailSink, targeted_harness


@pytest.fixture
def mail_sink() -> Iterator[MailSink]:
    sink = MailSink().start()
    yield sink
    sink.stop()


@pytest.fixture
async def harness(fresh_database_url: str, mail_sink: MailSink) -> AsyncIterator[Harness]:
    async with targeted_harness(fresh_database_url, smtp_port=mail_sink.port) as h:
        yield h
