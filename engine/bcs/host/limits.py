"""Per-group limits: simultaneous transfers (``TransferGate``) and shared bandwidth (``TokenBucket``).

Both are shared by every transfer of a URL group, whatever connection it runs on, so opening more
connections does not get around them; one more ``TokenBucket`` caps the whole server. Both change
their limit live: running transfers follow the new value from their next chunk on.

The bucket is a virtual-time scheduler (GCRA): a blocking sender (an iterated body in a worker
thread) reserves the next slot of ``n / rate`` seconds and sleeps until it starts; a non-blocking
sender (waitress's I/O thread sending a file body) asks how much is ``available`` now, sends at
most that and ``consume``s what left. Slots are first come, first served, so transfers of one group
share its rate, and an idle bucket saves at most ``BURST`` seconds' worth for later.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

__all__ = ["BURST", "TokenBucket", "TransferGate"]

BURST = 0.05  # seconds of rate an idle bucket lets out at once to a non-blocking sender


class TokenBucket:
    """A shared rate limit in bytes/s; ``rate`` 0 means unlimited."""

    def __init__(self, rate: int = 0, clock: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._rate = rate
        self._next = 0.0  # when the next reservation may start
        self._clock = clock

    @property
    def rate(self) -> int:
        return self._rate

    def set_rate(self, rate: int) -> None:
        with self._lock:
            if rate != self._rate:
                self._rate = rate
                # Slots reserved at the old rate are forgotten: the new rate applies at once.
                self._next = min(self._next, self._clock())

    def available(self, now: float) -> float:
        """Bytes that may leave at ``now`` without waiting (at most ``BURST`` seconds' worth)."""
        with self._lock:
            rate = self._rate
            if rate <= 0:
                return float("inf")
            return (now - max(self._next, now - BURST)) * rate

    def consume(self, nbytes: int, now: float) -> None:
        """Account for ``nbytes`` sent at ``now`` (after ``available`` allowed them)."""
        with self._lock:
            if self._rate > 0:
                self._next = max(self._next, now - BURST) + nbytes / self._rate

    def reserve(self, nbytes: int) -> float:
        """Reserve ``nbytes``; returns how long the caller must wait before sending them."""
        with self._lock:
            rate = self._rate
            if rate <= 0:
                return 0.0
            now = self._clock()
            start = max(self._next, now)
            self._next = start + nbytes / rate
            return start - now


class TransferGate:
    """Counts a group's running transfers against its connection limit (0 = unlimited)."""

    def __init__(self, limit: int) -> None:
        self._lock = threading.Lock()
        self.limit = limit
        self.active = 0

    def try_enter(self) -> bool:
        with self._lock:
            if self.limit and self.active >= self.limit:
                return False
            self.active += 1
            return True

    def leave(self) -> None:
        with self._lock:
            self.active -= 1
