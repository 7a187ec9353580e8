"""The engine process: state directory, config, services, management pipe, clean shutdown.

The services (file host, BITS client) are injected by the caller (``bcs serve`` passes both), so
this module knows only their ``Service`` protocol.

Start order: claim the pipe name (a second engine fails here, before touching anything), lock and
check the state directory, open the log file, load config.yaml, start the services (file host,
BITS client), then listen on the pipe, so that a client that reaches the pipe finds a ready engine.
Stop order is the reverse. SIGINT, SIGTERM and ``server.stop`` all stop it the same way.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from bcs import __version__, tunables
from bcs.config import Config, ConfigStore, UrlConfig, UrlGroupConfig
from bcs.errors import AccessDeniedError, AlreadyRunningError, BcsError
from bcs.lockfile import LockFile
from bcs.methods import load_registry
from bcs.rpc.protocol import Dispatcher
from bcs.rpc.registry import CallContext
from bcs.rpc.transport import PipeServer, pipe_path, resolve_pipe_name

__all__ = ["DEMO_URL_GROUP", "Engine", "EngineOptions", "Service", "ServiceFactory", "default_state_dir"]

log = logging.getLogger("bcs.engine")

DEMO_URL_GROUP = "http://+:8080/Demo/"


ServiceFactory = Callable[["Engine"], "Service"]


class Service(Protocol):
    """A part of the engine with a lifecycle (file host, BITS client)."""

    name: str

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def status(self) -> dict[str, Any]: ...


def default_state_dir() -> Path:
    """``BCS_STATE_DIR``, else the platform default of design.md section 4."""
    env = os.environ.get("BCS_STATE_DIR")
    if env:
        return Path(env)
    if sys.platform == "win32":
        return Path(os.environ.get("PROGRAMDATA", r"C:\ProgramData")) / "BitsCompactServer"
    if os.geteuid() == 0:
        return Path("/var/lib/bits-compact-server")
    xdg = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(xdg) / "bits-compact-server"


@dataclass
class EngineOptions:
    state_dir: Path
    pipe_name: str
    config_path: Path | None = None
    demo: bool = True  # a first start writes the demo URL group (False: an empty configuration)


def demo_config(state_dir: Path) -> Config:
    """The embedded default: the demo URL group of the README, serving files from the state dir."""
    demo = state_dir / "demo"
    demo.mkdir(parents=True, exist_ok=True)
    source = Path(__file__).parent / "demo"
    for item in source.iterdir():
        if item.is_file() and not (demo / item.name).exists():
            shutil.copyfile(item, demo / item.name)
    group = UrlGroupConfig(
        url_group=DEMO_URL_GROUP,
        urls=[UrlConfig(url_suffix="hello.txt", source_path=str(demo / "hello.txt"))],
    )
    return Config(url_groups=[group])


class Engine:
    """One engine: owns the config store, the services and the management pipe."""

    def __init__(self, options: EngineOptions, services: Sequence[ServiceFactory] = ()) -> None:
        self.options = options
        self.factories = tuple(services)  # started in this order, stopped in the reverse
        self.state_dir = options.state_dir.resolve()
        self.pipe_name = resolve_pipe_name(options.pipe_name)
        self.config_path = (options.config_path or self.state_dir / "config.yaml").resolve()
        self.config = ConfigStore(self.config_path, self.state_dir / "secrets.json")
        self.services: dict[str, Service] = {}
        self.started_at = time.time()
        self._stop = threading.Event()
        self._state_lock: LockFile | None = None
        self._log_handler: logging.Handler | None = None
        self.registry = load_registry()
        self.pipe = PipeServer(self.pipe_name, Dispatcher(self.registry).handle_line, self.context)

    def context(self, **peer: Any) -> CallContext:
        return CallContext(engine=self, **peer)

    # --- lifecycle ---
    def run(self, install_signals: bool = True) -> None:
        """Start everything, block until asked to stop, stop everything.

        Raises:
            BcsError: a clear startup failure (already running, bad state dir, bad config).
        """
        self.pipe.claim()
        try:
            self._prepare_state_dir()
            self._open_log_file()
            log.info("engine %s starting: state dir %s, pipe %s", __version__, self.state_dir, self.pipe.path)
            self.config.load(default=(lambda: demo_config(self.state_dir)) if self.options.demo else None)
            self._start_services()
            if install_signals:
                self._install_signals()
            self.pipe.listen()
            log.info("engine ready (pid %d)", os.getpid())
            self._stop.wait()
            log.info("engine stopping")
        finally:
            self.pipe.stop()
            for service in reversed(list(self.services.values())):
                try:
                    service.stop()
                except Exception:
                    log.exception("stopping %s failed", service.name)
            self._release_state_dir()
            log.info("engine stopped")
            if self._log_handler is not None:
                logging.getLogger().removeHandler(self._log_handler)
                self._log_handler.close()

    def request_stop(self) -> None:
        self._stop.set()

    def status(self) -> dict[str, Any]:
        config = self.config.current
        return {
            "version": __version__,
            "pid": os.getpid(),
            "pipeName": self.pipe_name,
            "pipePath": pipe_path(self.pipe_name),
            "stateDir": str(self.state_dir),
            "configPath": str(self.config_path),
            "startTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.started_at)),
            "uptimeSeconds": round(time.time() - self.started_at, 3),
            "platform": sys.platform,
            "python": sys.version.split()[0],
            "urlGroupCount": len(config.url_groups),
            "maxUrlGroups": config.server.max_url_groups,
            "bandwidthLimit": config.server.bandwidth_limit,
            "accessLog": config.server.access_log,
            "accessLogFormat": config.server.access_log_format,
            "metricsPort": config.server.metrics_port,
            "metricsAddress": config.server.metrics_address,
            "backgroundJobSlots": config.client.background_slots,
            "jobBandwidthLimit": config.client.bandwidth_limit,
            "services": {name: service.status() for name, service in self.services.items()},
        }

    def _start_services(self) -> None:
        for factory in self.factories:
            service: Service = factory(self)
            service.start()
            self.services[service.name] = service

    def _install_signals(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: self.request_stop())

    # --- state directory ---
    def _prepare_state_dir(self) -> None:
        try:
            self.state_dir.mkdir(parents=True, exist_ok=True)
            if sys.platform != "win32":
                os.chmod(self.state_dir, 0o700)
            with tempfile.NamedTemporaryFile(dir=self.state_dir, prefix=".write-test-"):
                pass
        except OSError as exc:
            raise AccessDeniedError(
                f"state directory {self.state_dir} is not usable: {exc.strerror or exc}; "
                "choose another with --state-dir or BCS_STATE_DIR"
            ) from None
        # Not followed if it is a link, refused if another uid planted it (bcs.lockfile).
        lock = LockFile.open(str(self.state_dir / "engine.lock"), "choose another --state-dir")
        if not lock.try_lock():
            holder = lock.holder()
            lock.close()
            raise AlreadyRunningError(
                f"another engine (pid {holder}) already uses state directory {self.state_dir}"
            )
        lock.write_pid()
        self._state_lock = lock

    def _release_state_dir(self) -> None:
        if self._state_lock is not None:
            self._state_lock.close()
            self._state_lock = None

    def _open_log_file(self) -> None:
        handler = logging.handlers.RotatingFileHandler(
            self.state_dir / "engine.log",
            maxBytes=tunables.LOG_FILE_BYTES,
            backupCount=tunables.LOG_FILE_COUNT,
            encoding="utf-8",
            errors="backslashreplace",  # a lone surrogate in a message must not lose the line
        )
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logging.getLogger().addHandler(handler)
        self._log_handler = handler


def run_engine(options: EngineOptions, services: Sequence[ServiceFactory]) -> int:
    """``bcs serve``: run in the foreground; a clear message and exit code 1 on a startup failure."""
    try:
        Engine(options, services).run()
    except BcsError as exc:
        log.error("cannot start: %s", exc.message)
        print(f"bcs serve: {exc.message}", file=sys.stderr)
        return 1
    return 0
