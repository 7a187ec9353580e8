"""URL-group prefixes: the HTTP.SYS UrlPrefix grammar with the Compact Server's one-segment rule.

``scheme://host:port/prefix/`` where scheme is ``http`` or ``https``; host is a name, an IPv4
address, ``[IPv6]``, the strong wildcard ``+`` or the weak wildcard ``*``; the port is mandatory
(1-65535, no leading zero); the path is exactly one segment (``http://+:8080/Demo/``; the original
rejected ``http://+:8080/Sample/Sample2/``). Normal form: lower-case scheme and host, one trailing
slash. The path compares case-insensitively (HTTP.SYS), but keeps the case it was created with.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from enum import IntEnum

from bcs.errors import InvalidArgumentError

__all__ = ["HostKind", "UrlPrefix", "parse_prefix"]


class HostKind(IntEnum):
    """Routing precedence, best first: strong wildcard, explicit host, weak wildcard."""

    STRONG = 0
    EXPLICIT = 1
    WEAK = 2


_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$"
)
_SEGMENT = re.compile(r"^[A-Za-z0-9._~!$&'()*+,;=:@%-]{1,255}$")
_PREFIX = re.compile(
    r"^(?P<scheme>[A-Za-z]+)://(?P<host>\[[^\]]*\]|[^:/]*)(?::(?P<port>[^/]*))?(?P<path>/.*)?$"
)


@dataclass(frozen=True)
class UrlPrefix:
    """A parsed, normalised URL-group prefix."""

    scheme: str
    host: str  # lower-case; '+' / '*' / name / IPv4 / '[IPv6]'
    port: int
    segment: str  # the one path segment, case preserved

    @property
    def kind(self) -> HostKind:
        if self.host == "+":
            return HostKind.STRONG
        if self.host == "*":
            return HostKind.WEAK
        return HostKind.EXPLICIT

    @property
    def key(self) -> str:
        """Identity for duplicate detection: the path compares case-insensitively."""
        return f"{self.scheme}://{self.host}:{self.port}/{self.segment.lower()}/"

    @property
    def path(self) -> str:
        return f"/{self.segment}/"

    def __str__(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}/{self.segment}/"


def parse_prefix(text: str) -> UrlPrefix:
    """Parse and normalise a URL-group prefix.

    Raises:
        InvalidArgumentError: saying which part is wrong and why.
    """

    def bad(why: str) -> InvalidArgumentError:
        return InvalidArgumentError(f"invalid URL group '{text}': {why}", noun="UrlGroup", target=text)

    if not isinstance(text, str) or not text.strip():
        raise bad("expected scheme://host:port/name/, e.g. http://+:8080/Demo/")
    m = _PREFIX.match(text.strip())
    if not m:
        raise bad("expected scheme://host:port/name/, e.g. http://+:8080/Demo/")
    scheme = m["scheme"].lower()
    if scheme not in ("http", "https"):
        raise bad(f"scheme must be http or https, not {m['scheme']}")
    host = m["host"].lower()
    if not host:
        raise bad("the host is missing (use + for every host name)")
    if host.startswith("["):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            raise bad(f"{host} is not a valid IPv6 address") from None
    elif host not in ("+", "*"):
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            if not _HOSTNAME.match(host):
                raise bad(f"'{host}' is not a valid host name") from None
    port_text = m["port"]
    if port_text is None or port_text == "":
        raise bad("the port is mandatory (http://+:8080/Demo/)")
    if not (port_text.isascii() and port_text.isdigit()) or (len(port_text) > 1 and port_text[0] == "0"):
        raise bad(f"the port must be a decimal number without leading zeros, not '{port_text}'")
    port = int(port_text)
    if not 1 <= port <= 65535:
        raise bad(f"the port must be between 1 and 65535, not {port}")
    path = m["path"] or "/"
    segments = [s for s in path.split("/") if s]
    if "//" in path.rstrip("/") or path.startswith("//"):
        raise bad("empty path segment")
    if len(segments) != 1:
        raise bad(
            "a Compact Server URL group has exactly one path segment "
            f"(like http://+:{port}/Demo/), this one has {len(segments)}"
        )
    segment = segments[0]
    if not _SEGMENT.match(segment) or segment in (".", ".."):
        raise bad(f"'{segment}' is not a valid path segment")
    return UrlPrefix(scheme, host, port, segment)
