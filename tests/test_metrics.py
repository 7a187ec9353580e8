"""Observability (issue 16): the Prometheus endpoint, the counters of server.status, JSON access logs.

A real engine, real HTTP clients (http.client, curl), a real BITS upload session and a real job;
the exposition is parsed back and compared with ``server.status`` (``Get-BcsServer``).
"""

from __future__ import annotations

import http.client
import json
import re
import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest

from bcs.metrics import render
from bcs.rpc.client import RpcError
from conftest import EngineProcess, free_port
from test_client_support import wait_job, wait_until
from upload_support import BitsConnection, BitsUploader, upload_group

SAMPLE = re.compile(r"^([a-z_]+)(\{[^}]*\})? (\S+)$")


def scrape(port: int, path: str = "/metrics", method: str = "GET") -> tuple[int, dict[str, str], str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path)
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read().decode()
    finally:
        conn.close()


def samples(text: str) -> dict[str, float]:
    """``name{labels}`` -> value; every line must be a comment or a well-formed sample."""
    out = {}
    for line in text.splitlines():
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            continue
        match = SAMPLE.match(line)
        assert match, f"not a sample line: {line!r}"
        out[match[1] + (match[2] or "")] = float(match[3])
    return out


def get(port: int, path: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


@pytest.fixture
def site(engine: EngineProcess, tmp_path: Path) -> dict[str, Any]:
    port = free_port()
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "a.bin").write_bytes(b"x" * 5000)
    (tmp_path / "in").mkdir()
    prefix = f"http://+:{port}/M/"
    engine.call("urlgroup.create", urlGroup=prefix)
    engine.call("url.create", urlGroup=prefix, urlSuffix="a.bin", sourcePath=str(tmp_path / "www" / "a.bin"))
    upport = free_port()
    upload_prefix = upload_group(engine, upport, tmp_path / "in")
    return {"port": port, "prefix": prefix, "upport": upport, "upload_prefix": upload_prefix, "tmp": tmp_path}


def test_metrics_are_off_by_default_and_follow_server_set(engine: EngineProcess) -> None:
    status = engine.call("server.status")
    assert (status["metricsPort"], status["metricsAddress"], status["accessLogFormat"]) == (
        0,
        "127.0.0.1",
        "text",
    )
    assert status["services"]["metrics"]["listening"] is False
    port = free_port()
    status = engine.call("server.set", metricsPort=port)
    assert status["metricsPort"] == port
    assert status["services"]["metrics"] == {
        "listening": True,
        "address": "127.0.0.1",
        "port": port,
        "error": "",
    }
    code, headers, body = scrape(port)
    assert code == 200
    assert headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert samples(body)["bcs_uptime_seconds"] > 0
    # moved live, then off: the old port is closed at once
    other = free_port()
    engine.call("server.set", metricsPort=other)
    assert scrape(other)[0] == 200
    with pytest.raises(ConnectionRefusedError):
        scrape(port)
    engine.call("server.set", metricsPort=0)
    with pytest.raises(ConnectionRefusedError):
        scrape(other)


def test_counters_match_server_status_and_traffic(engine: EngineProcess, site: dict[str, Any]) -> None:
    port, prefix = site["port"], site["prefix"]
    metrics_port = free_port()
    engine.call("server.set", metricsPort=metrics_port)
    assert get(port, "/M/a.bin") == 200
    assert get(port, "/M/a.bin") == 200
    assert get(port, "/M/missing") == 404
    # one active upload session in the upload group
    with BitsConnection(site["upport"]) as conn:
        uploader = BitsUploader(conn, "/upload/files/new.bin")
        assert uploader.create().status == 200
    # one finished job, its bytes counted
    dest = site["tmp"] / "copy.bin"
    job = engine.call(
        "job.create", files=[{"remoteUrl": f"http://127.0.0.1:{port}/M/a.bin", "localPath": str(dest)}]
    )
    wait_job(engine, job["jobId"], ("Transferred",))

    def scraped() -> dict[str, float]:
        return samples(scrape(metrics_port)[2])

    label = f'{{url_group="{prefix}"}}'
    # three bodies of 5000 bytes (two GETs and the job's) and the 404's "not found\n"
    found = wait_until(
        lambda: (s := scraped())[f"bcs_http_sent_bytes_total{label}"] == 15010 and s, 10, "bytes"
    )
    requests = found[f"bcs_http_requests_total{label}"]
    assert requests >= 4  # the job may ask more than once (a HEAD, a range)
    assert found[f'bcs_http_responses_total{{url_group="{prefix}",class="4xx"}}'] == 1
    assert found[f'bcs_http_responses_total{{url_group="{prefix}",class="5xx"}}'] == 0
    assert found[f"bcs_http_active_transfers{label}"] == 0
    assert found[f'bcs_upload_sessions{{url_group="{site["upload_prefix"]}"}}'] == 1
    assert found[f"bcs_upload_sessions{label}"] == 0
    assert found['bcs_jobs{state="Transferred"}'] == 1
    assert found['bcs_jobs{state="Queued"}'] == 0
    assert found["bcs_job_transferred_bytes_total"] == 5000
    # Get-BcsServer (server.status) reports the same figures
    status = engine.call("server.status")
    groups = {g["urlGroup"]: g for g in status["services"]["host"]["urlGroups"]}
    mine = groups[prefix]
    assert (mine["requests"], mine["bytesSent"], mine["clientErrors"], mine["serverErrors"]) == (
        requests,
        15010,
        1,
        0,
    )
    assert groups[site["upload_prefix"]]["uploadSessions"] == 1
    assert status["services"]["client"]["bytesTransferred"] == 5000
    assert status["services"]["client"]["states"] == {"Transferred": 1}
    # urlgroup.get has the error counters too
    assert engine.call("urlgroup.get", urlGroup=prefix)["clientErrors"] == 1


def test_only_metrics_is_served_there(engine: EngineProcess) -> None:
    port = free_port()
    engine.call("server.set", metricsPort=port)
    assert scrape(port, "/")[0] == 404
    assert scrape(port, "/metrics?x=1")[0] == 200
    code, headers, body = scrape(port, method="HEAD")
    assert code == 200 and body == "" and int(headers["Content-Length"]) > 100
    code, headers, _ = scrape(port, method="POST")
    assert code == 501 and headers["Allow"] == "GET, HEAD"
    # curl, as a scraper would use it
    out = subprocess.run(
        ["curl", "-sSf", f"http://127.0.0.1:{port}/metrics"], capture_output=True, text=True, timeout=30
    )
    assert out.returncode == 0 and "# TYPE bcs_http_requests_total counter" in out.stdout


def test_bad_metrics_settings_are_refused_and_change_nothing(
    engine: EngineProcess, site: dict[str, Any]
) -> None:
    with pytest.raises(RpcError) as info:
        engine.call("server.set", metricsPort=site["port"])  # a URL group's port
    assert "used by the URL group" in info.value.message
    with pytest.raises(RpcError) as info:
        engine.call("server.set", metricsPort=free_port(), metricsAddress="localhost")
    assert "must be an IP address" in info.value.message
    with pytest.raises(RpcError):
        engine.call("server.set", accessLogFormat="xml")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        with pytest.raises(RpcError) as info:
            engine.call("server.set", metricsPort=taken)
        assert info.value.code == 0x800700AA  # ERROR_BUSY
        assert "already in use" in info.value.message
    status = engine.call("server.status")
    assert status["metricsPort"] == 0 and status["services"]["metrics"]["listening"] is False
    # and a URL group cannot take the metrics port either
    port = free_port()
    engine.call("server.set", metricsPort=port)
    with pytest.raises(RpcError):
        engine.call("urlgroup.create", urlGroup=f"http://+:{port}/X/")


def test_metrics_persist_and_a_busy_port_at_start_is_reported(engine: EngineProcess) -> None:
    port = free_port()
    engine.call("server.set", metricsPort=port, metricsAddress="127.0.0.1")
    engine.restart()
    assert scrape(port)[0] == 200
    engine.stop()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", port))
        busy.listen()
        engine.start()  # the engine starts anyway; status says why /metrics is missing
        metrics = engine.call("server.status")["services"]["metrics"]
        assert metrics["listening"] is False and "already in use" in metrics["error"]


def test_ipv6_loopback(engine: EngineProcess) -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this machine")
    port = free_port()
    try:
        engine.call("server.set", metricsPort=port, metricsAddress="::1")
    except RpcError as exc:
        pytest.skip(f"::1 cannot be bound here: {exc.message}")
    conn = http.client.HTTPConnection("::1", port, timeout=10)
    conn.request("GET", "/metrics")
    assert conn.getresponse().status == 200
    conn.close()


def test_json_access_log(engine: EngineProcess, site: dict[str, Any]) -> None:
    port = site["port"]
    log = engine.state_dir / "access.log"
    assert get(port, "/M/a.bin") == 200
    wait_until(lambda: log.exists() and log.read_text().count("\n") == 1, 10, "a text line")
    assert re.match(r"^\S+Z 127\.0\.0\.1 GET /M/a\.bin 200 5000 \d+\.\d{3} -$", log.read_text().strip())
    engine.call("server.set", accessLogFormat="json")
    assert get(port, "/M/a.bin?q=%22x%22") == 200
    assert get(port, "/M/nothing") == 404
    wait_until(lambda: log.read_text().count("\n") == 3, 10, "two JSON lines")
    first, second = (json.loads(line) for line in log.read_text().splitlines()[1:])
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", first["time"])
    assert {k: first[k] for k in ("client", "method", "url", "status", "bytes", "user")} == {
        "client": "127.0.0.1",
        "method": "GET",
        "url": "/M/a.bin?q=%22x%22",
        "status": 200,
        "bytes": 5000,
        "user": None,
    }
    assert "why" not in first and isinstance(first["seconds"], float)
    assert (second["status"], second["url"]) == (404, "/M/nothing")
    engine.restart()  # the format persists
    assert engine.call("server.status")["accessLogFormat"] == "json"


def test_render_escapes_labels_and_lists_every_job_state() -> None:
    groups = [{"urlGroup": 'http://+:80/a"b\\c/', "requests": 3, "clientErrors": 1}]
    text = render(groups, {"states": {"Queued": 2}, "bytesTransferred": 7}, 1.5)
    parsed = samples(text)
    assert parsed['bcs_http_requests_total{url_group="http://+:80/a\\"b\\\\c/"}'] == 3
    assert parsed['bcs_jobs{state="Queued"}'] == 2 and parsed['bcs_jobs{state="Cancelled"}'] == 0
    assert parsed["bcs_job_transferred_bytes_total"] == 7
    # every family has HELP and TYPE once
    names = [line.split()[2] for line in text.splitlines() if line.startswith("# TYPE")]
    assert len(names) == len(set(names))
