"""HTTPS URL groups (issue 13, first step): certificates bound per port from PEM files, served by
cheroot with TLS 1.2+, live binding and rebinding, client certificates, clear errors."""

from __future__ import annotations

import hashlib
import http.client
import os
import socket
import ssl
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from bcs.rpc.client import RpcError
from conftest import EngineProcess, free_port
from test_client_support import make_cert, wait_job, wait_until
from test_host_http import access_lines


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    base = tmp_path_factory.mktemp("pki")
    ca_cert, ca_key, ca_path, _ = make_cert(base, "ca", None, ca=True, days=365)
    ca = (ca_cert, ca_key)
    server = make_cert(base, "server", ca)
    second = make_cert(base, "server2", ca)
    long_lived = make_cert(base, "server3", ca, days=365)
    expired = make_cert(base, "expired", ca, days=-1, start_days_ago=30)
    client = make_cert(base, "client", ca, client=True)
    rogue_ca = make_cert(base, "rogue-ca", None, ca=True)
    rogue_client = make_cert(base, "rogue", (rogue_ca[0], rogue_ca[1]), client=True)
    return {
        "base": base,
        "ca": ca_path,
        "server": server,
        "second": second,
        "long": long_lived,
        "expired": expired,
        "client": client,
        "rogue_client": rogue_client,
    }


@pytest.fixture
def payload(tmp_path: Path) -> Path:
    path = tmp_path / "f.bin"
    path.write_bytes(bytes(range(256)) * 256)  # 64 KiB
    return path


def https_group(engine: EngineProcess, payload: Path) -> tuple[int, str]:
    port = free_port()
    group = f"https://+:{port}/Tls/"
    engine.call("urlgroup.create", urlGroup=group)
    engine.call("url.create", urlGroup=group, urlSuffix="f.bin", sourcePath=str(payload))
    return port, group


def bind(engine: EngineProcess, port: int, cert: Any, **extra: Any) -> Any:
    return engine.call("sslcert.set", port=port, certificatePath=str(cert[2]), keyPath=str(cert[3]), **extra)


def peer_serial(port: int, ca: Path, client: Any = None) -> int:
    context = ssl.create_default_context(cafile=str(ca))
    if client is not None:
        context.load_cert_chain(str(client[2]), str(client[3]))
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        der = tls.getpeercert(binary_form=True)
        assert der is not None
        return x509.load_der_x509_certificate(der).serial_number


def curl(port: int, ca: Path, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            "curl",
            "-sS",
            "--max-time",
            "20",
            "--cacert",
            str(ca),
            "-o",
            str(out),
            *extra,
            f"https://localhost:{port}/Tls/f.bin",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_an_https_group_waits_for_its_certificate_then_serves_curl_and_wget(
    engine: EngineProcess, pki: dict[str, Any], payload: Path, tmp_path: Path
) -> None:
    port, group = https_group(engine, payload)
    got = engine.call("urlgroup.get", urlGroup=group)
    assert got["listening"] is False and "no certificate is bound" in got["listenError"]
    bound = bind(engine, port, pki["server"])
    assert bound["subject"] == "CN=server" and bound["issuer"] == "CN=ca" and bound["listening"] is True
    assert (
        bound["thumbprint"]
        == hashlib.sha1(pki["server"][0].public_bytes(serialization.Encoding.DER)).hexdigest().upper()
    )
    assert bound["notAfter"].endswith("Z") and 28 <= bound["daysToExpiry"] <= 30
    assert engine.call("urlgroup.get", urlGroup=group)["listening"] is True
    out = tmp_path / "curl.bin"
    done = curl(port, pki["ca"], out)
    assert done.returncode == 0, done.stderr
    assert out.read_bytes() == payload.read_bytes()
    wget = subprocess.run(
        [
            "wget",
            "-q",
            f"--ca-certificate={pki['ca']}",
            "-O",
            str(tmp_path / "wget.bin"),
            f"https://localhost:{port}/Tls/f.bin",
        ],
        capture_output=True,
        timeout=60,
    )
    assert wget.returncode == 0, wget.stderr
    assert (tmp_path / "wget.bin").read_bytes() == payload.read_bytes()
    assert [b["port"] for b in engine.call("sslcert.list")] == [port]
    assert engine.call("sslcert.get", port=port)["certificatePath"] == str(pki["server"][2])


def test_tls_below_1_2_is_refused(engine: EngineProcess, pki: dict[str, Any], payload: Path) -> None:
    port, _ = https_group(engine, payload)
    bind(engine, port, pki["server"])

    def s_client(*version: str) -> subprocess.CompletedProcess[str]:
        # SECLEVEL=0 on the client side, so that only the server can be the one refusing.
        return subprocess.run(
            [
                "openssl",
                "s_client",
                "-connect",
                f"127.0.0.1:{port}",
                *version,
                "-cipher",
                "DEFAULT@SECLEVEL=0",
            ],
            input="",
            capture_output=True,
            text=True,
            timeout=30,
        )

    assert s_client("-tls1_1").returncode != 0
    assert s_client("-tls1").returncode != 0
    ok = s_client("-tls1_2")
    assert ok.returncode == 0 and "TLSv1.2" in ok.stdout, ok.stdout + ok.stderr


def test_rebinding_serves_new_connections_with_the_new_certificate_and_delete_closes_the_port(
    engine: EngineProcess, pki: dict[str, Any], payload: Path
) -> None:
    port, group = https_group(engine, payload)
    bind(engine, port, pki["server"])
    assert peer_serial(port, pki["ca"]) == pki["server"][0].serial_number
    bind(engine, port, pki["second"])
    assert peer_serial(port, pki["ca"]) == pki["second"][0].serial_number
    engine.restart()
    assert peer_serial(port, pki["ca"]) == pki["second"][0].serial_number, "the binding persists"
    engine.call("sslcert.delete", port=port)
    wait_until(lambda: engine.call("urlgroup.get", urlGroup=group)["listening"] is False)
    with pytest.raises(OSError):
        peer_serial(port, pki["ca"])
    with pytest.raises(RpcError) as info:
        engine.call("sslcert.get", port=port)
    assert info.value.data["name"] == "ERROR_NOT_FOUND"


@pytest.mark.parametrize(
    ("case", "name", "words"),
    [
        ("missing", "ERROR_FILE_NOT_FOUND", "does not exist"),
        ("mismatch", "E_INVALIDARG", "does not match the certificate"),
        ("expired", "E_INVALIDARG", "expired"),
        ("not-pem", "E_INVALIDARG", "not a PEM certificate"),
        ("relative", "E_INVALIDARG", "absolute path"),
    ],
)
def test_a_binding_that_cannot_serve_is_refused_and_changes_nothing(
    engine: EngineProcess, pki: dict[str, Any], case: str, name: str, words: str
) -> None:
    port = free_port()
    server, second, base = pki["server"], pki["second"], pki["base"]
    cert, key = {
        "missing": (str(base / "nope.crt"), str(server[3])),
        "mismatch": (str(server[2]), str(second[3])),
        "expired": (str(pki["expired"][2]), str(pki["expired"][3])),
        "not-pem": (str(server[3]), str(server[3])),
        "relative": ("server.crt", str(server[3])),
    }[case]
    with pytest.raises(RpcError) as info:
        engine.call("sslcert.set", port=port, certificatePath=cert, keyPath=key)
    assert info.value.data["name"] == name and words in info.value.message
    assert engine.call("sslcert.list") == []


def test_a_required_client_certificate_must_chain_to_the_trusted_ca(
    engine: EngineProcess, pki: dict[str, Any], payload: Path, tmp_path: Path
) -> None:
    port, _ = https_group(engine, payload)
    with pytest.raises(RpcError):
        bind(engine, port, pki["server"], clientCertificate="Require")  # no trustedCaPath
    bind(engine, port, pki["server"], clientCertificate="Require", trustedCaPath=str(pki["ca"]))
    client, rogue = pki["client"], pki["rogue_client"]
    assert curl(port, pki["ca"], tmp_path / "none.bin").returncode != 0
    assert (
        curl(
            port, pki["ca"], tmp_path / "rogue.bin", "--cert", str(rogue[2]), "--key", str(rogue[3])
        ).returncode
        != 0
    )
    done = curl(port, pki["ca"], tmp_path / "ok.bin", "--cert", str(client[2]), "--key", str(client[3]))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "ok.bin").read_bytes() == payload.read_bytes()


def test_an_accepted_client_certificate_is_optional(
    engine: EngineProcess, pki: dict[str, Any], payload: Path, tmp_path: Path
) -> None:
    port, _ = https_group(engine, payload)
    bind(engine, port, pki["server"], clientCertificate="Accept", trustedCaPath=str(pki["ca"]))
    assert curl(port, pki["ca"], tmp_path / "none.bin").returncode == 0
    client = pki["client"]
    assert (
        curl(
            port, pki["ca"], tmp_path / "ok.bin", "--cert", str(client[2]), "--key", str(client[3])
        ).returncode
        == 0
    )


def test_a_certificate_that_ends_within_30_days_is_warned_about_in_the_log(
    engine: EngineProcess, pki: dict[str, Any], payload: Path
) -> None:
    port, _ = https_group(engine, payload)
    bind(engine, port, pki["long"])
    assert "expires on" not in engine.output()
    bind(engine, port, pki["server"])  # 30 days left
    wait_until(
        lambda: f"https port {port}: certificate" in engine.output() and "expires on" in engine.output()
    )


def test_aria2c_with_three_connections_and_curl_resume_get_the_exact_file(
    engine: EngineProcess, pki: dict[str, Any], tmp_path: Path
) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(64 * 1024 * 1024))
    want = hashlib.sha256(big.read_bytes()).hexdigest()
    port = free_port()
    group = f"https://+:{port}/Tls/"
    engine.call("urlgroup.create", urlGroup=group, connectionLimit=0)
    engine.call("url.create", urlGroup=group, urlSuffix="f.bin", sourcePath=str(big))
    bind(engine, port, pki["server"])
    url = f"https://localhost:{port}/Tls/f.bin"
    aria = subprocess.run(
        [
            "aria2c",
            "-q",
            "-x3",
            "-s3",
            f"--ca-certificate={pki['ca']}",
            "-d",
            str(tmp_path),
            "-o",
            "aria.bin",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert aria.returncode == 0, aria.stdout + aria.stderr
    assert hashlib.sha256((tmp_path / "aria.bin").read_bytes()).hexdigest() == want
    part = tmp_path / "resumed.bin"
    part.write_bytes(big.read_bytes()[: 10 * 1024 * 1024 + 7])  # what an interrupted download left
    done = curl(port, pki["ca"], part, "-C", "-")
    assert done.returncode == 0, done.stderr
    assert hashlib.sha256(part.read_bytes()).hexdigest() == want


def test_our_bits_client_downloads_from_an_https_group_with_a_ca_bundle_and_a_client_certificate(
    engine: EngineProcess, pki: dict[str, Any], payload: Path, tmp_path: Path
) -> None:
    port, _ = https_group(engine, payload)
    bind(engine, port, pki["server"], clientCertificate="Require", trustedCaPath=str(pki["ca"]))
    client = pki["client"]
    both = tmp_path / "client.pem"
    both.write_bytes(client[2].read_bytes() + client[3].read_bytes())
    job = engine.call(
        "job.create",
        files=[{"remoteUrl": f"https://localhost:{port}/Tls/f.bin", "localPath": str(tmp_path / "job.bin")}],
        priority="Foreground",
        caBundle=str(pki["ca"]),
        clientCertificate=str(both),
    )
    done = wait_job(engine, job["jobId"], ("Transferred", "Error"), timeout=60)
    assert done["jobState"] == "Transferred", done
    engine.call("job.complete", jobId=job["jobId"])
    assert (tmp_path / "job.bin").read_bytes() == payload.read_bytes()


def test_a_download_running_during_a_rebind_goes_on_to_the_end(
    engine: EngineProcess, pki: dict[str, Any], tmp_path: Path
) -> None:
    data = tmp_path / "slow.bin"
    data.write_bytes(os.urandom(3 * 1024 * 1024))
    port = free_port()
    group = f"https://+:{port}/Tls/"
    engine.call("urlgroup.create", urlGroup=group, bandwidthLimit=1024 * 1024)  # about 3 s
    engine.call("url.create", urlGroup=group, urlSuffix="f.bin", sourcePath=str(data))
    bind(engine, port, pki["server"])
    out = tmp_path / "out.bin"
    running = subprocess.Popen(
        [
            "curl",
            "-sS",
            "--max-time",
            "60",
            "--cacert",
            str(pki["ca"]),
            "-o",
            str(out),
            f"https://localhost:{port}/Tls/f.bin",
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(lambda: out.exists() and out.stat().st_size > 256 * 1024, timeout=20)
        bind(engine, port, pki["second"])
        assert peer_serial(port, pki["ca"]) == pki["second"][0].serial_number  # new connections
        assert running.wait(60) == 0, running.stderr.read() if running.stderr else ""
    finally:
        if running.poll() is None:
            running.kill()
            running.wait()
        if running.stderr is not None:
            running.stderr.close()
    assert out.read_bytes() == data.read_bytes()


def test_idle_tcp_clients_do_not_delay_another_clients_handshake(
    engine: EngineProcess, pki: dict[str, Any], payload: Path, tmp_path: Path
) -> None:
    # cheroot handshakes on its accept thread: one client that never sends a ClientHello used to
    # stall every other handshake for the server timeout. Handshakes now happen in the workers.
    port, _ = https_group(engine, payload)
    bind(engine, port, pki["server"])
    idle: list[socket.socket] = []
    try:
        idle.append(socket.create_connection(("127.0.0.1", port), timeout=10))
        started = time.monotonic()
        assert peer_serial(port, pki["ca"]) == pki["server"][0].serial_number
        assert time.monotonic() - started < 1.0
        for _ in range(199):
            idle.append(socket.create_connection(("127.0.0.1", port), timeout=10))
        started = time.monotonic()
        done = curl(port, pki["ca"], tmp_path / "out.bin")
        assert done.returncode == 0, done.stderr
        assert (tmp_path / "out.bin").read_bytes() == payload.read_bytes()
        assert time.monotonic() - started < 5.0
    finally:
        for sock in idle:
            sock.close()


def curl_timed(port: int, ca: Path, out: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            *("curl", "-sS", "--max-time", "60", "--cacert", str(ca), "-o", str(out)),
            *("-w", "%{size_download} %{time_total}", *extra, f"https://localhost:{port}/Tls/f.bin"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_an_https_body_leaves_at_its_group_cap_and_a_new_cap_applies_at_once(
    engine: EngineProcess, pki: dict[str, Any], tmp_path: Path
) -> None:
    # https file bodies leave from a pooled buffer at the pace of the buckets (tls._Gateway._send_file).
    mb = 1_000_000
    data = tmp_path / "paced.bin"
    data.write_bytes(os.urandom(4 * mb))
    port = free_port()
    group = f"https://+:{port}/Tls/"
    engine.call("urlgroup.create", urlGroup=group, bandwidthLimit=2 * mb)
    engine.call("url.create", urlGroup=group, urlSuffix="f.bin", sourcePath=str(data))
    bind(engine, port, pki["server"])
    out, err = curl_timed(port, pki["ca"], tmp_path / "a.bin").communicate(timeout=60)
    assert err == ""
    size, seconds = int(out.split()[0]), float(out.split()[1])
    assert size == 4 * mb and (tmp_path / "a.bin").read_bytes() == data.read_bytes()
    assert abs(size / seconds - 2 * mb) < 0.1 * 2 * mb, size / seconds
    engine.call("urlgroup.set", urlGroup=group, bandwidthLimit=1 * mb)
    running = curl_timed(port, pki["ca"], tmp_path / "b.bin")
    time.sleep(1.0)
    engine.call("urlgroup.set", urlGroup=group, bandwidthLimit=6 * mb)
    out, err = running.communicate(timeout=60)
    assert err == ""
    # about 1 MB in the first second, then 3 MB at 6 MB/s: 1.5 s (4 s without the change)
    assert 1.2 < float(out.split()[1]) < 2.6, out
    assert (tmp_path / "b.bin").read_bytes() == data.read_bytes()
    lines = access_lines(engine, 2)
    assert [line.split(" ")[4:6] for line in lines[-2:]] == [["200", str(4 * mb)]] * 2


def test_https_multi_range_answers_and_a_file_that_shrinks_mid_body_ends_it_short(
    engine: EngineProcess, pki: dict[str, Any], tmp_path: Path
) -> None:
    data = tmp_path / "shrinks.bin"
    content = os.urandom(3 * 1024 * 1024)
    data.write_bytes(content)
    port = free_port()
    group = f"https://+:{port}/Tls/"
    engine.call("urlgroup.create", urlGroup=group, bandwidthLimit=1024 * 1024)
    engine.call("url.create", urlGroup=group, urlSuffix="f.bin", sourcePath=str(data))
    bind(engine, port, pki["server"])
    context = ssl.create_default_context(cafile=str(pki["ca"]))
    conn = http.client.HTTPSConnection("localhost", port, context=context, timeout=30)
    try:
        conn.request("GET", "/Tls/f.bin", headers={"Range": "bytes=100-199,0-9"})
        resp = conn.getresponse()
        body = resp.read()
        assert resp.status == 206 and resp.getheader("Content-Type", "").startswith("multipart/byteranges")
        assert body.index(content[100:200]) < body.index(content[:10])
        conn.request("GET", "/Tls/f.bin")
        resp = conn.getresponse()
        assert resp.status == 200 and resp.getheader("Content-Length") == str(len(content))
        got = resp.read(256 * 1024)
        os.truncate(data, 512 * 1024)
        with pytest.raises(http.client.IncompleteRead):
            resp.read()
    finally:
        conn.close()
    assert curl(port, pki["ca"], tmp_path / "after.bin").returncode == 0  # the port serves on
    assert (tmp_path / "after.bin").read_bytes() == content[: 512 * 1024]
    assert got == content[: len(got)]
