"""The settable properties of a job (``JobSettings``) and their validation, in one place.

A job's settings are what ``job.create``/``job.set`` may change and what a turn's HTTP session
reads: names, priority, retry and timeout policy, headers, proxy, TLS, bandwidth, ``dynamic``.
They are stored in ``jobs.db`` under their camelCase names (``to_record``/``from_record``), the
same names the RPC contract uses, so records written by earlier engines load unchanged.
``changed`` validates a whole new set before anything is applied: a bad value changes nothing.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from bcs import tunables
from bcs.casing import camel_case
from bcs.errors import (
    BG_E_INVALID_PROXY_INFO,
    BG_E_PROXY_BYPASS_LIST_TOO_LARGE,
    BG_E_PROXY_LIST_TOO_LARGE,
    E_NOTIMPL,
    BcsError,
    InvalidArgumentError,
)

__all__ = ["PROXY_LIST_MAX", "Credential", "JobSettings", "changed_credentials", "parse_proxy"]

PROXY_LIST_MAX = 32767  # characters of a proxy list or bypass list (BITS: 32767)


@dataclass
class Credential:
    """Credentials for one (target, scheme); the password never leaves the engine."""

    target: str
    scheme: str
    user_name: str
    password: str

    def public(self) -> dict[str, Any]:
        return {"target": self.target, "scheme": self.scheme, "userName": self.user_name}


@dataclass(frozen=True)
class JobSettings:
    """What ``job.set`` changes; the defaults are BITS's."""

    display_name: str = "BITS Transfer"
    description: str = ""
    priority: str = "Normal"  # Foreground / High / Normal / Low (COM's default is Normal)
    minimum_retry_delay: int = tunables.MINIMUM_RETRY_DELAY  # seconds after a transient error
    no_progress_timeout: int = tunables.NO_PROGRESS_TIMEOUT  # seconds; 0 = every error is fatal
    max_download_time: int = tunables.MAX_DOWNLOAD_TIME  # seconds in the action states
    custom_headers: tuple[str, ...] = ()  # "Name: value" lines sent with every request
    proxy_usage: str = "SystemDefault"  # SystemDefault / NoProxy / Override / AutoDetect
    proxy_list: tuple[str, ...] = ()
    proxy_bypass: tuple[str, ...] = ()
    security_flags: int = 0  # BG_HTTP_SECURITY_FLAG_* bits
    ca_bundle: str | None = None  # PEM file of trusted CAs (None: the system store)
    client_certificate: str | None = None  # PEM file with certificate and key
    bandwidth_limit: int = 0  # bytes/s for this job; 0 = unlimited
    dynamic: bool = False  # servers without length or ranges; restart from 0 after interruptions

    def to_record(self) -> dict[str, Any]:
        """The camelCase form stored in jobs.db and returned in the Job object."""
        return {key: _plain(getattr(self, name)) for name, key in _keys()}

    @classmethod
    def from_record(cls, data: dict[str, Any]) -> JobSettings:
        """Settings from a stored record; unknown keys are ignored, missing ones take defaults."""
        values = {name: _frozen(data[key]) for name, key in _keys() if key in data}
        return cls(**values)

    def changed(self, params: dict[str, Any]) -> JobSettings:
        """These settings with the non-None handler keywords of ``params`` applied, validated.

        Raises:
            BcsError: a value is not acceptable (nothing is changed then).
        """
        updates = {name: _frozen(params[name]) for name, _ in _keys() if params.get(name) is not None}
        new = dataclasses.replace(self, **updates)
        new.validate()
        return new

    def validate(self) -> None:
        """Check the cross-field rules the registry's per-parameter checks cannot.

        Raises:
            BcsError: naming the setting.
        """
        if self.minimum_retry_delay < tunables.MINIMUM_RETRY_DELAY_FLOOR:
            raise InvalidArgumentError(
                f"minimumRetryDelay must be at least {tunables.MINIMUM_RETRY_DELAY_FLOOR} s", noun="Job"
            )
        for header in self.custom_headers:
            name, sep, _ = header.partition(":")
            if not sep or not name.strip() or any(c in header for c in "\r\n"):
                raise InvalidArgumentError(f"custom header must be 'Name: value', got {header!r}", noun="Job")
        if len(" ".join(self.proxy_list)) > PROXY_LIST_MAX:
            raise BcsError(BG_E_PROXY_LIST_TOO_LARGE, noun="Job")
        if len(" ".join(self.proxy_bypass)) > PROXY_LIST_MAX:
            raise BcsError(BG_E_PROXY_BYPASS_LIST_TOO_LARGE, noun="Job")
        for entry in self.proxy_list:
            parse_proxy(entry)
        if self.proxy_usage == "Override" and not self.proxy_list:
            raise BcsError(BG_E_INVALID_PROXY_INFO, "proxyUsage Override needs a proxyList", noun="Job")
        for key, path in (("caBundle", self.ca_bundle), ("clientCertificate", self.client_certificate)):
            if path and not os.path.isfile(path):
                raise InvalidArgumentError(f"{key}: no such file: {path}", noun="Job", target=path)


def changed_credentials(current: list[Credential], given: list[dict[str, Any]] | None) -> list[Credential]:
    """``current`` with ``given`` applied: one credential per (target, scheme), the new one wins.

    Raises:
        BcsError: Digest, Basic without user name and password, or a non-Basic proxy credential.
    """
    credentials = list(current)
    for c in given or []:
        scheme, target = c["scheme"], c["target"] or "Server"
        if scheme == "Digest":
            raise BcsError(E_NOTIMPL, "Digest authentication is not supported", noun="Job")
        if scheme == "Basic" and not (c["userName"] and c["password"]):
            raise InvalidArgumentError("Basic credentials need a user name and a password", noun="Job")
        if target == "Proxy" and scheme != "Basic":
            raise BcsError(E_NOTIMPL, "proxy authentication supports Basic only", noun="Job")
        credentials = [x for x in credentials if (x.target, x.scheme) != (target, scheme)]
        credentials.append(Credential(target, scheme, c["userName"] or "", c["password"] or ""))
    return credentials


def parse_proxy(entry: str) -> str:
    """A proxy list entry (``host:port``, ``http://host:port``, ``https=host:port``) as a URL.

    Raises:
        InvalidProxyInfoError: the entry is not a usable proxy address.
    """
    text = entry.strip()
    if "=" in text and "://" not in text.split("=", 1)[0]:
        text = text.split("=", 1)[1]
    if "://" not in text:
        text = "http://" + text
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BcsError(BG_E_INVALID_PROXY_INFO, f"not a proxy address: {entry!r}", noun="Job", target=entry)
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise BcsError(
            BG_E_INVALID_PROXY_INFO, f"bad port in proxy address: {entry!r}", noun="Job", target=entry
        ) from None
    return f"{parts.scheme}://{parts.netloc}"


@functools.cache
def _keys() -> tuple[tuple[str, str], ...]:
    """(attribute, camelCase key) of every setting."""
    return tuple((f.name, camel_case(f.name)) for f in dataclasses.fields(JobSettings))


def _frozen(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value
