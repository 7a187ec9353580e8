"""Directory listings of the file host: one small HTML page of links, sorted, at most ``MAX_LISTING_ENTRIES``."""

from __future__ import annotations

import html
import os
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

from bcs import tunables
from bcs.host.exchange import Answer, Exchange, StartResponse

__all__ = ["serve_listing"]


def serve_listing(
    environ: dict[str, Any], start_response: StartResponse, exchange: Exchange, directory: str
) -> Iterable[bytes]:
    """Answer with the listing of ``directory`` (the caller checked that listings are on).

    Raises:
        Answer: 404 when the directory cannot be read.
    """
    try:
        names = sorted(os.listdir(directory))[: tunables.MAX_LISTING_ENTRIES]
    except OSError:
        raise Answer(404, "not found") from None
    rows = []
    for name in names:
        full = os.path.join(directory, name)
        label = name + ("/" if os.path.isdir(full) else "")
        rows.append(f'<li><a href="{html.escape(quote(label))}">{html.escape(label)}</a></li>')
    title = html.escape(environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8"))
    page = (
        f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>{title}</title></head>"
        f"<body><h1>{title}</h1><ul>\n" + "\n".join(rows) + "\n</ul></body></html>\n"
    ).encode()
    exchange.status = 200
    start_response(
        "200 OK", [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(page)))]
    )
    body = b"" if environ["REQUEST_METHOD"] == "HEAD" else page
    exchange.finish(len(body))
    return [body] if body else []
