"""Concurrent callers sharing one database statement.

Eight single-event requests in flight each asked PostgreSQL twice (seen? then record); on two
shared cores every round trip is a context switch to the server and back. A ``Coalescer``
keeps at most one statement of its kind running: callers that arrive meanwhile queue their
items, and the next statement carries all of them. A lone caller waits for nothing extra.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def _retrieve(future: asyncio.Future[Any]) -> None:
    # Every caller may have gone (cancelled): mark the error as seen so asyncio does not log it.
    if not future.cancelled():
        future.exception()


class Coalescer(Generic[T, R]):
    """``await submit(items)`` runs ``run(all items queued meanwhile)`` and returns its result
    (or raises its exception) to every caller whose items it carried."""

    def __init__(self, run: Callable[[list[T]], Awaitable[R]]) -> None:
        self._run = run
        self._items: list[T] = []
        self._future: asyncio.Future[R] | None = None
        self._task: asyncio.Task[None] | None = None

    async def submit(self, items: list[T]) -> R:
        if self._future is None:
            self._future = asyncio.get_running_loop().create_future()
            self._future.add_done_callback(_retrieve)
        future = self._future
        self._items.extend(items)
        if self._task is None:
            self._task = asyncio.create_task(self._drain())
        # shield: one caller giving up (a client disconnect) must not cancel the others' answer.
        return await asyncio.shield(future)

    async def _drain(self) -> None:
        try:
            while self._future is not None:
                items, future = self._items, self._future
                self._items, self._future = [], None
                try:
                    result = await self._run(items)
                except Exception as exc:
                    future.set_exception(exc)
                else:
                    future.set_result(result)
        finally:
            self._task = None
            if self._future is not None:  # cancelled while callers were queued (shutdown)
                self._future.cancel()
                self._items, self._future = [], None
