"""The HRESULT table: every error the engine reports is a row, ``Code(hresult, name, category,
reason, transient, message)``; an exception carries its row.

Exception tree (every error class of the engine is here)::

    BcsError(kind, message, *, reason, noun, target)   any row of the table
    ├── InvalidArgumentError     E_INVALIDARG; callers catch it to name the setting at fault
    │   ├── ConfigError          a config.yaml / config.import value (its path and line)
    │   └── ParamError           RPC params that do not match the declaration (JSON-RPC -32602)
    ├── InvalidStateError        BG_E_INVALID_STATE (the job transition table refuses)
    ├── NotFoundError            ERROR_NOT_FOUND (URL groups and URLs)
    ├── AccessDeniedError        E_ACCESSDENIED (state directory, lock files, pipe paths, ...)
    ├── BusyError                ERROR_BUSY (a port in use)
    ├── HttpStatusError          0x80190000 | status, BITS's transient/fatal class per status
    ├── DirectoryUnavailableError ERROR_DS_UNAVAILABLE: Active Directory cannot be asked (file host: 503)
    ├── AlreadyRunningError      ERROR_ALREADY_EXISTS: another engine has the pipe or state dir
    ├── EngineNotRunningError    ERROR_FILE_NOT_FOUND: no engine answers (client side)
    ├── UntrustedEngineError     E_ACCESSDENIED: another user serves the pipe (client side)
    └── RpcError                 an error the engine answered (client side; its row from error.data)

Raise a row directly for everything else: ``BcsError(ERROR_DISK_FULL, text, noun="Job")``.
Everything that reports an error to the outside derives from the row: JSON-RPC ``error.data``
(``to_data``), the HTTP ``BITS-Error-Code`` header (``header_value``), a job's error object, and the
PowerShell ErrorRecord built from ``error.data`` (category + ``Bcs.<Noun>.<Reason>`` errorId).
``reason`` may be narrowed per raise (``AccessDeniedError(text, reason="PipePathTaken")``).

``transient`` is the BITS class of the error: a transient error puts a job into TRANSIENT_ERROR
and is retried after the job's minimum retry delay, a fatal one into ERROR.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bcs import tunables

__all__ = [
    "AccessDeniedError",
    "AlreadyRunningError",
    "BcsError",
    "BusyError",
    "Code",
    "ConfigError",
    "DirectoryUnavailableError",
    "EngineNotRunningError",
    "HttpStatusError",
    "InvalidArgumentError",
    "InvalidStateError",
    "NotFoundError",
    "ParamError",
    "RpcError",
    "UntrustedEngineError",
    "code_of",
    "codes",
    "error_from_hresult",
    "file_error",
    "format_hresult",
    "http_status_is_transient",
    "parse_hresult",
    "shown",
    # and the rows: E_FAIL, E_INVALIDARG, ERROR_*, BG_E_* (see the table)
]


def format_hresult(hresult: int) -> str:
    """Format an HRESULT as BITS peers do: ``0x8020001F`` (upper-case, 8 digits)."""
    return f"0x{hresult & 0xFFFFFFFF:08X}"


def parse_hresult(text: str) -> int:
    """Parse an HRESULT as found in headers: optional ``0x``/``x`` prefix, base 16, any case.

    Raises:
        ValueError: when the text is not a hexadecimal number of at most 32 bits.
    """
    value = text.strip().lower()
    if value.startswith("0x"):
        value = value[2:]
    elif value.startswith("x"):
        value = value[1:]
    if not value or len(value) > 8:
        raise ValueError(f"not an HRESULT: {text!r}")
    return int(value, 16)


def shown(value: Any, limit: int = tunables.SHOWN_VALUE_CHARS) -> str:
    """A value as an error message or log line quotes it: ``repr`` (so lone surrogates and control
    characters are escaped, never raw) and at most ``limit`` characters, with the full length noted."""
    text = repr(value)
    if len(text) <= limit:
        return text
    size = f"{len(value)} characters" if isinstance(value, str) else f"{len(text)} characters as text"
    return f"{text[:limit]}... ({size})"


@dataclass(frozen=True)
class Code:
    """One row of the HRESULT table."""

    hresult: int
    name: str  # the symbolic name (bitsmsg.h, winerror.h): BG_E_INVALID_STATE
    category: str  # System.Management.Automation.ErrorCategory of the PowerShell ErrorRecord
    reason: str  # the last part of the errorId Bcs.<Noun>.<Reason>
    transient: bool  # BITS retries a job after it (TRANSIENT_ERROR) instead of failing it (ERROR)
    message: str  # the default message


_TABLE: dict[int, Code] = {}


def _row(hresult: int, name: str, category: str, reason: str, transient: bool, message: str) -> Code:
    code = Code(hresult, name, category, reason, transient, message)
    if hresult in _TABLE or any(c.name == name for c in _TABLE.values()):
        raise RuntimeError(f"HRESULT {format_hresult(hresult)} {name} is in the table twice")
    _TABLE[hresult] = code
    __all__.append(name)
    return code


# The table. Sources: bits-protocol.md sections 1.3, 2, 3 (bitsmsg.h values, Win32 codes); the
# NTE_/CRYPT_E_ rows are winerror.h's, as Windows reports them for certificates and keys.
# fmt: off
E_NOTIMPL = _row(0x80004001, "E_NOTIMPL", "NotImplemented", "NotImplemented", False, 'Not implemented.')
E_FAIL = _row(0x80004005, "E_FAIL", "NotSpecified", "Failed", False, 'Unspecified error.')
ERROR_FILE_NOT_FOUND = _row(0x80070002, "ERROR_FILE_NOT_FOUND", "ObjectNotFound", "FileNotFound", False, 'The system cannot find the file specified.')
ERROR_PATH_NOT_FOUND = _row(0x80070003, "ERROR_PATH_NOT_FOUND", "ObjectNotFound", "PathNotFound", False, 'The system cannot find the path specified.')
E_ACCESSDENIED = _row(0x80070005, "E_ACCESSDENIED", "PermissionDenied", "AccessDenied", False, 'Access is denied.')
ERROR_INVALID_DATA = _row(0x8007000D, "ERROR_INVALID_DATA", "InvalidData", "InvalidData", False, 'The data is invalid.')
ERROR_NOT_READY = _row(0x80070015, "ERROR_NOT_READY", "ResourceUnavailable", "NotReady", True, 'The device is not ready.')
ERROR_SHARING_VIOLATION = _row(0x80070020, "ERROR_SHARING_VIOLATION", "ResourceBusy", "SharingViolation", True, 'The process cannot access the file because it is being used by another process.')
ERROR_NOT_SUPPORTED = _row(0x80070032, "ERROR_NOT_SUPPORTED", "NotImplemented", "NotSupported", False, 'The request is not supported.')
ERROR_INVALID_PASSWORD = _row(0x80070056, "ERROR_INVALID_PASSWORD", "InvalidArgument", "InvalidPassword", False, 'The specified network password is not correct.')
E_INVALIDARG = _row(0x80070057, "E_INVALIDARG", "InvalidArgument", "InvalidArgument", False, 'The parameter is incorrect.')
ERROR_DISK_FULL = _row(0x80070070, "ERROR_DISK_FULL", "WriteError", "DiskFull", True, 'There is not enough space on the disk.')
ERROR_BUSY = _row(0x800700AA, "ERROR_BUSY", "ResourceBusy", "Busy", True, 'The requested resource is in use.')
ERROR_ALREADY_EXISTS = _row(0x800700B7, "ERROR_ALREADY_EXISTS", "ResourceExists", "AlreadyExists", False, 'Cannot create a file when that file already exists.')
ERROR_NOT_FOUND = _row(0x80070490, "ERROR_NOT_FOUND", "ObjectNotFound", "NotFound", False, 'Element not found.')
ERROR_CANCELLED = _row(0x800704C7, "ERROR_CANCELLED", "OperationStopped", "Cancelled", False, 'The operation was canceled by the user.')
ERROR_TIMEOUT = _row(0x800705B4, "ERROR_TIMEOUT", "OperationTimeout", "Timeout", True, 'This operation returned because the timeout period expired.')
ERROR_DS_UNAVAILABLE = _row(0x8007200F, "ERROR_DS_UNAVAILABLE", "ResourceUnavailable", "DirectoryUnavailable", True, 'The directory service is unavailable.')
ERROR_WINHTTP_TIMEOUT = _row(0x80072EE2, "ERROR_WINHTTP_TIMEOUT", "OperationTimeout", "TransportTimeout", True, 'The operation timed out.')
ERROR_WINHTTP_NAME_NOT_RESOLVED = _row(0x80072EE7, "ERROR_WINHTTP_NAME_NOT_RESOLVED", "ConnectionError", "NameNotResolved", True, 'The server name or address could not be resolved.')
ERROR_WINHTTP_CANNOT_CONNECT = _row(0x80072EFD, "ERROR_WINHTTP_CANNOT_CONNECT", "ConnectionError", "CannotConnect", True, 'A connection with the server could not be established.')
ERROR_WINHTTP_CONNECTION_ERROR = _row(0x80072EFE, "ERROR_WINHTTP_CONNECTION_ERROR", "ConnectionError", "ConnectionAborted", True, 'The connection with the server was terminated abnormally.')
ERROR_WINHTTP_CLIENT_AUTH_CERT_NEEDED = _row(0x80072F0C, "ERROR_WINHTTP_CLIENT_AUTH_CERT_NEEDED", "AuthenticationError", "ClientCertificateNeeded", False, 'The server requires a client certificate.')
ERROR_WINHTTP_INVALID_SERVER_RESPONSE = _row(0x80072F78, "ERROR_WINHTTP_INVALID_SERVER_RESPONSE", "ProtocolError", "InvalidTransportResponse", True, 'The server response could not be parsed.')
ERROR_WINHTTP_REDIRECT_FAILED = _row(0x80072F7C, "ERROR_WINHTTP_REDIRECT_FAILED", "ProtocolError", "RedirectFailed", False, 'The redirect failed because of a scheme change or too many redirects.')
ERROR_WINHTTP_SECURE_FAILURE = _row(0x80072F8F, "ERROR_WINHTTP_SECURE_FAILURE", "SecurityError", "SecureFailure", False, 'A security error occurred (TLS certificate validation failed).')
NTE_BAD_KEY_STATE = _row(0x8009000B, "NTE_BAD_KEY_STATE", "InvalidOperation", "KeyNotExportable", False, 'Key not valid for use in specified state.')
NTE_NO_KEY = _row(0x8009000D, "NTE_NO_KEY", "ObjectNotFound", "NoPrivateKey", False, 'Key does not exist.')
CRYPT_E_HASH_VALUE = _row(0x80091007, "CRYPT_E_HASH_VALUE", "InvalidData", "HashMismatch", False, 'The hash value is not correct.')
CRYPT_E_NOT_FOUND = _row(0x80092004, "CRYPT_E_NOT_FOUND", "ObjectNotFound", "CertificateNotFound", False, 'Cannot find object or property.')
BG_E_NOT_FOUND = _row(0x80200001, "BG_E_NOT_FOUND", "ObjectNotFound", "NotFound", False, 'The requested job was not found.')
BG_E_INVALID_STATE = _row(0x80200002, "BG_E_INVALID_STATE", "InvalidOperation", "InvalidState", False, 'The requested action is not allowed in the current job state.')
BG_E_EMPTY = _row(0x80200003, "BG_E_EMPTY", "InvalidOperation", "Empty", False, 'There are no files attached to this job.')
BG_E_FILE_NOT_AVAILABLE = _row(0x80200004, "BG_E_FILE_NOT_AVAILABLE", "InvalidOperation", "FileNotAvailable", False, 'No file is available because no URL generated an error.')
BG_E_PROTOCOL_NOT_AVAILABLE = _row(0x80200005, "BG_E_PROTOCOL_NOT_AVAILABLE", "InvalidOperation", "ProtocolNotAvailable", False, 'No protocol is available because no URL generated an error.')
BG_E_DESTINATION_LOCKED = _row(0x8020000D, "BG_E_DESTINATION_LOCKED", "ResourceUnavailable", "DestinationLocked", True, 'The destination file system volume is not available.')
BG_E_VOLUME_CHANGED = _row(0x8020000E, "BG_E_VOLUME_CHANGED", "InvalidOperation", "VolumeChanged", False, 'The destination volume has changed.')
BG_E_ERROR_INFORMATION_UNAVAILABLE = _row(0x8020000F, "BG_E_ERROR_INFORMATION_UNAVAILABLE", "InvalidOperation", "ErrorInformationUnavailable", False, 'No errors have occurred.')
BG_E_NETWORK_DISCONNECTED = _row(0x80200010, "BG_E_NETWORK_DISCONNECTED", "ConnectionError", "NetworkDisconnected", True, 'There are currently no active network connections.')
BG_E_MISSING_FILE_SIZE = _row(0x80200011, "BG_E_MISSING_FILE_SIZE", "ProtocolError", "MissingFileSize", False, 'The server did not return the file size. The URL might point to dynamic content.')
BG_E_INSUFFICIENT_HTTP_SUPPORT = _row(0x80200012, "BG_E_INSUFFICIENT_HTTP_SUPPORT", "ProtocolError", "InsufficientHttpSupport", False, 'The server does not support HTTP 1.1.')
BG_E_INSUFFICIENT_RANGE_SUPPORT = _row(0x80200013, "BG_E_INSUFFICIENT_RANGE_SUPPORT", "ProtocolError", "InsufficientRangeSupport", False, 'The server does not support the necessary HTTP protocol (Range requests).')
BG_E_PROXY_LIST_TOO_LARGE = _row(0x80200018, "BG_E_PROXY_LIST_TOO_LARGE", "InvalidArgument", "ProxyListTooLarge", False, 'The proxy list may not be longer than 32,767 characters.')
BG_E_PROXY_BYPASS_LIST_TOO_LARGE = _row(0x80200019, "BG_E_PROXY_BYPASS_LIST_TOO_LARGE", "InvalidArgument", "ProxyBypassListTooLarge", False, 'The proxy bypass list may not be longer than 32,767 characters.')
BG_E_INVALID_SERVER_RESPONSE = _row(0x8020001B, "BG_E_INVALID_SERVER_RESPONSE", "ProtocolError", "InvalidServerResponse", True, "The server's response was not valid.")
BG_E_TOO_MANY_FILES = _row(0x8020001C, "BG_E_TOO_MANY_FILES", "LimitsExceeded", "TooManyFiles", False, 'No more files can be added to this job.')
BG_E_LOCAL_FILE_CHANGED = _row(0x8020001D, "BG_E_LOCAL_FILE_CHANGED", "InvalidData", "LocalFileChanged", False, 'The local file was changed during the transfer.')
BG_E_ERROR_CONTEXT_REMOTE_APPLICATION = _row(0x8020001E, "BG_E_ERROR_CONTEXT_REMOTE_APPLICATION", "ProtocolError", "RemoteApplication", False, 'The error occurred in the server application.')
BG_E_SESSION_NOT_FOUND = _row(0x8020001F, "BG_E_SESSION_NOT_FOUND", "ObjectNotFound", "SessionNotFound", False, 'The administrator may have removed the upload session or it timed out.')
BG_E_TOO_LARGE = _row(0x80200020, "BG_E_TOO_LARGE", "LimitsExceeded", "TooLarge", False, "The upload file exceeds the server's maximum size.")
BG_E_STRING_TOO_LONG = _row(0x80200021, "BG_E_STRING_TOO_LONG", "InvalidArgument", "StringTooLong", False, 'The string is too long.')
BG_E_CLIENT_SERVER_PROTOCOL_MISMATCH = _row(0x80200022, "BG_E_CLIENT_SERVER_PROTOCOL_MISMATCH", "ProtocolError", "ProtocolMismatch", False, 'The client and server versions of BITS are not compatible.')
BG_E_SERVER_EXECUTE_ENABLE = _row(0x80200023, "BG_E_SERVER_EXECUTE_ENABLE", "SecurityError", "ServerExecuteEnable", False, 'Scripting or execute permissions are enabled on the upload directory.')
BG_E_NO_PROGRESS = _row(0x80200024, "BG_E_NO_PROGRESS", "OperationTimeout", "NoProgress", True, 'The job is not making headway.')
BG_E_USERNAME_TOO_LARGE = _row(0x80200025, "BG_E_USERNAME_TOO_LARGE", "InvalidArgument", "UsernameTooLarge", False, 'The user name cannot exceed 300 characters.')
BG_E_PASSWORD_TOO_LARGE = _row(0x80200026, "BG_E_PASSWORD_TOO_LARGE", "InvalidArgument", "PasswordTooLarge", False, 'The password cannot exceed 65,535 characters.')
BG_E_INVALID_AUTH_TARGET = _row(0x80200027, "BG_E_INVALID_AUTH_TARGET", "InvalidArgument", "InvalidAuthTarget", False, 'The authentication target specified in the credentials is not defined.')
BG_E_INVALID_AUTH_SCHEME = _row(0x80200028, "BG_E_INVALID_AUTH_SCHEME", "InvalidArgument", "InvalidAuthScheme", False, 'The authentication scheme specified in the credentials is not defined.')
BG_E_INVALID_PROXY_INFO = _row(0x8020003F, "BG_E_INVALID_PROXY_INFO", "InvalidArgument", "InvalidProxyInfo", False, 'The proxy server list or bypass list is not valid.')
BG_E_TOO_MANY_JOBS_PER_USER = _row(0x80200049, "BG_E_TOO_MANY_JOBS_PER_USER", "QuotaExceeded", "TooManyJobsPerUser", False, 'The maximum number of jobs for this user has been reached.')
BG_E_TOO_MANY_JOBS_PER_MACHINE = _row(0x80200050, "BG_E_TOO_MANY_JOBS_PER_MACHINE", "QuotaExceeded", "TooManyJobsPerMachine", False, 'The maximum number of jobs for this computer has been reached.')
BG_E_TOO_MANY_FILES_IN_JOB = _row(0x80200051, "BG_E_TOO_MANY_FILES_IN_JOB", "QuotaExceeded", "TooManyFilesInJob", False, 'The maximum number of files for this job has been reached.')
BG_E_TOO_MANY_RANGES_IN_FILE = _row(0x80200052, "BG_E_TOO_MANY_RANGES_IN_FILE", "QuotaExceeded", "TooManyRangesInFile", False, 'The maximum number of ranges for this file has been reached.')
BG_E_MAXDOWNLOAD_TIMEOUT = _row(0x80200054, "BG_E_MAXDOWNLOAD_TIMEOUT", "OperationTimeout", "MaxDownloadTimeout", False, 'The job did not complete within its maximum download time.')
# fmt: on


def codes() -> list[Code]:
    """Every row, in HRESULT order."""
    return [_TABLE[k] for k in sorted(_TABLE)]


def code_of(hresult: int) -> Code:
    """The row of ``hresult``; an HTTP status or an unknown code gets a row made up for it."""
    hresult &= 0xFFFFFFFF
    found = _TABLE.get(hresult)
    if found is not None:
        return found
    if hresult & 0xFFFF0000 == 0x80190000:
        status = hresult & 0xFFFF
        return Code(
            hresult,
            f"BG_E_HTTP_ERROR_{status}",
            "ProtocolError",
            "HttpError",
            http_status_is_transient(status),
            f"The server returned HTTP status {status}.",
        )
    return Code(
        hresult, format_hresult(hresult), "NotSpecified", "Failed", False, f"Error {format_hresult(hresult)}."
    )


class BcsError(Exception):
    """Root of every error the engine reports: a row of the table, a message and its subject."""

    def __init__(
        self,
        kind: Code = E_FAIL,
        message: str | None = None,
        *,
        reason: str | None = None,
        noun: str = "Server",
        target: Any = None,
    ) -> None:
        self.kind = kind
        self.message = message or kind.message
        self.reason = reason or kind.reason
        self.noun = noun
        self.target = target
        super().__init__(self.message)

    @property
    def code(self) -> int:
        """The HRESULT."""
        return self.kind.hresult

    @property
    def code_name(self) -> str:
        return self.kind.name

    @property
    def category(self) -> str:
        return self.kind.category

    @property
    def transient(self) -> bool:
        return self.kind.transient

    @property
    def error_id(self) -> str:
        return f"Bcs.{self.noun}.{self.reason}"

    def header_value(self) -> str:
        """The value of the ``BITS-Error-Code`` header for this error."""
        return format_hresult(self.code)

    def to_data(self) -> dict[str, Any]:
        """The JSON-RPC ``error.data`` object (design.md, management transport)."""
        return {
            "hresult": format_hresult(self.code),
            "name": self.code_name,
            "category": self.category,
            "errorId": self.error_id,
            "transient": self.transient,
            "target": self.target,
        }


class _Fixed(BcsError):
    """A subclass bound to one row: ``InvalidArgumentError(message, noun=..., target=...)``."""

    KIND: Code = E_FAIL

    def __init__(
        self,
        message: str | None = None,
        *,
        reason: str | None = None,
        noun: str = "Server",
        target: Any = None,
    ) -> None:
        super().__init__(self.KIND, message, reason=reason, noun=noun, target=target)


class InvalidArgumentError(_Fixed):
    """E_INVALIDARG: a value that is not acceptable; the message names it."""

    KIND = E_INVALIDARG


class ConfigError(InvalidArgumentError):
    """A configuration that does not load or does not validate; names the setting (and line)."""

    def __init__(self, message: str, path: tuple[str | int, ...] = (), line: int | None = None) -> None:
        self.path = path
        self.line = line
        where = config_path_text(path)
        text = f"{where}: {message}" if where else message
        if line is not None:
            text = f"line {line}: {text}"
        super().__init__(text, noun="Configuration", target=where or None)


def config_path_text(path: tuple[str | int, ...]) -> str:
    """``("urlGroups", 0, "urls", 1, "sddl")`` -> ``urlGroups[0].urls[1].sddl``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


class ParamError(InvalidArgumentError):
    """A request's parameters do not match the method's declaration (JSON-RPC -32602)."""


class InvalidStateError(_Fixed):
    """BG_E_INVALID_STATE: the job's transition table does not allow the call now."""

    KIND = BG_E_INVALID_STATE


class NotFoundError(_Fixed):
    """ERROR_NOT_FOUND: a URL group or URL that does not exist."""

    KIND = ERROR_NOT_FOUND


class AccessDeniedError(_Fixed):
    """E_ACCESSDENIED."""

    KIND = E_ACCESSDENIED


class BusyError(_Fixed):
    """ERROR_BUSY: a resource (a port) in use."""

    KIND = ERROR_BUSY


class DirectoryUnavailableError(_Fixed):
    """The directory (LDAP) that turns names into SIDs cannot be asked: no access is decided.

    The file host answers 503 with ``Retry-After: retry_after`` (bcs.auth.sids explains why not 403).
    """

    KIND = ERROR_DS_UNAVAILABLE

    def __init__(self, message: str | None = None, *, retry_after: int, target: Any = None) -> None:
        self.retry_after = retry_after
        super().__init__(message, noun="Principal", target=target)


class AlreadyRunningError(_Fixed):
    """Another engine already serves this pipe name or uses this state directory."""

    KIND = ERROR_ALREADY_EXISTS

    def __init__(self, message: str | None = None, *, noun: str = "Server", target: Any = None) -> None:
        super().__init__(message, reason="AlreadyRunning", noun=noun, target=target)


class EngineNotRunningError(BcsError):
    """No engine answers on the pipe (client side)."""

    def __init__(self, message: str | None = None, *, target: Any = None) -> None:
        super().__init__(_ENGINE_NOT_RUNNING, message, noun="Server", target=target)


class UntrustedEngineError(BcsError):
    """The pipe is served by a process of another user: not our engine; nothing was sent."""

    def __init__(self, message: str | None = None, *, target: Any = None) -> None:
        super().__init__(_UNTRUSTED_ENGINE, message, noun="Server", target=target)


# Rows of the client-side errors: their codes are Win32's, their categories and reasons their own.
_ENGINE_NOT_RUNNING = Code(
    0x80070002,
    "ERROR_FILE_NOT_FOUND",
    "ResourceUnavailable",
    "EngineNotRunning",
    False,
    "No engine answers on the pipe.",
)
_UNTRUSTED_ENGINE = Code(
    0x80070005,
    "E_ACCESSDENIED",
    "SecurityError",
    "UntrustedEngine",
    False,
    "The pipe is served by another user.",
)


class RpcError(BcsError):
    """An error answered by the engine; carries the JSON-RPC code and ``error.data``."""

    def __init__(self, code: int, message: str, data: dict[str, Any] | None) -> None:
        self.rpc_code = code
        self.data = data or {}
        try:
            hresult = parse_hresult(str(self.data.get("hresult", "0x80004005")))
        except ValueError:
            hresult = E_FAIL.hresult
        row = code_of(hresult)
        name = str(self.data.get("name", row.name))
        super().__init__(
            Code(row.hresult, name, row.category, row.reason, row.transient, row.message),
            message,
            noun="Rpc",
            target=self.data.get("target"),
        )


class HttpStatusError(BcsError):
    """An HTTP status reported as BITS does: ``0x80190000 | status`` (BG_E_HTTP_ERROR_<status>)."""

    def __init__(
        self, status: int, message: str | None = None, *, noun: str = "Job", target: Any = None
    ) -> None:
        self.status = status
        super().__init__(code_of(0x80190000 | status), message, noun=noun, target=target)


def http_status_is_transient(status: int) -> bool:
    """The BITS classification of an HTTP status (bits-protocol.md 1.3).

    3xx transient except 300-305 and 307; 4xx fatal except 408 and 409; 5xx transient except 501
    and 505; anything else transient.
    """
    if 300 <= status < 400:
        return not (300 <= status <= 305 or status == 307)
    if 400 <= status < 500:
        return status in (408, 409)
    if 500 <= status < 600:
        return status not in (501, 505)
    return True


def error_from_hresult(
    hresult: int, message: str | None = None, *, noun: str = "Server", target: Any = None
) -> BcsError:
    """The error for any HRESULT: its row, an HTTP status, or a row made up for an unknown code."""
    hresult &= 0xFFFFFFFF
    if hresult & 0xFFFF0000 == 0x80190000:
        return HttpStatusError(hresult & 0xFFFF, message, noun=noun, target=target)
    return BcsError(code_of(hresult), message, noun=noun, target=target)


def file_error(exc: OSError, subject: str, *, noun: str, target: Any = None) -> BcsError:
    """The error of a file the engine could not open or read: ``subject`` ("sourcePath /x") is
    missing (ERROR_FILE_NOT_FOUND), unreadable by the engine (E_ACCESSDENIED), or else unusable
    (E_INVALIDARG with the system's reason). One ladder for every path a caller gives."""
    if isinstance(exc, FileNotFoundError):
        return BcsError(ERROR_FILE_NOT_FOUND, f"{subject} does not exist", noun=noun, target=target)
    if isinstance(exc, PermissionError):
        return AccessDeniedError(f"{subject} cannot be read by the engine", noun=noun, target=target)
    return InvalidArgumentError(f"{subject}: {exc.strerror or exc}", noun=noun, target=target)
