"""The engine's settings as a typed model: URL groups, URLs, server and client settings.

Two levels of checking, on purpose:
* ``Config.validate`` (every load and every change, engine start included): types, ranges, and the
  URL-suffix rules of ``check_url_suffix``, the one place they live (url.create uses it too).
* ``Config.check_sources`` (the RPC routes only: url.create through ``check_source_path``, and
  config.import): every source path exists and is readable now. The engine start does not call it:
  an engine must start when a published file was deleted; that URL then answers 404.

``to_dict``/``from_dict`` convert to and from the camelCase form of config.yaml and the RPC
results, generically over the dataclasses (``ConfigError`` names the first bad setting).
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import os
import re
import stat
import types
import typing
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from bcs import tunables
from bcs.auth.sddl import parse_sddl
from bcs.casing import camel_case
from bcs.errors import (
    ERROR_FILE_NOT_FOUND,
    AccessDeniedError,
    BcsError,
    ConfigError,
    InvalidArgumentError,
    config_path_text,
    shown,
)
from bcs.urlprefix import parse_prefix

__all__ = [
    "AUTH_SCHEMES",
    "CONFIG_VERSION",
    "NOTIFICATION_TYPES",
    "ClientConfig",
    "Config",
    "ConfigError",
    "HugeInteger",
    "ServerConfig",
    "SslCertificateConfig",
    "UrlConfig",
    "UrlGroupConfig",
    "check_source_path",
    "check_url_suffix",
    "group_setting_problem",
]

CONFIG_VERSION = 1
AUTH_SCHEMES = ("Negotiate", "NTLM", "ClientCertificate")


@dataclass
class UrlConfig:
    """One published URL: group prefix + suffix -> a file or a directory."""

    url_suffix: str
    source_path: str
    sddl: str = ""


@dataclass
class UrlGroupConfig:
    """A URL group (HTTP.SYS URL prefix) and the settings its URLs share."""

    url_group: str
    connection_limit: int = tunables.CONNECTION_LIMIT  # simultaneous transfers; 0 = unlimited
    bandwidth_limit: int = 0  # bytes/s shared by the group's transfers; 0 = unlimited
    authentication: list[str] = field(default_factory=list)  # Negotiate / NTLM / ClientCertificate
    upload_enabled: bool = False
    directory_listing: bool = False
    # BITS uploads (bits-protocol.md 2.8; the IIS property each stands for in brackets)
    allow_overwrites: bool = False  # an upload may replace an existing file [BITSAllowOverwrites]
    max_upload_size: int = 0  # bytes of one uploaded file; 0 = no limit but the disk [BITSMaximumUploadSize]
    session_timeout: int = tunables.UPLOAD_SESSION_TIMEOUT  # s without progress [BITSSessionTimeout]
    max_sessions_per_user: int = (
        tunables.UPLOAD_SESSIONS_PER_USER
    )  # 0 = unlimited [BITSNumberOfSessionsLimit]
    host_id: str = ""  # host the client sends the rest of a session to [BITSHostId]
    host_id_fallback_timeout: int = tunables.UPLOAD_HOST_ID_FALLBACK  # s [BITSHostIdFallbackTimeout]
    notification_url: str = ""  # the server application told of each upload [BITSServerNotificationURL]
    notification_type: str = "None"  # None / ByReference / ByValue [BITSServerNotificationType 0/1/2]
    urls: list[UrlConfig] = field(default_factory=list)


CLIENT_CERTIFICATE_MODES = ("Ignore", "Accept", "Require")
NOTIFICATION_TYPES = ("None", "ByReference", "ByValue")
_HOST_ID = re.compile(r"[A-Za-z0-9._:\[\]-]+")
_MAX_FALLBACK_TIMEOUT = 0xFFFFFFFF  # BITS' "infinite"


@dataclass
class SslCertificateConfig:
    """A certificate bound to a port, as HTTP.SYS binds ``ipport``: every https group on it uses it."""

    port: int
    certificate_path: str  # PEM certificate (a chain may follow it)
    key_path: str  # PEM private key, unencrypted (the file's own permissions protect it)
    client_certificate: str = "Ignore"  # Ignore / Accept (checked when sent) / Require
    trusted_ca_path: str = ""  # PEM CA bundle that client certificates must chain to


@dataclass
class ServerConfig:
    """Server-wide settings of the file host."""

    max_url_groups: int = tunables.MAX_URL_GROUPS
    bandwidth_limit: int = 0  # bytes/s for all groups together; 0 = unlimited
    access_log: bool = True


@dataclass
class ClientConfig:
    """Settings of the BITS client's scheduler."""

    background_slots: int = 1  # background jobs transferring at once (foreground jobs always run)
    bandwidth_limit: int = 0  # bytes/s for all jobs together; 0 = unlimited


@dataclass
class Config:
    """The whole persistent configuration (the content of config.yaml)."""

    version: int = CONFIG_VERSION
    server: ServerConfig = field(default_factory=ServerConfig)
    client: ClientConfig = field(default_factory=ClientConfig)
    url_groups: list[UrlGroupConfig] = field(default_factory=list)
    ssl_certificates: list[SslCertificateConfig] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The camelCase form used in config.yaml and in RPC results."""
        result: dict[str, Any] = _to_plain(self)
        return result

    @classmethod
    def from_dict(cls, data: Any) -> Config:
        """Build and validate a model from its camelCase form.

        Raises:
            ConfigError: naming the first bad setting.
        """
        config: Config = _from_plain(cls, data, ())
        config.validate()
        return config

    def copy(self) -> Config:
        return copy.deepcopy(self)

    def ssl_binding(self, port: int) -> SslCertificateConfig | None:
        """The certificate bound to ``port``, or None."""
        return next((b for b in self.ssl_certificates if b.port == port), None)

    def find_group(self, prefix_key: str) -> UrlGroupConfig | None:
        for group in self.url_groups:
            if parse_prefix(group.url_group).key == prefix_key:
                return group
        return None

    def validate(self) -> None:
        """Check every value and cross-field rule; normalise URL-group prefixes in place.

        Raises:
            ConfigError: naming the first bad setting.
        """
        if self.version != CONFIG_VERSION:
            raise ConfigError(
                f"unsupported version {self.version} (this engine reads {CONFIG_VERSION})", ("version",)
            )
        s = self.server
        _check_range(s.max_url_groups, 1, 100_000, ("server", "maxUrlGroups"))
        _check_bandwidth(s.bandwidth_limit, ("server", "bandwidthLimit"))
        self._validate_ssl()
        _check_range(self.client.background_slots, 1, 1000, ("client", "backgroundSlots"))
        _check_bandwidth(self.client.bandwidth_limit, ("client", "bandwidthLimit"))
        if len(self.url_groups) > s.max_url_groups:
            raise ConfigError(
                f"{len(self.url_groups)} URL groups exceed server.maxUrlGroups ({s.max_url_groups})",
                ("urlGroups",),
            )
        seen: set[str] = set()
        for i, group in enumerate(self.url_groups):
            where: tuple[str | int, ...] = ("urlGroups", i)
            try:
                prefix = parse_prefix(group.url_group)
            except InvalidArgumentError as exc:
                raise ConfigError(exc.message, (*where, "urlGroup")) from None
            if prefix.key in seen:
                raise ConfigError(f"duplicate URL group {prefix}", (*where, "urlGroup"))
            seen.add(prefix.key)
            group.url_group = str(prefix)
            problem = group_setting_problem(group)
            if problem is not None:
                raise ConfigError(problem[1], (*where, *problem[0]))
            suffixes: set[str] = set()
            for j, url in enumerate(group.urls):
                uwhere = (*where, "urls", j)
                try:
                    suffix = check_url_suffix(url.url_suffix, prefix.path)
                except InvalidArgumentError as exc:
                    raise ConfigError(exc.message, (*uwhere, "urlSuffix")) from None
                if suffix.lower() in suffixes:
                    raise ConfigError(f"duplicate URL suffix {suffix!r}", (*uwhere, "urlSuffix"))
                suffixes.add(suffix.lower())
                url.url_suffix = suffix
                if not url.source_path or "\x00" in url.source_path or not os.path.isabs(url.source_path):
                    raise ConfigError("must be an absolute path", (*uwhere, "sourcePath"))
                if url.sddl:
                    try:
                        parse_sddl(url.sddl)
                    except InvalidArgumentError as exc:
                        raise ConfigError(exc.message, (*uwhere, "sddl")) from None

    def _validate_ssl(self) -> None:
        ports: set[int] = set()
        for i, binding in enumerate(self.ssl_certificates):
            where: tuple[str | int, ...] = ("sslCertificates", i)
            _check_range(binding.port, 1, 65535, (*where, "port"))
            if binding.port in ports:
                raise ConfigError(f"port {binding.port} has a certificate already", (*where, "port"))
            ports.add(binding.port)
            for key, value in (("certificatePath", binding.certificate_path), ("keyPath", binding.key_path)):
                if not value or "\x00" in value or not os.path.isabs(value):
                    raise ConfigError("must be an absolute path", (*where, key))
            if binding.client_certificate not in CLIENT_CERTIFICATE_MODES:
                raise ConfigError(
                    f"must be one of {', '.join(CLIENT_CERTIFICATE_MODES)}", (*where, "clientCertificate")
                )
            ca = binding.trusted_ca_path
            if ca and ("\x00" in ca or not os.path.isabs(ca)):
                raise ConfigError("must be an absolute path", (*where, "trustedCaPath"))
            if binding.client_certificate != "Ignore" and not ca:
                raise ConfigError(
                    f"clientCertificate {binding.client_certificate} needs a trustedCaPath",
                    (*where, "trustedCaPath"),
                )

    def check_sources(self) -> None:
        """RPC routes only (config.import): every URL's source exists and is readable now, as
        url.create requires; normalises the paths as url.create does. Never called at engine
        start, where a deleted source must not stop the engine (its URL answers 404).

        Raises:
            BcsError: ERROR_FILE_NOT_FOUND, E_ACCESSDENIED or E_INVALIDARG as url.create, with
                the setting's place in front of the message.
        """
        for i, group in enumerate(self.url_groups):
            for j, url in enumerate(group.urls):
                try:
                    url.source_path = check_source_path(url.source_path)
                except BcsError as exc:
                    where = config_path_text(("urlGroups", i, "urls", j, "sourcePath"))
                    raise BcsError(
                        exc.kind,
                        f"{where}: {exc.message}",
                        reason=exc.reason,
                        noun=exc.noun,
                        target=exc.target,
                    ) from None


def check_url_suffix(suffix: str, prefix_path: str = "/") -> str:
    """Normalise a URL suffix (no leading/trailing slash) and refuse what cannot be a safe path.

    The one set of suffix rules, for url.create, config.import and config.yaml at start.

    Raises:
        InvalidArgumentError: saying what is wrong.
    """

    def bad(why: str) -> InvalidArgumentError:
        return InvalidArgumentError(f"invalid URL suffix {shown(suffix)}: {why}", noun="Url", target=suffix)

    text = suffix.strip("/")
    if not text:
        raise bad("it is empty")
    if any(ord(c) < 0x20 or c == "\x7f" for c in text):
        raise bad("control characters are not allowed")
    if any(c in text for c in "\\?#"):
        raise bad("backslash, ? and # are not allowed")
    if len(text.encode("utf-8", "surrogatepass")) > tunables.MAX_PATH_BYTES - len(prefix_path):
        raise bad("too long")
    for part in text.split("/"):
        if part in ("", ".", ".."):
            raise bad("empty, . and .. path segments are not allowed")
        if len(part.encode("utf-8", "surrogatepass")) > tunables.MAX_SEGMENT_BYTES:
            raise bad(f"a path segment is longer than {tunables.MAX_SEGMENT_BYTES} bytes")
    return text


def check_source_path(source: str) -> str:
    """The absolute, normalised source path; it must exist and be readable now (RPC routes only).

    Raises:
        InvalidArgumentError: not absolute, or neither a regular file nor a directory.
        LocalFileNotFoundError: it does not exist.
        AccessDeniedError: the engine cannot read it.
    """
    if "\x00" in source or not os.path.isabs(source):
        raise InvalidArgumentError(
            f"sourcePath must be an absolute path, not {shown(source)}", noun="Url", target=source
        )
    path = os.path.abspath(source)
    try:
        st = os.stat(path)
        if stat.S_ISREG(st.st_mode):
            with open(path, "rb"):
                pass
        elif stat.S_ISDIR(st.st_mode):
            os.listdir(path)
        else:
            raise InvalidArgumentError(
                f"sourcePath {path} is neither a regular file nor a directory", noun="Url", target=path
            )
    except FileNotFoundError:
        raise BcsError(
            ERROR_FILE_NOT_FOUND, f"sourcePath {path} does not exist", noun="Url", target=path
        ) from None
    except PermissionError:
        raise AccessDeniedError(
            f"sourcePath {path} cannot be read by the engine", noun="Url", target=path
        ) from None
    except OSError as exc:
        raise InvalidArgumentError(
            f"sourcePath {path}: {exc.strerror or exc}", noun="Url", target=path
        ) from None
    return path


def group_setting_problem(group: UrlGroupConfig) -> tuple[tuple[str | int, ...], str] | None:
    """The first bad setting of a URL group: (its path inside the group, what is wrong), or None.

    The one place the group rules live: config validation puts the group's index in front,
    ``urlgroup.create``/``urlgroup.set`` its prefix.
    """
    if not 0 <= group.connection_limit <= tunables.MAX_CONNECTION_LIMIT:
        return ("connectionLimit",), (
            f"must be between 0 and {tunables.MAX_CONNECTION_LIMIT}, not {group.connection_limit}"
        )
    if group.bandwidth_limit != 0 and group.bandwidth_limit < tunables.MIN_BANDWIDTH_LIMIT:
        return ("bandwidthLimit",), (
            f"must be 0 (unlimited) or at least {tunables.MIN_BANDWIDTH_LIMIT} bytes/s, not {group.bandwidth_limit}"
        )
    for j, scheme in enumerate(group.authentication):
        if scheme not in AUTH_SCHEMES:
            return ("authentication", j), f"must be one of {', '.join(AUTH_SCHEMES)}, not {shown(scheme)}"
    if len(set(group.authentication)) != len(group.authentication):
        return ("authentication",), "schemes must be unique"
    return _upload_setting_problem(group)


def _upload_setting_problem(group: UrlGroupConfig) -> tuple[tuple[str | int, ...], str] | None:
    """The first bad BITS upload setting of a group (bits-protocol.md 2.8), or None."""
    if group.max_upload_size < 0:
        return ("maxUploadSize",), f"must be 0 (no limit) or a number of bytes, not {group.max_upload_size}"
    if not 1 <= group.session_timeout <= tunables.MAX_UPLOAD_SESSION_TIMEOUT:
        return ("sessionTimeout",), (
            f"must be between 1 and {tunables.MAX_UPLOAD_SESSION_TIMEOUT} seconds, not {group.session_timeout}"
        )
    if not 0 <= group.max_sessions_per_user <= tunables.MAX_CONNECTION_LIMIT:
        return ("maxSessionsPerUser",), (
            f"must be between 0 (unlimited) and {tunables.MAX_CONNECTION_LIMIT}, not {group.max_sessions_per_user}"
        )
    host = group.host_id
    if host and (len(host) > tunables.MAX_HOST_ID_CHARS or not _HOST_ID.fullmatch(host)):
        return ("hostId",), (
            f"must be a host name or address of at most {tunables.MAX_HOST_ID_CHARS} characters "
            f"(letters, digits, '.', '-', ':', '[', ']'), not {shown(host)}"
        )
    if not 0 <= group.host_id_fallback_timeout <= _MAX_FALLBACK_TIMEOUT:
        return ("hostIdFallbackTimeout",), (
            f"must be between 0 and {_MAX_FALLBACK_TIMEOUT} seconds, not {group.host_id_fallback_timeout}"
        )
    if group.notification_type not in NOTIFICATION_TYPES:
        return ("notificationType",), (
            f"must be one of {', '.join(NOTIFICATION_TYPES)}, not {shown(group.notification_type)}"
        )
    url = group.notification_url
    if url:
        problem = _notification_url_problem(url)
        if problem:
            return ("notificationUrl",), f"{problem}, not {shown(url)}"
    elif group.notification_type != "None":
        return ("notificationUrl",), f"is required with notificationType {group.notification_type}"
    return None


def _notification_url_problem(url: str) -> str | None:
    """Why ``url`` cannot be a notification URL (an absolute http:// URL), or None.

    IIS also takes a URL relative to the upload's folder, resolved on its own site. This server
    runs no applications, and resolving against the request would let a client's Host header
    choose where the server posts the uploaded file: only absolute URLs are accepted.
    """
    if len(url) > tunables.MAX_NOTIFICATION_URL_CHARS:
        return f"must be at most {tunables.MAX_NOTIFICATION_URL_CHARS} characters"
    if any(ord(c) <= 0x20 or c == "\x7f" for c in url):
        return "must not contain spaces or control characters"
    parts = urllib.parse.urlsplit(url)
    if parts.scheme.lower() != "http" or not parts.hostname or parts.fragment:
        return "must be an absolute http:// URL (BITS notifies server applications over HTTP only)"
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        return "has an invalid port"
    return None


def _check_range(value: int, low: int, high: int, path: tuple[str | int, ...]) -> None:
    if not low <= value <= high:
        raise ConfigError(f"must be between {low} and {high}, not {value}", path)


def _check_bandwidth(value: int, path: tuple[str | int, ...]) -> None:
    if value != 0 and value < tunables.MIN_BANDWIDTH_LIMIT:
        raise ConfigError(
            f"must be 0 (unlimited) or at least {tunables.MIN_BANDWIDTH_LIMIT} bytes/s, not {value}", path
        )


class HugeInteger:
    """A YAML integer longer than Python converts from text (``sys.get_int_max_str_digits``): kept
    as its length, so validation can name the setting instead of failing inside the loader."""

    def __init__(self, digits: int) -> None:
        self.digits = digits

    def __repr__(self) -> str:
        return f"<an integer of {self.digits} digits>"


# --- plain <-> model conversion (generic over the dataclasses above) -------------------------------


@functools.cache
def _fields(cls: type) -> list[tuple[dataclasses.Field[Any], str, Any]]:
    hints = typing.get_type_hints(cls)
    return [(f, camel_case(f.name), hints[f.name]) for f in dataclasses.fields(cls)]


def _to_plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {key: _to_plain(getattr(value, f.name)) for f, key, _ in _fields(type(value))}
    if isinstance(value, list):
        return [_to_plain(v) for v in value]
    return value


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is list:
        return "a list"
    if dataclasses.is_dataclass(tp):
        return "a mapping"
    return {int: "an integer", bool: "true or false", str: "a string"}.get(tp, str(tp))


def _from_plain(tp: Any, data: Any, path: tuple[str | int, ...]) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return None if data is None else _from_plain(args[0], data, path)
    if dataclasses.is_dataclass(tp):
        if not isinstance(data, dict):
            raise ConfigError(f"must be {_type_name(tp)}", path)
        fields = _fields(tp)  # type: ignore[arg-type]
        known = {key for _, key, _ in fields}
        for key in data:
            if key not in known:
                name = str(key) if str(key).isprintable() else shown(key)
                raise ConfigError(
                    f"unknown setting (known: {', '.join(sorted(known))})",
                    (*path, name[: tunables.SHOWN_VALUE_CHARS]),
                )
        kwargs: dict[str, Any] = {}
        for f, key, ftype in fields:
            if key in data:
                kwargs[f.name] = _from_plain(ftype, data[key], (*path, key))
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ConfigError("is required", (*path, key))
        return tp(**kwargs)  # type: ignore[operator]
    if origin is list:
        if not isinstance(data, list):
            raise ConfigError("must be a list", path)
        (item,) = typing.get_args(tp)
        return [_from_plain(item, v, (*path, i)) for i, v in enumerate(data)]
    if tp is int:
        if isinstance(data, HugeInteger) or (
            isinstance(data, int) and not isinstance(data, bool) and abs(data) > tunables.RPC_MAX_INTEGER
        ):
            digits = data.digits if isinstance(data, HugeInteger) else len(str(abs(data)))
            raise ConfigError(
                f"is out of range (an integer of {digits} digits; at most {tunables.RPC_MAX_INTEGER})", path
            )
        if not isinstance(data, int) or isinstance(data, bool):
            raise ConfigError(f"must be an integer, not {shown(data)}", path)
    if tp is bool and not isinstance(data, bool):
        raise ConfigError(f"must be true or false, not {shown(data)}", path)
    if tp is str:
        if data is None:
            return ""
        if not isinstance(data, str):
            raise ConfigError(f"must be a string, not {shown(data)}", path)
        try:
            data.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ConfigError(
                f"is not valid Unicode text (lone surrogate at character {exc.start})", path
            ) from None
    return data
