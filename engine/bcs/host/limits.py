"""Per-group connection limits: ``TransferGate`` counts a URL group's running transfers.

The gate is shared by every transfer of a URL group, whatever connection it runs on, so opening
more connections does not get around it; its limit changes live. Bandwidth limits are
``bcs.bandwidth.TokenBucket``s.
"""

from __future__ import annotations

import threading

__all__ = ["TransferGate"]


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
