"""An offline copy of the Python Packaging Authority's advisory database (PYSEC advisories in
OSV form, https://github.com/pypa/advisory-database, CC-BY 4.0), for the dependency audit on
machines that cannot reach PyPI's JSON API or OSV.

``advisories/pypa-advisory-db.json.gz`` keeps, per advisory, its id, aliases, package and
affected versions and ranges, and the snapshot's commit and date. Refresh it from a checkout:

    git clone --depth 1 https://github.com/pypa/advisory-database /tmp/advisory-database
    .venv/bin/python -m tests.reliability.advisories /tmp/advisory-database

(or ``--git-dir DIR`` for a bare repository). The audit prints the snapshot's date and age:
advisories published after it are not known to it.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import re
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version

SNAPSHOT = Path(__file__).parent / "advisories" / "pypa-advisory-db.json.gz"


def canonical(name: str) -> str:
    """PEP 503 name: ``Foo_Bar.baz`` and ``foo-bar-baz`` are the same project."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True, slots=True)
class Snapshot:
    source: str
    commit: str
    date: str  # ISO 8601, the commit's
    advisories: list[dict[str, Any]]

    def by_package(self) -> dict[str, list[dict[str, Any]]]:
        index: dict[str, list[dict[str, Any]]] = {}
        for advisory in self.advisories:
            index.setdefault(advisory["package"], []).append(advisory)
        return index


def load(path: Path = SNAPSHOT) -> Snapshot:
    data = json.loads(gzip.decompress(path.read_bytes()))
    return Snapshot(data["source"], data["commit"], data["date"], data["advisories"])


def _version(text: str) -> Version | None:
    try:
        return Version(text)
    except InvalidVersion:
        return None


def affects(advisory: dict[str, Any], version: str) -> bool:
    """Whether ``version`` is affected: listed, or inside an ECOSYSTEM range (OSV semantics:
    ``introduced`` ≤ v < ``fixed``, or ≤ ``last_affected``)."""
    if version in advisory["versions"]:
        return True
    v = _version(version)
    if v is None:
        return False
    for events in advisory["ranges"]:
        start: Version | None = None
        for event in events:  # ordered: introduced, then fixed/last_affected, repeated
            if "introduced" in event:
                start = (
                    Version("0") if event["introduced"] == "0" else _version(event["introduced"])
                )
            elif start is not None and "fixed" in event:
                end = _version(event["fixed"])
                if end is not None and start <= v < end:
                    return True
                start = None
            elif start is not None and "last_affected" in event:
                end = _version(event["last_affected"])
                if end is not None and start <= v <= end:
                    return True
                start = None
        if start is not None and v >= start:  # introduced and never fixed
            return True
    return False


def audit(pins: dict[str, str], snapshot: Snapshot) -> dict[str, list[str]]:
    """``{"name version": [advisory ids]}`` for each pinned package with a known advisory."""
    index = snapshot.by_package()
    found: dict[str, list[str]] = {}
    for name, version in pins.items():
        ids = [a["id"] for a in index.get(canonical(name), []) if affects(a, version)]
        if ids:
            found[f"{name} {version}"] = sorted(ids)
    return found


def _compact(doc: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if doc.get("withdrawn"):
        return out
    for affected in doc.get("affected", []):
        package = affected.get("package", {})
        if package.get("ecosystem") != "PyPI":
            continue
        out.append(
            {
                "id": doc["id"],
                "aliases": doc.get("aliases", []),
                "package": canonical(package["name"]),
                "versions": [str(v) for v in affected.get("versions", [])],
                "ranges": [
                    [{k: str(v) for k, v in e.items()} for e in r.get("events", [])]
                    for r in affected.get("ranges", [])
                    if r.get("type") == "ECOSYSTEM"
                ],
            }
        )
    return out


def build(texts: list[str], commit: str, date: str, out: Path = SNAPSHOT) -> int:
    import yaml

    advisories = [a for text in texts for a in _compact(yaml.safe_load(text))]
    advisories.sort(key=lambda a: (a["package"], a["id"]))
    data = {
        "source": "https://github.com/pypa/advisory-database (CC-BY 4.0)",
        "commit": commit,
        "date": date,
        "advisories": advisories,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    raw = json.dumps(data, separators=(",", ":"), sort_keys=True).encode()
    out.write_bytes(gzip.compress(raw, compresslevel=9, mtime=0))
    return len(advisories)


def _git(git_dir: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "--git-dir", str(git_dir), *args], capture_output=True, text=True, check=True
    ).stdout


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkout", nargs="?", type=Path, help="a work tree of the database")
    parser.add_argument("--git-dir", type=Path, help="or a (bare) git directory of it")
    args = parser.parse_args(argv)
    git_dir = args.git_dir or args.checkout / ".git"
    commit, date = _git(git_dir, "log", "-1", "--format=%H %cI", "HEAD").split()
    archive = subprocess.run(
        ["git", "--git-dir", str(git_dir), "archive", "--format=tar", "HEAD", "vulns"],
        capture_output=True,
        check=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        texts = [
            tar.extractfile(m).read().decode()  # type: ignore[union-attr]
            for m in tar.getmembers()
            if m.isfile() and m.name.endswith((".yaml", ".yml"))
        ]
    count = build(texts, commit, date)
    print(f"{count} advisories from {len(texts)} files, {commit[:12]} of {date} → {SNAPSHOT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
