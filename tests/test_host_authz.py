"""The authorization matrix, end to end: a real engine whose ``auth.set`` points at a real Samba AD
DC (LDAPS, the ``svc-bcs`` bind account, the fixture's CA), real clients, Samba's ``access_check``
as the judge of every answer (issue 14).

What is real here:
* Kerberos: the Samba DC's own KDC. The service account ``httpsvc`` holds the SPN
  ``HTTP/localhost`` with ``msDS-SupportedEncryptionTypes: 24`` (AES), its keys exported with
  ``samba-tool domain exportkeytab`` into the keytab ``auth.set`` names; the users are ``kinit``'d
  against the DC with their own krb5.conf into their own ticket caches (test-infra.md). Clients
  name the server ``localhost`` (SPN HTTP/localhost).
* NTLM: pyspnego's acceptor on Linux checks only its NTLM user file, never the DC (Windows' SSPI,
  or Samba winbind's ntlm_auth, would ask the DC; neither runs here). So the test writes a user file
  with the same accounts and passwords as the DC (``BCS:alice:<password>``, ...): NTLM proves a
  name with the file, and that name is resolved to SIDs through LDAP like a Kerberos one. The file
  also lists the disabled ``carol``: NTLM accepts her password, the directory refuses her.
* Names to SIDs: the engine's resolver (``bcs.auth.sids``) over LDAPS, ``tokenGroups`` for nested
  groups. The oracle's tokens are read independently from the DC's sam.ldb (``tests/sddl_oracle.py``)
  and checked equal to what the resolver reads.

The matrix: schemes (pyspnego on http.client, one connection per case: raw NTLM, NTLM inside
SPNEGO, a bare NTLM token under ``Negotiate`` as Windows sends it, Kerberos inside SPNEGO; and
anonymous) x SDDLs (allow user, allow nested group, deny before allow, deny a group containing the
user, no SDDL, an empty DACL, ``WD``, ``AU``, ``DU``, hex masks, ``AN``, a NULL DACL) x users
(``alice`` in the nested group, ``bob`` not in it, disabled, a wrong password, anonymous), in a
group with ``[Negotiate, NTLM]`` and, for anonymous, in a group without authentication. Expected:
* wrong password, or anonymous in the authenticating group: 401;
* disabled (``carol`` by NTLM; ``erin`` by Kerberos, with a ticket she got before she was disabled,
  since the KDC refuses disabled accounts a ticket): 403, refused at SID resolution;
* everyone else: Samba's ``access_check`` on the URL's effective descriptor (no SDDL: ``D:(A;;FA;;;AU)``
  in an authenticating group, a NULL DACL in an anonymous one) and the user's real token
  (objectSid + tokenGroups from the DC, plus Everyone, Authenticated Users and Network; anonymous:
  Anonymous Logon and Network), desired FILE_READ_DATA: 200 when granted, else 403.
A few cases go through ``curl --ntlm`` and ``curl --negotiate -u :`` too. ``pytest -s`` prints the
summary table.

Run: ``PYTHONPATH=engine .venv/bin/python -m pytest -s tests/test_host_authz.py`` (needs Samba,
python3-samba, krb5-user and curl; the DC takes ~20 s to come up).
"""

from __future__ import annotations

import base64
import http.client
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import spnego

from auth_support import write_ntlm_users
from bcs.auth.principal import Principal
from bcs.auth.sids import SidResolver
from bcs.config import LdapConfig
from conftest import EngineProcess, free_port
from samba_dc import DOMAIN, PASSWORD, REALM, SYSTEM_PYTHON, SambaDC
from sddl_oracle import decide, oracle_sddl, samba_available

pytestmark = [
    pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed"),
    pytest.mark.skipif(shutil.which("kinit") is None, reason="krb5-user (kinit) not installed"),
]

EVERYONE, AUTHENTICATED_USERS, NETWORK, ANONYMOUS_LOGON = "S-1-1-0", "S-1-5-11", "S-1-5-2", "S-1-5-7"
READ = 0x1  # FILE_READ_DATA: what GET needs
PAYLOAD = b"the protected payload\n"
CACHE_SECONDS = 30  # the matrix's; the outage test sets a short one
WRONG = "Wrong-" + PASSWORD
NEW_USERS = ("httpsvc", "erin", "frank")  # made here, removed at the end: erin is disabled, frank unseen


# --- the DC: service account, extra users, tickets -----------------------------------------------------
_SAMDB = """
import sys, ldb
from samba.auth import system_session
from samba.param import LoadParm
from samba.samdb import SamDB
lp = LoadParm()
lp.load(sys.argv[1])
db = SamDB(url=lp.private_path("sam.ldb"), session_info=system_session(), lp=lp)
password = sys.argv[2]
"""
_PREPARE = f"""
for user in {NEW_USERS!r}:
    db.newuser(user, password)
db.setexpiry("(sAMAccountName=httpsvc)", 0, no_expiry_req=True)
found = db.search(db.domain_dn(), expression="(sAMAccountName=httpsvc)", attrs=[])
change = ldb.Message(found[0].dn)
change["servicePrincipalName"] = ldb.MessageElement("HTTP/localhost", ldb.FLAG_MOD_ADD, "servicePrincipalName")
change["msDS-SupportedEncryptionTypes"] = ldb.MessageElement(
    "24", ldb.FLAG_MOD_REPLACE, "msDS-SupportedEncryptionTypes")
db.modify(change)
"""
_DISABLE_ERIN = 'db.disable_account("(sAMAccountName=erin)")\n'
_CLEANUP = f"""
for user in {NEW_USERS!r}:
    try:
        db.deleteuser(user)
    except Exception:
        pass
"""


def samdb(dc: SambaDC, code: str) -> None:
    """Run ``code`` with ``db`` (the DC's SamDB, as samba-tool opens it) in the system Python."""
    done = subprocess.run(
        [SYSTEM_PYTHON, "-c", _SAMDB + code, str(dc.conf), PASSWORD],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]


@dataclass
class Kerberos:
    keytab: Path
    env: dict[str, str]  # KRB5_CONFIG and PATH for clients
    ccaches: dict[str, str]  # user -> KRB5CCNAME
    refused: dict[str, str]  # what kinit said for the disabled carol and a wrong password


def kinit(
    env: dict[str, str], principal: str, password: str, ccache: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["kinit", principal],
        env={**env, "KRB5CCNAME": ccache},
        input=password + "\n",
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.fixture(scope="module")
def kerberos(samba_dc: SambaDC, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kerberos]:
    """``httpsvc`` with its keytab, tickets for alice, bob and erin (then disabled), from the DC's KDC."""
    base = tmp_path_factory.mktemp("kerberos")
    conf = base / "krb5.conf"
    conf.write_text(
        f"""[libdefaults]
 default_realm = {REALM}
 dns_lookup_kdc = false
 dns_lookup_realm = false
 rdns = false
 dns_canonicalize_hostname = false
 udp_preference_limit = 1
[realms]
 {REALM} = {{
  kdc = 127.0.0.1:88
 }}
[domain_realm]
 localhost = {REALM}
"""
    )
    env = {"KRB5_CONFIG": str(conf), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    samdb(samba_dc, _CLEANUP)  # a run killed before its teardown may have left them
    samdb(samba_dc, _PREPARE)
    try:
        keytab = base / "http.keytab"
        samba_dc.samba_tool("domain", "exportkeytab", str(keytab), "--principal=HTTP/localhost")
        ccaches = {}
        for user in ("alice", "bob", "erin"):
            ccaches[user] = f"FILE:{base / user}.cc"
            done = kinit(env, f"{user}@{REALM}", PASSWORD, ccaches[user])
            assert done.returncode == 0, done.stderr
            # The service ticket too, while the account is enabled: the KDC may refuse a disabled
            # account's TGS request, and the cached ticket is what a client would still hold.
            kvno = subprocess.run(
                ["kvno", "HTTP/localhost"],
                env={**env, "KRB5CCNAME": ccaches[user]},
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
            assert kvno.returncode == 0, kvno.stderr
        samdb(samba_dc, _DISABLE_ERIN)  # her ticket stays valid: only the SID check can refuse her
        refused = {
            "carol": kinit(env, f"carol@{REALM}", PASSWORD, f"FILE:{base}/carol.cc").stderr,
            "wrong": kinit(env, f"alice@{REALM}", WRONG, f"FILE:{base}/wrong.cc").stderr,
        }
        yield Kerberos(keytab, env, ccaches, refused)
    finally:
        samdb(samba_dc, _CLEANUP)


# --- the engine ---------------------------------------------------------------------------------------
@dataclass
class Site:
    engine: EngineProcess
    port: int
    sddls: dict[str, str]  # URL suffix -> SDDL ("" = none)
    ldap: dict[str, Any]  # auth.set's ldap parameter


AUTH, OPEN = "/Sec/", "/Open/"  # a group with [Negotiate, NTLM], one without authentication


def sddls_for(dc: SambaDC) -> dict[str, str]:
    s = dc.sids
    return {
        "allow-user": f"D:(A;;FR;;;{s['alice']})",
        "allow-nested-group": f"D:(A;;GR;;;{s['Staff']})",  # alice is in Engineers, Engineers in Staff
        "deny-before-allow": f"D:(D;;GA;;;{s['alice']})(A;;GA;;;AU)",
        "deny-group-of-user": f"D:(D;;FA;;;{s['Engineers']})(A;;GR;;;WD)",
        "no-sddl": "",
        "empty-dacl": "D:",
        "everyone": "D:(A;;GR;;;WD)",
        "authenticated-users": "D:(A;;GR;;;AU)",
        "domain-users": "D:(A;;GR;;;DU)",  # DU needs the domain SID, from LDAP
        "hex-mask": f"D:(A;;0x1;;;{s['Engineers']})(A;;0x00120116;;;WD)",  # read for Engineers, write for all
        "anonymous-logon": "D:(A;;0x120089;;;AN)",
        "null-dacl": "D:NO_ACCESS_CONTROL",
    }


@pytest.fixture(scope="module")
def site(samba_dc: SambaDC, kerberos: Kerberos, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    base = tmp_path_factory.mktemp("authz")
    payload = base / "payload.txt"
    payload.write_bytes(PAYLOAD)
    users = write_ntlm_users(
        base / "ntlm-users", *(f"{DOMAIN}:{u}:{PASSWORD}" for u in ("alice", "bob", "carol", "frank"))
    )
    engine = EngineProcess(base / "state")
    # The DC's lookups must fail fast once it is paused, and be retried soon after it is back.
    tuned = {
        "BCS_TEST_LDAP_CONNECT_TIMEOUT": "2",
        "BCS_TEST_LDAP_RECEIVE_TIMEOUT": "2",
        "BCS_TEST_LDAP_RETRY_SECONDS": "1",
    }
    engine.start(env=tuned)
    try:
        ldap = {
            "url": samba_dc.ldaps_url,
            "bindUser": samba_dc.bind_user,
            "bindPassword": samba_dc.bind_password,
            "baseDn": samba_dc.base_dn,
            "caPath": str(samba_dc.ca_path),
            "cacheSeconds": CACHE_SECONDS,
        }
        got = engine.call("auth.set", keytabPath=str(kerberos.keytab), ntlmUserFile=str(users), ldap=ldap)
        assert got["resolvesSids"] is True and got["ldap"]["bindPasswordSet"] is True
        assert samba_dc.bind_password not in str(got)
        port = free_port()
        sddls = sddls_for(samba_dc)
        for prefix, schemes in ((AUTH, ["Negotiate", "NTLM"]), (OPEN, [])):
            group = f"http://+:{port}{prefix}"
            engine.call("urlgroup.create", urlGroup=group, authentication=schemes)
            for suffix, sddl in sddls.items():
                engine.call(
                    "url.create", urlGroup=group, urlSuffix=suffix, sourcePath=str(payload), sddl=sddl
                )
            assert engine.call("urlgroup.get", urlGroup=group)["enforced"] is True
        yield Site(engine, port, sddls, ldap)
    finally:
        engine.stop()


# --- clients ------------------------------------------------------------------------------------------
def challenges(resp: http.client.HTTPResponse, scheme: str) -> str | None:
    """The token of the ``WWW-Authenticate: <scheme> <token>`` header, if any."""
    for name, value in resp.getheaders():
        kind, _, token = value.partition(" ")
        if name.lower() == "www-authenticate" and kind.lower() == scheme.lower() and token:
            return token
    return None


@dataclass
class Outcome:
    status: int
    body: bytes
    headers: dict[str, str]
    protocol: str  # what the client context negotiated ("" when none)
    mutual: bool  # the server's last token completed the client's context (Kerberos)


def handshake(port: int, path: str, client: Any, scheme: str) -> Outcome:
    """GET ``path`` on a new connection, stepping ``client`` through the server's challenges."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        token = client.step()
        for _ in range(4):
            conn.request(
                "GET", path, headers={"Authorization": f"{scheme} {base64.b64encode(token).decode()}"}
            )
            resp = conn.getresponse()
            body = resp.read()
            answer = challenges(resp, scheme)
            if resp.status != 401 or answer is None or client.complete:
                break
            token = client.step(base64.b64decode(answer))
            if not token:
                break
        mutual = False
        if resp.status == 200 and answer is not None and not client.complete:
            client.step(base64.b64decode(answer))
            mutual = bool(client.complete)
        protocol = ""
        try:
            protocol = str(client.negotiated_protocol or "")
        except Exception:
            protocol = ""
        return Outcome(resp.status, body, {k.lower(): v for k, v in resp.getheaders()}, protocol, mutual)
    finally:
        conn.close()


def anonymous_get(port: int, path: str) -> Outcome:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return Outcome(resp.status, resp.read(), {k.lower(): v for k, v in resp.getheaders()}, "", False)
    finally:
        conn.close()


# Mechanisms: (Authorization scheme, how the client context is made, the protocol it must negotiate).
MECHANISMS = {
    "NTLM": ("NTLM", "ntlm", "ntlm"),
    "Negotiate(SPNEGO/NTLM)": ("Negotiate", "negotiate", "ntlm"),
    "Negotiate(bare NTLM)": ("Negotiate", "ntlm", "ntlm"),
    "Negotiate(SPNEGO/Kerberos)": ("Negotiate", "kerberos", "kerberos"),
}
# Who each matrix user is, per kind of mechanism: (NTLM user, password) or a Kerberos ticket owner.
NTLM_USERS = {
    "alice": ("alice", PASSWORD),
    "bob": ("bob", PASSWORD),
    "disabled": ("carol", PASSWORD),
    "wrong-password": ("alice", WRONG),
}
KERBEROS_USERS = {"alice": "alice", "bob": "bob", "disabled": "erin"}  # wrong password: kinit refuses
ACCOUNTS = {"alice", "bob"}  # whose tokens the oracle reads


def client_for(mechanism: str, user: str, kerberos: Kerberos) -> Any:
    _, protocol, _ = MECHANISMS[mechanism]
    if protocol == "kerberos":
        ccache = spnego.KerberosCCache(ccache=kerberos.ccaches[KERBEROS_USERS[user]])
        return spnego.client(ccache, hostname="localhost", service="HTTP", protocol="negotiate")
    name, password = NTLM_USERS[user]
    return spnego.client(
        f"{DOMAIN}\\{name}", password, hostname="localhost", service="HTTP", protocol=protocol
    )


# --- the matrix ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    via: str  # a MECHANISMS key, "anonymous", or "curl --ntlm" / "curl --negotiate"
    user: str  # alice, bob, disabled, wrong-password, anonymous
    group: str  # AUTH or OPEN
    suffix: str

    @property
    def path(self) -> str:
        return f"{self.group}{self.suffix}"


def matrix_cases(sddls: dict[str, str]) -> list[Case]:
    cases = []
    for suffix in sddls:
        for mechanism, (_, protocol, _) in MECHANISMS.items():
            users = KERBEROS_USERS if protocol == "kerberos" else NTLM_USERS
            cases += [Case(mechanism, user, AUTH, suffix) for user in users]
        cases.append(Case("anonymous", "anonymous", AUTH, suffix))
        cases.append(Case("anonymous", "anonymous", OPEN, suffix))
    return cases


def effective_sddl(sddl: str, group: str) -> str:
    """What a URL's descriptor means: no SDDL is any authenticated user, or everyone without authentication."""
    if sddl:
        return sddl
    return "D:(A;;FA;;;AU)" if group == AUTH else "D:NO_ACCESS_CONTROL"


def oracle_job(case: Case, sddls: dict[str, str]) -> dict[str, Any] | None:
    """What the oracle decides for ``case``; None when authentication decides before any access check."""
    if case.user in ("wrong-password", "disabled") or (case.user == "anonymous" and case.group == AUTH):
        return None
    job: dict[str, Any] = {
        "sddl": oracle_sddl(effective_sddl(sddls[case.suffix], case.group)),
        "desired": READ,
    }
    if case.user == "anonymous":
        job["sids"] = [ANONYMOUS_LOGON, NETWORK]
    else:
        job["user"] = case.user
        job["sids"] = [EVERYONE, AUTHENTICATED_USERS, NETWORK]
    return job


def expected_status(case: Case, granted: bool | None) -> int:
    if case.user == "wrong-password" or (case.user == "anonymous" and case.group == AUTH):
        return 401
    if case.user == "disabled":
        return 403
    assert granted is not None
    return 200 if granted else 403


def judge(site: Site, samba_dc: SambaDC, cases: list[Case]) -> tuple[dict[Case, int], dict[str, list[str]]]:
    """Samba's expected status per case, and the tokens it read."""
    jobs = [oracle_job(c, site.sddls) for c in cases]
    answer = decide(
        samba_dc.domain_sid,
        [j for j in jobs if j is not None],
        samdb=samba_dc.conf,
        users=sorted(ACCOUNTS),
    )
    decisions = iter(answer["decisions"])
    expected = {
        c: expected_status(c, None if j is None else next(decisions))
        for c, j in zip(cases, jobs, strict=True)
    }
    return expected, answer["tokens"]


def summary(rows: list[tuple[Case, int, int]]) -> str:
    """A small table: per way of asking, cases, agreements, unauthorized 2xx, wrongly refused."""
    lines = [f"{'scheme':28} {'cases':>5} {'agree':>5} {'unauth 2xx':>10} {'wrongly refused':>15}"]
    for via in dict.fromkeys(c.via for c, _, _ in rows):
        mine = [(c, e, g) for c, e, g in rows if c.via == via]
        lines.append(
            f"{via:28} {len(mine):5} {sum(e == g for _, e, g in mine):5} "
            f"{sum(200 <= g < 300 and e != g for _, e, g in mine):10} "
            f"{sum(e == 200 and g != 200 for _, e, g in mine):15}"
        )
    total = [sum(e == g for _, e, g in rows), sum(200 <= g < 300 and e != g for _, e, g in rows)]
    lines.append(
        f"{'total':28} {len(rows):5} {total[0]:5} {total[1]:10} {sum(e == 200 and g != 200 for _, e, g in rows):15}"
    )
    return "\n".join(lines)


def test_the_authorization_matrix_agrees_with_samba_case_by_case(
    site: Site, samba_dc: SambaDC, kerberos: Kerberos, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not samba_available():
        pytest.skip("Samba's Python bindings (python3-samba for /usr/bin/python3) are not installed")
    monkeypatch.setenv("KRB5_CONFIG", kerberos.env["KRB5_CONFIG"])  # pyspnego's Kerberos asks the DC's KDC
    # The KDC refuses the disabled carol and a wrong password: those users have no Kerberos token.
    assert "revoked" in kerberos.refused["carol"].lower(), kerberos.refused["carol"]
    assert kerberos.refused["wrong"], "kinit with a wrong password succeeded"
    t0 = time.monotonic()
    cases = matrix_cases(site.sddls)
    expected, tokens = judge(site, samba_dc, cases)
    # The oracle's tokens (sam.ldb) are the ones the engine's resolver reads over LDAPS.
    ldap = LdapConfig(
        url=samba_dc.ldaps_url,
        bind_user=samba_dc.bind_user,
        bind_password_set=True,
        ca_path=str(samba_dc.ca_path),
    )
    with SidResolver(ldap, bind_password=PASSWORD) as resolver:
        for user in ACCOUNTS:
            sids = resolver.resolve(Principal(f"{DOMAIN}\\{user}", "NTLM")).sids
            assert set(sids) == {*tokens[user], EVERYONE, AUTHENTICATED_USERS, NETWORK}, user
    assert samba_dc.sids["Staff"] in tokens["alice"] and samba_dc.sids["Staff"] not in tokens["bob"]
    rows: list[tuple[Case, int, int]] = []
    for case in cases:
        if case.via == "anonymous":
            got = anonymous_get(site.port, case.path)
        else:
            scheme, _, protocol = MECHANISMS[case.via]
            got = handshake(site.port, case.path, client_for(case.via, case.user, kerberos), scheme)
            if got.status != 401:
                assert got.protocol == protocol, (case, got.protocol)
            if protocol == "kerberos" and got.status == 200:
                assert got.mutual, f"{case}: the server's mutual-authentication token did not verify"
        assert (got.body == PAYLOAD) == (got.status == 200), case
        if got.status in (401, 403):
            assert PAYLOAD not in got.body and got.headers["bits-error-code"] in ("0x80190191", "0x80070005")
        rows.append((case, expected[case], got.status))
    elapsed = time.monotonic() - t0
    print(f"\nauthorization matrix ({len(cases)} cases, {elapsed:.1f} s, oracle and resolver included)")
    print(summary(rows))
    wrong = [f"{c.via} {c.user} {c.path}: expected {e}, got {g}" for c, e, g in rows if e != g]
    assert wrong == [], "\n".join(wrong)
    statuses = {g for _, _, g in rows}
    assert statuses == {200, 401, 403}  # the matrix exercises every answer


# --- curl ---------------------------------------------------------------------------------------------
def curl(url: str, *args: str, env: dict[str, str] | None = None) -> int:
    done = subprocess.run(
        ["curl", "-sS", "--max-time", "20", "-o", "/dev/null", "-w", "%{http_code}", *args, url],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return int(done.stdout)


def test_curl_ntlm_and_negotiate_agree_with_samba(site: Site, samba_dc: SambaDC, kerberos: Kerberos) -> None:
    if not samba_available():
        pytest.skip("Samba's Python bindings (python3-samba for /usr/bin/python3) are not installed")
    ntlm = [
        Case("curl --ntlm", user, AUTH, suffix)
        for user, suffix in (
            ("alice", "allow-nested-group"),
            ("bob", "allow-nested-group"),
            ("alice", "deny-group-of-user"),
            ("disabled", "everyone"),
            ("wrong-password", "everyone"),
        )
    ]
    negotiate = [
        Case("curl --negotiate", user, AUTH, suffix)
        for user, suffix in (
            ("alice", "allow-user"),
            ("bob", "allow-user"),
            ("bob", "deny-group-of-user"),
            ("disabled", "no-sddl"),
        )
    ]
    expected, _ = judge(site, samba_dc, ntlm + negotiate)
    rows = []
    for case in ntlm:
        name, password = NTLM_USERS[case.user]
        got = curl(f"http://127.0.0.1:{site.port}{case.path}", "--ntlm", "-u", f"{DOMAIN}\\{name}:{password}")
        rows.append((case, expected[case], got))
    for case in negotiate:
        env = {**kerberos.env, "KRB5CCNAME": kerberos.ccaches[KERBEROS_USERS[case.user]]}
        got = curl(f"http://localhost:{site.port}{case.path}", "--negotiate", "-u", ":", env=env)
        rows.append((case, expected[case], got))
    print("\n" + summary(rows))
    assert [(c.via, c.user, c.suffix, g) for c, _, g in rows] == [
        (c.via, c.user, c.suffix, e) for c, e, _ in rows
    ]


# --- malformed credentials -----------------------------------------------------------------------------
class _Replay:
    """A stand-in client context that sends ``tokens`` in order (for a token captured earlier)."""

    def __init__(self, tokens: list[bytes]) -> None:
        self.tokens = tokens
        self.complete = False
        self.negotiated_protocol = "kerberos"

    def step(self, data: bytes | None = None) -> bytes | None:
        if data is not None or not self.tokens:
            self.complete = True
            return None
        return self.tokens.pop(0)


def test_malformed_and_replayed_credentials_never_get_2xx_or_5xx_on_an_sddl_url(
    site: Site, kerberos: Kerberos, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On ``everyone`` (any authenticated user may read), so any 2xx would be a hole in authentication.

    The replayed Kerberos AP-REQ is refused by MIT Kerberos' replay cache (GSSAPI: "Request is a
    replay"), which the acceptor's library keeps in /var/tmp/krb5_<uid>.rcache2.
    """
    monkeypatch.setenv("KRB5_CONFIG", kerberos.env["KRB5_CONFIG"])
    path = f"{AUTH}everyone"
    port = site.port

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    # A real NTLM handshake for alice, its messages kept for replays.
    client = spnego.client(
        f"{DOMAIN}\\alice", PASSWORD, hostname="localhost", service="HTTP", protocol="ntlm"
    )
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    type1 = client.step()
    conn.request("GET", path, headers={"Authorization": f"NTLM {b64(type1)}"})
    resp = conn.getresponse()
    resp.read()
    challenge = challenges(resp, "NTLM")
    assert resp.status == 401 and challenge
    type3 = client.step(base64.b64decode(challenge))
    conn.request("GET", path, headers={"Authorization": f"NTLM {b64(type3)}"})
    resp = conn.getresponse()
    assert (resp.status, resp.read()) == (200, PAYLOAD)
    conn.close()
    # A real Kerberos AP-REQ for alice, used once, kept for a replay.
    kclient = spnego.client(
        spnego.KerberosCCache(ccache=kerberos.ccaches["alice"]), hostname="localhost", service="HTTP"
    )
    ap_req = kclient.step()
    assert handshake(port, path, _Replay([ap_req]), "Negotiate").status == 200

    def after_type1(token: str) -> int:
        """``token`` as the second leg of a fresh NTLM handshake on a new connection."""
        fresh = spnego.client(
            f"{DOMAIN}\\alice", PASSWORD, hostname="localhost", service="HTTP", protocol="ntlm"
        )
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
        try:
            c.request("GET", path, headers={"Authorization": f"NTLM {b64(fresh.step())}"})
            r = c.getresponse()
            r.read()
            assert r.status == 401
            c.request("GET", path, headers={"Authorization": token})
            r = c.getresponse()
            assert PAYLOAD not in r.read()
            return r.status
        finally:
            c.close()

    def alone(header: str) -> int:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
        try:
            c.putrequest("GET", path)
            c.putheader("Authorization", header.encode("latin-1", "replace"))
            c.endheaders()
            r = c.getresponse()
            assert PAYLOAD not in r.read()
            return r.status
        finally:
            c.close()

    results = {
        "no token": alone("NTLM"),
        "not base64": alone("NTLM !!!not-base64!!!"),
        "bad base64 padding": alone("Negotiate Zm9v="),
        "truncated NTLM type 1": alone(f"NTLM {b64(type1[:10])}"),
        "truncated GSS token": alone(f"Negotiate {b64(ap_req[:12])}"),
        "truncated SPNEGO Kerberos token": alone(f"Negotiate {b64(ap_req[: len(ap_req) // 2])}"),
        "Kerberos token under NTLM": alone(f"NTLM {b64(ap_req)}"),
        "over-long token": alone("Negotiate " + "A" * 60000),
        "replayed type 3, new connection": alone(f"NTLM {b64(type3)}"),
        "replayed type 3 under Negotiate": alone(f"Negotiate {b64(type3)}"),
        "replayed type 3 after a new type 1": after_type1(f"NTLM {b64(type3)}"),
        "truncated type 3 after a type 1": after_type1(f"NTLM {b64(type3[: len(type3) // 2])}"),
        "random bytes after a type 1": after_type1(f"NTLM {b64(os.urandom(96))}"),
        "replayed Kerberos AP-REQ, new connection": alone(f"Negotiate {b64(ap_req)}"),
    }
    print("\n" + "\n".join(f"{name:42} {status}" for name, status in results.items()))
    bad = {name: status for name, status in results.items() if not 400 <= status < 500}
    assert bad == {}
    assert site.engine.call("server.status")["pid"]


# --- the directory failing ----------------------------------------------------------------------------
def test_a_hung_dc_gives_503_for_uncached_users_until_it_is_back(site: Site, samba_dc: SambaDC) -> None:
    """SIGSTOP the DC (its ports stay open and answer nothing, the worst kind of outage): a user the
    resolver has not cached gets 503 + Retry-After + ERROR_DS_UNAVAILABLE, never the file; a cached
    user keeps her answer until cacheSeconds; once the DC is back, everyone is served again."""
    ttl = 4
    engine = site.engine
    engine.call("auth.set", ldap={**site.ldap, "cacheSeconds": ttl})  # a new resolver, empty cache
    try:
        outage(site, samba_dc, ttl)
    finally:
        engine.call("auth.set", ldap=site.ldap)  # the matrix's settings again


def outage(site: Site, samba_dc: SambaDC, ttl: int) -> None:
    port = site.port

    def ntlm(user: str, suffix: str) -> Outcome:
        client = spnego.client(
            f"{DOMAIN}\\{user}", PASSWORD, hostname="localhost", service="HTTP", protocol="ntlm"
        )
        return handshake(port, f"{AUTH}{suffix}", client, "NTLM")

    assert ntlm("alice", "allow-nested-group").status == 200
    cached_at = time.monotonic()
    samba_dc.pause()
    try:
        seen: list[tuple[float, str, int]] = []
        for suffix in ("allow-nested-group", "everyone", "no-sddl"):
            t0 = time.monotonic()
            got = ntlm("frank", suffix)
            seen.append((time.monotonic() - t0, suffix, got.status))
            assert got.status == 503, (suffix, got.status)
            assert int(got.headers["retry-after"]) >= 1
            assert got.headers["bits-error-code"] == "0x8007200F"
            assert PAYLOAD not in got.body
        assert max(s for s, _, _ in seen) < 6.0, seen  # bounded by the LDAP timeouts (2 s here)
        # alice is cached: served until her entry is cacheSeconds old, then undecided, never served stale.
        served_until = 0.0
        while time.monotonic() - cached_at < ttl + 2:
            asked = time.monotonic() - cached_at
            got = ntlm("alice", "allow-nested-group")
            answered = time.monotonic() - cached_at
            if got.status == 200:  # her entry was read before cached_at: stale from ttl on
                assert asked < ttl, f"served from a stale entry {asked:.1f} s old"
                served_until = asked
            else:
                assert got.status == 503, got.status
                assert answered >= ttl - 1.5, f"refused at {answered:.1f} s, her entry was fresh"
            time.sleep(0.2)
        assert served_until > 1.0  # she was served from the cache while the DC hung
        assert ntlm("alice", "allow-nested-group").status == 503
        # Anonymous requests in the group without authentication need no directory.
        assert anonymous_get(port, f"{OPEN}no-sddl").status == 200
    finally:
        samba_dc.resume()
    # Back: after the retry window (1 s here) the next lookup reconnects.
    deadline = time.monotonic() + 15
    while (status := ntlm("frank", "everyone").status) != 200 and time.monotonic() < deadline:
        assert status == 503
        time.sleep(0.3)
    assert status == 200
    assert ntlm("alice", "allow-nested-group").status == 200
    assert ntlm("bob", "allow-nested-group").status == 403
