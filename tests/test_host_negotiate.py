"""Connection-bound NTLM and Negotiate on the real listeners (waitress for http, cheroot for https).

A tiny WSGI app stands in for the file host's authentication step (``HostApp`` does not call the
acceptor yet): it answers 401 with the acceptor's continuation or fresh challenges, and 200 with
the principal's name. The listeners, their ``environ["bcs.connection"]`` and their close hook are
the real ones; clients are curl (``--ntlm``, ``--negotiate``), http.client and pyspnego.
"""

from __future__ import annotations

import base64
import http.client
import shutil
import ssl
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import spnego

from auth_support import write_ntlm_users
from bcs import tunables
from bcs.auth.negotiate import Continue, NegotiateAcceptor, Refused, parse_authorization
from bcs.bandwidth import TokenBucket
from bcs.config import Config, SslCertificateConfig
from bcs.host.exchange import HostState
from bcs.host.listener import Connection, Listener, WaitressListener
from bcs.host.routing import RoutingTable
from bcs.host.tls import TlsListener
from conftest import free_port
from test_client_support import make_pki, wait_until

PASSWORD = "Passw0rd!"
FRESH = ["Negotiate", "NTLM"]


class AuthApp:
    """NTLM / Negotiate through the acceptor, keyed by the listener's connection; the body names the user."""

    def __init__(self, acceptor: NegotiateAcceptor) -> None:
        self.acceptor = acceptor
        self.seen: list[tuple[Connection, bool, int, str]] = []  # connection, had Authorization, status, why

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        conn = environ["bcs.connection"]
        assert isinstance(conn, Connection) and not conn.closed
        auth = environ.get("HTTP_AUTHORIZATION", "")
        headers: list[tuple[str, str]] = []
        if auth:
            result = self.acceptor.step(conn, *parse_authorization(auth))
            if isinstance(result, Continue):
                return self._answer(start_response, conn, True, 401, [("WWW-Authenticate", result.header)])
            if isinstance(result, Refused):
                fresh = [("WWW-Authenticate", scheme) for scheme in FRESH]
                return self._answer(start_response, conn, True, 401, fresh, result.reason)
            principal = result.principal
            if result.header:
                headers.append(("WWW-Authenticate", result.header))
        else:
            found = self.acceptor.principal_of(conn)
            if found is None:
                fresh = [("WWW-Authenticate", scheme) for scheme in FRESH]
                return self._answer(start_response, conn, False, 401, fresh)
            principal = found
        return self._answer(start_response, conn, bool(auth), 200, headers, body=principal.name)

    def _answer(
        self,
        start_response: Callable[..., Any],
        conn: Connection,
        had_auth: bool,
        status: int,
        headers: list[tuple[str, str]],
        why: str = "",
        body: str = "",
    ) -> list[bytes]:
        self.seen.append((conn, had_auth, status, why))
        data = (body or f"{status}").encode()
        start_response(
            "200 OK" if status == 200 else "401 Unauthorized",
            [*headers, ("Content-Type", "text/plain"), ("Content-Length", str(len(data)))],
        )
        return [data]


@pytest.fixture
def users(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("NTLM_USER_FILE", "unset-by-the-test")  # restored after the test
    return write_ntlm_users(tmp_path / "ntlm_users", f"BCS:alice:{PASSWORD}")


def _serve(listener: Listener, app: AuthApp, acceptor: NegotiateAcceptor) -> Listener:
    listener.state.connection_closed = acceptor.forget
    listener.app = app  # type: ignore[assignment]  # the stand-in for HostApp
    listener.start()
    return listener


def _state() -> HostState:
    return HostState(RoutingTable.build(Config()), TokenBucket(burst=tunables.HOST_BUCKET_BURST))


class Server:
    """One listener serving ``AuthApp``; ``url`` for curl, ``connect`` for http.client."""

    def __init__(self, scheme: str, tmp_path: Path, acceptor: NegotiateAcceptor) -> None:
        self.scheme = scheme
        self.port = free_port()
        self.acceptor = acceptor
        self.app = AuthApp(acceptor)
        self.curl_tls: list[str] = []
        self.context: ssl.SSLContext | None = None
        if scheme == "https":
            pki = make_pki(tmp_path / "pki")
            binding = SslCertificateConfig(self.port, str(pki["server_cert"]), str(pki["server_key"]))
            self.listener: Listener = TlsListener(self.port, _state(), 4, binding)
            self.curl_tls = ["--cacert", str(pki["ca"])]
            self.context = ssl.create_default_context(cafile=str(pki["ca"]))
        else:
            self.listener = WaitressListener(self.port, _state(), 4)
        _serve(self.listener, self.app, acceptor)

    def url(self, path: str = "/") -> str:
        return f"{self.scheme}://localhost:{self.port}{path}"

    def connect(self) -> http.client.HTTPConnection:
        if self.context is not None:
            return http.client.HTTPSConnection("localhost", self.port, context=self.context, timeout=10)
        return http.client.HTTPConnection("localhost", self.port, timeout=10)

    def curl(self, *args: str, env: dict[str, str] | None = None) -> list[tuple[int, str]]:
        """curl's answers (status, body), one per URL, all on one command line."""
        out = subprocess.run(
            ["curl", "-sS", "--max-time", "20", *self.curl_tls, "-w", "\n%{http_code}\n", *args],
            capture_output=True,
            text=True,
            timeout=30,
            env=env,
            check=False,
        )
        assert out.returncode == 0, out.stderr
        lines = out.stdout.split("\n")[:-1]
        return [(int(lines[i + 1]), lines[i]) for i in range(0, len(lines), 2)]

    def stop(self) -> None:
        self.listener.stop()


@pytest.fixture(params=["http", "https"])
def server(request: pytest.FixtureRequest, tmp_path: Path, users: Path) -> Iterator[Server]:
    if shutil.which("curl") is None:
        pytest.skip("curl not installed")
    s = Server(request.param, tmp_path, NegotiateAcceptor(ntlm_user_file=str(users)))
    yield s
    s.stop()


def _drained(acceptor: NegotiateAcceptor) -> bool:
    status = acceptor.status()
    return status["pendingHandshakes"] == 0 and status["authenticatedConnections"] == 0


def test_curl_ntlm_authenticates_the_connection_and_its_next_request_needs_no_header(server: Server) -> None:
    answers = server.curl("--ntlm", "-u", f"BCS\\alice:{PASSWORD}", server.url("/a"), server.url("/b"))
    assert answers == [(200, "BCS\\alice"), (200, "BCS\\alice")]
    seen = server.app.seen
    assert [(had, status) for _, had, status, _ in seen] == [(True, 401), (True, 200), (False, 200)]
    assert len({id(conn) for conn, *_ in seen}) == 1  # one connection: type 1, type 3, then nothing
    wait_until(lambda: _drained(server.acceptor), 10, "the closed connection's state dropped")
    assert seen[0][0].closed


def test_curl_ntlm_with_a_wrong_password_gets_401(server: Server) -> None:
    answers = server.curl("--ntlm", "-u", "BCS\\alice:wrong", server.url("/a"))
    assert answers == [(401, "401")]
    assert server.app.seen[-1][3] == "rejected"
    wait_until(lambda: _drained(server.acceptor), 10, "the closed connection's state dropped")


def test_curl_negotiate_with_a_kerberos_ticket(realm: Any, users: Path, tmp_path: Path) -> None:
    if shutil.which("curl") is None:
        pytest.skip("curl not installed")
    acceptor = NegotiateAcceptor(keytab_path=str(realm.keytab), ntlm_user_file=str(users))
    env = {
        "PATH": realm.env["PATH"],
        "KRB5_CONFIG": realm.env["KRB5_CONFIG"],
        "KRB5CCNAME": realm.env["KRB5CCNAME"],
    }
    for scheme in ("http", "https"):
        server = Server(scheme, tmp_path / scheme, acceptor)
        try:
            answers = server.curl("--negotiate", "-u", ":", server.url("/a"), server.url("/b"), env=env)
            assert answers == [(200, "alice@BCS.TEST"), (200, "alice@BCS.TEST")]
            # curl re-sends Negotiate on each request: every one is a complete one-leg handshake.
            assert [(had, status) for _, had, status, _ in server.app.seen][-2:] == [(True, 200), (True, 200)]
            wait_until(lambda: _drained(acceptor), 10, "the closed connection's state dropped")
        finally:
            server.stop()


def _handshake(conn: http.client.HTTPConnection, client: Any, scheme: str = "NTLM") -> tuple[int, list[str]]:
    """A pyspnego handshake over ``conn`` (keep-alive); returns the last status and the tokens sent."""
    token = client.step()
    sent = []
    for _ in range(5):
        sent.append(base64.b64encode(token).decode())
        conn.request("GET", "/x", headers={"Authorization": f"{scheme} {sent[-1]}"})
        response = conn.getresponse()
        response.read()
        challenge = response.getheader("WWW-Authenticate", "")
        if response.status != 401 or challenge in FRESH:
            return response.status, sent
        token = client.step(base64.b64decode(challenge.split()[1]))
    raise AssertionError("no end")


def test_connection_ids_are_stable_per_connection_and_replayed_type_3_is_refused(server: Server) -> None:
    first = server.connect()
    client = spnego.client("BCS\\alice", PASSWORD, protocol="ntlm")
    status, sent = _handshake(first, client)
    assert status == 200
    first.request("GET", "/again")  # no Authorization: the connection is authenticated
    response = first.getresponse()
    assert (response.status, response.read()) == (200, b"BCS\\alice")
    assert server.acceptor.status()["authenticatedConnections"] == 1
    conns = {id(conn) for conn, *_ in server.app.seen}
    assert len(conns) == 1
    replay = server.connect()  # the captured type 3 on a new connection
    for scheme in ("NTLM", "Negotiate"):
        replay.request("GET", "/x", headers={"Authorization": f"{scheme} {sent[-1]}"})
        response = replay.getresponse()
        response.read()
        assert response.status == 401
        assert response.headers.get_all("WWW-Authenticate") == FRESH
        assert server.app.seen[-1][3] == "no-handshake"
    replay.request("GET", "/x")
    response = replay.getresponse()
    response.read()
    assert response.status == 401
    assert len({id(conn) for conn, *_ in server.app.seen}) == 2
    first.close()
    replay.close()
    # The replay connection never held acceptor state, so "drained" can come before its close hook ran.
    wait_until(
        lambda: _drained(server.acceptor) and all(conn.closed for conn, *_ in server.app.seen),
        10,
        "both connections closed and their state dropped",
    )


@pytest.mark.parametrize(
    "header",
    [
        "Negotiate",
        "NTLM",
        "NTLM ",
        "Negotiate !!!!",
        "NTLM TlRMTVNTUAAB",
        "NTLM TlRMTVNTUAABAAAA",
        "Negotiate YIIBAAYGKwYBBQUCoA==",
        "Negotiate oRswGaADCgEBoxIEEAEAAAA=",
        "NTLM " + "A" * 70000,
        "Negotiate " + base64.b64encode(b"\x60\x82\xff\xff" + b"\x00" * 300).decode(),
        "Basic YWxpY2U6cHc=",
        "Bearer x.y.z",
        "\u00e9NTLM \u00ff",
    ],
)
def test_malformed_authorization_gets_401_never_500(server: Server, header: str) -> None:
    conn = server.connect()
    for _ in range(2):  # twice on one connection: it stays usable
        conn.putrequest("GET", "/x")
        conn.putheader("Authorization", header.encode("latin-1"))
        conn.endheaders()
        response = conn.getresponse()
        response.read()
        assert response.status == 401, (header[:40], response.status)
    conn.close()
    wait_until(lambda: _drained(server.acceptor), 10, "the closed connection's state dropped")


def test_a_truncated_type_3_after_a_real_challenge_gets_401(server: Server) -> None:
    conn = server.connect()
    client = spnego.client("BCS\\alice", PASSWORD, protocol="ntlm")
    conn.request("GET", "/x", headers={"Authorization": "NTLM " + base64.b64encode(client.step()).decode()})
    response = conn.getresponse()
    response.read()
    challenge = response.getheader("WWW-Authenticate", "")
    assert response.status == 401 and challenge.startswith("NTLM TlRMTVNTUAAC")
    assert server.acceptor.status()["pendingHandshakes"] == 1
    authenticate = client.step(base64.b64decode(challenge.split()[1]))
    conn.request(
        "GET", "/x", headers={"Authorization": "NTLM " + base64.b64encode(authenticate[:60]).decode()}
    )
    response = conn.getresponse()
    response.read()
    assert response.status == 401 and server.app.seen[-1][3] == "rejected"
    assert server.acceptor.status()["pendingHandshakes"] == 0
    conn.close()


def test_stopping_the_listener_drops_every_connections_state(tmp_path: Path, users: Path) -> None:
    acceptor = NegotiateAcceptor(ntlm_user_file=str(users))
    for scheme in ("http", "https"):
        server = Server(scheme, tmp_path / scheme, acceptor)
        open_conns = []
        try:
            for _ in range(3):
                conn = server.connect()
                assert _handshake(conn, spnego.client("BCS\\alice", PASSWORD, protocol="ntlm"))[0] == 200
                open_conns.append(conn)
            half = server.connect()  # a handshake left half-done
            half.request(
                "GET",
                "/",
                headers={
                    "Authorization": "NTLM "
                    + base64.b64encode(spnego.client("BCS\\alice", PASSWORD, protocol="ntlm").step()).decode()
                },
            )
            response = half.getresponse()
            response.read()
            open_conns.append(half)
            assert acceptor.status()["authenticatedConnections"] == 3
            assert acceptor.status()["pendingHandshakes"] == 1
        finally:
            server.stop()
        wait_until(lambda: _drained(acceptor), 10, "state dropped when the listener stopped")
        for conn in open_conns:
            conn.close()
