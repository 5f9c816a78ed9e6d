"""The state file of ``ioc dev``: where its broker, database and services listen, the ports to
keep, and the dashboard login — so ``ioc keys``, ``ioc users`` and ``ioc push`` in another
shell find the running platform without ``DATABASE_URL``.

Written (mode 0600, it holds the admin password and service tokens) to ``ioc-dev.json`` in the
data directory and to a well-known place the commands read: ``$IOC_DEV_STATE`` if set, else
``$XDG_STATE_HOME/ioc/dev.json`` (``~/.local/state/ioc/dev.json``). The well-known copy is
removed when that ``ioc dev`` stops; the data directory's copy stays, so a later
``ioc dev --data-dir`` reuses the ports and the admin password. Explicit flags and environment
variables always win over the file.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any, Final

#: The state file's name inside a data directory.
FILE_NAME: Final = "ioc-dev.json"
#: Overrides the well-known place (tests, several ``ioc dev`` side by side).
STATE_ENV: Final = "IOC_DEV_STATE"


def state_path() -> Path:
    """Where the commands look for the running ``ioc dev``."""
    explicit = os.environ.get(STATE_ENV)
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "ioc" / "dev.json"


def write_state(path: Path, state: dict[str, Any]) -> None:
    """Replace ``path`` atomically with ``state``, readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(state, out, ensure_ascii=False, indent=2)
    os.chmod(tmp, 0o600)  # an umask cannot widen it, but an existing file kept its mode
    os.replace(tmp, path)


def read_state(path: Path | None = None) -> dict[str, Any] | None:
    """The state at ``path`` (default: the well-known place), or None when there is none."""
    try:
        data = json.loads((path or state_path()).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def remove_state(path: Path, pid: int) -> None:
    """Remove ``path`` if it still describes the ``ioc dev`` of process ``pid`` (another one
    may have started since and written its own)."""
    state = read_state(path)
    if state is not None and state.get("pid") == pid:
        with contextlib.suppress(OSError):
            path.unlink()


def dev_address(name: str) -> str | None:
    """``database``, ``kafka`` or a service name (``ingest``…) of the running ``ioc dev``."""
    state = read_state()
    if state is None:
        return None
    if name in ("database", "kafka"):
        value = state.get(name)
    else:
        value = (state.get("services") or {}).get(name)
    return str(value) if value else None
