"""The file host service: listeners per port serving the URL groups of the configuration.

``FileHost`` follows the configuration live: it subscribes to the config store, and on every
change (before it is persisted) binds the ports of new groups (a port in use vetoes the change
with a clear error), swaps in a new routing table, applies the limits to the running transfers,
resizes the listeners' thread pools and closes the ports no group uses any more.

A port that cannot be opened is isolated: at engine start, or for a group that already existed,
it is reported (``failedListeners`` in ``server.status``, ``listening: false`` and ``listenError``
on its groups) and retried every ``LISTEN_RETRY_SECONDS`` while its failure is transient (port
in use), logging once per state change; every other change goes through. Only a change that adds
a group needing that port is refused (ERROR_BUSY), as before.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from typing import Any

from bcs import tunables
from bcs.auth.schemes import enforced, sddl_enforced
from bcs.auth.sids import SidResolver
from bcs.bandwidth import TokenBucket
from bcs.config import Config, authentication_warning
from bcs.config.model import AuthConfig
from bcs.errors import ERROR_NOT_FOUND, BcsError, InvalidArgumentError
from bcs.host.accesslog import AccessLog
from bcs.host.digests import DigestStore
from bcs.host.exchange import HostState
from bcs.host.listener import Listener, make_listener
from bcs.host.routing import COUNTER_NAMES, GroupRuntime, RoutingTable
from bcs.host.tls import TlsListener
from bcs.host.upload.store import UploadStore
from bcs.urlprefix import parse_prefix

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


def _no_certificate(port: int) -> BcsError:
    """An https port without a bound certificate (not transient: it waits for sslcert.set)."""
    return BcsError(
        ERROR_NOT_FOUND,
        f"no certificate is bound to port {port}; bind one with sslcert.set (Set-BcsSslCertificate)",
        reason="NoCertificate",
        noun="UrlGroup",
        target=port,
    )


def _new_group_ports(old: Config, new: Config) -> set[int]:
    """Ports of the groups that ``new`` adds: these must open, or the change is refused."""
    before = {parse_prefix(group.url_group).key for group in old.url_groups}
    return {
        prefix.port
        for prefix in (parse_prefix(group.url_group) for group in new.url_groups)
        if prefix.key not in before
    }


def _retry_seconds() -> float:
    return tunables.tuned("LISTEN_RETRY", tunables.LISTEN_RETRY_SECONDS)


def unenforced(config: Config, resolves: bool) -> list[dict[str, Any]]:
    """Security settings this engine accepts but cannot enforce (their URLs answer 403)."""
    found: list[dict[str, Any]] = []
    for group in config.url_groups:
        if not enforced(group.authentication):
            found.append({"urlGroup": group.url_group, "urlSuffix": None, "setting": "authentication"})
        if sddl_enforced(group.authentication, resolves):
            continue
        for url in group.urls:
            if url.sddl:
                found.append({"urlGroup": group.url_group, "urlSuffix": url.url_suffix, "setting": "sddl"})
    return found


# The keytab used when auth.keytabPath is empty and this file exists in the state directory.
DEFAULT_KEYTAB = "http.keytab"


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
        self.state = HostState(RoutingTable.build(Config()), TokenBucket(burst=tunables.HOST_BUCKET_BURST))
        self.listeners: dict[int, Listener] = {}
        self.failed: dict[int, str] = {}  # port -> why it is not listening
        self._retry_ports: set[int] = set()  # failed ports whose failure may pass (port in use)
        self._retry_timer: threading.Timer | None = None
        self._stopped = False
        self._unenforced: list[dict[str, Any]] = []
        self._warned: dict[str, str] = {}  # URL group -> its authentication warning, logged once
        self._access: AccessLog | None = None
        self._auth: AuthConfig | None = None  # the auth settings applied last
        self._sweep_timer: threading.Timer | None = None

    # --- lifecycle ---
    def start(self) -> None:
        state_dir = getattr(self.engine, "state_dir", None)
        if state_dir is not None:
            self._access = AccessLog(state_dir / "access.log")
            self.state.digests = DigestStore(state_dir / "digests.json")
            uploads = UploadStore(state_dir / "uploads")
            uploads.open()  # recovers the sessions a previous run left, before any request
            self.state.uploads = uploads
            self._sweep_uploads()
        self.state.digests.open()
        config = self.engine.config.current
        with self._lock:
            self._apply(config, required=set())
        self.engine.config.subscribe(self._on_change)

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            if self._retry_timer is not None:
                self._retry_timer.cancel()
                self._retry_timer = None
            for port in list(self.listeners):
                self._close(port)
            if self._sweep_timer is not None:
                self._sweep_timer.cancel()
                self._sweep_timer = None
        if self.state.uploads is not None:
            self.state.uploads.close()
        self.state.digests.close()
        self.state.access_log = None
        if self.state.resolver is not None:
            self.state.resolver.close()
            self.state.resolver = None
        if self._access is not None:
            self._access.close()
            self._access = None

    def status(self) -> dict[str, Any]:
        with self._lock:
            listeners = [listener.status() for _, listener in sorted(self.listeners.items())]
            failed = [
                {"port": port, "error": why, "retrying": port in self._retry_ports}
                for port, why in sorted(self.failed.items())
            ]
            unenforced = list(self._unenforced)
        return {
            "listeners": listeners,
            "failedListeners": failed,
            "urlGroups": self.group_counters(),
            "securityEnforced": not unenforced,
            "unenforcedSettings": unenforced,
            "authentication": self.state.authenticator.acceptor.status(),
        }

    def group_counters(self) -> list[dict[str, Any]]:
        """Each URL group's counters (``COUNTER_NAMES``) and its active upload sessions, by prefix.

        What ``server.status`` (``Get-BcsServer``) and ``/metrics`` report; counters start at 0
        when the engine starts (or the group is created).
        """
        config = self.engine.config.current
        runtimes = self.state.table.runtimes
        uploads: dict[str, int] = {}
        if self.state.uploads is not None:
            for session in self.state.uploads.sessions():
                if session.active:
                    uploads[session.url_group] = uploads.get(session.url_group, 0) + 1
        out = []
        for group in config.url_groups:
            key = parse_prefix(group.url_group).key
            runtime = runtimes.get(key)
            counters = runtime.snapshot() if runtime is not None else dict.fromkeys(COUNTER_NAMES, 0)
            out.append({"urlGroup": group.url_group, **counters, "uploadSessions": uploads.get(key, 0)})
        return out

    # --- upload sessions ---
    def session_timeout(self, prefix_key: str) -> float:
        """The sessionTimeout of a group (the default when the group is gone)."""
        group = self.engine.config.current.find_group(prefix_key)
        return float(group.session_timeout if group is not None else tunables.UPLOAD_SESSION_TIMEOUT)

    def _sweep_uploads(self) -> None:
        """Expire upload sessions without progress and old tombstones; then arm the next sweep."""
        uploads = self.state.uploads
        if uploads is None:
            return
        try:
            uploads.cleanup(time.time(), self.session_timeout)
        except Exception:
            log.exception("sweeping the upload sessions failed")
        with self._lock:
            if self._stopped:
                return
            interval = tunables.tuned("UPLOAD_CLEANUP_INTERVAL", tunables.UPLOAD_CLEANUP_INTERVAL)
            timer = threading.Timer(interval, self._sweep_uploads)
            timer.name = "bcs-upload-sweep"
            timer.daemon = True
            self._sweep_timer = timer
            timer.start()

    # --- queries for the RPC layer ---
    def runtime(self, prefix_key: str) -> GroupRuntime | None:
        return self.state.table.runtimes.get(prefix_key)

    @property
    def resolves(self) -> bool:
        """Whether authenticated principals can be mapped to SIDs (for SDDL checks)."""
        return self.state.resolver is not None

    def is_listening(self, port: int) -> bool:
        return port in self.listeners

    def listen_error(self, port: int) -> str | None:
        """Why ``port`` is not listening (None while it listens or was never tried)."""
        return self.failed.get(port)

    # --- configuration changes ---
    def _on_change(self, old: Config, new: Config) -> None:
        with self._lock:
            self._apply(new, required=_new_group_ports(old, new))

    def _apply(self, config: Config, required: set[int]) -> None:
        """Make the listeners match ``config``; a port in ``required`` that cannot open raises.

        Raises:
            BcsError: a required port cannot be opened (nothing changes).
        """
        ports = _ports_of(config)
        opened: dict[int, Listener] = {}
        failures: dict[int, BcsError] = {}
        try:
            for port, scheme in sorted(ports.items()):
                current = self.listeners.get(port)
                binding = config.ssl_binding(port) if scheme == "https" else None
                if scheme == "https" and binding is None:
                    # Created and reported, as HTTP.SYS would: it starts once a certificate is bound.
                    if current is not None:
                        self._close(port)
                    failures[port] = _no_certificate(port)
                    continue
                if current is not None and current.scheme == scheme:
                    if (
                        isinstance(current, TlsListener)
                        and binding is not None
                        and binding != current.binding
                    ):
                        current.rebind(binding)  # raises before anything changed when it cannot serve
                    continue
                if current is not None:  # scheme changed on this port: reopen
                    self._close(port)
                try:
                    if binding is not None:
                        opened[port] = TlsListener(port, self.state, tunables.BASE_THREADS, binding)
                    else:
                        opened[port] = make_listener(scheme, port, self.state, tunables.BASE_THREADS)
                except BcsError as exc:
                    if port in required:
                        raise
                    failures[port] = exc
        except BaseException:
            for listener in opened.values():
                listener.stop()
            raise
        for port in [p for p in self.failed if p not in ports]:
            log.info("port %d: no URL group needs it any more; not retrying", port)
            self._clear_failure(port)
        for port, failure in failures.items():
            self._record_failure(port, failure)
        self._apply_auth(config.auth)
        self._note_unenforced(config)
        table = RoutingTable.build(config, self.state.table.runtimes)
        self.state.table = table
        self.state.server_bucket.set_rate(config.server.bandwidth_limit)
        if self._access is not None:
            self._access.format = config.server.access_log_format
        self.state.access_log = self._access if config.server.access_log else None
        for port, listener in opened.items():
            if port in self.failed:
                log.info("port %d: listening again", port)
                self._clear_failure(port)
            listener.set_threads(_threads_for(table, port))
            listener.start()
            self.listeners[port] = listener
        for port in list(self.listeners):
            if port not in ports:
                self._close(port)
            else:
                self.listeners[port].set_threads(_threads_for(table, port))
        self._schedule_retry()

    # --- authentication settings ---
    def _apply_auth(self, auth: AuthConfig) -> None:
        """Point the handshakes at the keytab and user file, and names at their SID source."""
        if auth == self._auth:
            return
        state_dir = getattr(self.engine, "state_dir", None)
        keytab = auth.keytab_path or (
            str(state_dir / DEFAULT_KEYTAB)
            if state_dir is not None and (state_dir / DEFAULT_KEYTAB).exists()
            else None
        )
        self.state.authenticator.acceptor.configure(
            keytab_path=keytab, ntlm_user_file=auth.ntlm_user_file or None, ntlm_backend=auth.ntlm_backend
        )
        old = self.state.resolver
        self.state.resolver = (
            SidResolver(
                auth.ldap, auth.principals, bind_password=auth.ldap.bind_password if auth.ldap else ""
            )
            if auth.ldap is not None or auth.principals
            else None
        )
        if old is not None:
            old.close()
        self._auth = copy.deepcopy(auth)

    # --- ports that failed ---
    def _record_failure(self, port: int, exc: BcsError) -> None:
        if self.failed.get(port) != exc.message:  # log once per state change, not per retry
            again = f"; retrying every {_retry_seconds():g} s" if exc.transient else ""
            log.error("cannot serve port %d: %s%s", port, exc.message, again)
        self.failed[port] = exc.message
        if exc.transient:
            self._retry_ports.add(port)
        else:
            self._retry_ports.discard(port)

    def _clear_failure(self, port: int) -> None:
        self.failed.pop(port, None)
        self._retry_ports.discard(port)

    def _schedule_retry(self) -> None:
        """Arm the retry timer while a port waits to be retried (an engine without one sleeps)."""
        if self._stopped or not self._retry_ports or self._retry_timer is not None:
            return
        timer = threading.Timer(_retry_seconds(), self._retry)
        timer.name = "bcs-listen-retry"
        timer.daemon = True
        self._retry_timer = timer
        timer.start()

    def _retry(self) -> None:
        with self._lock:
            self._retry_timer = None
            if self._stopped:
                return
            try:
                self._apply(self.engine.config.current, required=set())
            except Exception:
                log.exception("retrying the failed listeners failed")
                self._schedule_retry()

    def _note_unenforced(self, config: Config) -> None:
        found = unenforced(config, self.resolves)
        for item in found:
            if item not in self._unenforced:
                where = item["urlGroup"] + (item["urlSuffix"] or "")
                log.warning(
                    "%s: %s is set but not enforced by this engine yet: its requests get 403",
                    where,
                    item["setting"],
                )
        self._unenforced = found
        warnings = {group.url_group: authentication_warning(config, group) for group in config.url_groups}
        for url_group, warning in warnings.items():
            if warning and self._warned.get(url_group) != warning:
                log.warning("%s: %s", url_group, warning)
        self._warned = {url_group: w for url_group, w in warnings.items() if w}

    def _close(self, port: int) -> None:
        listener = self.listeners.pop(port)
        try:
            listener.stop()
        except Exception:
            log.exception("stopping the listener of port %d failed", port)
