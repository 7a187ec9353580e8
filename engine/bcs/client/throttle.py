"""Bandwidth caps for the client: a sleep-paced token bucket, shared (global) or per job."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

__all__ = ["TokenBucket"]


class TokenBucket:
    """Pace byte counts to ``rate`` bytes/s (0 = unlimited); safe to share between threads.

    The bucket holds at most ``burst`` seconds of tokens, so an idle period does not allow a long
    burst afterwards. ``consume`` sleeps in short steps and gives up early when ``cancelled``
    returns true, so a suspended job never waits out its debt.
    """

    def __init__(self, rate: int = 0, burst: float = 0.25) -> None:
        self._lock = threading.Lock()
        self._rate = rate
        self._burst = burst
        self._tokens = 0.0
        self._stamp = time.monotonic()

    @property
    def rate(self) -> int:
        return self._rate

    def set_rate(self, rate: int) -> None:
        with self._lock:
            self._rate = rate
            self._tokens = 0.0
            self._stamp = time.monotonic()

    def consume(self, amount: int, cancelled: Callable[[], bool] = lambda: False) -> None:
        """Take ``amount`` tokens, sleeping until they are there (no-op when unlimited)."""
        with self._lock:
            rate = self._rate
            if rate <= 0:
                return
            now = time.monotonic()
            self._tokens = min(self._tokens + (now - self._stamp) * rate, rate * self._burst)
            self._stamp = now
            self._tokens -= amount
            debt = -self._tokens / rate if self._tokens < 0 else 0.0
        deadline = time.monotonic() + debt
        while not cancelled():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(left, 0.1))
