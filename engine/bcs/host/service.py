"""The file host service: listeners per port serving the URL groups of the configuration.

Placeholder lifecycle until the file-host work (issue 3) lands; the engine already starts and
stops it, and ``server.status`` reports its status.
"""

from __future__ import annotations

from typing import Any

__all__ = ["FileHost"]


class FileHost:
    name = "host"

    def __init__(self, engine: Any) -> None:
        self.engine = engine

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def status(self) -> dict[str, Any]:
        return {"listeners": []}
