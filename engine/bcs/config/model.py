"""The engine's settings as a typed model: URL groups, URLs, server and client settings.

Two levels of checking, on purpose:
* ``Config.validate`` (every load and every change, engine start included): types, ranges, and the
  URL-suffix rules of ``check_url_suffix``, the one place they live (url.create uses it too).
* ``Config.check_sources`` and ``Config.check_authentication`` (the RPC routes only: url.create
  through ``check_source_path``, urlgroup.create/set through ``tls_only_scheme_problem``, and
  config.import): every source path exists and is readable now, and no group asks for a client
  certificate over plain http. The engine start does not call them: an engine must start when a
  published file was deleted (that URL then answers 404) or with a configuration written before
  the rule (that group then answers 403, fail closed, and ``authentication_warning`` says why).

``to_dict``/``from_dict`` convert to and from the camelCase form of config.yaml and the RPC
results, generically over the dataclasses (``ConfigError`` names the first bad setting).
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import ipaddress
import os
import re
import stat
import sys
import types
import typing
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from bcs import tunables
from bcs.auth.sddl import parse_sddl
from bcs.auth.sids import check_sid, parse_account_name, parse_ldap_url
from bcs.casing import camel_case
from bcs.errors import (
    BcsError,
    ConfigError,
    InvalidArgumentError,
    config_path_text,
    file_error,
    shown,
)
from bcs.urlprefix import parse_prefix

__all__ = [
    "ACCESS_LOG_FORMATS",
    "AUTH_SCHEMES",
    "CONFIG_VERSION",
    "NOTIFICATION_TYPES",
    "NTLM_BACKENDS",
    "AuthConfig",
    "ClientConfig",
    "Config",
    "ConfigError",
    "HugeInteger",
    "LdapConfig",
    "PrincipalConfig",
    "ServerConfig",
    "SslCertificateConfig",
    "UrlConfig",
    "UrlGroupConfig",
    "authentication_warning",
    "check_source_path",
    "check_url_suffix",
    "group_setting_problem",
    "parse_setting",
    "ssl_binding_problem",
    "tls_only_scheme_problem",
]

CONFIG_VERSION = 1
AUTH_SCHEMES = ("Negotiate", "NTLM", "Basic", "ClientCertificate")
CLIENT_CERTIFICATE = "ClientCertificate"
# Schemes an http group may not list (tls_only_scheme_problem), and why
_TLS_ONLY = {
    CLIENT_CERTIFICATE: "ClientCertificate needs an https URL group: over plain http no client certificate ever arrives",
    "Basic": "Basic needs an https URL group: over plain http it would send passwords in clear text",
}


@dataclass
class UrlConfig:
    """One published URL: group prefix + suffix -> a file or a directory."""

    url_suffix: str
    source_path: str
    sddl: str = ""
    sha256: bool = False  # pin the SHA-256 of the file(s), serve it as Repr-Digest (bcs.host.digests)


@dataclass
class UrlGroupConfig:
    """A URL group (HTTP.SYS URL prefix) and the settings its URLs share."""

    url_group: str
    connection_limit: int = tunables.CONNECTION_LIMIT  # simultaneous transfers; 0 = unlimited
    bandwidth_limit: int = 0  # bytes/s shared by the group's transfers; 0 = unlimited
    authentication: list[str] = field(default_factory=list)  # Negotiate / NTLM / Basic / ClientCertificate
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
STORE_LOCATIONS = ("CurrentUser", "LocalMachine")
# HTTP.SYS (netsh http add sslcert) reads LocalMachine, where a service's certificates live; .NET on
# Linux and macOS has no LocalMachine\My (only Root and CertificateAuthority, read-only), so there
# the engine user's CurrentUser store is the default.
DEFAULT_STORE_LOCATION = "LocalMachine" if sys.platform == "win32" else "CurrentUser"
DEFAULT_STORE_NAME = "My"
_STORE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")
# What Windows puts around a thumbprint copied from the certificate dialog: spaces, colons and an
# invisible LEFT-TO-RIGHT MARK in front.
_THUMBPRINT_NOISE = re.compile("[\\s:\u200e\u200f\ufeff]")


def secret(name: str) -> Any:
    """A settings field holding a secret: never in config.yaml, RPC results or config.export.

    Its value lives in secrets.json (``bcs.config.secrets``) under ``owner.secret_name(name)``; the
    field ``<field>_set`` beside it says whether one is set, and that is what is written.
    """
    return field(default="", repr=False, metadata={"secret": name})


NOTIFICATION_TYPES = ("None", "ByReference", "ByValue")
_HOST_ID = re.compile(r"[A-Za-z0-9._:\[\]-]+")
_MAX_FALLBACK_TIMEOUT = 0xFFFFFFFF  # BITS' "infinite"


@dataclass
class SslCertificateConfig:
    """A certificate bound to a port, as HTTP.SYS binds ``ipport``: every https group on it uses it.

    Exactly one source: files (``certificate_path`` and maybe ``key_path``) or the certificate store
    (``thumbprint`` in ``store_location``\\``store_name``, read through .NET).
    """

    port: int
    certificate_path: str = ""  # PEM certificate (a chain may follow it), or a PKCS#12 (PFX) file
    key_path: str = ""  # PEM private key; empty: the key is in certificate_path (PFX, or PEM with both)
    key_password: str = secret("keyPassword")  # of an encrypted PEM key or a PFX file
    key_password_set: bool = False
    thumbprint: str = ""  # SHA-1 of the certificate, 40 upper-case hex digits
    store_location: str = ""  # CurrentUser / LocalMachine (DEFAULT_STORE_LOCATION when omitted)
    store_name: str = ""  # My (DEFAULT_STORE_NAME when omitted), Root, WebHosting, ...
    client_certificate: str = "Ignore"  # Ignore / Accept (checked when sent) / Require
    trusted_ca_path: str = ""  # PEM CA bundle that client certificates must chain to

    def secret_name(self, key: str) -> str:
        return f"sslcert:{self.port}:{key}"

    @property
    def in_store(self) -> bool:
        """Whether the certificate comes from the certificate store (else from files)."""
        return bool(self.thumbprint)

    @property
    def source(self) -> str:
        """The certificate's place as an administrator names it: a path, or a PowerShell ``Cert:`` path."""
        if self.in_store:
            return f"Cert:\\{self.store_location}\\{self.store_name}\\{self.thumbprint}"
        return self.certificate_path


def ssl_binding_problem(binding: SslCertificateConfig) -> tuple[str, str] | None:
    """The first bad setting of a certificate binding: (its key, what is wrong), or None.

    Normalises in place: the thumbprint (upper-case hex, no spaces), the store defaults, and
    ``key_password_set``. The one place the binding rules live: config validation puts the binding's
    index in front, ``sslcert.set`` raises it as it is.
    """
    b = binding
    if b.key_password:
        b.key_password_set = True
    if b.thumbprint and b.certificate_path:
        return "thumbprint", "give either certificatePath (files) or thumbprint (certificate store), not both"
    if not b.thumbprint and not b.certificate_path:
        return "certificatePath", "give certificatePath (files) or thumbprint (certificate store)"
    if b.in_store:
        for key, value in (
            ("keyPath", b.key_path),
            ("keyPassword", b.key_password or b.key_password_set),
        ):
            if value:
                return key, "is for certificatePath bindings; a certificate store holds the key itself"
        thumbprint = _THUMBPRINT_NOISE.sub("", b.thumbprint).upper()
        if not re.fullmatch(r"[0-9A-F]{40}", thumbprint):
            return (
                "thumbprint",
                f"must be 40 hexadecimal digits (the certificate's SHA-1), not {shown(b.thumbprint)}",
            )
        b.thumbprint = thumbprint
        b.store_location = b.store_location or DEFAULT_STORE_LOCATION
        b.store_name = b.store_name or DEFAULT_STORE_NAME
        if b.store_location not in STORE_LOCATIONS:
            return (
                "storeLocation",
                f"must be one of {', '.join(STORE_LOCATIONS)}, not {shown(b.store_location)}",
            )
        if not _STORE_NAME.fullmatch(b.store_name):
            return "storeName", f"must be a store name such as My or WebHosting, not {shown(b.store_name)}"
    else:
        for key, value in (("storeLocation", b.store_location), ("storeName", b.store_name)):
            if value:
                return key, "is for thumbprint bindings (the certificate store)"
        for key, value in (("certificatePath", b.certificate_path), ("keyPath", b.key_path)):
            if value and ("\x00" in value or not os.path.isabs(value)):
                return key, f"must be an absolute path, not {shown(value)}"
    if b.client_certificate not in CLIENT_CERTIFICATE_MODES:
        return "clientCertificate", f"must be one of {', '.join(CLIENT_CERTIFICATE_MODES)}"
    ca = b.trusted_ca_path
    if ca and ("\x00" in ca or not os.path.isabs(ca)):
        return "trustedCaPath", f"must be an absolute path, not {shown(ca)}"
    if b.client_certificate != "Ignore" and not ca:
        return "trustedCaPath", f"clientCertificate {b.client_certificate} needs a trustedCaPath"
    return None


@dataclass
class LdapConfig:
    """Active Directory, where principal names become SIDs (``bcs.auth.sids``).

    The service account's password is a secret field (``secret``): it lives in the state
    directory's secrets.json, config.yaml, ``auth.get`` and config.export show only
    ``bindPasswordSet``; it is handed to ``SidResolver(bind_password=...)``.
    """

    url: str  # ldaps://dc:636, or ldap://dc:389 upgraded with StartTLS; plain LDAP is never used
    bind_user: str  # the service account of the simple bind: user@domain, DOMAIN\user or its DN
    bind_password: str = secret("bindPassword")
    bind_password_set: bool = False
    base_dn: str = ""  # where accounts are searched; "" = the whole domain (the rootDSE's default)
    ca_path: str = ""  # PEM CA bundle the DC's certificate must chain to; "" = the system's CAs
    cache_seconds: int = tunables.SID_CACHE_SECONDS  # how long a name's SIDs are used

    def secret_name(self, key: str) -> str:
        return f"auth:ldap:{key}"


@dataclass
class PrincipalConfig:
    """One principal of the local map (sites without Active Directory)."""

    name: str  # DOMAIN\user, user@dns.domain or user (bcs.auth.sids says how they match)
    sid: str  # the user's SID, S-1-5-21-...
    groups: list[str] = field(default_factory=list)  # SIDs of every group it belongs to (nested included)


@dataclass
class AuthConfig:
    """How the file host proves who a client is and which SIDs that gives it."""

    keytab_path: str = ""  # Kerberos keytab for Negotiate; "" = http.keytab in the state directory
    ntlm_user_file: str = ""  # NTLM accounts on Linux (DOMAIN:USER:PASSWORD lines, pyspnego's format)
    ntlm_backend: str = "UserFile"  # Linux: UserFile (ntlm_user_file) or Winbind (ntlm_auth: domain)
    ldap: LdapConfig | None = None  # None: no directory
    principals: list[PrincipalConfig] = field(default_factory=list)


ACCESS_LOG_FORMATS = ("text", "json")
NTLM_BACKENDS = ("UserFile", "Winbind")  # how NTLM is checked on Linux (bcs.auth.negotiate)


@dataclass
class ServerConfig:
    """Server-wide settings of the file host."""

    max_url_groups: int = tunables.MAX_URL_GROUPS
    bandwidth_limit: int = 0  # bytes/s for all groups together; 0 = unlimited
    access_log: bool = True
    access_log_format: str = "text"  # "text" (one space-separated line) or "json" (one object per line)
    metrics_port: int = 0  # Prometheus /metrics on its own port; 0 = off
    metrics_address: str = "127.0.0.1"  # where /metrics listens (an IP address)


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
    auth: AuthConfig = field(default_factory=AuthConfig)

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
        self._validate_metrics()
        self._validate_ssl()
        _validate_auth(self.auth)
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

    def _validate_metrics(self) -> None:
        s = self.server
        if s.access_log_format not in ACCESS_LOG_FORMATS:
            raise ConfigError(
                f"must be one of {', '.join(ACCESS_LOG_FORMATS)}", ("server", "accessLogFormat")
            )
        _check_range(s.metrics_port, 0, 65535, ("server", "metricsPort"))
        try:
            ipaddress.ip_address(s.metrics_address)
        except ValueError:
            raise ConfigError(
                "must be an IP address such as 127.0.0.1, 0.0.0.0 or ::1", ("server", "metricsAddress")
            ) from None
        if s.metrics_port:
            for group in self.url_groups:
                try:
                    port = parse_prefix(group.url_group).port
                except InvalidArgumentError:
                    continue  # reported by the URL-group checks
                if port == s.metrics_port:
                    raise ConfigError(
                        f"port {port} is used by the URL group {group.url_group}; /metrics needs its own port",
                        ("server", "metricsPort"),
                    )

    def _validate_ssl(self) -> None:
        ports: set[int] = set()
        for i, binding in enumerate(self.ssl_certificates):
            where: tuple[str | int, ...] = ("sslCertificates", i)
            _check_range(binding.port, 1, 65535, (*where, "port"))
            if binding.port in ports:
                raise ConfigError(f"port {binding.port} has a certificate already", (*where, "port"))
            ports.add(binding.port)
            problem = ssl_binding_problem(binding)
            if problem is not None:
                raise ConfigError(problem[1], (*where, problem[0]))

    def secrets(self) -> dict[str, str]:
        """The secrets set in this configuration, by their names in secrets.json."""
        return {
            owner.secret_name(name): value
            for owner, f, name in _secret_fields(self)
            if (value := getattr(owner, f.name))
        }

    def fill_secrets(self, lookup: Callable[[str], str | None]) -> list[str]:
        """Fill the secrets marked set (``<field>Set: true``) but not given, from ``lookup``.

        Returns:
            The names ``lookup`` does not know (those fields stay empty: what needs them refuses).
        """
        missing = []
        for owner, f, name in _secret_fields(self):
            if getattr(owner, f.name) or not getattr(owner, f"{f.name}_set"):
                continue
            value = lookup(owner.secret_name(name))
            if value is None:
                missing.append(owner.secret_name(name))
            else:
                setattr(owner, f.name, value)
        return missing

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

    def check_authentication(self) -> None:
        """RPC routes only (config.import): no group asks for what can never arrive, as
        urlgroup.create/set refuse it (``tls_only_scheme_problem``).

        Raises:
            ConfigError: naming the group's setting.
        """
        for i, group in enumerate(self.url_groups):
            problem = tls_only_scheme_problem(group)
            if problem is not None:
                raise ConfigError(problem[1], ("urlGroups", i, *problem[0]))


def _validate_auth(auth: AuthConfig) -> None:
    for key, value in (("keytabPath", auth.keytab_path), ("ntlmUserFile", auth.ntlm_user_file)):
        _check_absolute_or_empty(value, ("auth", key))
    if auth.ntlm_backend not in NTLM_BACKENDS:
        raise ConfigError(f"must be one of {', '.join(NTLM_BACKENDS)}", ("auth", "ntlmBackend"))
    ldap = auth.ldap
    if ldap is not None:
        where: tuple[str | int, ...] = ("auth", "ldap")
        try:
            parse_ldap_url(ldap.url)
        except InvalidArgumentError as exc:
            raise ConfigError(exc.message, (*where, "url")) from None
        if not ldap.bind_user.strip() or any(ord(c) < 0x20 for c in ldap.bind_user):
            raise ConfigError("must name the service account the engine binds as", (*where, "bindUser"))
        if ldap.bind_password:
            ldap.bind_password_set = True
        if not ldap.bind_password_set:
            raise ConfigError(
                "is required with bindUser (it is kept out of config.yaml)", (*where, "bindPassword")
            )
        if ldap.base_dn and ("=" not in ldap.base_dn or any(ord(c) < 0x20 for c in ldap.base_dn)):
            raise ConfigError(
                f"must be a DN such as DC=corp,DC=example, not {shown(ldap.base_dn)}", (*where, "baseDn")
            )
        _check_absolute_or_empty(ldap.ca_path, (*where, "caPath"))
        _check_range(ldap.cache_seconds, 1, tunables.SID_CACHE_MAX_SECONDS, (*where, "cacheSeconds"))
    seen: set[tuple[str, str]] = set()
    for i, principal in enumerate(auth.principals):
        pwhere: tuple[str | int, ...] = ("auth", "principals", i)
        try:
            map_key = parse_account_name(principal.name).map_key
        except InvalidArgumentError as exc:
            raise ConfigError(exc.message, (*pwhere, "name")) from None
        if map_key in seen:
            raise ConfigError(f"{shown(principal.name)} is in the map twice", (*pwhere, "name"))
        seen.add(map_key)
        try:
            principal.sid = check_sid(principal.sid)
        except InvalidArgumentError as exc:
            raise ConfigError(exc.message, (*pwhere, "sid")) from None
        for j, group in enumerate(principal.groups):
            try:
                principal.groups[j] = check_sid(group)
            except InvalidArgumentError as exc:
                raise ConfigError(exc.message, (*pwhere, "groups", j)) from None


def _check_absolute_or_empty(value: str, path: tuple[str | int, ...]) -> None:
    if value and ("\x00" in value or not os.path.isabs(value)):
        raise ConfigError("must be an absolute path", path)


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
        BcsError: ERROR_FILE_NOT_FOUND, it does not exist.
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
    except OSError as exc:
        raise file_error(exc, f"sourcePath {path}", noun="Url", target=path) from None
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


def tls_only_scheme_problem(group: UrlGroupConfig) -> tuple[tuple[str | int, ...], str] | None:
    """A scheme that needs TLS on a plain http group (RPC routes): ``ClientCertificate``, which no
    request could ever satisfy there, or ``Basic``, which would send passwords in clear text.

    Returns:
        (its path inside the group, what is wrong), or None.
    """
    if parse_prefix(group.url_group).scheme == "https":
        return None
    for scheme, why in _TLS_ONLY.items():
        if scheme in group.authentication:
            return ("authentication", group.authentication.index(scheme)), why
    return None


def authentication_warning(config: Config, group: UrlGroupConfig) -> str | None:
    """Why a group's ``ClientCertificate`` cannot be satisfied as the configuration stands, or None.

    Not refused when set: the port's certificate binding (``sslcert.set``) can change later, and a
    configuration written before the http rule must still load. Until it is fixed every request to
    the group gets 403 ``refused:no-client-certificate`` (fail closed); ``urlgroup.get`` and the
    engine log show this text.
    """
    if CLIENT_CERTIFICATE not in group.authentication:
        return None
    prefix = parse_prefix(group.url_group)
    if prefix.scheme != "https":
        return "ClientCertificate on a plain http group: no client certificate ever arrives, every request gets 403"
    binding = config.ssl_binding(prefix.port)  # none: the port does not listen (listenError says so)
    if binding is not None and binding.client_certificate == "Ignore":
        return (
            f"the certificate binding of port {prefix.port} has clientCertificate Ignore, so clients "
            "are never asked for a certificate: every request gets 403 until it is Accept or Require"
        )
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


def _secret_fields(value: Any) -> Iterator[tuple[Any, dataclasses.Field[Any], str]]:
    """(owner, field, secret key) of every secret field in a model tree (see ``secret``)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f, _, _ in _fields(type(value)):
            if "secret" in f.metadata:
                yield value, f, f.metadata["secret"]
            else:
                yield from _secret_fields(getattr(value, f.name))
    elif isinstance(value, list):
        for item in value:
            yield from _secret_fields(item)


def _to_plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            key: _to_plain(getattr(value, f.name))
            for f, key, _ in _fields(type(value))
            if "secret" not in f.metadata  # only its <field>Set flag is written
        }
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


def parse_setting(tp: Any, data: Any, path: tuple[str | int, ...]) -> Any:
    """A settings dataclass ``tp`` from its plain (camelCase) form, as config.yaml is read.

    Raises:
        ConfigError: an unknown key, a missing required one or a wrong type, naming ``path``.
    """
    return _from_plain(tp, data, path)


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
