"""Shared fixtures: real engine processes on their own pipe names and state directories."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bcs.rpc.client import RpcClient
from bcs.rpc.transport import pipe_path

EMPTY_CONFIG = "version: 1\nurlGroups: []\n"


def free_port() -> int:
    """An ephemeral TCP port that was free on every address a moment ago.

    Bound on the wildcard address, as the engine binds its listeners: a port that is only free on
    127.0.0.1 may be the local port of a connection from 127.0.0.2-21 (the tests that open
    hundreds of connections from other loopback addresses), and the engine could not listen on it.
    """
    if socket.has_ipv6:
        with socket.socket(socket.AF_INET6) as s:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            s.bind(("::", 0))
            port: int = s.getsockname()[1]
            return port
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        port = s.getsockname()[1]
        return port


class EngineProcess:
    """``python -m bcs serve`` in a subprocess with its own pipe name and state directory."""

    def __init__(
        self, state_dir: Path, pipe_name: str | None = None, config: str | None = EMPTY_CONFIG
    ) -> None:
        self.state_dir = state_dir
        self.pipe_name = pipe_name or f"bcs-test-{uuid.uuid4().hex[:12]}"
        self.path = pipe_path(self.pipe_name)
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = state_dir.parent / f"{state_dir.name}-engine.out"
        state_dir.mkdir(parents=True, exist_ok=True)
        if config is not None and not (state_dir / "config.yaml").exists():
            (state_dir / "config.yaml").write_text(config, encoding="utf-8")

    def command(self, *extra: str) -> list[str]:
        return [
            sys.executable,
            "-m",
            "bcs",
            "--pipe-name",
            self.pipe_name,
            "serve",
            "--state-dir",
            str(self.state_dir),
            *extra,
        ]

    def start(self, *extra: str, wait: bool = True, env: dict[str, str] | None = None) -> EngineProcess:
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the subprocess
        self.proc = subprocess.Popen(
            self.command(*extra), stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}
        )
        log.close()
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"engine exited with {self.proc.returncode}:\n{self.output()}")
            try:
                with RpcClient(self.pipe_name, timeout=5) as c:
                    c.call("server.status")
                return
            except Exception:
                time.sleep(0.05)
        raise RuntimeError(f"engine not ready after {timeout} s:\n{self.output()}")

    def output(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def client(self, timeout: float = 60.0) -> RpcClient:
        c = RpcClient(self.pipe_name, timeout=timeout)
        c.connect()
        return c

    def call(self, method: str, **params: Any) -> Any:
        with self.client() as c:
            return c.call(method, params)

    def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM and wait; returns the exit code."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        code = self.proc.returncode
        self.proc = None
        return code

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def restart(self) -> EngineProcess:
        self.stop()
        return self.start()


@pytest.fixture
def engine_factory(tmp_path: Path) -> Iterator[Any]:
    """Make engines (not started); every one is stopped at the end of the test."""
    made: list[EngineProcess] = []

    def make(name: str = "state", **kw: Any) -> EngineProcess:
        e = EngineProcess(tmp_path / name, **kw)
        made.append(e)
        return e

    yield make
    for e in made:
        e.stop()


@pytest.fixture
def engine(engine_factory: Any) -> EngineProcess:
    """A running engine with an empty configuration."""
    e: EngineProcess = engine_factory()
    return e.start()


@pytest.fixture
def realm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A running MIT Kerberos realm (``auth_support.KerberosRealm``) with user ``alice`` (password
    ``Alice-pw1``) logged on in the realm's ticket cache; this process uses its krb5.conf and keytab."""
    from auth_support import KerberosRealm

    if not KerberosRealm.available():
        pytest.skip("MIT Kerberos KDC not installed (apt-get install krb5-kdc krb5-admin-server krb5-user)")
    kdc = KerberosRealm(tmp_path / "krb").start()
    try:
        kdc.add_user("alice", "Alice-pw1")
        kdc.kinit("alice", "Alice-pw1")
        for key in ("KRB5_CONFIG", "KRB5_KTNAME"):
            monkeypatch.setenv(key, kdc.env[key])
        yield kdc
    finally:
        kdc.stop()


@pytest.fixture(scope="session")
def samba_dc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A running Samba AD DC (``tests/samba_dc.py``) shared by the session; skips without Samba."""
    from samba_dc import running_dc

    with running_dc(tmp_path_factory.mktemp("samba-dc")) as dc:
        yield dc


_exit_status: list[int] = []


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _exit_status.append(int(exitstatus))


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """End the test process at once when a .NET runtime was loaded into it.

    tests/test_powershell_dotnet_pipe.py hosts .NET 8 in this process through pythonnet; its
    runtime's shutdown, racing Python's finalisation of the threads and sockets hundreds of tests
    left to the garbage collector, crashed the interpreter after the summary once (exit 139, all
    tests passed). Everything is reported by now: keep the status, skip the finalisation.
    """
    if _exit_status and ("clr" in sys.modules or "pythonnet" in sys.modules):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_exit_status[-1])
