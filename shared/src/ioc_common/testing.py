"""Generic test helpers every service's tests share: polling until a condition holds, serving
an ASGI app under uvicorn on a real port, running the ``ioc`` command, and builders of sample
submissions.

Service-specific harnesses stay in each service's ``testing`` module; a test of one service
never imports another service's ``testing`` module, only this one.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any, Literal

import uvicorn

from ioc_common.infra.process import free_port


async def eventually(
    check: Callable[[], Awaitable[Any]] | Callable[[], Any],
    *,
    timeout_s: float = 30.0,
    interval_s: float = 0.1,
) -> Any:
    """Poll ``check`` (sync or async) until it returns something truthy and return that; fail
    after ``timeout_s``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout_s:.0f}s")
        await asyncio.sleep(interval_s)


class LocalServer:
    """An ASGI app served by uvicorn on 127.0.0.1 in the test's own event loop, stoppable and
    restartable on one port. ``options`` go to ``uvicorn.Config``."""

    def __init__(
        self,
        app: Any,
        port: int | None = None,
        *,
        lifespan: Literal["on", "off", "auto"] = "off",
        **options: Any,
    ) -> None:
        self.app = app
        self.port = port or free_port()
        self.options: dict[str, Any] = {"log_level": "warning", "lifespan": lifespan} | options
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    async def start(self) -> LocalServer:
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, **self.options)
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            if self._task.done():
                self._task.result()  # raises why it could not start
                raise RuntimeError("uvicorn stopped before it started")
            await asyncio.sleep(0.02)
        return self

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await self._task
        self._server = None
        self._task = None


@asynccontextmanager
async def serve(app: Any, **options: Any) -> AsyncIterator[str]:
    """Run ``app`` with its lifespan under uvicorn on a free port; yields ``host:port``.
    ``options`` go to ``uvicorn.Config``."""
    server = await LocalServer(app, lifespan="on", **options).start()
    try:
        yield server.address
    finally:
        await server.stop()


def tampered(segment: str) -> str:
    """``segment`` (a token's base64url part) with its first character changed. The first
    character carries six whole bits, so the decoded bytes differ too; changing the last
    one may touch only padding bits, or, chosen at random, leave the text as it was."""
    return ("B" if segment[0] == "A" else "A") + segment[1:]


# --- sample submissions ---------------------------------------------------------------------


def ioc_command(*args: str) -> list[str]:
    """``ioc *args`` as an admin types it, run by this interpreter (no console script needed on
    the ``PATH``)."""
    return [sys.executable, "-m", "ioc_common.cli", *args]


def run_ioc(
    *args: str, stdin: str = "", env: Mapping[str, str] | None = None, timeout_s: float = 120
) -> subprocess.CompletedProcess[str]:
    """``ioc *args`` run to its end in a process of its own (``env``: its whole environment,
    default this one's): its exit status and output as text; a non-zero exit does not raise.
    ``stdin`` is all the input it gets: by default none, so nothing waits at a prompt."""
    return subprocess.run(  # noqa: S603 — this interpreter and our own CLI
        ioc_command(*args),
        input=stdin,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


def bts_event(
    unit_code: str = "071",
    *,
    observed_at: str = "2025-05",
    operator: str = "Viettel",
    technology: str = "4G",
    sites: int = 42,
    villages_total: int = 65,
    villages_covered: int = 63,
    **fields: Any,
) -> dict[str, Any]:
    """A mobile-coverage (``bts``) submission as a provider sends it, with a fresh
    ``event_id``. The keywords set the payload; ``fields`` add or replace top-level keys
    (``revision``, ``source``, ``received_at``…)."""
    event: dict[str, Any] = {
        "event_id": str(uuid.uuid4()),
        "family": "bts",
        "unit_code": unit_code,
        "observed_at": observed_at,
        "payload": {
            "operator": operator,
            "technology": technology,
            "sites": sites,
            "villages_total": villages_total,
            "villages_covered": villages_covered,
        },
    }
    return event | fields


class HandlerControls:
    """What a test steers in its batch handler (``ioc_common.kafka.batch_worker``): ``entered``
    is set when a batch starts; ``hold_or_fail`` waits on ``gate`` (when there is one), then
    fails the next ``failures_left`` batches as if the database went away."""

    def __init__(self) -> None:
        self.failures_left = 0
        self.gate: asyncio.Event | None = None
        self.entered = asyncio.Event()

    async def hold_or_fail(self) -> None:
        if self.gate is not None:
            await self.gate.wait()
        if self.failures_left:
            self.failures_left -= 1
            raise ConnectionError("database went away")
