"""Bandwidth limits: the one token bucket of the engine (``TokenBucket``) and what a paced body offers.

A bucket is a virtual-time scheduler (GCRA): it remembers when the next byte may leave, and an
idle bucket saves at most ``burst`` seconds' worth for later. Its three senders:

* a non-blocking sender (the file host's I/O thread or pump sending a file body) asks how much
  is ``available`` now, sends at most that and ``consume``s what left;
* a blocking sender that waits *before* it sends (an iterated body of the file host in a worker
  thread) ``reserve``s the next slot of ``n / rate`` seconds and sleeps until it starts; slots are
  first come, first served, so the transfers sharing a bucket share its rate;
* a blocking receiver that waits *after* the bytes came (the download client) calls ``take``,
  which sleeps off the debt in short steps and gives up early when its transfer is cancelled.

Every bucket changes its rate live: the new rate applies from the next chunk on. ``Paced`` is
what the sending side of the file host reads from a file body that has buckets behind it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol, cast, runtime_checkable

from bcs import tunables

__all__ = ["Paced", "TokenBucket", "as_paced"]


class TokenBucket:
    """A shared rate limit in bytes/s; ``rate`` 0 means unlimited. Safe to share between threads.

    Args:
        rate: bytes per second, 0 for unlimited.
        burst: seconds of rate an idle bucket saves for ``available`` and ``take``
            (``reserve`` never bursts: a blocking sender has no use for it).
        clock: the monotonic clock (tests drive their own).
    """

    def __init__(
        self,
        rate: int = 0,
        *,
        burst: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lock = threading.Lock()
        self._rate = rate
        self._burst = burst
        self._clock = clock
        self._next = clock()  # when the next reservation may start; a new bucket has saved nothing

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
        """Bytes that may leave at ``now`` without waiting (at most ``burst`` seconds' worth)."""
        with self._lock:
            rate = self._rate
            if rate <= 0:
                return float("inf")
            return (now - max(self._next, now - self._burst)) * rate

    def consume(self, nbytes: int, now: float) -> None:
        """Account for ``nbytes`` sent at ``now`` (after ``available`` allowed them)."""
        with self._lock:
            if self._rate > 0:
                self._next = max(self._next, now - self._burst) + nbytes / self._rate

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

    def take(self, nbytes: int, cancelled: Callable[[], bool] = lambda: False) -> None:
        """Account for ``nbytes`` just received and sleep until they are paid for (no-op when unlimited).

        Sleeps in steps of at most ``BUCKET_WAIT_STEP`` and returns early once ``cancelled()`` is
        true, so a suspended job never waits out its debt.
        """
        with self._lock:
            rate = self._rate
            if rate <= 0:
                return
            now = self._clock()
            self._next = max(self._next, now - self._burst) + nbytes / rate
            debt = self._next - now
        deadline = self._clock() + debt
        while not cancelled():
            left = deadline - self._clock()
            if left <= 0:
                return
            time.sleep(min(left, tunables.BUCKET_WAIT_STEP))


@runtime_checkable
class Paced(Protocol):
    """A body whose bytes leave at the pace of bandwidth buckets (the file host's file bodies)."""

    def allowance(self, now: float) -> float | None:
        """Bytes that may leave at ``now`` (None: unthrottled)."""

    def consumed(self, nbytes: int, now: float) -> None:
        """Account for ``nbytes`` that left at ``now``."""


_paced_types: dict[type, bool] = {}


def as_paced(body: object) -> Paced | None:
    """``body`` as a ``Paced`` body, or None when its class is not one.

    The protocol check costs about 6 us; it is made once per class, not once per body.
    """
    kind = type(body)
    paced = _paced_types.get(kind)
    if paced is None:
        paced = _paced_types[kind] = issubclass(kind, Paced)
    return cast(Paced, body) if paced else None
