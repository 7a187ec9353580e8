"""Path safety of the file host: what a request path may contain and where it may lead.

The path is percent-decoded by the server, must be UTF-8 without NUL or control characters,
fits ``MAX_PATH_BYTES``; below a directory URL it has no ``.``/``..`` segment, no backslash (no
``:`` on Windows) and no segment longer than ``MAX_SEGMENT_BYTES``, and the file it names must
resolve (symlinks included) inside that directory. A ``'..'`` substring test is not a check:
the resolved path is.
"""

from __future__ import annotations

import logging
import os
import re
import sys

from bcs import tunables
from bcs.host.exchange import Answer

__all__ = ["decode_request_path", "resolve_below", "safe_parts"]

log = logging.getLogger("bcs.host")

_CONTROL = re.compile("[\x00-\x1f\x7f]")
_WINDOWS = sys.platform == "win32"


def decode_request_path(raw_path: str) -> str:
    """The request path as text, from WSGI's ``PATH_INFO`` (bytes carried as latin-1).

    Raises:
        Answer: 414 when too long, 400 when not UTF-8 or with control characters.
    """
    if len(raw_path) > tunables.MAX_PATH_BYTES:
        raise Answer(414, "request path too long")
    try:
        path = raw_path.encode("latin-1").decode("utf-8")
    except UnicodeError:
        raise Answer(400, "request path is not UTF-8") from None
    if not path.startswith("/") or _CONTROL.search(path):
        raise Answer(400, "invalid characters in the request path")
    return path


def safe_parts(rest: str) -> list[str]:
    """The segments of a request path below a URL, refusing anything that could leave it.

    Raises:
        Answer: 400 for a ``.``/``..`` segment or a separator inside one, 414 for a long segment.
    """
    parts = [p for p in rest.split("/") if p]
    for part in parts:
        if part in (".", "..") or "\\" in part or (_WINDOWS and ":" in part):
            raise Answer(400, "invalid path segment")
        if len(part.encode("utf-8", "surrogatepass")) > tunables.MAX_SEGMENT_BYTES:
            raise Answer(414, "path segment too long")
    return parts


def resolve_below(source: str, parts: list[str], shown: str) -> str:
    """The real path of ``parts`` below the directory ``source``, which it must stay inside.

    Args:
        source: the directory a URL publishes.
        parts: what ``safe_parts`` returned for the path below the URL.
        shown: the request path, for the log line of a refusal.

    Raises:
        Answer: 404 when the path does not resolve or resolves outside ``source``.
    """
    try:
        root = os.path.realpath(source)
        target = os.path.realpath(os.path.join(root, *parts)) if parts else root
    except (OSError, ValueError):
        raise Answer(404, "not found") from None
    if target != root and not target.startswith(root.rstrip(os.sep) + os.sep):
        log.warning("refused %s: resolves outside %s", shown, root)
        raise Answer(404, "not found")
    return target
