"""Byte ranges on the wire: the client's reading of ``Content-Range`` (the host's side follows).

``Content-Range: bytes FIRST-LAST/COMPLETE`` (RFC 9110 14.4), where COMPLETE may be ``*``.
"""

from __future__ import annotations

import re

__all__ = ["parse_content_range"]

_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(\d{1,19})-(\d{1,19})/(\d{1,19}|\*)\s*$", re.IGNORECASE)


def parse_content_range(value: str) -> tuple[int, int, int | None] | None:
    """(first, last, complete length or None for ``*``) of a satisfied range; None when invalid."""
    match = _CONTENT_RANGE.match(value)
    if match is None:
        return None
    first, last = int(match.group(1)), int(match.group(2))
    complete = None if match.group(3) == "*" else int(match.group(3))
    if last < first or (complete is not None and last >= complete):
        return None
    return first, last, complete
