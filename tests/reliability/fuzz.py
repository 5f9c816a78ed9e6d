"""Schemathesis against a served OpenAPI document, from a worker thread.

Every operation gets ``max_examples`` generated cases (positive and negative) under a seed that
is fresh each run unless ``IOC_FUZZ_SEED`` is set — printed with the report so a failing run
can be replayed exactly. Dates and times are drawn with the calendar's edges mixed in (years
0001, 1899, 2201, 9999; 29 February; a day's last second at +14:00). The checks: no 5xx, the
response matches its documented schema and content type; without credentials, every operation
not documented as public answers 401 or 403 (and never a 5xx).
"""

from __future__ import annotations

import json
import os
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Err
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]
#: Without credentials only the 5xx check: the refusal's body is checked by ``refused``.
ANONYMOUS_CHECKS = [not_a_server_error]

#: A fresh seed per run unless replayed.
SEED = int(os.environ.get("IOC_FUZZ_SEED") or random.SystemRandom().randrange(2**32))

EDGE_DATES = [date(1, 1, 1), date(1899, 12, 31), date(2201, 1, 1), date(9999, 12, 31)]
EDGE_DATES += [date(2024, 2, 29), date(1970, 1, 1)]
_DATES = st.one_of(st.sampled_from(EDGE_DATES), st.dates())
_ZONES = st.sampled_from(
    [
        UTC,
        timezone(timedelta(hours=7)),
        timezone(timedelta(hours=14)),
        timezone(-timedelta(hours=12)),
    ]
)
_MOMENTS = st.one_of(
    st.builds(lambda d, z: datetime(d.year, d.month, d.day, 23, 59, 59, tzinfo=z), _DATES, _ZONES),
    st.datetimes(timezones=_ZONES),
)
schemathesis.openapi.format("date", _DATES.map(date.isoformat))
schemathesis.openapi.format("date-time", _MOMENTS.map(datetime.isoformat))

Headers = Callable[[str, str], dict[str, str]]


@dataclass
class FuzzReport:
    service: str
    credentials: bool = True
    operations: int = 0
    cases: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    def line(self) -> str:
        statuses = ", ".join(f"{k}: {v}" for k, v in sorted(self.statuses.items()))
        who = "with credentials" if self.credentials else "without credentials"
        return (
            f"{self.service} ({who}, seed {SEED}): {self.operations} operations, "
            f"{self.cases} cases, {len(self.failures)} failing operations; statuses {statuses}"
        )


def refused(public: bool, response: Any) -> None:
    """An anonymous call to a non-public operation is 401 or 403, whatever else it carries —
    or the NUL refusal that the alerts and gateway apps make at the door, before anything
    else (``ioc_common.nul_guard``: it reveals nothing)."""
    status = response.status_code
    if public or status in (401, 403):
        return
    if status == 422 and "NUL" in response.text:
        return
    raise AssertionError(f"answered {status} without credentials (expected 401 or 403)")


def _runner(
    operation: Any,
    method: str,
    is_public: bool,
    base_url: str,
    headers: Headers | None,
    report: FuzzReport,
    lock: threading.Lock,
) -> Callable[[], None]:
    """One operation's hypothesis test (a function per operation: no loop variable captured)."""

    @given(case=operation.as_strategy())
    def run(case: Any) -> None:
        sent = headers(method, case.formatted_path) if headers is not None else {}
        response = case.call(base_url=base_url, headers=sent, timeout=30)
        with lock:
            report.cases += 1
            key = str(response.status_code)
            report.statuses[key] = report.statuses.get(key, 0) + 1
        if headers is None:
            case.validate_response(response, checks=ANONYMOUS_CHECKS)
            refused(is_public, response)
        else:
            case.validate_response(response, checks=CHECKS)

    return run


def fuzz(
    service: str,
    base_url: str,
    *,
    headers: Headers | None,
    max_examples: int,
    skip: Callable[[str, str], bool] = lambda method, path: False,
    public: Callable[[str, str], bool] = lambda method, path: False,
) -> FuzzReport:
    """Run every operation of ``base_url``'s ``/openapi.json``. ``headers(method, path)`` gives
    a case's credentials (an actor assertion is bound to both); ``None`` fuzzes anonymously.
    Never skips silently: what ``skip`` leaves out must be covered elsewhere and is named by
    the caller."""
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    report = FuzzReport(service, credentials=headers is not None)
    lock = threading.Lock()
    for result in schema.get_all_operations():
        if isinstance(result, Err):  # an operation schemathesis cannot even read is a failure
            report.failures.append(f"unreadable operation: {result.err()}")
            continue
        operation = result.ok()
        method, path = operation.method.upper(), operation.path
        if skip(method, path):
            continue
        report.operations += 1
        run = _runner(operation, method, public(method, path), base_url, headers, report, lock)
        run = seed(SEED)(
            settings(
                max_examples=max_examples,
                deadline=None,
                database=None,
                derandomize=False,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )(run)
        )
        try:
            run()
        except (Exception, FailureGroup) as exc:  # a failing check: go on, report every one
            report.failures.append(f"{method} {path}: {str(exc)[:1500]}")
    return report


def write_reports(reports: list[FuzzReport], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {"seed": SEED, "reports": [r.__dict__ for r in reports]}
    path.write_text(json.dumps(body, indent=2, ensure_ascii=False) + "\n")
