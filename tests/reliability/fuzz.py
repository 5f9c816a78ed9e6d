"""Schemathesis against a served OpenAPI document, from a worker thread.

The apps run in the test's event loop (their database pools belong to it), served on a real
port; schemathesis' requests are blocking, so they run in a thread while the loop serves them.
Every operation gets ``max_examples`` generated cases (positive and negative); the checks are:
no 5xx, the response matches its documented schema, and the content type is the documented one.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]


@dataclass
class FuzzReport:
    service: str
    operations: int = 0
    cases: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    def line(self) -> str:
        statuses = ", ".join(f"{k}: {v}" for k, v in sorted(self.statuses.items()))
        return (
            f"{self.service}: {self.operations} operations, {self.cases} cases, "
            f"{len(self.failures)} failing operations; statuses {statuses}"
        )


def fuzz(
    service: str,
    base_url: str,
    *,
    headers: dict[str, str],
    max_examples: int,
    skip: Callable[[str, str], bool] = lambda method, path: False,
) -> FuzzReport:
    """Run every operation of ``base_url``'s ``/openapi.json``; never skips silently: what
    ``skip`` leaves out must be covered elsewhere and is named by the caller."""
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    report = FuzzReport(service)
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

        @given(case=operation.as_strategy())
        @settings(
            max_examples=max_examples,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def run(case: Any) -> None:
            response = case.call(base_url=base_url, headers=headers, timeout=30)
            with lock:
                report.cases += 1
                key = str(response.status_code)
                report.statuses[key] = report.statuses.get(key, 0) + 1
            case.validate_response(response, checks=CHECKS)

        try:
            run()
        except Exception as exc:  # a failing check: keep going, report every operation
            report.failures.append(f"{method} {path}: {str(exc)[:1500]}")
    return report


def write_reports(reports: list[FuzzReport], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([r.__dict__ for r in reports], indent=2, ensure_ascii=False) + "\n")
