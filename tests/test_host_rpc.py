"""URL-group and URL management over RPC and `bcs`: validation, live listeners, persistence."""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from bcs.rpc.client import RpcError
from conftest import EngineProcess, free_port


def get(port: int, path: str, host: str = "127.0.0.1") -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(host, port, timeout=10)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def refused(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return False
    except ConnectionRefusedError:
        return True


def rpc_error(engine: EngineProcess, method: str, **params: object) -> RpcError:
    with pytest.raises(RpcError) as info:
        engine.call(method, **params)
    return info.value


@pytest.fixture
def hello(tmp_path: Path) -> Path:
    path = tmp_path / "hello.txt"
    path.write_bytes(b"hello\n")
    return path


def test_urlgroup_lifecycle_opens_and_closes_its_port(engine: EngineProcess, hello: Path) -> None:
    port = free_port()
    prefix = f"http://+:{port}/Demo/"
    created = engine.call("urlgroup.create", urlGroup=prefix)
    assert created["urlGroup"] == prefix and created["listening"] is True
    assert created["connectionLimit"] == 3 and created["bandwidthLimit"] == 0 and created["urls"] == []
    url = engine.call("url.create", urlGroup=prefix, urlSuffix="hello.txt", sourcePath=str(hello))
    assert url == {
        "urlGroup": prefix,
        "urlSuffix": "hello.txt",
        "url": f"{prefix}hello.txt",
        "sourcePath": str(hello),
        "sddl": "",
        "isDirectory": False,
        "enforced": True,
        "sha256": False,
    }
    assert get(port, "/Demo/hello.txt") == (200, b"hello\n")
    listed = engine.call("urlgroup.list")
    assert [g["urlGroup"] for g in listed] == [prefix] and listed[0]["urlCount"] == 1
    got = engine.call("urlgroup.get", urlGroup=prefix)
    assert got["requests"] == 1 and got["bytesSent"] == 6 and got["activeTransfers"] == 0
    assert [u["urlSuffix"] for u in got["urls"]] == ["hello.txt"]
    assert engine.call("url.list", urlGroup=prefix) == [url]
    engine.call("url.delete", urlGroup=prefix, urlSuffix="hello.txt")
    assert get(port, "/Demo/hello.txt")[0] == 404
    engine.call("urlgroup.delete", urlGroup=prefix)
    assert engine.call("urlgroup.list") == []
    assert refused(port)
    status = engine.call("server.status")["services"]["host"]
    assert status["listeners"] == []


def test_two_groups_share_one_listener_per_port(engine: EngineProcess, hello: Path) -> None:
    port = free_port()
    for name in ("One", "Two"):
        engine.call("urlgroup.create", urlGroup=f"http://+:{port}/{name}/")
        engine.call("url.create", urlGroup=f"http://+:{port}/{name}/", urlSuffix="h", sourcePath=str(hello))
    listeners = engine.call("server.status")["services"]["host"]["listeners"]
    assert [entry["port"] for entry in listeners] == [port]
    engine.call("urlgroup.delete", urlGroup=f"http://+:{port}/One/")
    assert get(port, "/Two/h")[0] == 200 and get(port, "/One/h")[0] == 404
    engine.call("urlgroup.delete", urlGroup=f"http://+:{port}/Two/")
    assert refused(port)


def test_prefix_is_normalised_and_duplicates_are_refused(engine: EngineProcess) -> None:
    port = free_port()
    created = engine.call("urlgroup.create", urlGroup=f"HTTP://LocalHost:{port}/Demo")
    assert created["urlGroup"] == f"http://localhost:{port}/Demo/"
    for dup in (f"http://localhost:{port}/demo/", f"http://LOCALHOST:{port}/DEMO"):
        err = rpc_error(engine, "urlgroup.create", urlGroup=dup)
        assert (
            err.data["name"] == "ERROR_ALREADY_EXISTS" and err.data["errorId"] == "Bcs.UrlGroup.AlreadyExists"
        )
    assert engine.call("urlgroup.get", urlGroup=f"http://localhost:{port}/DEMO/")["name"] == "Demo"


@pytest.mark.parametrize(
    "prefix",
    [
        "http://+/Demo/",
        "http://+:0/Demo/",
        "http://+:08080/Demo/",
        "http://+:70000/Demo/",
        "ftp://+:8080/Demo/",
        "http://+:8080/",
        "http://+:8080/Sample/Sample2/",
        "http://+:8080//Demo/",
        "http://bad_host:8080/Demo/",
        "http://+:8080/../",
        "",
    ],
)
def test_bad_prefixes_are_invalid_arguments(engine: EngineProcess, prefix: str) -> None:
    err = rpc_error(engine, "urlgroup.create", urlGroup=prefix)
    assert err.data["name"] == "E_INVALIDARG"


def test_unknown_group_is_not_found_everywhere(engine: EngineProcess, hello: Path) -> None:
    prefix = f"http://+:{free_port()}/Missing/"
    calls: list[tuple[str, dict[str, object]]] = [
        ("urlgroup.get", {}),
        ("urlgroup.set", {"connectionLimit": 2}),
        ("urlgroup.delete", {}),
        ("url.list", {}),
        ("url.create", {"urlSuffix": "x", "sourcePath": str(hello)}),
        ("url.delete", {"urlSuffix": "x"}),
    ]
    for method, params in calls:
        err = rpc_error(engine, method, urlGroup=prefix, **params)
        assert err.data["name"] == "ERROR_NOT_FOUND", method
        assert err.data["errorId"] == "Bcs.UrlGroup.NotFound", method


def test_settings_are_validated_and_applied(engine: EngineProcess) -> None:
    prefix = f"http://+:{free_port()}/S/"
    engine.call("urlgroup.create", urlGroup=prefix, connectionLimit=5, directoryListing=True)
    for params in (
        {"bandwidthLimit": 1023},
        {"connectionLimit": -1},
        {"authentication": ["Basic"]},
        {"authentication": ["NTLM", "NTLM"]},
        {"connectionLimit": "3"},
    ):
        err = rpc_error(engine, "urlgroup.set", urlGroup=prefix, **params)
        assert err.data["name"] == "E_INVALIDARG", params
    changed = engine.call(
        "urlgroup.set", urlGroup=prefix, bandwidthLimit=1024, authentication=["NTLM", "Negotiate"]
    )
    assert changed["bandwidthLimit"] == 1024 and changed["connectionLimit"] == 5
    assert changed["authentication"] == ["NTLM", "Negotiate"] and changed["directoryListing"] is True


def test_url_sources_must_exist_be_readable_and_absolute(engine: EngineProcess, tmp_path: Path) -> None:
    prefix = f"http://+:{free_port()}/U/"
    engine.call("urlgroup.create", urlGroup=prefix)
    missing = rpc_error(engine, "url.create", urlGroup=prefix, urlSuffix="a", sourcePath=str(tmp_path / "no"))
    assert missing.data["name"] == "ERROR_FILE_NOT_FOUND" and "does not exist" in str(missing)
    relative = rpc_error(engine, "url.create", urlGroup=prefix, urlSuffix="a", sourcePath="relative/file")
    assert relative.data["name"] == "E_INVALIDARG" and "absolute" in str(relative)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    special = rpc_error(engine, "url.create", urlGroup=prefix, urlSuffix="a", sourcePath=str(fifo))
    assert special.data["name"] == "E_INVALIDARG"
    if os.geteuid() != 0:  # root reads everything
        locked = tmp_path / "locked"
        locked.write_bytes(b"x")
        locked.chmod(0)
        denied = rpc_error(engine, "url.create", urlGroup=prefix, urlSuffix="a", sourcePath=str(locked))
        assert denied.data["name"] == "E_ACCESSDENIED"
    assert engine.call("url.list", urlGroup=prefix) == []


@pytest.mark.parametrize(
    "suffix", ["", "/", "a/../b", "..", "./a", "a\\b", "a?b", "a#b", "a//b", "a\x00b", "x" * 300]
)
def test_bad_url_suffixes_are_refused(engine: EngineProcess, hello: Path, suffix: str) -> None:
    prefix = f"http://+:{free_port()}/U/"
    engine.call("urlgroup.create", urlGroup=prefix)
    err = rpc_error(engine, "url.create", urlGroup=prefix, urlSuffix=suffix, sourcePath=str(hello))
    assert err.data["name"] == "E_INVALIDARG"


def test_duplicate_url_suffix_is_refused_case_insensitively(engine: EngineProcess, hello: Path) -> None:
    prefix = f"http://+:{free_port()}/U/"
    engine.call("urlgroup.create", urlGroup=prefix)
    engine.call("url.create", urlGroup=prefix, urlSuffix="/Docs/Hello.txt", sourcePath=str(hello))
    err = rpc_error(engine, "url.create", urlGroup=prefix, urlSuffix="docs/hello.TXT", sourcePath=str(hello))
    assert err.data["name"] == "ERROR_ALREADY_EXISTS"
    missing = rpc_error(engine, "url.delete", urlGroup=prefix, urlSuffix="nope")
    assert missing.data["name"] == "ERROR_NOT_FOUND"
    engine.call("url.delete", urlGroup=prefix, urlSuffix="DOCS/HELLO.TXT/")
    assert engine.call("url.list", urlGroup=prefix) == []


def test_sddl_is_stored_with_the_url(engine: EngineProcess, hello: Path) -> None:
    prefix = f"http://+:{free_port()}/U/"
    engine.call("urlgroup.create", urlGroup=prefix)
    sddl = "D:(A;;GA;;;WD)"
    engine.call("url.create", urlGroup=prefix, urlSuffix="h", sourcePath=str(hello), sddl=sddl)
    assert engine.call("url.list", urlGroup=prefix)[0]["sddl"] == sddl
    config = yaml.safe_load((engine.state_dir / "config.yaml").read_text())
    assert config["urlGroups"][0]["urls"][0]["sddl"] == sddl


def test_max_url_groups_is_enforced(engine: EngineProcess) -> None:
    engine.call("server.set", maxUrlGroups=2)
    port = free_port()
    engine.call("urlgroup.create", urlGroup=f"http://+:{port}/A/")
    engine.call("urlgroup.create", urlGroup=f"http://+:{port}/B/")
    err = rpc_error(engine, "urlgroup.create", urlGroup=f"http://+:{port}/C/")
    assert err.data["name"] == "E_INVALIDARG" and "maxUrlGroups" in str(err)
    assert len(engine.call("urlgroup.list")) == 2


def test_port_in_use_vetoes_the_group_and_changes_nothing(engine: EngineProcess) -> None:
    with socket.socket() as squatter:
        squatter.bind(("0.0.0.0", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        before = (engine.state_dir / "config.yaml").read_text()
        err = rpc_error(engine, "urlgroup.create", urlGroup=f"http://+:{port}/Busy/")
        assert err.data["name"] == "ERROR_BUSY" and f"port {port} is already in use" in str(err)
        assert (engine.state_dir / "config.yaml").read_text() == before
        assert engine.call("urlgroup.list") == []


def test_an_https_group_without_a_certificate_is_created_and_says_why_it_does_not_listen(
    engine: EngineProcess,
) -> None:
    group = engine.call("urlgroup.create", urlGroup=f"https://+:{free_port()}/Tls/")
    assert group["listening"] is False and "no certificate is bound" in group["listenError"]
    failed = engine.call("server.status")["services"]["host"]["failedListeners"]
    assert failed[0]["retrying"] is False  # it starts when sslcert.set binds one, not on a timer


def test_groups_urls_settings_and_listeners_survive_a_restart(engine: EngineProcess, hello: Path) -> None:
    port = free_port()
    prefix = f"http://+:{port}/Keep/"
    engine.call("urlgroup.create", urlGroup=prefix, connectionLimit=7, bandwidthLimit=4096)
    engine.call("url.create", urlGroup=prefix, urlSuffix="hello.txt", sourcePath=str(hello), sddl="D:P")
    engine.call("server.set", bandwidthLimit=1_000_000, accessLog=False)
    before = engine.call("urlgroup.get", urlGroup=prefix)
    engine.restart()
    after = engine.call("urlgroup.get", urlGroup=prefix)
    for key in ("connectionLimit", "bandwidthLimit", "urls", "listening"):
        assert after[key] == before[key], key
    status = engine.call("server.status")
    assert status["bandwidthLimit"] == 1_000_000 and status["accessLog"] is False
    assert after["urls"][0]["sddl"] == "D:P"
    assert get(port, "/Keep/hello.txt")[0] == 403  # the SDDL is kept, and still fails closed


def test_engine_starts_even_when_a_configured_port_is_taken(engine_factory: object, tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("0.0.0.0", 0))
        squatter.listen()
        busy = squatter.getsockname()[1]
        free = free_port()
        config = f"version: 1\nurlGroups:\n- urlGroup: http://+:{busy}/A/\n- urlGroup: http://+:{free}/B/\n"
        engine: EngineProcess = engine_factory(config=config)  # type: ignore[operator]
        engine.start()
        host = engine.call("server.status")["services"]["host"]
        assert [entry["port"] for entry in host["listeners"]] == [free]
        assert host["failedListeners"][0]["port"] == busy
        assert "already in use" in host["failedListeners"][0]["error"]
        assert engine.call("urlgroup.get", urlGroup=f"http://+:{busy}/A/")["listening"] is False


def test_config_import_applies_listeners_live(engine: EngineProcess, hello: Path) -> None:
    port = free_port()
    text = (
        "version: 1\nurlGroups:\n"
        f"- urlGroup: http://+:{port}/Imp/\n  urls:\n  - urlSuffix: h\n    sourcePath: {hello}\n"
    )
    engine.call("config.import", yaml=text)
    assert get(port, "/Imp/h") == (200, b"hello\n")
    engine.call("config.import", yaml="version: 1\nurlGroups: []\n")
    assert refused(port)


def test_thousand_groups_and_ten_thousand_urls_route_fast(engine: EngineProcess, hello: Path) -> None:
    port = free_port()
    groups = []
    for g in range(1000):
        urls = [{"urlSuffix": f"f{u}.txt", "sourcePath": str(hello)} for u in range(10)]
        groups.append({"urlGroup": f"http://+:{port}/G{g}/", "urls": urls})
    text = yaml.safe_dump({"version": 1, "server": {"maxUrlGroups": 1000}, "urlGroups": groups})
    engine.call("config.import", yaml=text)
    assert len(engine.call("urlgroup.list")) == 1000

    def timed(path: str) -> float:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            best = float("inf")
            for _ in range(30):
                t0 = time.perf_counter()
                conn.request("GET", path)
                resp = conn.getresponse()
                assert resp.status == 200 and resp.read() == b"hello\n"
                best = min(best, time.perf_counter() - t0)
            return best
        finally:
            conn.close()

    first, last = timed("/G0/f0.txt"), timed("/G999/f9.txt")
    assert last < 0.02 and last < first * 3 + 0.002, (first, last)


def test_bcs_cli_manages_groups_and_urls(engine: EngineProcess, hello: Path) -> None:
    port = free_port()
    prefix = f"http://+:{port}/Cli/"
    bcs = [sys.executable, "-m", "bcs", "--pipe-name", engine.pipe_name]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*bcs, *args], capture_output=True, text=True, timeout=60, check=False)

    assert run("urlgroup", "create", "--url-group", prefix, "--connection-limit", "2").returncode == 0
    made = run("url", "create", "--url-group", prefix, "--url-suffix", "h", "--source-path", str(hello))
    assert made.returncode == 0, made.stderr
    assert get(port, "/Cli/h") == (200, b"hello\n")
    missing = run("urlgroup", "get", "--url-group", f"http://+:{port}/Nope/")
    assert missing.returncode == 1 and "0x80070490" in missing.stderr
    assert run("urlgroup", "delete", "--url-group", prefix).returncode == 0
    assert refused(port)


def test_engine_stops_cleanly_while_transfers_run(engine: EngineProcess, tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(32 * 1024 * 1024))
    port = free_port()
    fast, slow = f"http://+:{port}/Fast/", f"http://+:{port}/Slow/"
    engine.call("urlgroup.create", urlGroup=fast)
    engine.call("urlgroup.create", urlGroup=slow, bandwidthLimit=65536)
    for prefix in (fast, slow):
        engine.call("url.create", urlGroup=prefix, urlSuffix="big.bin", sourcePath=str(big))
    conns = []
    for path in ("/Fast/big.bin", "/Slow/big.bin", "/Slow/big.bin?multi"):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        headers = {"Range": "bytes=0-99,1000-1999999"} if path.endswith("multi") else {}
        conn.request("GET", path.split("?")[0], headers=headers)
        resp = conn.getresponse()
        assert resp.status in (200, 206)
        resp.read(1000)
        conns.append(conn)
    try:
        started = time.monotonic()
        assert engine.stop() == 0
        assert time.monotonic() - started < 10
        assert "Traceback" not in engine.output()
    finally:
        for conn in conns:
            conn.close()
