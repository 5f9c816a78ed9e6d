"""Slows password guessing: after ``max_failures`` failed logins for one username within
``window_s``, that username is refused (429 with Retry-After) for ``lockout_s`` — before its
password is even checked, so guesses during the lockout teach nothing.

Per process and per username (each gateway replica counts on its own). Counting by client
address is left to the reverse proxy: behind one, every operator shares its address."""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

#: Usernames tracked at once; the least recently failed are forgotten first.
MAX_TRACKED = 10_000


@dataclass
class _Record:
    failures: deque[float] = field(default_factory=deque)
    locked_until: float = 0.0


@dataclass
class LoginThrottle:
    max_failures: int = 5
    window_s: float = 900.0
    lockout_s: float = 300.0
    clock: Callable[[], float] = time.monotonic
    _records: OrderedDict[str, _Record] = field(default_factory=OrderedDict)

    @staticmethod
    def _key(username: str) -> str:
        return username.strip().casefold()

    def retry_after(self, username: str) -> float | None:
        """Seconds until ``username`` may try again, or None if it may try now."""
        if self.max_failures <= 0:
            return None
        record = self._records.get(self._key(username))
        if record is None:
            return None
        left = record.locked_until - self.clock()
        return left if left > 0 else None

    def failed(self, username: str) -> bool:
        """Count a failed login; True when this failure locked the username."""
        if self.max_failures <= 0:
            return False
        key, now = self._key(username), self.clock()
        record = self._records.pop(key, None) or _Record()
        self._records[key] = record  # most recently failed last
        while record.failures and record.failures[0] <= now - self.window_s:
            record.failures.popleft()
        record.failures.append(now)
        locked = len(record.failures) >= self.max_failures
        if locked:
            record.locked_until = now + self.lockout_s
            record.failures.clear()
        while len(self._records) > MAX_TRACKED:
            self._records.popitem(last=False)
        return locked

    def succeeded(self, username: str) -> None:
        self._records.pop(self._key(username), None)
