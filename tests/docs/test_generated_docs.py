"""docs/events.md is docs/asyncapi.json rendered, and docs/admin.md's settings tables are the
services' settings classes rendered: both must be regenerated whenever those change (the AsyncAPI
document itself is kept current by shared/tests/test_asyncapi.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "render_docs.py"


def test_generated_docs_are_up_to_date() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--check"], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_topic_and_message_is_rendered() -> None:
    from ioc_common.asyncapi import build_asyncapi

    text = (ROOT / "docs" / "events.md").read_text(encoding="utf-8")
    doc = build_asyncapi()
    for channel in doc["channels"].values():
        assert f"`{channel['address']}`" in text
    for message in doc["components"]["messages"]:
        assert f"## {message}\n" in text
    for schema in doc["components"]["schemas"]:
        assert schema in text
