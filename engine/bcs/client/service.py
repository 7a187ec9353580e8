"""The BITS client service: job store, scheduler and transfers.

Placeholder lifecycle until the client work (issue 4) lands; the engine already starts and
stops it, and ``server.status`` reports its status.
"""

from __future__ import annotations

from typing import Any

__all__ = ["JobService"]


class JobService:
    name = "client"

    def __init__(self, engine: Any) -> None:
        self.engine = engine

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def status(self) -> dict[str, Any]:
        return {"jobs": 0}
