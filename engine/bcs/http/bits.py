"""The BITS upload protocol on the wire (bits-protocol.md section 2), for both sides.

Owns the names of the ``BITS-*`` headers and of the packet types, the one protocol GUID, and the
parsing of the values a peer sends: packet types (matched case-insensitively: the Windows client
sends ``Create-Session``, the spec writes ``CREATE-SESSION``), ``BITS-Supported-Protocols``,
session ids, the fragment's ``Content-Range: bytes first-last/total``, ``Content-Name`` and
``BITS-Received-Content-Range``. What a server or a client does with them lives in
``bcs.host.upload`` and the client; HRESULT values come from ``bcs.errors``.

Rules read here:
* Every request is ``BITS_POST`` (the method name is matched exactly, as HTTP methods are).
* ``Content-Range`` is ``bytes first-last/total``, zero-based and inclusive, 64-bit numbers; the
  unit is matched case-insensitively, ``*`` is not allowed for the total (a fragment knows it).
  An empty file is the one exception: ``bytes */0``.
* Session ids the server makes are braced upper-case GUIDs; ids a client echoes are compared
  as sent (any token of at most 100 characters, the docs allow more than GUIDs).
* Header values longer than ``MAX_HEADER_VALUE`` are refused (Windows' server limit, [SPEC <2>]).
"""

from __future__ import annotations

import re
import uuid
from enum import Enum

__all__ = [
    "ACCEPT_ENCODING",
    "BITS_POST",
    "CONTENT_NAME",
    "CONTENT_RANGE",
    "COPY_FILE_TO_DESTINATION",
    "ERROR",
    "ERROR_CODE",
    "ERROR_CONTEXT",
    "ERROR_CONTEXT_REMOTE_APPLICATION",
    "ERROR_CONTEXT_REMOTE_FILE",
    "HOST_ID",
    "HOST_ID_FALLBACK_TIMEOUT",
    "MAX_HEADER_VALUE",
    "MAX_PROTOCOLS",
    "MAX_SESSION_ID",
    "ORIGINAL_REQUEST_URL",
    "PACKET_TYPE",
    "PROTOCOL",
    "PROTOCOL_GUID",
    "RECEIVED_CONTENT_RANGE",
    "REPLY_URL",
    "REQUEST_DATAFILE_NAME",
    "RESPONSE_DATAFILE_NAME",
    "RESPONSE_HEADERS",
    "SESSION_ID",
    "STATIC_RESPONSE_URL",
    "SUPPORTED_PROTOCOLS",
    "FragmentRange",
    "PacketType",
    "new_session_id",
    "parse_content_name",
    "parse_fragment_range",
    "parse_packet_type",
    "parse_received_range",
    "parse_session_id",
    "parse_supported_protocols",
]

BITS_POST = "BITS_POST"

# The only protocol defined: "BITS 1.5 Upload Protocol" [SPEC 1.7.1].
PROTOCOL_GUID = "{7df0354d-249b-430f-820d-3d2a9bef4931}"

# Header names as Windows writes them (HTTP compares them case-insensitively).
PACKET_TYPE = "BITS-Packet-Type"
SUPPORTED_PROTOCOLS = "BITS-Supported-Protocols"
PROTOCOL = "BITS-Protocol"
SESSION_ID = "BITS-Session-Id"
HOST_ID = "BITS-Host-Id"
HOST_ID_FALLBACK_TIMEOUT = "BITS-Host-Id-Fallback-Timeout"
RECEIVED_CONTENT_RANGE = "BITS-Received-Content-Range"
REPLY_URL = "BITS-Reply-URL"
ERROR_CODE = "BITS-Error-Code"  # what the Win32 docs and every peer use
ERROR = "BITS-Error"  # what [MC-BUP] writes; a client accepts both (bits-protocol.md 2.6)
ERROR_CONTEXT = "BITS-Error-Context"
CONTENT_NAME = "Content-Name"
CONTENT_RANGE = "Content-Range"
ACCEPT_ENCODING = "Accept-Encoding"
# Server application notification (bits-protocol.md 2.7).
ORIGINAL_REQUEST_URL = "BITS-Original-Request-URL"
REQUEST_DATAFILE_NAME = "BITS-Request-DataFile-Name"
RESPONSE_DATAFILE_NAME = "BITS-Response-DataFile-Name"
STATIC_RESPONSE_URL = "BITS-Static-Response-URL"
COPY_FILE_TO_DESTINATION = "BITS-Copy-File-To-Destination"

# What a server sends, spelled as Windows does (for servers whose HTTP stack re-cases header names).
RESPONSE_HEADERS = (
    PACKET_TYPE,
    PROTOCOL,
    SESSION_ID,
    HOST_ID,
    HOST_ID_FALLBACK_TIMEOUT,
    RECEIVED_CONTENT_RANGE,
    REPLY_URL,
    ERROR_CODE,
    ERROR_CONTEXT,
)

ERROR_CONTEXT_REMOTE_FILE = "0x5"  # BG_ERROR_CONTEXT_REMOTE_FILE: the server failed
ERROR_CONTEXT_REMOTE_APPLICATION = "0x7"  # BG_ERROR_CONTEXT_REMOTE_APPLICATION: its application did

MAX_HEADER_VALUE = 4096  # bytes of one header value; longer is refused (Windows' server)
MAX_PROTOCOLS = 100  # GUIDs read from BITS-Supported-Protocols (Windows' server reads up to 100)
MAX_SESSION_ID = 100  # characters of a session id (the docs' limit for any HTTP token)
MAX_CONTENT_NAME = 260  # characters of Content-Name (MAX_PATH)
_MAX_OFFSET = 2**63 - 1


class PacketType(Enum):
    """The packets of the upload protocol; ``value`` is the spelling the Windows client sends."""

    PING = "Ping"
    CREATE_SESSION = "Create-Session"
    FRAGMENT = "Fragment"
    CLOSE_SESSION = "Close-Session"
    CANCEL_SESSION = "Cancel-Session"
    ACK = "Ack"


_PACKET_TYPES = {t.value.lower(): t for t in PacketType}


def parse_packet_type(value: str | None) -> PacketType | None:
    """The packet type of a ``BITS-Packet-Type`` value, any case; None when unknown or missing."""
    if value is None:
        return None
    return _PACKET_TYPES.get(value.strip().lower())


_GUID = re.compile(r"^\{?([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})\}?\Z")


def _guid_key(text: str) -> str | None:
    match = _GUID.match(text.strip())
    return match.group(1).lower() if match else None


def parse_supported_protocols(value: str | None) -> list[str]:
    """The protocol GUIDs of ``BITS-Supported-Protocols``, lower-case and braced, in the client's
    order; separated by spaces or commas; at most ``MAX_PROTOCOLS`` read, others ignored."""
    if not value:
        return []
    found = []
    for item in re.split(r"[\s,]+", value.strip())[:MAX_PROTOCOLS]:
        key = _guid_key(item)
        if key is not None:
            found.append("{" + key + "}")
    return found


def new_session_id() -> str:
    """A new session id as Windows' server makes them: ``{A0FF5911-4144-45B3-BF27-27AFC8EC8A67}``."""
    return "{" + str(uuid.uuid4()).upper() + "}"


def parse_session_id(value: str | None) -> str | None:
    """A session id as a server made it (braced upper-case GUID), or None when it is none.

    A client that drops the braces or lower-cases the id still finds its session.
    """
    if value is None or len(value) > MAX_SESSION_ID:
        return None
    key = _guid_key(value)
    return "{" + key.upper() + "}" if key is not None else None


class FragmentRange:
    """The ``Content-Range`` of a fragment: bytes ``first..last`` (inclusive) of a ``total``-byte file.

    An empty file is ``first = 0, last = -1, total = 0``.
    """

    __slots__ = ("first", "last", "total")

    def __init__(self, first: int, last: int, total: int) -> None:
        self.first = first
        self.last = last
        self.total = total

    @property
    def length(self) -> int:
        return self.last - self.first + 1

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FragmentRange) and (self.first, self.last, self.total) == (
            other.first,
            other.last,
            other.total,
        )

    def __hash__(self) -> int:
        return hash((self.first, self.last, self.total))

    def __repr__(self) -> str:
        return f"FragmentRange({self.first}, {self.last}, {self.total})"

    def header(self) -> str:
        """The ``Content-Range`` value a client sends for it."""
        if self.total == 0:
            return "bytes */0"
        return f"bytes {self.first}-{self.last}/{self.total}"


_FRAGMENT_RANGE = re.compile(r"^bytes[ \t]+([0-9]{1,19})-([0-9]{1,19})/([0-9]{1,19})\Z", re.IGNORECASE)
_EMPTY_RANGE = re.compile(r"^bytes[ \t]+\*/0+\Z", re.IGNORECASE)


def parse_fragment_range(value: str | None) -> FragmentRange | None:
    """The range of a fragment's ``Content-Range``; None when missing or malformed.

    Malformed: not ``bytes F-L/T``, L < F, L >= T, or a number beyond 2**63-1.
    """
    if value is None:
        return None
    text = value.strip()
    if _EMPTY_RANGE.match(text):
        return FragmentRange(0, -1, 0)
    match = _FRAGMENT_RANGE.match(text)
    if match is None:
        return None
    first, last, total = (int(match.group(i)) for i in (1, 2, 3))
    if last < first or last >= total or total > _MAX_OFFSET:
        return None
    return FragmentRange(first, last, total)


_NAME_FORBIDDEN = re.compile(r'[\\/:*?"<>|\x00-\x1f]')


def parse_content_name(value: str | None) -> str | None:
    """A ``Content-Name`` (the client's file name, no path), or None when absent or not a valid name.

    The server only shows it; it never decides where a file goes.
    """
    if value is None:
        return None
    name = value.strip()
    if not name or len(name) > MAX_CONTENT_NAME or _NAME_FORBIDDEN.search(name):
        return None
    return name


_DECIMAL = re.compile(r"^[0-9]{1,19}\Z")


def parse_received_range(value: str | None) -> int | None:
    """The next offset the server wants (``BITS-Received-Content-Range``), or None when invalid."""
    if value is None:
        return None
    text = value.strip()
    if not _DECIMAL.match(text):
        return None
    offset = int(text)
    return offset if offset <= _MAX_OFFSET else None
