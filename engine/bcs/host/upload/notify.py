"""Notification of a server application (upload-reply, bits-protocol.md 2.7): one HTTP POST.

When the last byte of an upload arrived in a group with ``notificationType`` ByReference or
ByValue, the server POSTs to ``notificationUrl`` (plus the upload URL's query string) with
``BITS-Original-Request-URL``. ByReference sends the staging file's path in
``BITS-Request-DataFile-Name`` and the path where the application may write its reply in
``BITS-Response-DataFile-Name``, no body; ByValue sends the uploaded bytes as the body and the
answer's body is the reply (streamed to disk, never held in memory).

The application answers 200, optionally with ``BITS-Static-Response-URL`` (the reply is there,
not served here) and ``BITS-Copy-File-To-Destination`` (place the upload at its URL as well).
Anything else fails the notification: ``NotifyError`` carries the status and HRESULT the client
gets, with context 0x7 (BG_ERROR_CONTEXT_REMOTE_APPLICATION): the application's own status, 408 +
ERROR_TIMEOUT when it does not answer within ``UPLOAD_NOTIFY_TIMEOUT``, 502 +
ERROR_WINHTTP_CANNOT_CONNECT when it cannot be reached.
"""

from __future__ import annotations

import http.client
import os
import urllib.parse
from dataclasses import dataclass

from bcs import tunables
from bcs.errors import ERROR_TIMEOUT, ERROR_WINHTTP_CANNOT_CONNECT, format_hresult
from bcs.http import bits

__all__ = ["AppReply", "NotifyError", "notify_application"]


@dataclass(frozen=True)
class AppReply:
    """What the application answered (status 200)."""

    static_url: str  # BITS-Static-Response-URL ("" when the reply is served here)
    copy_to_destination: bool  # BITS-Copy-File-To-Destination was sent


class NotifyError(Exception):
    """The application did not take the upload."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def notify_application(
    url: str,
    query: str,
    original_url: str,
    by_value: bool,
    request_file: str,
    response_file: str,
) -> AppReply:
    """POST the upload to the application at ``url`` and keep its reply in ``response_file``.

    Args:
        url: the group's notificationUrl (absolute http://, checked by bcs.config).
        query: the upload request's query string, appended to ``url``.
        original_url: the upload's URL, sent as BITS-Original-Request-URL.
        by_value: send the bytes (ByValue) instead of the file names (ByReference).
        request_file: the uploaded file (the staging file).
        response_file: where the reply goes (ByReference: the application writes it).

    Raises:
        NotifyError: the application failed, timed out or could not be reached.
    """
    parts = urllib.parse.urlsplit(url)
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    if query:
        target += ("&" if "?" in target else "?") + query
    timeout = tunables.tuned("UPLOAD_NOTIFY_TIMEOUT", tunables.UPLOAD_NOTIFY_TIMEOUT)
    conn = http.client.HTTPConnection(
        parts.hostname or "", parts.port or 80, timeout=timeout, blocksize=tunables.UPLOAD_CHUNK
    )
    headers = {bits.ORIGINAL_REQUEST_URL: original_url}
    try:
        if by_value:
            with open(request_file, "rb") as body:
                headers["Content-Length"] = str(os.fstat(body.fileno()).st_size)
                conn.request("POST", target, body=body, headers=headers)
                response = conn.getresponse()
        else:
            headers[bits.REQUEST_DATAFILE_NAME] = request_file
            headers[bits.RESPONSE_DATAFILE_NAME] = response_file
            headers["Content-Length"] = "0"
            conn.request("POST", target, headers=headers)
            response = conn.getresponse()
        if response.status != 200:
            raise NotifyError(
                response.status,
                format_hresult(0x80190000 | response.status),
                f"the server application answered {response.status} {response.reason}",
            )
        static_url = (response.getheader(bits.STATIC_RESPONSE_URL) or "").strip()
        copy = response.getheader(bits.COPY_FILE_TO_DESTINATION) is not None
        if by_value and not static_url:
            _save(response, response_file)
        else:
            response.read(tunables.UPLOAD_CHUNK)  # a body there is not the reply: drained, dropped
        return AppReply(static_url, copy)
    except TimeoutError:
        raise NotifyError(
            408, format_hresult(ERROR_TIMEOUT.hresult), "the server application did not answer in time"
        ) from None
    except (OSError, http.client.HTTPException) as exc:
        raise NotifyError(
            502,
            format_hresult(ERROR_WINHTTP_CANNOT_CONNECT.hresult),
            f"the server application cannot be reached: {exc}",
        ) from None
    finally:
        conn.close()


def _save(response: http.client.HTTPResponse, path: str) -> None:
    """Stream the reply to ``path`` (a reply may be large: it never sits in memory whole)."""
    with open(path, "wb") as fh:
        while True:
            chunk = response.read(tunables.UPLOAD_CHUNK)
            if not chunk:
                break
            fh.write(chunk)
