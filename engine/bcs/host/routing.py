"""Routing of a request to its URL group and URL, as HTTP.SYS does, in O(1) per request.

A ``RoutingTable`` is built from the configuration on every change and replaced as a whole (one
reference assignment), so a request sees either the old or the new table, never a mix:

``port -> {segment (lower-case) -> group}`` for the strong ``+`` and the weak ``*`` wildcards, and
``port -> {host -> {segment -> group}}`` for explicit hosts. A request tries strong, then its Host
header's explicit entry, then weak. Inside a group, URLs are a dict by lower-case suffix; a
request path below a directory URL is found by trying its prefixes, longest first (one dict
lookup per path level).

The run-time state of a group (counters, limits) lives in a ``GroupRuntime`` that survives table
rebuilds, so changing a limit reaches transfers that are already running.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field

from bcs import tunables
from bcs.bandwidth import TokenBucket
from bcs.config import Config, UrlConfig, UrlGroupConfig
from bcs.host.limits import TransferGate
from bcs.urlprefix import HostKind, UrlPrefix, parse_prefix

__all__ = ["COUNTER_NAMES", "GroupCounters", "GroupRuntime", "RoutingTable", "UrlEntry"]


# What urlgroup.get, server.status and /metrics report of a group, in this order.
COUNTER_NAMES = (
    "requests",
    "bytesSent",
    "bytesReceived",
    "activeTransfers",
    "rejectedTransfers",
    "clientErrors",
    "serverErrors",
)


@dataclass
class GroupCounters:
    """Counters of one URL group since it was created (or the engine started)."""

    requests: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0  # BITS upload bytes written to staging files
    rejected: int = 0  # answered 503 because of the connection limit
    client_errors: int = 0  # answers 400-499
    server_errors: int = 0  # answers 500-599
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


class GroupRuntime:
    """The live state of one URL group: settings, limits and counters."""

    def __init__(self, prefix: UrlPrefix, config: UrlGroupConfig) -> None:
        self.prefix = prefix
        self.counters = GroupCounters()
        self.gate = TransferGate(config.connection_limit)
        self.bucket = TokenBucket(config.bandwidth_limit, burst=tunables.HOST_BUCKET_BURST)
        self.config = config

    def apply(self, config: UrlGroupConfig) -> None:
        self.config = config
        self.gate.limit = config.connection_limit
        self.bucket.set_rate(config.bandwidth_limit)

    def snapshot(self) -> dict[str, int]:
        """The counters by their RPC names (``COUNTER_NAMES``)."""
        c = self.counters
        return dict(
            zip(
                COUNTER_NAMES,
                (
                    c.requests,
                    c.bytes_sent,
                    c.bytes_received,
                    self.gate.active,
                    c.rejected,
                    c.client_errors,
                    c.server_errors,
                ),
                strict=True,
            )
        )


@dataclass(frozen=True)
class UrlEntry:
    """A published URL: its group, its suffix and the file or directory behind it."""

    group: GroupRuntime
    suffix: str  # as configured, without leading or trailing slash
    source: str  # absolute path
    sddl: str
    is_directory: bool  # decided when the table is built; a source that changes type gives 404
    sha256: bool = False  # the file(s) are served only under their pinned digest (bcs.host.digests)


def _is_dir(path: str) -> bool:
    try:
        return os.path.isdir(path)
    except (OSError, ValueError):
        return False


def _entry(group: GroupRuntime, url: UrlConfig) -> UrlEntry:
    return UrlEntry(group, url.url_suffix, url.source_path, url.sddl, _is_dir(url.source_path), url.sha256)


class _Group:
    """The per-table view of a group: its runtime and its URLs by lower-case suffix."""

    __slots__ = ("max_depth", "runtime", "urls")

    def __init__(self, runtime: GroupRuntime, urls: dict[str, UrlEntry]) -> None:
        self.runtime = runtime
        self.urls = urls
        self.max_depth = max((k.count("/") + 1 for k in urls), default=0)


class _PortRoutes:
    __slots__ = ("explicit", "scheme", "strong", "weak")

    def __init__(self, scheme: str) -> None:
        self.scheme = scheme
        self.strong: dict[str, _Group] = {}
        self.explicit: dict[str, dict[str, _Group]] = {}
        self.weak: dict[str, _Group] = {}


class RoutingTable:
    """Immutable after construction: where each (port, host, path) goes."""

    def __init__(self, ports: dict[int, _PortRoutes], runtimes: dict[str, GroupRuntime]) -> None:
        self._ports = ports
        self.runtimes = runtimes  # by prefix key

    @classmethod
    def build(cls, config: Config, previous: dict[str, GroupRuntime] | None = None) -> RoutingTable:
        """Build the table of ``config``, reusing the runtimes of groups that still exist."""
        previous = previous or {}
        ports: dict[int, _PortRoutes] = {}
        runtimes: dict[str, GroupRuntime] = {}
        for group_config in config.url_groups:
            prefix = parse_prefix(group_config.url_group)
            runtime = previous.get(prefix.key)
            if runtime is None:
                runtime = GroupRuntime(prefix, group_config)
            else:
                runtime.apply(group_config)
            runtimes[prefix.key] = runtime
            urls = {url.url_suffix.lower(): _entry(runtime, url) for url in group_config.urls}
            routes = ports.setdefault(prefix.port, _PortRoutes(prefix.scheme))
            segment = prefix.segment.lower()
            group = _Group(runtime, urls)
            if prefix.kind is HostKind.STRONG:
                routes.strong[segment] = group
            elif prefix.kind is HostKind.WEAK:
                routes.weak[segment] = group
            else:
                routes.explicit.setdefault(prefix.host, {})[segment] = group
        return cls(ports, runtimes)

    def ports(self) -> dict[int, str]:
        """Every port in use and its scheme."""
        return {port: routes.scheme for port, routes in self._ports.items()}

    def groups_on(self, port: int) -> list[GroupRuntime]:
        routes = self._ports.get(port)
        if routes is None:
            return []
        out = [g.runtime for g in routes.strong.values()] + [g.runtime for g in routes.weak.values()]
        for by_segment in routes.explicit.values():
            out.extend(g.runtime for g in by_segment.values())
        return out

    def find_group(self, port: int, host: str, segment: str) -> tuple[_Group | None, bool]:
        """The group serving ``segment`` (lower-case) for ``host`` (lower-case, no port) on ``port``.

        Returns:
            (group or None, host_known): host_known is False when the port has groups only for
            explicit hosts and ``host`` is none of them (HTTP.SYS answers 400 there).
        """
        routes = self._ports.get(port)
        if routes is None:
            return None, True
        group = routes.strong.get(segment)
        if group is not None:
            return group, True
        by_host = routes.explicit.get(host)
        if by_host is not None:
            group = by_host.get(segment)
            if group is not None:
                return group, True
        group = routes.weak.get(segment)
        if group is not None:
            return group, True
        return None, bool(by_host is not None or routes.strong or routes.weak)

    @staticmethod
    def find_url(group: _Group, rest: str) -> tuple[UrlEntry | None, str]:
        """The URL serving ``rest`` (the path below the group prefix, no leading slash).

        Returns:
            (entry or None, the path below the URL: "" for the URL itself).
        """
        urls = group.urls
        key = rest.rstrip("/").lower()
        entry = urls.get(key)
        if entry is not None:
            return entry, rest[len(key) :].lstrip("/") if entry.is_directory else rest[len(key) :]
        # Directory URLs: the longest configured prefix of the path, one dict lookup per level.
        # Only prefixes with at most max_depth segments can be URLs: at most max_depth lookups.
        cuts: list[int] = []
        cut = -1
        for _ in range(group.max_depth):
            cut = key.find("/", cut + 1)
            if cut <= 0:
                break
            cuts.append(cut)
        for cut in reversed(cuts):
            entry = urls.get(key[:cut])
            if entry is not None:
                if not entry.is_directory:
                    return None, ""
                return entry, rest[cut + 1 :]
        return None, ""
