"""An upload session of the BITS upload server: its record and its one transition table.

Rules of the state machine, written once as data in ``TRANSITIONS``:

* Create-Session makes a session RECEIVING. Fragments (``data``) keep it there until the last
  byte arrives and is durable (``complete``): UPLOADED.
* Close-Session of an UPLOADED session places the file at its destination: CLOSED. A Close before
  the last byte discards the partial upload (no partial files, [DOC close-session]): CANCELLED.
* Cancel-Session, ``upload.delete`` and a newer session taking over an empty destination
  (``cancel``) end a RECEIVING or UPLOADED session: CANCELLED; its data is deleted.
* ``expire``: no progress for the group's ``sessionTimeout`` (or a tombstone's time is up).
* CLOSED and CANCELLED are tombstones, kept ``UPLOAD_TOMBSTONE_SECONDS`` so that a Close or Cancel
  whose Ack was lost can be resent and answered the same: Close and Cancel of a CLOSED session
  and Cancel of a CANCELLED one change nothing (a Cancel after the file was placed has no effect,
  as on Windows). Anything else on a tombstone is illegal: the session is not found.
* EXPIRED is final: the session is removed from the index.

Anything not in the table raises ``InvalidStateError``; the protocol answers it as
``BG_E_SESSION_NOT_FOUND`` (the session the client means does not exist any more).
"""

from __future__ import annotations

import enum
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from bcs.errors import InvalidStateError

__all__ = [
    "ACTIVE_STATES",
    "TRANSITIONS",
    "SessionEvent",
    "SessionState",
    "UploadSession",
    "transition",
]


class SessionState(enum.Enum):
    RECEIVING = "Receiving"
    UPLOADED = "Uploaded"
    CLOSED = "Closed"
    CANCELLED = "Cancelled"
    EXPIRED = "Expired"


class SessionEvent(enum.Enum):
    DATA = "data"
    COMPLETE = "complete"
    CLOSE = "close"
    CANCEL = "cancel"
    EXPIRE = "expire"


S, E = SessionState, SessionEvent

TRANSITIONS: dict[tuple[SessionState, SessionEvent], SessionState] = {
    (S.RECEIVING, E.DATA): S.RECEIVING,
    (S.RECEIVING, E.COMPLETE): S.UPLOADED,
    (S.RECEIVING, E.CLOSE): S.CANCELLED,  # before the last byte: the partial upload is discarded
    (S.RECEIVING, E.CANCEL): S.CANCELLED,
    (S.RECEIVING, E.EXPIRE): S.EXPIRED,
    (S.UPLOADED, E.DATA): S.UPLOADED,  # a fragment resent after the last one: nothing is written
    (S.UPLOADED, E.CLOSE): S.CLOSED,
    (S.UPLOADED, E.CANCEL): S.CANCELLED,
    (S.UPLOADED, E.EXPIRE): S.EXPIRED,
    (S.CLOSED, E.CLOSE): S.CLOSED,  # a resent Close: its Ack was lost
    (S.CLOSED, E.CANCEL): S.CLOSED,  # the file is placed: a Cancel has no effect any more
    (S.CLOSED, E.EXPIRE): S.EXPIRED,
    (S.CANCELLED, E.CANCEL): S.CANCELLED,  # a resent Cancel
    (S.CANCELLED, E.EXPIRE): S.EXPIRED,
}

ACTIVE_STATES = frozenset({S.RECEIVING, S.UPLOADED})

del S, E


def transition(state: SessionState, event: SessionEvent) -> SessionState:
    """The state after ``event``.

    Raises:
        InvalidStateError: the table has no such transition.
    """
    new = TRANSITIONS.get((state, event))
    if new is None:
        raise InvalidStateError(
            f"an upload session in state {state.value} cannot take {event.value}", noun="UploadSession"
        )
    return new


@dataclass
class UploadSession:
    """One upload session: where its file goes, whose it is and how far it got.

    ``received`` is the next offset expected (every byte before it is in the staging file);
    ``durable`` is the part of it that is fsynced and recorded in the index: after a crash the
    session resumes from ``durable`` (the client resyncs from the 416 it gets).
    """

    session_id: str  # {GUID}, upper-case
    url_group: str  # the group's prefix key
    url: str  # the request path, as the client sent it (for upload.list)
    destination: str  # absolute path of the file to create
    owner: str  # the principal's key ("" = anonymous: all anonymous clients are one user)
    owner_name: str = ""  # the principal's name as shown
    content_name: str = ""  # the client's file name (Content-Name), shown only
    protocol: str = ""
    state: SessionState = SessionState.RECEIVING
    received: int = 0
    durable: int = 0
    total: int | None = None  # known from the first fragment on
    created: float = field(default_factory=time.time)
    last_activity: float = field(default_factory=time.time)  # creation or the last byte received
    ended: float | None = None  # when it became a tombstone
    # Server application notification (bits-protocol.md 2.7)
    notify: str = "None"  # the group's notificationType when the session was made (not None: the
    #                       session does not hold its destination, the application decides)
    notified: bool = False  # the application took the upload (its reply is ready)
    reply_url: str = ""  # BITS-Reply-URL of the last fragment's Ack
    copy_to_destination: bool = False  # the application asked for the file at its URL as well
    checkpointed: float = field(default_factory=time.monotonic)  # last fsync + index write
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)
    # Direct fragment bodies (bcs.host.upload.direct): ``write_lock`` guards ``claim``, ``buffered``
    # and every write of a direct body; it is held for one write at most, never while waiting.
    claim: Any = field(default=None, repr=False, compare=False)  # the DirectBody writing, or None
    buffered: bool = field(default=False, repr=False, compare=False)  # a request body is being copied
    write_lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def advance(self, event: SessionEvent) -> SessionState:
        """Apply ``event`` (see ``TRANSITIONS``); returns the new state.

        Raises:
            InvalidStateError: not allowed in the current state.
        """
        new = transition(self.state, event)
        if new is not self.state and new not in ACTIVE_STATES and self.ended is None:
            self.ended = time.time()
        self.state = new
        return new

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_STATES

    def to_dict(self, url_group_text: str) -> dict[str, Any]:
        """The ``upload.list`` form."""
        return {
            "sessionId": self.session_id,
            "urlGroup": url_group_text,
            "url": self.url,
            "destination": self.destination,
            "owner": self.owner_name,
            "contentName": self.content_name,
            "state": self.state.value,
            "bytesReceived": self.received,
            "bytesTotal": self.total,
            "createTime": _iso(self.created),
            "lastActivityTime": _iso(self.last_activity),
        }


def _iso(when: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when))
