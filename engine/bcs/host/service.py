"""The file host service: listeners per port serving the URL groups of the configuration.

``FileHost`` follows the configuration live: it subscribes to the config store, and on every
change (before it is persisted) binds the ports of new groups (a port in use vetoes the change
with a clear error), swaps in a new routing table, applies the limits to the running transfers,
resizes the listeners' thread pools and closes the ports no group uses any more. At engine start
it restores every listener of config.yaml; a port that cannot be opened then is reported in
``server.status`` and the log, and the engine runs on.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from bcs.config import Config
from bcs.errors import BcsError, InvalidArgumentError
from bcs.host import tunables
from bcs.host.accesslog import AccessLog
from bcs.host.app import HostState
from bcs.host.limits import TokenBucket
from bcs.host.listener import Listener, make_listener
from bcs.host.routing import GroupRuntime, RoutingTable
from bcs.host.urlprefix import parse_prefix

__all__ = ["FileHost"]

log = logging.getLogger("bcs.host")


def _ports_of(config: Config) -> dict[int, str]:
    """Port -> scheme of every URL group.

    Raises:
        InvalidArgumentError: http and https groups on one port.
    """
    ports: dict[int, str] = {}
    for group in config.url_groups:
        prefix = parse_prefix(group.url_group)
        scheme = ports.setdefault(prefix.port, prefix.scheme)
        if scheme != prefix.scheme:
            raise InvalidArgumentError(
                f"port {prefix.port} already serves {scheme} URL groups; "
                f"{prefix} needs another port (one scheme per port, as HTTP.SYS)",
                noun="UrlGroup",
                target=str(prefix),
            )
    return ports


def _threads_for(table: RoutingTable, port: int) -> int:
    """Worker threads of a listener: enough for every throttled transfer its groups allow."""
    wanted = tunables.BASE_THREADS
    for group in table.groups_on(port):
        limit = group.config.connection_limit
        wanted += limit if limit else tunables.UNLIMITED_GROUP_THREADS
    return min(wanted, tunables.MAX_THREADS)


class FileHost:
    """Serves the URL groups of the engine's configuration over HTTP."""

    name = "host"

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self._lock = threading.RLock()
        self.state = HostState(RoutingTable.build(Config()), TokenBucket())
        self.listeners: dict[int, Listener] = {}
        self.failed: dict[int, str] = {}  # port -> why it is not listening (engine start only)
        self._access: AccessLog | None = None

    # --- lifecycle ---
    def start(self) -> None:
        state_dir = getattr(self.engine, "state_dir", None)
        if state_dir is not None:
            self._access = AccessLog(state_dir / "access.log")
        config = self.engine.config.current
        with self._lock:
            self._apply(config, strict=False)
        self.engine.config.subscribe(self._on_change)

    def stop(self) -> None:
        with self._lock:
            for port in list(self.listeners):
                self._close(port)
        self.state.access_log = None
        if self._access is not None:
            self._access.close()
            self._access = None

    def status(self) -> dict[str, Any]:
        with self._lock:
            listeners = [listener.status() for _, listener in sorted(self.listeners.items())]
            failed = [{"port": port, "error": why} for port, why in sorted(self.failed.items())]
        return {"listeners": listeners, "failedListeners": failed}

    # --- queries for the RPC layer ---
    def runtime(self, prefix_key: str) -> GroupRuntime | None:
        return self.state.table.runtimes.get(prefix_key)

    def is_listening(self, port: int) -> bool:
        return port in self.listeners

    # --- configuration changes ---
    def _on_change(self, old: Config, new: Config) -> None:
        with self._lock:
            self._apply(new, strict=True)

    def _apply(self, config: Config, strict: bool) -> None:
        ports = _ports_of(config)
        opened: dict[int, Listener] = {}
        if strict:
            self.failed = {p: why for p, why in self.failed.items() if p in ports}
        try:
            for port, scheme in sorted(ports.items()):
                current = self.listeners.get(port)
                if current is not None and current.scheme == scheme:
                    continue
                if current is not None:  # scheme changed on this port: reopen
                    self._close(port)
                try:
                    opened[port] = make_listener(scheme, port, self.state, tunables.BASE_THREADS)
                except BcsError as exc:
                    if strict:
                        raise
                    log.error("cannot serve port %d: %s", port, exc.message)
                    self.failed[port] = exc.message
        except BaseException:
            for listener in opened.values():
                listener.stop()
            raise
        table = RoutingTable.build(config, self.state.table.runtimes)
        self.state.table = table
        self.state.server_bucket.set_rate(config.server.bandwidth_limit)
        self.state.access_log = self._access if config.server.access_log else None
        for port, listener in opened.items():
            self.failed.pop(port, None)
            listener.set_threads(_threads_for(table, port))
            listener.start()
            self.listeners[port] = listener
        for port in list(self.listeners):
            if port not in ports:
                self._close(port)
            else:
                self.listeners[port].set_threads(_threads_for(table, port))

    def _close(self, port: int) -> None:
        listener = self.listeners.pop(port)
        try:
            listener.stop()
        except Exception:
            log.exception("stopping the listener of port %d failed", port)
