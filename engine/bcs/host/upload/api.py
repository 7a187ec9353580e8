"""RPC methods of the upload server: ``upload.list`` and ``upload.delete`` (the active sessions).

A session is shown with its group, URL, destination, owner, state and progress; deleting one is a
Cancel-Session by the administrator: its staging file goes, and the client's next packet gets
``BG_E_SESSION_NOT_FOUND`` (so a BITS client starts that upload over).
"""

from __future__ import annotations

from typing import Any

from bcs.errors import InvalidArgumentError, NotFoundError, shown
from bcs.host.upload.session import SessionEvent
from bcs.host.upload.store import UploadStore
from bcs.http import bits
from bcs.rpc.registry import CallContext, Param, rpc_method
from bcs.urlprefix import parse_prefix

__all__: list[str] = []


def _store(ctx: CallContext) -> UploadStore:
    store: UploadStore | None = ctx.engine.services["host"].state.uploads
    if store is None:
        raise NotFoundError("this engine keeps no upload sessions (no state directory)", noun="UploadSession")
    return store


def _group_names(ctx: CallContext) -> dict[str, str]:
    """Prefix key -> the group's prefix as configured."""
    return {parse_prefix(g.url_group).key: g.url_group for g in ctx.engine.config.current.url_groups}


@rpc_method(
    "upload.list",
    "List the active BITS upload sessions (all groups, or one), with their progress.",
    params=[
        Param("urlGroup", "string", "Only the sessions of this URL group prefix (e.g. http://+:8080/Demo/)."),
    ],
    result="UploadSession[]",
    read_only=True,
    cmdlet="Get-BcsUploadSession",
)
def upload_list(ctx: CallContext, url_group: str | None) -> list[dict[str, Any]]:
    names = _group_names(ctx)
    key = None
    if url_group is not None:
        key = parse_prefix(url_group).key
        if key not in names:
            raise NotFoundError(f"URL group {url_group} does not exist", noun="UrlGroup", target=url_group)
    return [
        session.to_dict(names.get(session.url_group, session.url_group))
        for session in _store(ctx).sessions()
        if session.active and (key is None or session.url_group == key)
    ]


@rpc_method(
    "upload.delete",
    "Delete a BITS upload session and the data it received; its client has to start over.",
    params=[
        Param(
            "sessionId",
            "string",
            "The session id, a GUID in braces as upload.list shows it.",
            required=True,
            max_length=bits.MAX_SESSION_ID,
        )
    ],
    result="null",
    cmdlet="Remove-BcsUploadSession",
)
def upload_delete(ctx: CallContext, session_id: str) -> None:
    parsed = bits.parse_session_id(session_id)
    if parsed is None:
        raise InvalidArgumentError(
            f"sessionId must be a GUID like {{A0FF5911-4144-45B3-BF27-27AFC8EC8A67}}, not {shown(session_id)}",
            noun="UploadSession",
            target=session_id,
        )
    store = _store(ctx)
    session = store.get(parsed)
    if session is None or not session.active:
        raise NotFoundError(f"upload session {parsed} does not exist", noun="UploadSession", target=parsed)
    with session.lock:
        if not session.active:
            raise NotFoundError(
                f"upload session {parsed} does not exist", noun="UploadSession", target=parsed
            )
        store.end(session, SessionEvent.CANCEL)
