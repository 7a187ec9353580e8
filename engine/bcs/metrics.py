"""The opt-in Prometheus endpoint: ``GET /metrics`` on its own port (``server.metricsPort``).

Owns the exposition (Prometheus text format 0.0.4) and the small HTTP server that answers it. The
figures are the ones ``server.status`` (``Get-BcsServer``) reports, read from the other services
when a scrape arrives, so both always agree: per URL group (label ``url_group``, the group's prefix
as configured) the file host's counters (``bcs.host.routing.COUNTER_NAMES``) and active upload
sessions; for the BITS client the jobs by state and the bytes moved by jobs. Counters start at 0
when the engine starts, as Prometheus expects of a process's counters.

Off by default (``metricsPort: 0``); it listens on ``metricsAddress`` (default ``127.0.0.1``: a
scrape from elsewhere is a deliberate choice). It serves nothing but ``/metrics`` (``GET``/``HEAD``)
and never the URL groups' files; it carries no authentication, so anything that can reach the
port can read the counters (URL-group prefixes included), which is why it is not opened on every
address by default. A connection idle for ``METRICS_IDLE_TIMEOUT`` seconds is closed.

A port that cannot be opened when ``server.set`` asks for it vetoes the change (``ERROR_BUSY``);
at engine start the failure is logged and reported in ``server.status`` (``services.metrics``), and
the engine serves the rest.
"""

from __future__ import annotations

import errno
import http.server
import ipaddress
import logging
import socket
import threading
import time
from collections.abc import Iterable
from typing import Any

from bcs import __version__, tunables
from bcs.errors import BusyError

__all__ = ["MetricsService", "render"]

log = logging.getLogger("bcs.metrics")

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# (metric, type, help, key in a group's counters)
_GROUP_METRICS = (
    ("bcs_http_requests_total", "counter", "HTTP requests routed to the URL group.", "requests"),
    ("bcs_http_sent_bytes_total", "counter", "Body bytes sent by the URL group.", "bytesSent"),
    ("bcs_http_received_bytes_total", "counter", "BITS upload bytes received.", "bytesReceived"),
    ("bcs_http_active_transfers", "gauge", "Transfers holding a connection-limit slot.", "activeTransfers"),
    (
        "bcs_http_rejected_transfers_total",
        "counter",
        "Transfers refused (503) by the connection limit.",
        "rejectedTransfers",
    ),
    ("bcs_upload_sessions", "gauge", "Active BITS upload sessions.", "uploadSessions"),
)
_JOB_STATES = (
    "Queued",
    "Connecting",
    "Transferring",
    "Suspended",
    "Error",
    "TransientError",
    "Transferred",
    "Acknowledged",
    "Cancelled",
)


def _label(value: str) -> str:
    """A label value escaped as the text format wants (backslash, double quote, line feed)."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _family(name: str, kind: str, doc: str, samples: Iterable[tuple[str, int | float]]) -> list[str]:
    lines = [f"# HELP {name} {doc}", f"# TYPE {name} {kind}"]
    lines.extend(f"{name}{labels} {value}" for labels, value in samples)
    return lines


def render(groups: list[dict[str, Any]], client: dict[str, Any] | None, uptime: float) -> str:
    """The exposition of the host's ``group_counters()`` and the client's ``status()``."""
    lines = _family(
        "bcs_info", "gauge", "The engine's version.", [(f'{{version="{_label(__version__)}"}}', 1)]
    )
    lines += _family(
        "bcs_uptime_seconds", "gauge", "Seconds since the engine started.", [("", round(uptime, 3))]
    )
    for name, kind, doc, key in _GROUP_METRICS:
        lines += _family(
            name, kind, doc, [(f'{{url_group="{_label(g["urlGroup"])}"}}', g.get(key, 0)) for g in groups]
        )
    lines += _family(
        "bcs_http_responses_total",
        "counter",
        "Error answers of the URL group by class (4xx, 5xx).",
        [
            (f'{{url_group="{_label(g["urlGroup"])}",class="{cls}"}}', g.get(key, 0))
            for g in groups
            for cls, key in (("4xx", "clientErrors"), ("5xx", "serverErrors"))
        ],
    )
    if client is not None:
        states: dict[str, int] = client.get("states", {})
        names = list(_JOB_STATES) + sorted(set(states) - set(_JOB_STATES))
        lines += _family(
            "bcs_jobs",
            "gauge",
            "BITS client jobs by state.",
            [(f'{{state="{s}"}}', states.get(s, 0)) for s in names],
        )
        lines += _family(
            "bcs_job_transferred_bytes_total",
            "counter",
            "Bytes transferred by BITS client jobs.",
            [("", client.get("bytesTransferred", 0))],
        )
    return "\n".join(lines) + "\n"


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _MetricsServer
    protocol_version = "HTTP/1.1"
    timeout = tunables.METRICS_IDLE_TIMEOUT
    server_version = "bcs-metrics"
    sys_version = ""

    def do_GET(self) -> None:
        self._answer(body=True)

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def _answer(self, body: bool) -> None:
        if self.path.partition("?")[0] != "/metrics":
            self._send(404, b"not found; the metrics are at /metrics\n", "text/plain; charset=utf-8", body)
            return
        try:
            data = self.server.source().encode("utf-8")
        except Exception:
            log.exception("rendering /metrics failed")
            self._send(500, b"internal error\n", "text/plain; charset=utf-8", body)
            return
        self._send(200, data, CONTENT_TYPE, body)

    def _send(self, status: int, data: bytes, content_type: str, body: bool) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if body:
            self.wfile.write(data)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        # http.server's own errors (405 for other methods, 400, 414): short and without HTML.
        self.close_connection = True
        data = f"{code} {message or ''}\n".encode("utf-8", "replace")
        self.send_response(code, message)
        if code == 501:  # http.server's answer to an unknown method: only GET and HEAD exist here
            self.send_header("Allow", "GET, HEAD")
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("metrics %s: " + format, self.address_string(), *args)


class _MetricsServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], source: Any) -> None:
        self.address_family = (
            socket.AF_INET6 if ipaddress.ip_address(address[0]).version == 6 else socket.AF_INET
        )
        self.source = source
        super().__init__(address, _Handler)


class MetricsService:
    """Runs the ``/metrics`` server while ``server.metricsPort`` is not 0; follows its changes live."""

    name = "metrics"

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self._lock = threading.Lock()
        self._server: _MetricsServer | None = None
        self._thread: threading.Thread | None = None
        self._bound: tuple[str, int] = ("", 0)
        self._error = ""

    def start(self) -> None:
        server = self.engine.config.current.server
        try:
            self._rebind(server.metrics_address, server.metrics_port)
        except BusyError as exc:  # the engine serves the rest; status says why /metrics is missing
            log.error("metrics: %s", exc.message)
            self._error = exc.message
        self.engine.config.subscribe(self._on_change)

    def stop(self) -> None:
        with self._lock:
            self._close()

    def status(self) -> dict[str, Any]:
        address, port = self._bound
        return {"listening": self._server is not None, "address": address, "port": port, "error": self._error}

    def exposition(self) -> str:
        host = self.engine.services.get("host")
        client = self.engine.services.get("client")
        return render(
            host.group_counters() if host is not None else [],
            client.status() if client is not None else None,
            time.time() - self.engine.started_at,
        )

    def _on_change(self, old: Any, new: Any) -> None:
        if (old.server.metrics_address, old.server.metrics_port) != (
            new.server.metrics_address,
            new.server.metrics_port,
        ):
            self._rebind(new.server.metrics_address, new.server.metrics_port)  # raising vetoes the change

    def _rebind(self, address: str, port: int) -> None:
        with self._lock:
            if (address, port) == self._bound and self._server is not None:
                return
            old = self._bound
            try:
                new = self._open(address, port) if port else None  # before closing: a failure changes nothing
            except BusyError:
                if port != old[1] or self._server is None:
                    raise
                # Same port, another address: the old server holds it. Close it, try, else restore it.
                self._close()
                try:
                    new = self._open(address, port)
                except BusyError:
                    self._rebind_quietly(*old)
                    raise
            self._close()
            self._error = ""
            if new is not None:
                self._start(new, address, port)

    def _rebind_quietly(self, address: str, port: int) -> None:
        try:
            self._start(self._open(address, port), address, port)
        except BusyError as exc:
            log.error("metrics: %s", exc.message)
            self._error = exc.message

    def _start(self, server: _MetricsServer, address: str, port: int) -> None:
        self._server = server
        self._bound = (address, port)
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.5}, name="bcs-metrics", daemon=True
        )
        self._thread.start()
        log.info(
            "metrics: http://%s/metrics", f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
        )

    def _open(self, address: str, port: int) -> _MetricsServer:
        try:
            return _MetricsServer((address, port), self.exposition)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                why = "is already in use by another program"
            elif exc.errno == errno.EACCES:
                why = "cannot be opened: permission denied (ports below 1024 need privileges)"
            else:
                why = f"cannot be opened: {exc.strerror or exc}"
            raise BusyError(f"metrics port {address}:{port} {why}", noun="Server", target=port) from None

    def _close(self) -> None:
        server, thread = self._server, self._thread
        self._server, self._thread, self._bound = None, None, ("", 0)
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(tunables.THREAD_JOIN_TIMEOUT)
