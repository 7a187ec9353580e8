"""Per-group connection limits: a ``TransferGate`` hands out ``Slot``s up to a URL group's limit.

The gate is shared by every transfer of a URL group, whatever connection it runs on, so opening
more connections does not get around it; its limit changes live. A transfer takes its slot in
one place and gives it back through the slot, which may be released twice (an error path and the
body's close both end the transfer) and counts once. Bandwidth limits are
``bcs.bandwidth.TokenBucket``s.
"""

from __future__ import annotations

import threading

__all__ = ["Slot", "TransferGate"]


class TransferGate:
    """Counts a group's running transfers against its connection limit (0 = unlimited)."""

    def __init__(self, limit: int) -> None:
        self._lock = threading.Lock()
        self.limit = limit
        self.active = 0

    def enter(self) -> Slot | None:
        """A slot for one more transfer, or None when the group is at its limit."""
        with self._lock:
            if self.limit and self.active >= self.limit:
                return None
            self.active += 1
        return Slot(self)


class Slot:
    """One running transfer's place in its ``TransferGate``."""

    __slots__ = ("_gate",)

    def __init__(self, gate: TransferGate) -> None:
        self._gate: TransferGate | None = gate

    def release(self) -> None:
        """Give the place back; later calls do nothing."""
        gate = self._gate
        if gate is None:
            return
        with gate._lock:
            if self._gate is None:  # released meanwhile by another thread
                return
            self._gate = None
            gate.active -= 1
