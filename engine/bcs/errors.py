"""The HRESULT registry: every error the engine reports, one class per BITS/Win32 code.

Exception tree::

    BcsError                      root; carries hresult, name, message, category, reason, transient
    ├── one class per registered HRESULT (InvalidArgumentError = E_INVALIDARG, InvalidStateError = ...)
    └── HttpStatusError           0x80190000 | status, one class for every HTTP status

Everything that reports an error to the outside derives from this table: JSON-RPC ``error.data``
(``to_data``), the HTTP ``BITS-Error-Code`` header (``header_value``), a job's error object, and the
PowerShell ErrorRecord built from ``error.data`` (category + ``Bcs.<Noun>.<Reason>`` errorId).

``transient`` is the BITS class of the error: a transient error puts a job into TRANSIENT_ERROR
and is retried after the job's minimum retry delay, a fatal one into ERROR.
"""

from __future__ import annotations

from typing import Any, ClassVar

from bcs import tunables

__all__ = [
    "AccessDeniedError",
    "AlreadyExistsError",
    "BcsError",
    "BusyError",
    "CancelledError",
    "CannotConnectError",
    "ClientCertNeededError",
    "ConnectionTerminatedError",
    "DestinationLockedError",
    "DiskFullError",
    "EmptyJobError",
    "ErrorInformationUnavailableError",
    "FailError",
    "FileNotAvailableError",
    "HttpStatusError",
    "InsufficientHttpSupportError",
    "InsufficientRangeSupportError",
    "InvalidArgumentError",
    "InvalidAuthSchemeError",
    "InvalidAuthTargetError",
    "InvalidDataError",
    "InvalidProxyInfoError",
    "InvalidServerResponseError",
    "InvalidServerResponseTransportError",
    "InvalidStateError",
    "JobNotFoundError",
    "LocalFileChangedError",
    "LocalFileNotFoundError",
    "MaxDownloadTimeoutError",
    "MissingFileSizeError",
    "NameNotResolvedError",
    "NetworkDisconnectedError",
    "NoProgressError",
    "NotFoundError",
    "NotImplError",
    "NotReadyError",
    "OperationTimeoutError",
    "PasswordTooLargeError",
    "PathNotFoundError",
    "ProtocolMismatchError",
    "ProtocolNotAvailableError",
    "ProxyBypassListTooLargeError",
    "ProxyListTooLargeError",
    "RedirectFailedError",
    "RemoteApplicationError",
    "SecureFailureError",
    "ServerExecuteEnableError",
    "SessionNotFoundError",
    "SharingViolationError",
    "StringTooLongError",
    "TooLargeError",
    "TooManyFilesError",
    "TooManyFilesInJobError",
    "TooManyJobsPerMachineError",
    "TooManyJobsPerUserError",
    "TooManyRangesInFileError",
    "TransportTimeoutError",
    "UsernameTooLargeError",
    "VolumeChangedError",
    "by_name",
    "error_class",
    "error_from_hresult",
    "format_hresult",
    "http_status_is_transient",
    "parse_hresult",
    "raise_for",
    "registered_errors",
    "shown",
]

_REGISTRY: dict[int, type[BcsError]] = {}


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


class BcsError(Exception):
    """Root of every error the engine reports; subclasses fix the HRESULT."""

    hresult: ClassVar[int] = 0x80004005
    name: ClassVar[str] = "E_FAIL"
    default_message: ClassVar[str] = "Unspecified error."
    category: ClassVar[str] = "NotSpecified"  # System.Management.Automation.ErrorCategory
    reason: ClassVar[str] = "Failed"  # the last part of the errorId Bcs.<Noun>.<Reason>
    transient: ClassVar[bool] = False

    def __init_subclass__(
        cls,
        *,
        code: int | None = None,
        name: str | None = None,
        category: str | None = None,
        reason: str | None = None,
        transient: bool = False,
        **kwargs: Any,
    ) -> None:
        """Register a subclass that names its HRESULT: ``class X(BcsError, code=..., name=...)``."""
        super().__init_subclass__(**kwargs)
        if code is None:
            return
        cls.hresult = code
        cls.name = name or format_hresult(code)
        cls.default_message = (cls.__doc__ or "").strip() or cls.default_message
        cls.category = category or "NotSpecified"
        cls.reason = reason or cls.__name__.removesuffix("Error")
        cls.transient = transient
        if code in _REGISTRY:
            raise RuntimeError(f"HRESULT {format_hresult(code)} registered twice")
        _REGISTRY[code] = cls

    def __init__(self, message: str | None = None, *, noun: str = "Server", target: Any = None) -> None:
        self.message = message or self.default_message
        self.noun = noun
        self.target = target
        super().__init__(self.message)

    @property
    def code(self) -> int:
        """The HRESULT of this instance (HttpStatusError computes it from the status)."""
        return self.hresult

    @property
    def code_name(self) -> str:
        return self.name

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


# One class per code. Sources: bits-protocol.md sections 1.3, 2, 3 (bitsmsg.h values, Win32 codes).


# Generic COM / Win32
class FailError(BcsError, code=0x80004005, name="E_FAIL", category="NotSpecified", reason="Failed"):
    """Unspecified error."""


class NotImplError(
    BcsError, code=0x80004001, name="E_NOTIMPL", category="NotImplemented", reason="NotImplemented"
):
    """Not implemented."""


class InvalidArgumentError(
    BcsError, code=0x80070057, name="E_INVALIDARG", category="InvalidArgument", reason="InvalidArgument"
):
    """The parameter is incorrect."""


class AccessDeniedError(
    BcsError, code=0x80070005, name="E_ACCESSDENIED", category="PermissionDenied", reason="AccessDenied"
):
    """Access is denied."""


class LocalFileNotFoundError(
    BcsError, code=0x80070002, name="ERROR_FILE_NOT_FOUND", category="ObjectNotFound", reason="FileNotFound"
):
    """The system cannot find the file specified."""


class PathNotFoundError(
    BcsError, code=0x80070003, name="ERROR_PATH_NOT_FOUND", category="ObjectNotFound", reason="PathNotFound"
):
    """The system cannot find the path specified."""


class DiskFullError(
    BcsError,
    code=0x80070070,
    name="ERROR_DISK_FULL",
    category="WriteError",
    reason="DiskFull",
    transient=True,
):
    """There is not enough space on the disk."""


class AlreadyExistsError(
    BcsError, code=0x800700B7, name="ERROR_ALREADY_EXISTS", category="ResourceExists", reason="AlreadyExists"
):
    """Cannot create a file when that file already exists."""


class NotFoundError(
    BcsError, code=0x80070490, name="ERROR_NOT_FOUND", category="ObjectNotFound", reason="NotFound"
):
    """Element not found."""


class BusyError(
    BcsError, code=0x800700AA, name="ERROR_BUSY", category="ResourceBusy", reason="Busy", transient=True
):
    """The requested resource is in use."""


class OperationTimeoutError(
    BcsError,
    code=0x800705B4,
    name="ERROR_TIMEOUT",
    category="OperationTimeout",
    reason="Timeout",
    transient=True,
):
    """This operation returned because the timeout period expired."""


class CancelledError(
    BcsError, code=0x800704C7, name="ERROR_CANCELLED", category="OperationStopped", reason="Cancelled"
):
    """The operation was canceled by the user."""


class InvalidDataError(
    BcsError, code=0x8007000D, name="ERROR_INVALID_DATA", category="InvalidData", reason="InvalidData"
):
    """The data is invalid."""


class SharingViolationError(
    BcsError,
    code=0x80070020,
    name="ERROR_SHARING_VIOLATION",
    category="ResourceBusy",
    reason="SharingViolation",
    transient=True,
):
    """The process cannot access the file because it is being used by another process."""


class NotReadyError(
    BcsError,
    code=0x80070015,
    name="ERROR_NOT_READY",
    category="ResourceUnavailable",
    reason="NotReady",
    transient=True,
):
    """The device is not ready."""


# BITS (bitsmsg.h)
class JobNotFoundError(
    BcsError, code=0x80200001, name="BG_E_NOT_FOUND", category="ObjectNotFound", reason="NotFound"
):
    """The requested job was not found."""


class InvalidStateError(
    BcsError, code=0x80200002, name="BG_E_INVALID_STATE", category="InvalidOperation", reason="InvalidState"
):
    """The requested action is not allowed in the current job state."""


class EmptyJobError(
    BcsError, code=0x80200003, name="BG_E_EMPTY", category="InvalidOperation", reason="Empty"
):
    """There are no files attached to this job."""


class FileNotAvailableError(
    BcsError,
    code=0x80200004,
    name="BG_E_FILE_NOT_AVAILABLE",
    category="InvalidOperation",
    reason="FileNotAvailable",
):
    """No file is available because no URL generated an error."""


class ProtocolNotAvailableError(
    BcsError,
    code=0x80200005,
    name="BG_E_PROTOCOL_NOT_AVAILABLE",
    category="InvalidOperation",
    reason="ProtocolNotAvailable",
):
    """No protocol is available because no URL generated an error."""


class DestinationLockedError(
    BcsError,
    code=0x8020000D,
    name="BG_E_DESTINATION_LOCKED",
    category="ResourceUnavailable",
    reason="DestinationLocked",
    transient=True,
):
    """The destination file system volume is not available."""


class VolumeChangedError(
    BcsError, code=0x8020000E, name="BG_E_VOLUME_CHANGED", category="InvalidOperation", reason="VolumeChanged"
):
    """The destination volume has changed."""


class ErrorInformationUnavailableError(
    BcsError,
    code=0x8020000F,
    name="BG_E_ERROR_INFORMATION_UNAVAILABLE",
    category="InvalidOperation",
    reason="ErrorInformationUnavailable",
):
    """No errors have occurred."""


class NetworkDisconnectedError(
    BcsError,
    code=0x80200010,
    name="BG_E_NETWORK_DISCONNECTED",
    category="ConnectionError",
    reason="NetworkDisconnected",
    transient=True,
):
    """There are currently no active network connections."""


class MissingFileSizeError(
    BcsError,
    code=0x80200011,
    name="BG_E_MISSING_FILE_SIZE",
    category="ProtocolError",
    reason="MissingFileSize",
):
    """The server did not return the file size. The URL might point to dynamic content."""


class InsufficientHttpSupportError(
    BcsError,
    code=0x80200012,
    name="BG_E_INSUFFICIENT_HTTP_SUPPORT",
    category="ProtocolError",
    reason="InsufficientHttpSupport",
):
    """The server does not support HTTP 1.1."""


class InsufficientRangeSupportError(
    BcsError,
    code=0x80200013,
    name="BG_E_INSUFFICIENT_RANGE_SUPPORT",
    category="ProtocolError",
    reason="InsufficientRangeSupport",
):
    """The server does not support the necessary HTTP protocol (Range requests)."""


class ProxyListTooLargeError(
    BcsError,
    code=0x80200018,
    name="BG_E_PROXY_LIST_TOO_LARGE",
    category="InvalidArgument",
    reason="ProxyListTooLarge",
):
    """The proxy list may not be longer than 32,767 characters."""


class ProxyBypassListTooLargeError(
    BcsError,
    code=0x80200019,
    name="BG_E_PROXY_BYPASS_LIST_TOO_LARGE",
    category="InvalidArgument",
    reason="ProxyBypassListTooLarge",
):
    """The proxy bypass list may not be longer than 32,767 characters."""


class InvalidServerResponseError(
    BcsError,
    code=0x8020001B,
    name="BG_E_INVALID_SERVER_RESPONSE",
    category="ProtocolError",
    reason="InvalidServerResponse",
    transient=True,
):
    """The server's response was not valid."""


class TooManyFilesError(
    BcsError, code=0x8020001C, name="BG_E_TOO_MANY_FILES", category="LimitsExceeded", reason="TooManyFiles"
):
    """No more files can be added to this job."""


class LocalFileChangedError(
    BcsError,
    code=0x8020001D,
    name="BG_E_LOCAL_FILE_CHANGED",
    category="InvalidData",
    reason="LocalFileChanged",
):
    """The local file was changed during the transfer."""


class RemoteApplicationError(
    BcsError,
    code=0x8020001E,
    name="BG_E_ERROR_CONTEXT_REMOTE_APPLICATION",
    category="ProtocolError",
    reason="RemoteApplication",
):
    """The error occurred in the server application."""


class SessionNotFoundError(
    BcsError,
    code=0x8020001F,
    name="BG_E_SESSION_NOT_FOUND",
    category="ObjectNotFound",
    reason="SessionNotFound",
):
    """The administrator may have removed the upload session or it timed out."""


class TooLargeError(
    BcsError, code=0x80200020, name="BG_E_TOO_LARGE", category="LimitsExceeded", reason="TooLarge"
):
    """The upload file exceeds the server's maximum size."""


class StringTooLongError(
    BcsError, code=0x80200021, name="BG_E_STRING_TOO_LONG", category="InvalidArgument", reason="StringTooLong"
):
    """The string is too long."""


class ProtocolMismatchError(
    BcsError,
    code=0x80200022,
    name="BG_E_CLIENT_SERVER_PROTOCOL_MISMATCH",
    category="ProtocolError",
    reason="ProtocolMismatch",
):
    """The client and server versions of BITS are not compatible."""


class ServerExecuteEnableError(
    BcsError,
    code=0x80200023,
    name="BG_E_SERVER_EXECUTE_ENABLE",
    category="SecurityError",
    reason="ServerExecuteEnable",
):
    """Scripting or execute permissions are enabled on the upload directory."""


class NoProgressError(
    BcsError,
    code=0x80200024,
    name="BG_E_NO_PROGRESS",
    category="OperationTimeout",
    reason="NoProgress",
    transient=True,
):
    """The job is not making headway."""


class UsernameTooLargeError(
    BcsError,
    code=0x80200025,
    name="BG_E_USERNAME_TOO_LARGE",
    category="InvalidArgument",
    reason="UsernameTooLarge",
):
    """The user name cannot exceed 300 characters."""


class PasswordTooLargeError(
    BcsError,
    code=0x80200026,
    name="BG_E_PASSWORD_TOO_LARGE",
    category="InvalidArgument",
    reason="PasswordTooLarge",
):
    """The password cannot exceed 65,535 characters."""


class InvalidAuthTargetError(
    BcsError,
    code=0x80200027,
    name="BG_E_INVALID_AUTH_TARGET",
    category="InvalidArgument",
    reason="InvalidAuthTarget",
):
    """The authentication target specified in the credentials is not defined."""


class InvalidAuthSchemeError(
    BcsError,
    code=0x80200028,
    name="BG_E_INVALID_AUTH_SCHEME",
    category="InvalidArgument",
    reason="InvalidAuthScheme",
):
    """The authentication scheme specified in the credentials is not defined."""


class InvalidProxyInfoError(
    BcsError,
    code=0x8020003F,
    name="BG_E_INVALID_PROXY_INFO",
    category="InvalidArgument",
    reason="InvalidProxyInfo",
):
    """The proxy server list or bypass list is not valid."""


class TooManyJobsPerUserError(
    BcsError,
    code=0x80200049,
    name="BG_E_TOO_MANY_JOBS_PER_USER",
    category="QuotaExceeded",
    reason="TooManyJobsPerUser",
):
    """The maximum number of jobs for this user has been reached."""


class TooManyJobsPerMachineError(
    BcsError,
    code=0x80200050,
    name="BG_E_TOO_MANY_JOBS_PER_MACHINE",
    category="QuotaExceeded",
    reason="TooManyJobsPerMachine",
):
    """The maximum number of jobs for this computer has been reached."""


class TooManyFilesInJobError(
    BcsError,
    code=0x80200051,
    name="BG_E_TOO_MANY_FILES_IN_JOB",
    category="QuotaExceeded",
    reason="TooManyFilesInJob",
):
    """The maximum number of files for this job has been reached."""


class TooManyRangesInFileError(
    BcsError,
    code=0x80200052,
    name="BG_E_TOO_MANY_RANGES_IN_FILE",
    category="QuotaExceeded",
    reason="TooManyRangesInFile",
):
    """The maximum number of ranges for this file has been reached."""


class MaxDownloadTimeoutError(
    BcsError,
    code=0x80200054,
    name="BG_E_MAXDOWNLOAD_TIMEOUT",
    category="OperationTimeout",
    reason="MaxDownloadTimeout",
):
    """The job did not complete within its maximum download time."""


# WinHTTP transport failures (error context GENERAL_TRANSPORT)
class NameNotResolvedError(
    BcsError,
    code=0x80072EE7,
    name="ERROR_WINHTTP_NAME_NOT_RESOLVED",
    category="ConnectionError",
    reason="NameNotResolved",
    transient=True,
):
    """The server name or address could not be resolved."""


class TransportTimeoutError(
    BcsError,
    code=0x80072EE2,
    name="ERROR_WINHTTP_TIMEOUT",
    category="OperationTimeout",
    reason="TransportTimeout",
    transient=True,
):
    """The operation timed out."""


class CannotConnectError(
    BcsError,
    code=0x80072EFD,
    name="ERROR_WINHTTP_CANNOT_CONNECT",
    category="ConnectionError",
    reason="CannotConnect",
    transient=True,
):
    """A connection with the server could not be established."""


class ConnectionTerminatedError(
    BcsError,
    code=0x80072EFE,
    name="ERROR_WINHTTP_CONNECTION_ERROR",
    category="ConnectionError",
    reason="ConnectionAborted",
    transient=True,
):
    """The connection with the server was terminated abnormally."""


class ClientCertNeededError(
    BcsError,
    code=0x80072F0C,
    name="ERROR_WINHTTP_CLIENT_AUTH_CERT_NEEDED",
    category="AuthenticationError",
    reason="ClientCertificateNeeded",
):
    """The server requires a client certificate."""


class InvalidServerResponseTransportError(
    BcsError,
    code=0x80072F78,
    name="ERROR_WINHTTP_INVALID_SERVER_RESPONSE",
    category="ProtocolError",
    reason="InvalidTransportResponse",
    transient=True,
):
    """The server response could not be parsed."""


class SecureFailureError(
    BcsError,
    code=0x80072F8F,
    name="ERROR_WINHTTP_SECURE_FAILURE",
    category="SecurityError",
    reason="SecureFailure",
):
    """A security error occurred (TLS certificate validation failed)."""


class RedirectFailedError(
    BcsError,
    code=0x80072F7C,
    name="ERROR_WINHTTP_REDIRECT_FAILED",
    category="ProtocolError",
    reason="RedirectFailed",
):
    """The redirect failed because of a scheme change or too many redirects."""


class HttpStatusError(BcsError):
    """An HTTP status reported as BITS does: ``0x80190000 | status`` (BG_E_HTTP_ERROR_<status>)."""

    category: ClassVar[str] = "ProtocolError"
    reason: ClassVar[str] = "HttpError"

    def __init__(
        self, status: int, message: str | None = None, *, noun: str = "Job", target: Any = None
    ) -> None:
        self.status = status
        super().__init__(message or f"The server returned HTTP status {status}.", noun=noun, target=target)

    @property
    def code(self) -> int:
        return 0x80190000 | self.status

    @property
    def code_name(self) -> str:
        return f"BG_E_HTTP_ERROR_{self.status}"

    @property
    def transient(self) -> bool:  # type: ignore[override]
        return http_status_is_transient(self.status)


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


def registered_errors() -> list[type[BcsError]]:
    """Every registered error class, in HRESULT order."""
    return [_REGISTRY[k] for k in sorted(_REGISTRY)]


def error_class(hresult: int) -> type[BcsError] | None:
    """The class registered for an HRESULT, or None (HTTP codes are not registered one by one)."""
    return _REGISTRY.get(hresult & 0xFFFFFFFF)


def error_from_hresult(
    hresult: int, message: str | None = None, *, noun: str = "Server", target: Any = None
) -> BcsError:
    """Build the error for any HRESULT: a registered class, an HTTP status, or a generic BcsError."""
    hresult &= 0xFFFFFFFF
    cls = _REGISTRY.get(hresult)
    if cls is not None:
        return cls(message, noun=noun, target=target)
    if hresult & 0xFFFF0000 == 0x80190000:
        return HttpStatusError(hresult & 0xFFFF, message, noun=noun, target=target)
    err = BcsError(message or f"Error {format_hresult(hresult)}.", noun=noun, target=target)
    err.hresult = hresult  # type: ignore[misc]
    err.name = format_hresult(hresult)  # type: ignore[misc]
    return err


def by_name(name: str) -> type[BcsError]:
    """The class registered under a symbolic name such as ``BG_E_INVALID_STATE``.

    Raises:
        KeyError: when no class has that name.
    """
    for cls in _REGISTRY.values():
        if cls.name == name:
            return cls
    raise KeyError(name)


def raise_for(name: str, message: str | None = None, *, noun: str = "Server", target: Any = None) -> BcsError:
    """Build the registered error called ``name`` (for ``raise raise_for("BG_E_EMPTY", ...)``)."""
    return by_name(name)(message, noun=noun, target=target)
