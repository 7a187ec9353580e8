"""The NTLM and Negotiate acceptor (bcs.auth.negotiate) against real pyspnego clients and a real MIT KDC.

Each test drives ``NegotiateAcceptor.step`` as the host would, with the tokens a pyspnego client
makes; connection ids are plain objects here (the listeners' are in test_host_negotiate.py).
"""

from __future__ import annotations

import base64
import random
import threading
from pathlib import Path
from typing import Any

import pytest
import spnego

from auth_support import write_ntlm_users
from bcs.auth.negotiate import (
    Authenticated,
    Continue,
    NegotiateAcceptor,
    Refused,
    check_keytab,
    check_ntlm_user_file,
    parse_authorization,
)
from bcs.errors import BcsError

PASSWORD = "Passw0rd!"


class Conn:
    """A connection id as the listeners make them: hashable by identity, ``closed`` once closed."""

    closed = False


@pytest.fixture
def users(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = write_ntlm_users(
        tmp_path / "ntlm_users", f"BCS:alice:{PASSWORD}", "BCS:Bob:Bob-pw1", ":carol@BCS.TEST:Carol-pw1"
    )
    monkeypatch.setenv("NTLM_USER_FILE", "unset-by-the-test")  # restored after the test: configure() sets it
    return path


@pytest.fixture
def acceptor(users: Path) -> NegotiateAcceptor:
    return NegotiateAcceptor(ntlm_user_file=str(users))


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def handshake(
    acceptor: NegotiateAcceptor, conn: Any, client: Any, scheme: str = "Negotiate"
) -> tuple[Any, list[bytes]]:
    """Run ``client`` against ``acceptor`` on ``conn``; returns the last result and the tokens sent."""
    token = client.step()
    sent = []
    for _ in range(6):
        sent.append(token)
        result = acceptor.step(conn, scheme, b64(token))
        if not isinstance(result, Continue):
            if isinstance(result, Authenticated) and result.header:
                name, _, answer = result.header.partition(" ")
                assert name == scheme
                client.step(base64.b64decode(answer))
            return result, sent
        name, _, answer = result.header.partition(" ")
        assert name == scheme
        token = client.step(base64.b64decode(answer))
    raise AssertionError("the handshake did not end")


def ntlm_client(user: str = "BCS\\alice", password: str = PASSWORD) -> Any:
    return spnego.client(user, password, hostname="localhost", service="HTTP", protocol="ntlm")


def test_ntlm_authenticates_the_connection_with_the_user_files_spelling(acceptor: NegotiateAcceptor) -> None:
    conn, other = Conn(), Conn()
    result, sent = handshake(acceptor, conn, ntlm_client("bcs\\ALICE"), "NTLM")
    assert isinstance(result, Authenticated), result
    assert (result.principal.name, result.principal.scheme, result.protocol) == ("BCS\\alice", "NTLM", "ntlm")
    assert result.header is None  # NTLM has no last message for the client
    assert len(sent) == 2  # NEGOTIATE, then AUTHENTICATE
    assert acceptor.principal_of(conn) == result.principal
    assert acceptor.principal_of(other) is None
    assert acceptor.status()["authenticatedConnections"] == 1
    acceptor.forget(conn)
    assert acceptor.principal_of(conn) is None
    assert acceptor.status() == {
        "pendingHandshakes": 0,
        "authenticatedConnections": 0,
        "evictedHandshakes": 0,
        "expiredHandshakes": 0,
    }


def test_a_upn_user_of_the_file_keeps_its_upn_and_a_case_change_of_the_file_is_seen(
    acceptor: NegotiateAcceptor, users: Path
) -> None:
    result, _ = handshake(acceptor, Conn(), ntlm_client("CAROL@bcs.test", "Carol-pw1"), "NTLM")
    assert isinstance(result, Authenticated) and result.principal.name == "carol@BCS.TEST"
    result, _ = handshake(acceptor, Conn(), ntlm_client("bcs\\bob", "Bob-pw1"), "NTLM")
    assert isinstance(result, Authenticated) and result.principal.name == "BCS\\Bob"
    write_ntlm_users(users, f"BCS:alice:{PASSWORD}", "bcs:BOB:Bob-pw1")
    result, _ = handshake(acceptor, Conn(), ntlm_client("bcs\\bob", "Bob-pw1"), "NTLM")
    assert isinstance(result, Authenticated) and result.principal.name == "bcs\\BOB"


def test_raw_ntlm_under_negotiate_is_accepted_as_windows_sends_it(acceptor: NegotiateAcceptor) -> None:
    conn = Conn()
    client = ntlm_client()
    first = client.step()
    assert first.startswith(b"NTLMSSP\x00\x01")
    answer = acceptor.step(conn, "negotiate", b64(first))
    assert isinstance(answer, Continue) and answer.header.startswith("Negotiate TlRMTVNTUAAC")  # CHALLENGE
    result = acceptor.step(conn, "Negotiate", b64(client.step(base64.b64decode(answer.header.split()[1]))))
    assert isinstance(result, Authenticated), result
    assert (result.principal.name, result.principal.scheme, result.protocol) == (
        "BCS\\alice",
        "Negotiate",
        "ntlm",
    )


def test_wrong_password_and_unknown_user_are_refused(acceptor: NegotiateAcceptor) -> None:
    for user, password in (("BCS\\alice", "wrong"), ("BCS\\mallory", PASSWORD), ("OTHER\\alice", PASSWORD)):
        conn = Conn()
        for scheme in ("NTLM", "Negotiate"):
            result, _ = handshake(acceptor, conn, ntlm_client(user, password), scheme)
            assert isinstance(result, Refused) and result.reason == "rejected", (user, result)
            assert PASSWORD not in result.detail and "wrong" not in result.detail
            assert acceptor.principal_of(conn) is None
    assert acceptor.status()["pendingHandshakes"] == 0


def test_malformed_tokens_are_refused_never_raised(acceptor: NegotiateAcceptor) -> None:
    conn = Conn()
    negotiate = ntlm_client().step()
    cases = {
        "": "malformed-token",
        "!!!!": "malformed-token",
        "TlRMTVNTUAAB": "no-handshake",  # "NTLMSSP\0\1": too short to open a handshake
        "TlRMTVNTUAABAAA": "malformed-token",  # padding missing
        "A" * (acceptor.max_token + 4): "malformed-token",
        b64(b"NTLMSSP\x00\x01\x00\x00\x00"): "rejected",  # a NEGOTIATE message cut short
        b64(negotiate[:20]): "rejected",
        b64(b"NTLMSSP\x00\x03\x00\x00\x00" + b"\x00" * 60): "no-handshake",
        # GSS initial tokens that are nothing: "unavailable" where this machine has no Kerberos keys
        b64(b"\x60\x03\x06\x01\x00"): "rejected|unavailable",
        b64(b"\x60\x80" + b"\xff" * 40): "rejected|unavailable",
        b64(b"\xa1\x03\x30\x01\x00"): "no-handshake",  # a SPNEGO response on a connection without handshake
        b64(b"\x00" * 64): "no-handshake",
    }
    for token, reason in cases.items():
        for scheme in ("Negotiate", "NTLM"):
            result = acceptor.step(conn, scheme, token)
            assert isinstance(result, Refused), (token[:40], result)
            assert result.reason in reason.split("|"), (token[:40], scheme, result)
    assert acceptor.step(conn, "Basic", b64(b"alice:pw")) == Refused("unsupported-scheme", "scheme 'Basic'")
    # A started handshake, then garbage or a truncated AUTHENTICATE message: refused, the handshake gone.
    rng = random.Random(14)
    for _ in range(200):
        client = ntlm_client()
        answer = acceptor.step(conn, "NTLM", b64(client.step()))
        assert isinstance(answer, Continue)
        authenticate = client.step(base64.b64decode(answer.header.split()[1]))
        cut = rng.choice(
            [
                authenticate[: rng.randrange(8, len(authenticate))],
                bytes(rng.randrange(256) for _ in range(rng.randrange(1, 400))),
                authenticate[:12] + bytes(rng.randrange(256) for _ in range(len(authenticate) - 12)),
            ]
        )
        result = acceptor.step(conn, "NTLM", b64(cut))
        assert isinstance(result, (Refused, Continue)), result
        assert acceptor.principal_of(conn) is None
    acceptor.forget(conn)
    assert acceptor.status()["pendingHandshakes"] == 0


def test_an_ntlm_authenticate_message_replayed_on_another_connection_is_refused(
    acceptor: NegotiateAcceptor,
) -> None:
    first = Conn()
    result, sent = handshake(acceptor, first, ntlm_client(), "NTLM")
    assert isinstance(result, Authenticated)
    authenticate = b64(sent[-1])
    replay = Conn()
    assert acceptor.step(replay, "NTLM", authenticate).reason == "no-handshake"  # type: ignore[union-attr]
    assert acceptor.step(replay, "Negotiate", authenticate).reason == "no-handshake"  # type: ignore[union-attr]
    # After a NEGOTIATE of its own the connection has a fresh challenge: the old answer does not fit it.
    assert isinstance(acceptor.step(replay, "NTLM", b64(sent[0])), Continue)
    assert acceptor.step(replay, "NTLM", authenticate).reason == "rejected"  # type: ignore[union-attr]
    assert acceptor.principal_of(replay) is None
    # On the connection it came from, it is a new Authorization: that ends the connection's logon.
    assert acceptor.step(first, "NTLM", authenticate).reason == "no-handshake"  # type: ignore[union-attr]
    assert acceptor.principal_of(first) is None


def test_new_credentials_on_an_authenticated_connection_start_over(acceptor: NegotiateAcceptor) -> None:
    conn = Conn()
    result, _ = handshake(acceptor, conn, ntlm_client(), "NTLM")
    assert isinstance(result, Authenticated) and acceptor.principal_of(conn) == result.principal
    client = ntlm_client("BCS\\bob", "Bob-pw1")
    answer = acceptor.step(conn, "NTLM", b64(client.step()))
    assert isinstance(answer, Continue)
    assert acceptor.principal_of(conn) is None  # not alice any more, not bob yet
    assert acceptor.status()["pendingHandshakes"] == 1
    done = acceptor.step(conn, "NTLM", b64(client.step(base64.b64decode(answer.header.split()[1]))))
    assert isinstance(done, Authenticated) and acceptor.principal_of(conn) == done.principal
    assert done.principal.name == "BCS\\Bob"
    assert acceptor.status()["pendingHandshakes"] == 0


def test_a_handshake_in_another_scheme_does_not_continue(acceptor: NegotiateAcceptor) -> None:
    conn = Conn()
    client = ntlm_client()
    answer = acceptor.step(conn, "NTLM", b64(client.step()))
    assert isinstance(answer, Continue)
    token = client.step(base64.b64decode(answer.header.split()[1]))
    assert acceptor.step(conn, "Negotiate", b64(token)) == Refused(
        "scheme-changed", "Negotiate token in a NTLM handshake"
    )


def test_pending_handshakes_are_capped_and_expire(users: Path) -> None:
    now = [1000.0]
    acceptor = NegotiateAcceptor(
        ntlm_user_file=str(users), max_pending=2, handshake_timeout=30, clock=lambda: now[0]
    )
    conns = [Conn() for _ in range(3)]
    clients = [ntlm_client() for _ in conns]
    answers = []
    for conn, client in zip(conns, clients, strict=True):
        answers.append(acceptor.step(conn, "NTLM", b64(client.step())))
        now[0] += 1
    assert all(isinstance(a, Continue) for a in answers)
    status = acceptor.status()
    assert (status["pendingHandshakes"], status["evictedHandshakes"]) == (2, 1)
    # The oldest made room for the newest: its AUTHENTICATE finds no handshake.
    token = clients[0].step(base64.b64decode(answers[0].header.split()[1]))  # type: ignore[union-attr]
    assert acceptor.step(conns[0], "NTLM", b64(token)).reason == "no-handshake"  # type: ignore[union-attr]
    # The second finishes in time; the third too late.
    token = clients[1].step(base64.b64decode(answers[1].header.split()[1]))  # type: ignore[union-attr]
    assert isinstance(acceptor.step(conns[1], "NTLM", b64(token)), Authenticated)
    now[0] += 31
    token = clients[2].step(base64.b64decode(answers[2].header.split()[1]))  # type: ignore[union-attr]
    refused = acceptor.step(conns[2], "NTLM", b64(token))
    assert isinstance(refused, Refused) and refused.reason == "handshake-expired"
    # A handshake nobody continues is dropped by the next step of anyone once it is too old.
    acceptor.step(Conn(), "NTLM", b64(ntlm_client().step()))
    now[0] += 31
    acceptor.step(Conn(), "NTLM", "!")
    status = acceptor.status()
    assert (status["pendingHandshakes"], status["expiredHandshakes"]) == (0, 2)
    assert status["authenticatedConnections"] == 1


def test_a_connection_closed_during_its_handshake_keeps_nothing(acceptor: NegotiateAcceptor) -> None:
    conn = Conn()
    client = ntlm_client()
    answer = acceptor.step(conn, "NTLM", b64(client.step()))
    assert isinstance(answer, Continue)
    token = client.step(base64.b64decode(answer.header.split()[1]))
    conn.closed = True  # the listener closed it (and called forget) while a worker still had the request
    acceptor.forget(conn)
    assert isinstance(acceptor.step(conn, "NTLM", b64(token)), Refused)  # forget dropped the handshake
    late = Conn()
    answer = acceptor.step(late, "NTLM", b64(ntlm_client().step()))
    late.closed = True
    acceptor.forget(late)
    client = ntlm_client()
    late2 = Conn()
    answer = acceptor.step(late2, "NTLM", b64(client.step()))
    token = client.step(base64.b64decode(answer.header.split()[1]))  # type: ignore[union-attr]
    late2.closed = True  # closed before the worker stores the result: it is not kept
    assert isinstance(acceptor.step(late2, "NTLM", b64(token)), Authenticated)
    assert acceptor.principal_of(late2) is None
    assert acceptor.status()["authenticatedConnections"] == acceptor.status()["pendingHandshakes"] == 0


def test_concurrent_handshakes_from_many_threads(acceptor: NegotiateAcceptor) -> None:
    names: list[str] = []
    errors: list[BaseException] = []
    conns: list[Conn] = []
    lock = threading.Lock()

    def work() -> None:
        try:
            for _ in range(15):
                conn = Conn()
                result, _ = handshake(acceptor, conn, ntlm_client(), random.choice(["NTLM", "Negotiate"]))
                assert isinstance(result, Authenticated)
                assert acceptor.principal_of(conn) == result.principal
                with lock:
                    names.append(result.principal.name)
                    conns.append(conn)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert names == ["BCS\\alice"] * 90
    assert acceptor.status()["authenticatedConnections"] == 90
    for conn in conns:
        acceptor.forget(conn)
    assert acceptor.status()["authenticatedConnections"] == 0


def test_without_a_user_file_ntlm_is_unavailable_not_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NTLM_USER_FILE", raising=False)
    acceptor = NegotiateAcceptor()
    result = acceptor.step(Conn(), "NTLM", b64(ntlm_client().step()))
    assert isinstance(result, Refused) and result.reason == "unavailable"


def test_parse_authorization() -> None:
    assert parse_authorization("Negotiate  YII= ") == ("Negotiate", "YII=")
    assert parse_authorization("NTLM") == ("NTLM", "")
    assert parse_authorization("") == ("", "")


# --- Kerberos (a real MIT KDC) ---


def test_kerberos_through_the_configured_keytab(
    realm: Any, users: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KRB5_KTNAME")  # the acceptor's own configuration must be enough
    monkeypatch.setenv("KRB5CCNAME", realm.env["KRB5CCNAME"])  # alice's ticket (kinit by the fixture)
    acceptor = NegotiateAcceptor(keytab_path=str(realm.keytab), ntlm_user_file=str(users))
    for protocol in ("negotiate", "kerberos"):  # SPNEGO, and a bare Kerberos token under Negotiate
        conn = Conn()
        client = spnego.client(hostname="localhost", service="HTTP", protocol=protocol)
        result, sent = handshake(acceptor, conn, client)
        assert isinstance(result, Authenticated), result
        assert len(sent) == 1  # one leg
        assert (result.principal.name, result.principal.scheme, result.protocol) == (
            "alice@BCS.TEST",
            "Negotiate",
            "kerberos",
        )
        assert result.header is not None and client.complete  # mutual authentication answered
        assert acceptor.principal_of(conn) == result.principal
    mapped = NegotiateAcceptor(
        keytab_path=str(realm.keytab), ntlm_user_file=str(users), realm_domains={"bcs.test": "BCS"}
    )
    result, _ = handshake(
        mapped, Conn(), spnego.client(hostname="localhost", service="HTTP", protocol="kerberos")
    )
    assert isinstance(result, Authenticated) and result.principal.name == "BCS\\alice"


def test_a_kerberos_token_without_a_usable_keytab_is_refused_as_unavailable(
    realm: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("KRB5CCNAME", realm.env["KRB5CCNAME"])
    monkeypatch.delenv("NTLM_USER_FILE", raising=False)
    acceptor = NegotiateAcceptor(keytab_path=str(tmp_path / "missing.keytab"))
    for protocol in ("negotiate", "kerberos"):
        client = spnego.client(hostname="localhost", service="HTTP", protocol=protocol)
        result, _ = handshake(acceptor, Conn(), client)
        assert isinstance(result, Refused) and result.reason == "unavailable", result
    assert acceptor.status()["pendingHandshakes"] == 0


def test_negotiate_falls_back_to_ntlm_inside_spnego(realm: Any, acceptor: NegotiateAcceptor) -> None:
    conn = Conn()
    client = spnego.client("BCS\\alice", PASSWORD, hostname="localhost", service="HTTP", protocol="negotiate")
    result, sent = handshake(acceptor, conn, client)
    assert sent[0][:1] == b"\x60" and b"NTLMSSP" in sent[0]  # NegTokenInit carrying NTLM
    assert isinstance(result, Authenticated), result
    assert (result.principal.name, result.protocol) == ("BCS\\alice", "ntlm")
    assert result.header is not None and client.complete  # SPNEGO's closing message with its mechListMIC


def test_a_kerberos_ticket_for_a_service_not_in_the_keytab_is_refused(
    realm: Any, users: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    realm.run("kadmin.local", "-q", "addprinc -randkey HTTP/other.test")
    monkeypatch.setenv("KRB5CCNAME", realm.env["KRB5CCNAME"])
    acceptor = NegotiateAcceptor(keytab_path=str(realm.keytab), ntlm_user_file=str(users))
    client = spnego.client(hostname="other.test", service="HTTP", protocol="negotiate")
    result, _ = handshake(acceptor, Conn(), client)
    assert isinstance(result, Refused) and result.reason == "rejected", result


def test_file_checks_name_the_file_and_line_never_a_password(realm: Any, tmp_path: Path) -> None:
    check_keytab(str(realm.keytab))
    for path, name in (
        (tmp_path / "missing.keytab", "ERROR_FILE_NOT_FOUND"),
        (tmp_path / "empty.keytab", "E_INVALIDARG"),
    ):
        if "empty" in path.name:
            path.write_bytes(b"")
        with pytest.raises(BcsError) as caught:
            check_keytab(str(path))
        assert caught.value.kind.name == name and str(path) in str(caught.value)
    good = write_ntlm_users(
        tmp_path / "u1", "BCS:alice:pw", "", "alice:1000:" + "0" * 32 + ":" + "A" * 32 + ":[U]:LCT-1"
    )
    check_ntlm_user_file(str(good))
    bad = write_ntlm_users(tmp_path / "u2", "BCS:alice:pw", "BCS:bob:se:cret")
    with pytest.raises(BcsError) as caught:
        check_ntlm_user_file(str(bad))
    assert (
        "line 2" in str(caught.value)
        and "se:cret" not in str(caught.value)
        and "cret" not in str(caught.value)
    )
    with pytest.raises(BcsError):
        check_ntlm_user_file(str(write_ntlm_users(tmp_path / "u3", "")))
    with pytest.raises(BcsError) as caught:
        check_ntlm_user_file(str(tmp_path / "none"))
    assert caught.value.kind.name == "ERROR_FILE_NOT_FOUND"
