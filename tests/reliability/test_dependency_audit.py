"""Known vulnerabilities in the pinned dependencies (exactly what is installed: ``pip freeze``).

Two sources, and the test says which one judged:

* **Offline, always:** the PyPA advisory database shipped in the repository
  (``advisories.py``: every PYSEC advisory with its affected versions, a dated snapshot). Every
  pinned package is checked against it on any machine; a hit fails the test. It knows nothing
  published after its date, which the test prints with its age.
* **Online, when reachable:** ``pip-audit`` against PyPI's JSON API, then OSV (up to date, and
  GHSA advisories too). Where neither answers — OSV is out of reach here and the PyPI mirror does
  not serve the JSON API, so pip-audit would skip every package as "not found" — the test says
  so and relies on the offline audit, rather than failing for a network it does not control.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.advisories import affects, audit, canonical, load

pytestmark = pytest.mark.slow

UNREACHABLE = "pip-audit: vulnerability service unreachable"


def pip_audit(requirements: Path, service: str) -> dict[str, Any] | None:
    """pip-audit's JSON report, or None when the service could not be reached."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip_audit",
            "-r",
            str(requirements),
            "--no-deps",
            "--disable-pip",
            "--vulnerability-service",
            service,
            "--format",
            "json",
            "--progress-spinner",
            "off",
            "--timeout",
            "15",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    try:
        report: dict[str, Any] = json.loads(done.stdout)
    except json.JSONDecodeError:
        print(f"pip-audit ({service}) gave no report: {done.stderr.strip()[-300:]}")
        return None
    audited = [d for d in report["dependencies"] if "skip_reason" not in d]
    if not audited:
        print(f"pip-audit ({service}): every package skipped ({report['dependencies'][:1]})")
        return None
    return report


def pinned() -> dict[str, str]:
    frozen = subprocess.run(
        [sys.executable, "-m", "pip", "freeze", "--exclude-editable"],
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(line.split("==", 1) for line in frozen.stdout.splitlines() if "==" in line)


def test_the_offline_database_names_known_vulnerable_versions_and_spares_fixed_ones() -> None:
    snapshot = load()
    assert len(snapshot.advisories) > 2_000
    # Versions with published advisories (requests' Proxy-Authorization leak, Jinja2's sandbox
    # escape, urllib3's CRLF injection) and the releases that fixed them.
    found = audit({"requests": "2.19.1", "Jinja2": "2.10", "urllib3": "1.26.4"}, snapshot)
    assert "PYSEC-2018-28" in found["requests 2.19.1"]
    assert "PYSEC-2019-217" in found["Jinja2 2.10"]
    assert "PYSEC-2021-108" in found["urllib3 1.26.4"]
    assert audit({"requests": "2.32.3", "Jinja2": "3.1.4", "urllib3": "2.2.3"}, snapshot) == {}
    # Ranges as OSV means them: introduced ≤ v < fixed, or ≤ last_affected; open-ended.
    advisory = {
        "versions": [],
        "ranges": [[{"introduced": "1.0"}, {"fixed": "1.5"}, {"introduced": "2.0"}]],
    }
    assert [affects(advisory, v) for v in ("0.9", "1.0", "1.4.9", "1.5", "2.0", "9")] == [
        False,
        True,
        True,
        False,
        True,
        True,
    ]
    assert canonical("Zope.Interface") == canonical("zope_interface") == "zope-interface"


def test_pinned_dependencies_have_no_known_vulnerabilities(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pins = pinned()
    assert len(pins) > 20
    snapshot = load()
    offline = audit(pins, snapshot)
    age = datetime.now(UTC) - datetime.fromisoformat(snapshot.date)
    requirements = tmp_path / "pinned.txt"
    requirements.write_text("".join(f"{n}=={v}\n" for n, v in pins.items()))
    report = pip_audit(requirements, "pypi") or pip_audit(requirements, "osv")
    online: dict[str, list[str]] = {}
    with capsys.disabled():
        print(
            f"\noffline PyPA advisory database ({snapshot.commit[:12]} of {snapshot.date[:10]}, "
            f"{age.days} days old; nothing published since is known to it): "
            f"{len(pins)} of {len(pins)} pinned packages audited, "
            f"{len(offline)} with known vulnerabilities {offline or ''}"
        )
        if report is None:
            print(f"{UNREACHABLE}: the offline audit above is the only one of this run")
        else:
            deps = report["dependencies"]
            skipped = [d["name"] for d in deps if "skip_reason" in d]
            online = {
                f"{d['name']} {d['version']}": [v["id"] for v in d["vulns"]]
                for d in deps
                if d.get("vulns")
            }
            print(
                f"pip-audit: {len(deps) - len(skipped)} of {len(deps)} pinned packages audited, "
                f"{len(online)} with known vulnerabilities; not audited: {skipped}"
            )
    assert offline == {}
    assert online == {}
