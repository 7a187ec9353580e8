"""Authentication of URL groups on a real engine: NTLM and Negotiate (curl, real MIT KDC), the 401
challenges, and malformed credentials that must never give 2xx or 5xx.

Authorization (SDDL against the principal's SIDs) is in ``tests/test_host_authz.py``; the
acceptor itself in ``tests/test_auth_negotiate.py``.
"""

from __future__ import annotations

import base64
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from auth_support import write_ntlm_users
from conftest import EngineProcess, free_port
from test_client_support import wait_job, wait_until
from test_host_http import access_lines, fetch

PASSWORD = "Alice-pw1"


@pytest.fixture
def users(tmp_path: Path) -> Path:
    return write_ntlm_users(tmp_path / "ntlm-users", f"BCS:alice:{PASSWORD}", "BCS:bob:Bob-pw1")


@pytest.fixture
def payload(tmp_path: Path) -> Path:
    path = tmp_path / "payload.txt"
    path.write_bytes(b"the payload\n")
    return path


def auth_engine(engine_factory: Any, users: Path, extra_env: dict[str, str] | None = None) -> EngineProcess:
    engine: EngineProcess = engine_factory("auth")
    return engine.start(env={"NTLM_USER_FILE": str(users), **(extra_env or {})})


def group(engine: EngineProcess, payload: Path, schemes: list[str]) -> int:
    port = free_port()
    prefix = f"http://+:{port}/Sec/"
    engine.call("urlgroup.create", urlGroup=prefix, authentication=schemes)
    engine.call("url.create", urlGroup=prefix, urlSuffix="a", sourcePath=str(payload))
    return port


def curl(*args: str, env: dict[str, str] | None = None) -> list[int]:
    """The status of each URL on one curl command line (one connection when curl can reuse it)."""
    # every URL gets its own -o /dev/null (curl pairs them in order)
    outputs = [arg for a in args if a.startswith("http") for arg in ("-o", "/dev/null")]
    out = subprocess.run(
        ["curl", "-sS", "--max-time", "20", *outputs, "-w", "%{http_code}\n", *args],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    return [int(code) for code in out.stdout.split()]


pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed")


def test_a_request_without_credentials_gets_401_with_one_challenge_per_scheme_in_order(
    engine_factory: Any, users: Path, payload: Path
) -> None:
    engine = auth_engine(engine_factory, users)
    port = group(engine, payload, ["Negotiate", "NTLM"])
    status, headers, body = fetch(port, "/Sec/a")
    assert status == 401 and b"payload" not in body and b"alice" not in body
    assert headers["bits-error-code"] == "0x80190191"
    # http.client folds repeated headers; ask the raw way
    raw = subprocess.run(
        ["curl", "-sS", "-D", "-", "-o", "/dev/null", f"http://127.0.0.1:{port}/Sec/a"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    offers = [
        line.split(":", 1)[1].strip()
        for line in raw.splitlines()
        if line.lower().startswith("www-authenticate:")
    ]
    assert offers == ["Negotiate", "NTLM"]
    assert fetch(port, "/Sec/missing")[0] == 401, "no hint which URLs exist"
    assert engine.call("urlgroup.get", urlGroup=f"http://+:{port}/Sec/")["enforced"] is True


def test_curl_ntlm_is_served_and_the_user_is_in_the_access_log(
    engine_factory: Any, users: Path, payload: Path
) -> None:
    engine = auth_engine(engine_factory, users)
    port = group(engine, payload, ["NTLM"])
    url = f"http://127.0.0.1:{port}/Sec/a"
    assert curl("--ntlm", "-u", f"bcs\\ALICE:{PASSWORD}", url, url) == [200, 200]
    lines = access_lines(engine, 3)
    assert lines[0].split(" ")[4] == "401"
    assert [(line.split(" ")[4], line.split(" ")[7]) for line in lines[1:]] == [("200", "BCS\\alice")] * 2
    assert curl("--ntlm", "-u", "BCS\\alice:wrong", url) == [401]
    assert access_lines(engine, 5)[-1].endswith(" refused:rejected")
    status = engine.call("server.status")["services"]["host"]
    wait_until(
        lambda: (
            engine.call("server.status")["services"]["host"]["authentication"]["authenticatedConnections"]
            == 0
        ),
        10,
        "closed connections forgotten",
    )
    assert "authentication" in status


def test_curl_negotiate_with_a_kerberos_ticket_is_served(
    engine_factory: Any, users: Path, payload: Path, realm: Any
) -> None:
    engine = auth_engine(
        engine_factory,
        users,
        {"KRB5_KTNAME": realm.env["KRB5_KTNAME"], "KRB5_CONFIG": realm.env["KRB5_CONFIG"]},
    )
    port = group(engine, payload, ["Negotiate", "NTLM"])
    env = {
        "PATH": realm.env["PATH"],
        "KRB5_CONFIG": realm.env["KRB5_CONFIG"],
        "KRB5CCNAME": realm.env["KRB5CCNAME"],
    }
    url = f"http://localhost:{port}/Sec/a"
    assert curl("--negotiate", "-u", ":", url, url, env=env) == [200, 200]
    lines = access_lines(engine, 2)
    assert [line.split(" ")[7] for line in lines[-2:]] == ["alice@BCS.TEST"] * 2


@pytest.mark.parametrize(
    "header",
    [
        "NTLM",
        "NTLM ",
        "NTLM !!!notbase64",
        "NTLM " + base64.b64encode(b"NTLMSSP\x00\x03\x00\x00\x00").decode(),  # a truncated type 3
        "Negotiate " + base64.b64encode(b"\x60\x03\x06\x01").decode(),  # a truncated GSS token
        "Negotiate " + "A" * 70000,
        "Basic " + base64.b64encode(b"alice:" + PASSWORD.encode()).decode(),  # not offered
        "Bearer x",
        "\u00e9\u00e9",
    ],
)
def test_malformed_credentials_get_401_never_2xx_or_5xx(
    engine_factory: Any, users: Path, payload: Path, header: str
) -> None:
    engine = auth_engine(engine_factory, users)
    port = group(engine, payload, ["Negotiate", "NTLM"])
    status, _, body = fetch(
        port, "/Sec/a", headers={"Authorization": header.encode("utf-8").decode("latin-1")}
    )
    assert status == 401 and b"payload" not in body
    assert engine.call("server.status")["pid"]


def test_our_client_downloads_from_our_server_with_ntlm_and_negotiate(
    engine_factory: Any, users: Path, payload: Path, realm: Any, tmp_path: Path
) -> None:
    """The engine's own BITS client against its own file host: NTLM with a password, Negotiate with
    the engine's Kerberos ticket, NTLM inside Negotiate with a password, and a wrong password."""
    engine = auth_engine(
        engine_factory,
        users,
        {k: realm.env[k] for k in ("KRB5_KTNAME", "KRB5_CONFIG", "KRB5CCNAME")},
    )
    port = group(engine, payload, ["Negotiate", "NTLM"])
    url = f"http://localhost:{port}/Sec/a"
    cases = [
        ("ntlm", [{"scheme": "NTLM", "userName": "BCS\\alice", "password": PASSWORD}], "BCS\\alice"),
        ("kerberos", [{"scheme": "Negotiate"}], "alice@BCS.TEST"),
        ("spnego-ntlm", [{"scheme": "Negotiate", "userName": "BCS\\bob", "password": "Bob-pw1"}], None),
    ]
    for name, credentials, user in cases:
        job = engine.call(
            "job.create",
            files=[{"remoteUrl": url, "localPath": str(tmp_path / f"{name}.txt")}],
            priority="Foreground",
            credentials=credentials,
        )
        done = wait_job(engine, job["jobId"], ("Transferred", "Error", "TransientError"))
        assert done["jobState"] == "Transferred", (name, done)
        engine.call("job.complete", jobId=job["jobId"])
        assert (tmp_path / f"{name}.txt").read_bytes() == payload.read_bytes()
        if user is not None:
            log = engine.state_dir / "access.log"
            wait_until(lambda u=user, log=log: f" {u}\n" in log.read_text(), 10, user)
    bad = engine.call(
        "job.create",
        files=[{"remoteUrl": url, "localPath": str(tmp_path / "bad.txt")}],
        priority="Foreground",
        credentials=[{"scheme": "NTLM", "userName": "BCS\\alice", "password": "wrong"}],
    )
    failed = wait_job(engine, bad["jobId"], ("Transferred", "Error", "TransientError"))
    assert (failed["jobState"], failed["errorCode"]) == ("Error", "0x80190191")


def test_auth_set_with_a_principals_map_enforces_sddl_by_user_and_group(
    engine_factory: Any, users: Path, payload: Path, tmp_path: Path
) -> None:
    engine: EngineProcess = engine_factory("authz").start()
    domain = "S-1-5-21-1000-2000-3000"
    got = engine.call(
        "auth.set",
        ntlmUserFile=str(users),
        principals=[
            {"name": "BCS\\alice", "sid": f"{domain}-1001", "groups": [f"{domain}-2001"]},
            {"name": "BCS\\bob", "sid": f"{domain}-1002"},
        ],
    )
    assert got["resolvesSids"] is True and got["ntlmUserFile"] == str(users)
    port = free_port()
    prefix = f"http://+:{port}/Sec/"
    engine.call("urlgroup.create", urlGroup=prefix, authentication=["NTLM"])
    rules = {
        "group": f"D:(A;;FR;;;{domain}-2001)",
        "deny-bob": f"D:(D;;FA;;;{domain}-1002)(A;;FR;;;AU)",
        "du": "D:(A;;GR;;;DU)",  # Domain Users: the domain SID comes from the map; nobody here holds -513
        "open": "",
    }
    for suffix, sddl in rules.items():
        engine.call("url.create", urlGroup=prefix, urlSuffix=suffix, sourcePath=str(payload), sddl=sddl)
    assert engine.call("urlgroup.get", urlGroup=prefix)["enforced"] is True

    def status(user: str, password: str, suffix: str) -> int:
        return curl("--ntlm", "-u", f"{user}:{password}", f"http://127.0.0.1:{port}/Sec/{suffix}")[0]

    assert status("BCS\\alice", PASSWORD, "group") == 200
    assert status("BCS\\bob", "Bob-pw1", "group") == 403
    assert status("BCS\\alice", PASSWORD, "deny-bob") == 200
    assert status("BCS\\bob", "Bob-pw1", "deny-bob") == 403
    assert status("BCS\\alice", PASSWORD, "du") == 403
    assert status("BCS\\bob", "Bob-pw1", "open") == 200
    assert access_lines(engine, 12)[-1].split(" ")[7] == "BCS\\bob"
    text = (engine.state_dir / "access.log").read_text()
    assert "BCS\\bob refused:sddl-denied" in text
    # a user the NTLM file knows but the map does not: refused for SDDL URLs, served where none is set
    write_ntlm_users(users, f"BCS:alice:{PASSWORD}", "BCS:bob:Bob-pw1", "BCS:carol:Carol-pw1")
    assert status("BCS\\carol", "Carol-pw1", "group") == 403
    assert status("BCS\\carol", "Carol-pw1", "open") == 200
    log = engine.state_dir / "access.log"
    wait_until(lambda: "BCS\\carol refused:unknown-principal" in log.read_text(), 10, "carol refused")
    # settings persist; the map goes away with principals=[] and SDDL URLs then refuse everyone
    engine.restart()
    assert engine.call("auth.get")["principals"][0]["name"] == "BCS\\alice"
    assert status("BCS\\alice", PASSWORD, "group") == 200
    assert engine.call("auth.set", principals=[])["resolvesSids"] is False
    assert status("BCS\\alice", PASSWORD, "group") == 403
    assert engine.call("urlgroup.get", urlGroup=prefix)["enforced"] is False


def test_auth_set_refuses_bad_input_and_changes_nothing(engine: EngineProcess, tmp_path: Path) -> None:
    from bcs.rpc.client import RpcError

    before = engine.call("auth.get")
    for params, name in (
        ({"keytabPath": str(tmp_path / "missing.keytab")}, "ERROR_FILE_NOT_FOUND"),
        ({"ntlmUserFile": "relative/users"}, "E_INVALIDARG"),
        ({"principals": [{"name": "BCS\\x", "sid": "S-1-bogus"}]}, "E_INVALIDARG"),
        ({"ldap": {"url": "http://dc", "bindUser": "svc", "bindPassword": "pw"}}, "E_INVALIDARG"),
        ({"ldap": {"url": "ldaps://127.0.0.1:1", "bindUser": "svc"}}, "E_INVALIDARG"),  # no password
    ):
        with pytest.raises(RpcError) as info:
            engine.call("auth.set", **params)
        assert info.value.data["name"] == name, (params, info.value.message)
    assert engine.call("auth.get") == before


def test_auth_set_with_an_empty_ldap_object_removes_the_directory_and_its_password(
    engine_factory: Any, samba_dc: Any
) -> None:
    """``ldap: {}`` (what Set-BcsAuthentication -RemoveLdap and ``bcs auth set --remove-ldap`` send)
    passes the registry although ``url`` and ``bindUser`` are required fields, removes a directory
    the engine really bound to, drops the stored password and stays removed after a restart."""
    from bcs.rpc.client import RpcError

    engine: EngineProcess = engine_factory("ldap").start()
    ldap = {
        "url": samba_dc.ldaps_url,
        "bindUser": samba_dc.bind_user,
        "bindPassword": samba_dc.bind_password,
        "baseDn": samba_dc.base_dn,
        "caPath": str(samba_dc.ca_path),
    }
    got = engine.call("auth.set", ldap=ldap)
    assert got["ldap"]["bindPasswordSet"] is True and got["resolvesSids"] is True
    secrets = engine.state_dir / "secrets.json"
    assert samba_dc.bind_password in secrets.read_text()
    # without bindPassword, the same URL and account keep the stored one (the engine binds with it)
    kept = {k: v for k, v in ldap.items() if k != "bindPassword"}
    got = engine.call("auth.set", ldap={**kept, "cacheSeconds": 120})
    assert got["ldap"]["cacheSeconds"] == 120 and got["ldap"]["bindPasswordSet"] is True
    # a field without url and bindUser is not a removal: the required fields are required again
    with pytest.raises(RpcError) as info:
        engine.call("auth.set", ldap={"baseDn": samba_dc.base_dn})
    assert info.value.data["name"] == "E_INVALIDARG" and "ldap.url" in info.value.message
    removed = engine.call("auth.set", ldap={})
    assert removed["ldap"] is None and removed["resolvesSids"] is False
    assert samba_dc.bind_password not in secrets.read_text()
    assert "bindPassword" not in (engine.state_dir / "config.yaml").read_text()
    engine.restart()
    assert engine.call("auth.get")["ldap"] is None
    assert engine.call("auth.set", ldap={})["ldap"] is None, "removing no directory changes nothing"


def test_basic_over_https_checks_the_ntlm_accounts_and_is_refused_on_http_groups(
    engine_factory: Any, users: Path, tmp_path: Path
) -> None:
    from bcs.rpc.client import RpcError
    from test_client_support import make_cert

    engine = auth_engine(engine_factory, users)
    payload = tmp_path / "f.bin"
    payload.write_bytes(b"for Basic users\n")
    ca = make_cert(tmp_path, "ca", None, ca=True)
    _, _, cert, key = make_cert(tmp_path, "localhost", (ca[0], ca[1]))
    port = free_port()
    prefix = f"https://+:{port}/Sec/"
    engine.call("sslcert.set", port=port, certificatePath=str(cert), keyPath=str(key))
    engine.call("urlgroup.create", urlGroup=prefix, authentication=["NTLM", "Basic"])
    engine.call("url.create", urlGroup=prefix, urlSuffix="f.bin", sourcePath=str(payload))
    url = f"https://localhost:{port}/Sec/f.bin"
    tls = ["--cacert", str(ca[2])]
    raw = subprocess.run(
        ["curl", "-sS", *tls, "-D", "-", "-o", "/dev/null", url],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    offers = [
        line.split(":", 1)[1].strip()
        for line in raw.splitlines()
        if line.lower().startswith("www-authenticate:")
    ]
    assert offers == ["NTLM", 'Basic realm="BITS Compact Server", charset="UTF-8"']
    assert curl(*tls, "--basic", "-u", f"bcs\\alice:{PASSWORD}", url, url) == [200, 200]
    assert curl(*tls, "--basic", "-u", "BCS\\alice:wrong", url) == [401]
    assert curl(*tls, "--basic", "-u", "BCS\\nobody:x", url) == [401]
    lines = access_lines(engine, 5)
    assert [line.split(" ")[7] for line in lines[1:3]] == ["BCS\\alice"] * 2
    assert lines[3].endswith(" refused:rejected")
    with pytest.raises(RpcError) as info:
        engine.call("urlgroup.create", urlGroup=f"http://+:{free_port()}/Plain/", authentication=["Basic"])
    assert info.value.data["name"] == "E_INVALIDARG" and "clear text" in info.value.message


def test_basic_remembers_a_success_for_its_ttl_and_never_a_failure(users: Path) -> None:
    from bcs.auth.basic import BasicVerifier
    from bcs.auth.negotiate import NegotiateAcceptor, Refused
    from bcs.auth.principal import Principal

    now = [0.0]
    verifier = BasicVerifier(NegotiateAcceptor(ntlm_user_file=str(users)), ttl=60, clock=lambda: now[0])

    def token(text: str) -> str:
        return base64.b64encode(text.encode()).decode()

    good = verifier.verify(token(f"BCS\\alice:{PASSWORD}"))
    assert isinstance(good, Principal) and (good.name, good.scheme) == ("BCS\\alice", "Basic")
    assert verifier.verify(token(f"BCS\\alice:{PASSWORD}")) == good and verifier.checks == 1
    for _ in range(2):
        assert isinstance(verifier.verify(token("BCS\\alice:wrong")), Refused)
    assert verifier.checks == 3, "failures are checked every time"
    now[0] = 61.0
    assert verifier.verify(token(f"BCS\\alice:{PASSWORD}")) == good and verifier.checks == 4
    for bad in ("!!", token("no-colon"), token(":pw"), base64.b64encode(b"\xff:x").decode()):
        refused = verifier.verify(bad)
        assert isinstance(refused, Refused) and refused.reason == "malformed-token"
