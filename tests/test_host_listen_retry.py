"""One port that cannot be bound must not break the engine (issue 10, section 2).

A listener that fails is isolated: other changes go through, its groups say ``listening: false``
with the reason, ``server.status`` lists it, and the engine retries it on a timer until the port
is free. Only a change that adds a group needing the busy port is refused (ERROR_BUSY).
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bcs.rpc.client import RpcError
from conftest import EngineProcess, free_port
from test_client_support import wait_until
from test_host_http import fetch

RETRY = {"BCS_TEST_LISTEN_RETRY": "0.3"}


class HeldPort:
    """A port held by another program (a listening socket on every address, as a server would)."""

    def __init__(self, port: int | None = None) -> None:
        self.sock: socket.socket | None = socket.socket(socket.AF_INET6)
        self.sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        self.port = port if port is not None else free_port()
        self.sock.bind(("::", self.port))
        self.sock.listen(5)

    def release(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


@pytest.fixture
def held() -> Iterator[HeldPort]:
    port = HeldPort()
    yield port
    port.release()


def config_with(*groups: str, source: Path) -> str:
    lines = ["version: 1", "urlGroups:"]
    for group in groups:
        lines += [f"- urlGroup: {group}", "  urls:", "  - urlSuffix: f.txt", f"    sourcePath: {source}"]
    return "\n".join(lines) + "\n"


def start_with_group(engine_factory: Any, group: str, source: Path) -> EngineProcess:
    """An engine whose config.yaml already has ``group`` (as after a restart), retrying fast."""
    engine: EngineProcess = engine_factory(config=config_with(group, source=source))
    return engine.start(env=RETRY)


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "f.txt"
    path.write_text("served\n")
    return path


def test_a_busy_port_at_start_leaves_every_other_change_working_and_is_retried(
    engine_factory: Any, held: HeldPort, source: Path
) -> None:
    busy_group = f"http://+:{held.port}/Busy/"
    engine = start_with_group(engine_factory, busy_group, source)

    got = engine.call("urlgroup.get", urlGroup=busy_group)
    assert got["listening"] is False
    assert "in use" in got["listenError"] or str(held.port) in got["listenError"]
    failed = engine.call("server.status")["services"]["host"]["failedListeners"]
    assert [(f["port"], f["retrying"]) for f in failed] == [(held.port, True)]

    # Every other change goes through: a group on a free port, server settings, a URL on the busy group.
    other = free_port()
    assert engine.call("urlgroup.create", urlGroup=f"http://+:{other}/Ok/")["listening"] is True
    assert engine.call("server.set", maxUrlGroups=30)["maxUrlGroups"] == 30
    engine.call("url.create", urlGroup=busy_group, urlSuffix="g.txt", sourcePath=str(source))
    engine.call("urlgroup.set", urlGroup=busy_group, connectionLimit=5)

    # The port frees up: the engine serves it on its next retry, without any call.
    held.release()
    wait_until(lambda: engine.call("urlgroup.get", urlGroup=busy_group)["listening"])
    assert engine.call("urlgroup.get", urlGroup=busy_group)["listenError"] is None
    assert engine.call("server.status")["services"]["host"]["failedListeners"] == []
    assert fetch(held.port, "/Busy/f.txt")[0] == 200
    log = engine.output()
    assert log.count(f"cannot serve port {held.port}") == 1, "logged once per state change, not per retry"
    assert f"port {held.port}: listening again" in log


def test_an_explicit_group_on_a_busy_port_is_refused_and_changes_nothing(
    engine: EngineProcess, held: HeldPort
) -> None:
    group = f"http://+:{held.port}/Busy/"
    with pytest.raises(RpcError) as info:
        engine.call("urlgroup.create", urlGroup=group)
    assert info.value.data["name"] == "ERROR_BUSY"
    assert engine.call("urlgroup.list") == []
    assert engine.call("server.status")["services"]["host"]["failedListeners"] == []


def test_a_group_removed_while_its_port_is_busy_stops_the_retries(
    engine_factory: Any, held: HeldPort, source: Path
) -> None:
    group = f"http://+:{held.port}/Busy/"
    engine = start_with_group(engine_factory, group, source)
    engine.call("urlgroup.delete", urlGroup=group)
    assert engine.call("server.status")["services"]["host"]["failedListeners"] == []
    held.release()
    time.sleep(1.0)
    assert engine.call("server.status")["services"]["host"]["listeners"] == []


def test_the_demo_engine_with_port_8080_held_still_takes_other_changes(
    engine_factory: Any, tmp_path: Path
) -> None:
    try:
        blocker: HeldPort | None = HeldPort(8080)
    except OSError:
        blocker = None  # something else holds 8080 already: the situation this test is about
    try:
        engine: EngineProcess = engine_factory(config=None)  # the embedded demo configuration
        engine.start()
        demo = engine.call("urlgroup.get", urlGroup="http://+:8080/Demo/")
        assert demo["listening"] is False and demo["listenError"]
        port = free_port()
        engine.call("urlgroup.create", urlGroup=f"http://+:{port}/Other/")
        engine.call("server.set", bandwidthLimit=0)
        assert engine.call("urlgroup.get", urlGroup=f"http://+:{port}/Other/")["listening"] is True
    finally:
        if blocker is not None:
            blocker.release()


def test_serve_no_demo_starts_with_an_empty_configuration(engine_factory: Any) -> None:
    engine: EngineProcess = engine_factory(config=None)
    engine.start("--no-demo")
    assert engine.call("urlgroup.list") == []
    assert "urlGroups: []" in (engine.state_dir / "config.yaml").read_text()
    assert not (engine.state_dir / "demo").exists()
    # An existing configuration is loaded as it is: --no-demo only chooses the first one.
    engine.call("urlgroup.create", urlGroup=f"http://+:{free_port()}/Kept/")
    engine.stop()
    engine.start("--no-demo")
    assert len(engine.call("urlgroup.list")) == 1


def test_curl_reaches_a_group_whose_port_was_freed_after_start(
    engine_factory: Any, held: HeldPort, source: Path
) -> None:
    group = f"http://+:{held.port}/Late/"
    engine = start_with_group(engine_factory, group, source)
    held.release()
    wait_until(lambda: engine.call("urlgroup.get", urlGroup=group)["listening"])
    out = subprocess.run(
        ["curl", "-sf", f"http://127.0.0.1:{held.port}/Late/f.txt"],
        capture_output=True,
        timeout=30,
        check=True,
    )
    assert out.stdout == b"served\n"
