"""Byte ranges and validators on the wire (RFC 9110 sections 8.8, 13 and 14), for both sides.

The file host parses ``Range`` (``parse_range``), writes ``Content-Range`` (``ByteRange``) and
judges the conditional headers; the client reads the ``Content-Range`` it gets back
(``parse_content_range``: ``bytes FIRST-LAST/COMPLETE``, COMPLETE may be ``*``).

Rules, in the order the file host applies them to GET and HEAD:

1. ``If-Match`` (strong comparison) fails, or without it ``If-Unmodified-Since`` is older than the
   file: 412.
2. ``If-None-Match`` (weak comparison) matches, or without it ``If-Modified-Since`` is not older
   than the file: 304.
3. ``Range`` is used only for GET and HEAD, only when ``If-Range`` is absent or matches (strong
   ETag, or exactly the ``Last-Modified`` date); otherwise the whole body is sent with 200.
4. A ``Range`` that does not parse is ignored (200 with the whole body), as RFC 9110 requires.
   Ranges are kept in the requested order and never merged (BITS checks the order of the parts).
   Unsatisfiable ranges are dropped; none left gives 416 with ``Content-Range: bytes */N``; one
   left gives a single-part 206; several give ``multipart/byteranges``. Parts that together ask
   for more than twice the file (overlaps used to amplify a response) are ignored as a whole.
"""

from __future__ import annotations

import email.utils
import re
import time
from dataclasses import dataclass
from enum import Enum

__all__ = [
    "ByteRange",
    "Precondition",
    "RangeNotSatisfiable",
    "Validators",
    "check_preconditions",
    "http_date",
    "if_range_matches",
    "parse_content_range",
    "parse_http_date",
    "parse_range",
]

MAX_RANGES = 256  # more parts than this in one request is ignored (whole body), as RFC 9110 allows
MAX_DIGITS = 18  # significant digits read of a range number; longer is larger than any file (< 10**18)
_HUGE = 10**MAX_DIGITS


@dataclass(frozen=True)
class ByteRange:
    """An inclusive byte range ``first..last`` of a body of known length."""

    first: int
    last: int

    @property
    def length(self) -> int:
        return self.last - self.first + 1

    def content_range(self, size: int) -> str:
        return f"bytes {self.first}-{self.last}/{size}"


def _number(digits: str) -> int:
    """A range number; one of more than ``MAX_DIGITS`` significant digits reads as ``10**MAX_DIGITS``."""
    digits = digits.lstrip("0") or "0"
    return int(digits) if len(digits) <= MAX_DIGITS else _HUGE


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


class RangeNotSatisfiable(Exception):
    """Every range of the request lies outside the body: 416."""


def parse_range(header: str, size: int) -> list[ByteRange] | None:
    """Resolve a ``Range`` header against a body of ``size`` bytes.

    Returns:
        The satisfiable ranges in request order, or None when the header is to be ignored
        (syntax error, unit other than bytes, too many parts).

    Raises:
        RangeNotSatisfiable: the header parses but no range overlaps the body.
    """
    unit, sep, spec = header.partition("=")
    if not sep or unit.strip().lower() != "bytes":
        return None
    parts = spec.split(",")
    if len(parts) > MAX_RANGES:
        return None
    ranges: list[ByteRange] = []
    seen_any = False
    for part in parts:
        part = part.strip(" \t")
        if not part:
            continue  # RFC 9110 allows empty list elements
        first_text, dash, last_text = part.partition("-")
        first_text, last_text = first_text.strip(" \t"), last_text.strip(" \t")
        if not dash or (first_text and not first_text.isdigit()) or (last_text and not last_text.isdigit()):
            return None
        if not first_text.isascii() or not last_text.isascii():
            return None
        seen_any = True
        if not first_text:
            if not last_text:
                return None
            suffix = _number(last_text)
            if suffix == 0 or size == 0:
                continue
            ranges.append(ByteRange(max(0, size - suffix), size - 1))
            continue
        first = _number(first_text)
        if last_text:
            last = _number(last_text)
            if last < first:
                return None
        else:
            last = size - 1
        if first >= size:
            continue
        ranges.append(ByteRange(first, min(last, size - 1)))
    if not seen_any:
        return None
    if not ranges:
        raise RangeNotSatisfiable(header)
    if len(ranges) > 1 and sum(r.length for r in ranges) > 2 * size:
        return None  # overlapping parts asking for the file many times over (RFC 9110 section 17.15)
    return ranges


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("", "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def http_date(timestamp: float) -> str:
    """An IMF-fixdate (``Sun, 06 Nov 1994 08:49:37 GMT``), whole seconds; locale-independent."""
    t = time.gmtime(int(timestamp))
    return (
        f"{_DAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon]} {t.tm_year:04d} "
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} GMT"
    )


def parse_http_date(text: str) -> int | None:
    """Seconds since the epoch of an HTTP date in any of the three formats, or None."""
    try:
        parsed = email.utils.parsedate_to_datetime(text.strip())
    except (TypeError, ValueError, IndexError):
        return None
    try:
        return int(parsed.timestamp())
    except (OverflowError, ValueError, OSError):
        return None


@dataclass(frozen=True)
class Validators:
    """What identifies one version of a file: a strong ETag and the modification time."""

    etag: str  # quoted, strong: "size-mtime_ns" in hex
    mtime: int  # whole seconds, as in Last-Modified

    @classmethod
    def of(cls, size: int, mtime_ns: int) -> Validators:
        return cls(f'"{size:x}-{mtime_ns:x}"', mtime_ns // 1_000_000_000)

    @property
    def last_modified(self) -> str:
        return http_date(self.mtime)


class Precondition(Enum):
    PASS = 200
    NOT_MODIFIED = 304
    FAILED = 412


def _etags(header: str) -> list[str]:
    return [tag.strip() for tag in header.split(",") if tag.strip()]


def _weak_equal(a: str, b: str) -> bool:
    return a.removeprefix("W/") == b.removeprefix("W/")


def check_preconditions(
    validators: Validators,
    if_match: str | None,
    if_unmodified_since: str | None,
    if_none_match: str | None,
    if_modified_since: str | None,
) -> Precondition:
    """Evaluate the conditional headers of a GET or HEAD (RFC 9110 section 13.2.2)."""
    if if_match is not None:
        tags = _etags(if_match)
        if "*" not in tags and validators.etag not in tags:  # strong comparison: W/ never matches
            return Precondition.FAILED
    elif if_unmodified_since is not None:
        since = parse_http_date(if_unmodified_since)
        if since is not None and validators.mtime > since:
            return Precondition.FAILED
    if if_none_match is not None:
        tags = _etags(if_none_match)
        if "*" in tags or any(_weak_equal(tag, validators.etag) for tag in tags):
            return Precondition.NOT_MODIFIED
    elif if_modified_since is not None:
        since = parse_http_date(if_modified_since)
        if since is not None and validators.mtime <= since:
            return Precondition.NOT_MODIFIED
    return Precondition.PASS


def if_range_matches(validators: Validators, if_range: str | None) -> bool:
    """True when the Range header is to be honoured (no If-Range, or it names this version)."""
    if if_range is None:
        return True
    value = if_range.strip()
    if value.startswith('"') or value.startswith("W/"):
        return value == validators.etag  # strong comparison; a weak tag never matches
    return parse_http_date(value) == validators.mtime
