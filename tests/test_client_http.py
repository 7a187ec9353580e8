"""The job's HTTP session against real nginx: Basic credentials, proxies, TLS and client certificates."""

from __future__ import annotations

import base64
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from test_client_support import Nginx, make_pki, random_file, sha256, wait_job

MIB = 1024 * 1024


@pytest.fixture
def www(tmp_path: Path) -> Path:
    root = tmp_path / "www"
    root.mkdir()
    random_file(root / "f.bin", MIB + 5)
    (root / "private").mkdir()
    random_file(root / "private" / "p.bin", 2000)
    return root


def download(engine: Any, url: str, target: Path, **params: Any) -> dict[str, Any]:
    job = engine.call(
        "job.create", files=[{"remoteUrl": url, "localPath": str(target)}], priority="Foreground", **params
    )
    done: dict[str, Any] = wait_job(
        engine, job["jobId"], ("Transferred", "Error", "TransientError"), timeout=30
    )
    return done


def test_basic_credentials_answer_the_challenge_and_missing_ones_give_0x80190191(
    engine: Any, tmp_path: Path, www: Path
) -> None:
    (tmp_path / "htpasswd").write_text("alice:{PLAIN}wonderland\n")
    extra = f'location /private/ {{ auth_basic "bcs"; auth_basic_user_file {tmp_path / "htpasswd"}; }}'
    nginx = Nginx(tmp_path / "nginx", www, extra=extra).start()
    try:
        denied = download(engine, nginx.url("private/p.bin"), tmp_path / "d1")
        assert (denied["jobState"], denied["errorCode"], denied["errorContext"]) == (
            "Error",
            "0x80190191",
            "RemoteFile",
        )
        wrong = download(
            engine,
            nginx.url("private/p.bin"),
            tmp_path / "d2",
            credentials=[{"scheme": "Basic", "userName": "alice", "password": "nope"}],
        )
        assert wrong["errorCode"] == "0x80190191"
        ok = download(
            engine,
            nginx.url("private/p.bin"),
            tmp_path / "d3",
            credentials=[{"scheme": "Basic", "userName": "alice", "password": "wonderland"}],
        )
        assert ok["jobState"] == "Transferred"
        engine.call("job.complete", jobId=ok["jobId"])
        assert sha256(tmp_path / "d3") == sha256(www / "private" / "p.bin")
        statuses = [r[3] for r in nginx.log() if r[1] == "/private/p.bin"]
        assert statuses[-2:] == [401, 200]  # challenge, then the answer
    finally:
        nginx.stop()


@pytest.fixture
def origin_and_proxy(tmp_path: Path, www: Path) -> Iterator[tuple[Nginx, Nginx]]:
    origin = Nginx(tmp_path / "origin", www).start()
    proxy = Nginx(
        tmp_path / "proxy", www, extra=f"location / {{ proxy_pass http://127.0.0.1:{origin.port}; }}"
    ).start()
    yield origin, proxy
    proxy.stop()
    origin.stop()


def test_override_proxy_list_is_used_and_the_bypass_list_skips_it(
    engine: Any, tmp_path: Path, www: Path, origin_and_proxy: tuple[Nginx, Nginx]
) -> None:
    origin, proxy = origin_and_proxy
    via = download(
        engine,
        origin.url("f.bin"),
        tmp_path / "via",
        proxyUsage="Override",
        proxyList=[f"127.0.0.1:{proxy.port}"],
    )
    assert via["jobState"] == "Transferred"
    assert [r[1] for r in proxy.log()] == ["/f.bin"]
    bypassed = download(
        engine,
        origin.url("f.bin"),
        tmp_path / "bypassed",
        proxyUsage="Override",
        proxyList=[f"http://127.0.0.1:{proxy.port}"],
        proxyBypass=["127.0.0.*"],
    )
    assert bypassed["jobState"] == "Transferred"
    assert len(proxy.log()) == 1 and len(origin.log()) == 2  # the proxied request, then the direct one


def test_system_default_proxy_comes_from_the_environment_and_no_proxy_ignores_it(
    engine_factory: Any, tmp_path: Path, origin_and_proxy: tuple[Nginx, Nginx]
) -> None:
    origin, proxy = origin_and_proxy
    engine = engine_factory().start(
        env={"http_proxy": f"http://127.0.0.1:{proxy.port}", "no_proxy": "", "NO_PROXY": ""}
    )
    assert download(engine, origin.url("f.bin"), tmp_path / "sys")["jobState"] == "Transferred"
    assert len(proxy.log()) == 1
    assert (
        download(engine, origin.url("f.bin"), tmp_path / "none", proxyUsage="NoProxy")["jobState"]
        == "Transferred"
    )
    assert len(proxy.log()) == 1


@pytest.fixture
def pki(tmp_path: Path) -> dict[str, Path]:
    return make_pki(tmp_path / "pki")


def test_https_verifies_the_server_with_the_ca_bundle_and_fails_without_it(
    engine: Any, tmp_path: Path, www: Path, pki: dict[str, Path]
) -> None:
    nginx = Nginx(tmp_path / "tls", www, tls=(pki["server_cert"], pki["server_key"])).start()
    try:
        untrusted = download(engine, nginx.url("f.bin"), tmp_path / "u")
        assert (untrusted["jobState"], untrusted["errorCode"], untrusted["errorContext"]) == (
            "Error",
            "0x80072F8F",
            "GeneralTransport",
        )
        trusted = download(engine, nginx.url("f.bin"), tmp_path / "t", caBundle=str(pki["ca"]))
        assert trusted["jobState"] == "Transferred"
        by_name = download(
            engine, nginx.url("f.bin", host="localhost"), tmp_path / "n", caBundle=str(pki["ca"])
        )
        assert by_name["jobState"] == "Transferred"
        ignoring = download(
            engine, nginx.url("f.bin"), tmp_path / "i", securityFlags=0x8
        )  # IGNORE_UNKNOWN_CA
        assert ignoring["jobState"] == "Transferred"
        engine.call("job.complete", jobId=trusted["jobId"])
        assert sha256(tmp_path / "t") == sha256(www / "f.bin")
    finally:
        nginx.stop()


def test_client_certificate_is_presented_when_configured(
    engine: Any, tmp_path: Path, www: Path, pki: dict[str, Path]
) -> None:
    nginx = Nginx(
        tmp_path / "mtls", www, tls=(pki["server_cert"], pki["server_key"]), client_ca=pki["ca"]
    ).start()
    try:
        without = download(engine, nginx.url("f.bin"), tmp_path / "w", caBundle=str(pki["ca"]))
        assert without["jobState"] == "Error"
        assert without["errorCode"] == "0x80190190"  # nginx: 400 No required SSL certificate was sent
        with_cert = download(
            engine,
            nginx.url("f.bin"),
            tmp_path / "c",
            caBundle=str(pki["ca"]),
            clientCertificate=str(pki["client"]),
        )
        assert with_cert["jobState"] == "Transferred"
    finally:
        nginx.stop()


def test_custom_headers_are_sent_with_every_request(engine: Any, tmp_path: Path, www: Path) -> None:
    extra = (
        'location /needs-header/ { if ($http_x_bcs_token != "t0k3n") { return 403; } alias '
        + str(www)
        + "/; }"
    )
    nginx = Nginx(tmp_path / "hdr", www, extra=extra).start()
    try:
        refused = download(engine, nginx.url("needs-header/f.bin"), tmp_path / "r")
        assert refused["errorCode"] == "0x80190193"
        ok = download(
            engine, nginx.url("needs-header/f.bin"), tmp_path / "o", customHeaders=["X-Bcs-Token: t0k3n"]
        )
        assert ok["jobState"] == "Transferred"
    finally:
        nginx.stop()


def test_https_to_http_redirect_is_refused_unless_allowed(
    engine: Any, tmp_path: Path, www: Path, pki: dict[str, Path]
) -> None:
    plain = Nginx(tmp_path / "plain", www).start()
    extra = f"location /down/ {{ return 302 http://127.0.0.1:{plain.port}/f.bin; }}"
    tls = Nginx(tmp_path / "tls", www, tls=(pki["server_cert"], pki["server_key"]), extra=extra).start()
    try:
        refused = download(engine, tls.url("down/x"), tmp_path / "r", caBundle=str(pki["ca"]))
        assert (refused["jobState"], refused["errorCode"]) == ("Error", "0x80072F7C")
        allowed = download(
            engine, tls.url("down/x"), tmp_path / "a", caBundle=str(pki["ca"]), securityFlags=0x0800
        )
        assert allowed["jobState"] == "Transferred"
    finally:
        tls.stop()
        plain.stop()


class BasicProxyHandler(http.server.BaseHTTPRequestHandler):
    """A pretend forward proxy: demands Basic proxy credentials, then answers itself."""

    protocol_version = "HTTP/1.1"
    seen: list[tuple[str, str]] = []

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        auth = self.headers.get("Proxy-Authorization", "")
        self.seen.append((self.path, auth))
        if auth != "Basic " + base64.b64encode(b"proxyuser:proxypw").decode():
            self.send_response(407)
            self.send_header("Proxy-Authenticate", 'Basic realm="proxy"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = b"via the proxy"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_proxy_basic_credentials_are_sent_and_missing_ones_give_0x80190197(
    engine: Any, tmp_path: Path
) -> None:
    handler = type("Handler", (BasicProxyHandler,), {"seen": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        proxy = [f"127.0.0.1:{server.server_address[1]}"]
        url = "http://files.invalid/doc.txt"  # only the proxy ever sees this name
        denied = download(engine, url, tmp_path / "d", proxyUsage="Override", proxyList=proxy)
        assert (denied["jobState"], denied["errorCode"]) == ("Error", "0x80190197")
        ok = download(
            engine,
            url,
            tmp_path / "ok",
            proxyUsage="Override",
            proxyList=proxy,
            credentials=[
                {"target": "Proxy", "scheme": "Basic", "userName": "proxyuser", "password": "proxypw"}
            ],
        )
        assert ok["jobState"] == "Transferred", ok
        engine.call("job.complete", jobId=ok["jobId"])
        assert (tmp_path / "ok").read_bytes() == b"via the proxy"
        assert handler.seen[0][0] == url  # absolute URI: a proxy request
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
