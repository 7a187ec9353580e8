"""NTLM for domain accounts through Samba's winbind (``auth.ntlmBackend: Winbind``), against a real DC.

The Samba AD DC of ``tests/samba_dc.py`` runs winbindd itself (server services ``winbindd``) with
its socket in the DC's temp directory; ``ntlm_auth`` and ``wbinfo`` only look at the compiled-in
``/run/samba/winbindd`` (Debian's build; no setting or variable moves it outside Samba's own
selftest), so this module bind-mounts the DC's socket directory there (a symlink is refused:
libwbclient ``lstat``s the directory and wants a real root-owned one) and unmounts it at the end.
That is what a domain member has anyway: ``net ads join`` + winbindd, its socket at that place.
A DC's winbindd answers NTLM like a member's (it is the DC checking its own accounts); the
``net ads join`` of a member machine is not exercised here (it would need a second host name
and a second Samba instance on this machine).

Everything here is real: the DC, winbindd, ``ntlm_auth``, curl, pyspnego as a SPNEGO client, LDAP
tokenGroups for the SDDL checks.
"""

from __future__ import annotations

import base64
import contextlib
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

from bcs.auth.negotiate import NegotiateAcceptor, Refused
from bcs.auth.principal import Principal
from bcs.errors import BcsError
from conftest import EngineProcess, free_port
from samba_dc import DOMAIN, PASSWORD, SambaDC
from test_client_support import wait_until
from test_host_http import access_lines

pytestmark = [
    pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed"),
    pytest.mark.skipif(shutil.which("ntlm_auth") is None, reason="Samba's ntlm_auth (winbind) not installed"),
    pytest.mark.skipif(os.geteuid() != 0, reason="the winbindd socket is bind-mounted: needs root"),
]

SOCKET_DIR = Path("/run/samba/winbindd")  # where Debian's ntlm_auth/wbinfo look (compiled in)
PAYLOAD = b"winbind payload\n"


def _mounted(path: Path) -> bool:
    return any(line.split()[1] == str(path) for line in Path("/proc/mounts").read_text().splitlines())


def _wbinfo_ping() -> bool:
    done = subprocess.run(["wbinfo", "-p"], capture_output=True, text=True, timeout=20, check=False)
    return done.returncode == 0


@dataclass
class Winbind:
    source: Path  # the DC's socket directory

    def attach(self) -> None:
        SOCKET_DIR.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            ["mount", "--bind", str(self.source), str(SOCKET_DIR)],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
        if done.returncode != 0:
            pytest.skip(f"cannot bind-mount the DC's winbindd socket on {SOCKET_DIR}: {done.stderr.strip()}")

    def detach(self) -> None:
        if _mounted(SOCKET_DIR):
            subprocess.run(["umount", str(SOCKET_DIR)], capture_output=True, timeout=20, check=False)


@pytest.fixture(scope="module")
def winbind(samba_dc: SambaDC) -> Iterator[Winbind]:
    if SOCKET_DIR.exists() and (_mounted(SOCKET_DIR) or any(SOCKET_DIR.iterdir())):
        pytest.skip(f"{SOCKET_DIR} is in use (a winbindd of this machine?): not touched")
    created = not SOCKET_DIR.exists()
    wb = Winbind(samba_dc.root / "run" / "winbindd")
    deadline = time.monotonic() + 30
    while not (wb.source / "pipe").exists():  # the DC starts winbindd a little after its ports
        if time.monotonic() > deadline:
            pytest.fail(f"the DC's winbindd made no socket in {wb.source}")
        time.sleep(0.2)
    wb.attach()
    try:
        deadline = time.monotonic() + 30
        while not _wbinfo_ping():
            if time.monotonic() > deadline:
                pytest.fail("wbinfo -p: the DC's winbindd does not answer through the bind mount")
            time.sleep(0.5)
        yield wb
    finally:
        wb.detach()
        if created:
            with contextlib.suppress(OSError):
                SOCKET_DIR.rmdir()


@dataclass
class Site:
    engine: EngineProcess
    port: int


@pytest.fixture(scope="module")
def site(samba_dc: SambaDC, winbind: Winbind, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    base = tmp_path_factory.mktemp("winbind")
    payload = base / "payload.txt"
    payload.write_bytes(PAYLOAD)
    engine = EngineProcess(base / "state")
    engine.start()
    try:
        got = engine.call(
            "auth.set",
            ntlmBackend="Winbind",
            ldap={
                "url": samba_dc.ldaps_url,
                "bindUser": samba_dc.bind_user,
                "bindPassword": samba_dc.bind_password,
                "baseDn": samba_dc.base_dn,
                "caPath": str(samba_dc.ca_path),
            },
        )
        assert got["ntlmBackend"] == "Winbind" and got["ntlmUserFile"] == "" and got["resolvesSids"] is True
        port = free_port()
        s = samba_dc.sids
        for prefix, schemes in (("/Ntlm/", ["NTLM"]), ("/Neg/", ["Negotiate"])):
            group = f"http://+:{port}{prefix}"
            engine.call("urlgroup.create", urlGroup=group, authentication=schemes)
            for suffix, sddl in (
                ("open", ""),
                ("engineers", f"D:(A;;GR;;;{s['Engineers']})"),
                ("staff", f"D:(A;;GR;;;{s['Staff']})"),  # alice through Engineers (nested)
            ):
                engine.call(
                    "url.create", urlGroup=group, urlSuffix=suffix, sourcePath=str(payload), sddl=sddl
                )
            assert engine.call("urlgroup.get", urlGroup=group)["enforced"] is True
        yield Site(engine, port)
    finally:
        engine.stop()


def curl(*args: str) -> list[int]:
    """HTTP status of each URL in ``args`` (one curl, one connection when it can)."""
    args = tuple(a for arg in args for a in (("-o", "/dev/null", arg) if arg.startswith("http") else (arg,)))
    done = subprocess.run(
        ["curl", "-sS", "--max-time", "20", "-w", "%{http_code}\\n", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return [int(code) for code in done.stdout.split()]


def helpers_of(engine: EngineProcess) -> list[int]:
    """Process ids of the engine's ``ntlm_auth`` children."""
    assert engine.proc is not None
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            comm = (entry / "comm").read_text().strip()
        except OSError:
            continue
        if int(fields[1]) == engine.proc.pid and comm == "ntlm_auth":
            found.append(int(entry.name))
    return found


def wait_no_helpers(engine: EngineProcess) -> None:
    deadline = time.monotonic() + 10
    while helpers_of(engine):
        assert time.monotonic() < deadline, f"ntlm_auth processes left: {helpers_of(engine)}"
        time.sleep(0.1)


def test_curl_ntlm_with_a_domain_password_is_served_as_domain_user(site: Site) -> None:
    url = f"http://127.0.0.1:{site.port}/Ntlm/open"
    before = len(access_lines(site.engine, 0))
    assert curl("--ntlm", "-u", f"{DOMAIN}\\alice:{PASSWORD}", url, url) == [200, 200]
    lines = access_lines(site.engine, before + 3)[before:]
    assert lines[0].split(" ")[4] == "401"
    assert [(line.split(" ")[4], line.split(" ")[7]) for line in lines[1:3]] == [("200", "BCS\\alice")] * 2
    wait_no_helpers(site.engine)  # the handshake completed: its ntlm_auth is gone


@pytest.mark.parametrize(
    ("user", "password", "why"),
    [
        ("alice", "Wrong-" + PASSWORD, "wrong password"),
        ("carol", PASSWORD, "disabled account"),
        ("nobody", PASSWORD, "unknown account"),
    ],
)
def test_refused_domain_credentials_get_401_with_fresh_challenges(
    site: Site, user: str, password: str, why: str
) -> None:
    url = f"http://127.0.0.1:{site.port}/Ntlm/open"
    before = len(access_lines(site.engine, 0))
    assert curl("--ntlm", "-u", f"{DOMAIN}\\{user}:{password}", url) == [401], why
    last = access_lines(site.engine, before + 2)[-1]
    assert last.endswith(" refused:rejected"), last
    wait_no_helpers(site.engine)


def test_sddl_with_domain_groups_allows_alice_and_denies_bob(site: Site) -> None:
    base = f"http://127.0.0.1:{site.port}/Ntlm/"
    alice, bob = f"{DOMAIN}\\alice:{PASSWORD}", f"{DOMAIN}\\bob:{PASSWORD}"
    assert curl("--ntlm", "-u", alice, base + "engineers", base + "staff") == [200, 200]
    assert curl("--ntlm", "-u", bob, base + "engineers", base + "staff") == [403, 403]
    assert curl("--ntlm", "-u", bob, base + "open") == [200]


def _get(port: int, path: str, client: Any, scheme: str) -> tuple[int, bytes, list[str]]:
    """GET ``path`` on one connection, stepping ``client`` through the challenges; (status, body, users)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        token = client.step()
        for _ in range(4):
            conn.request(
                "GET", path, headers={"Authorization": f"{scheme} {base64.b64encode(token).decode()}"}
            )
            resp = conn.getresponse()
            body = resp.read()
            answers = [
                v.partition(" ")[2]
                for k, v in resp.getheaders()
                if k.lower() == "www-authenticate" and v.lower().startswith(scheme.lower() + " ")
            ]
            if resp.status != 401 or not answers or client.complete:
                return resp.status, body, answers
            token = client.step(base64.b64decode(answers[0]))
        return resp.status, body, answers
    finally:
        conn.close()


def test_negotiate_with_ntlm_inside_spnego_and_bare_ntlm(site: Site) -> None:
    """SPNEGO (gss-spnego helper) and a bare NTLM token under Negotiate (squid helper)."""
    before = len(access_lines(site.engine, 0))
    spnego_client = spnego.client(
        username=f"{DOMAIN}\\alice",
        password=PASSWORD,
        service="HTTP",
        hostname="localhost",
        protocol="negotiate",
    )
    status, body, _ = _get(site.port, "/Neg/staff", spnego_client, "Negotiate")
    assert (status, body) == (200, PAYLOAD)
    assert spnego_client.negotiated_protocol == "ntlm"
    bare = spnego.client(username=f"{DOMAIN}\\bob", password=PASSWORD, protocol="ntlm")
    assert _get(site.port, "/Neg/staff", bare, "Negotiate")[0] == 403
    bare = spnego.client(username=f"{DOMAIN}\\bob", password="Wrong-" + PASSWORD, protocol="ntlm")
    assert _get(site.port, "/Neg/open", bare, "Negotiate")[0] == 401
    users = [line.split(" ")[7] for line in access_lines(site.engine, before + 6)[before:]]
    assert "BCS\\alice" in users and "BCS\\bob" in users
    wait_no_helpers(site.engine)


def test_a_closed_connection_kills_its_pending_helper(site: Site) -> None:
    client = spnego.client(username=f"{DOMAIN}\\alice", password=PASSWORD, protocol="ntlm")
    conn = http.client.HTTPConnection("127.0.0.1", site.port, timeout=20)
    conn.request(
        "GET", "/Ntlm/open", headers={"Authorization": "NTLM " + base64.b64encode(client.step()).decode()}
    )
    resp = conn.getresponse()
    resp.read()
    assert resp.status == 401
    assert len(helpers_of(site.engine)) == 1, "one ntlm_auth for the pending handshake"
    assert site.engine.call("auth.get")["handshakes"]["pendingHandshakes"] == 1
    conn.close()
    wait_no_helpers(site.engine)
    assert site.engine.call("auth.get")["handshakes"]["pendingHandshakes"] == 0


def test_basic_passwords_are_checked_through_winbind_in_process(winbind: Winbind) -> None:
    acceptor = NegotiateAcceptor(ntlm_backend="Winbind")
    assert acceptor.check_password(f"{DOMAIN}\\alice", PASSWORD) == Principal("BCS\\alice", "Basic")
    wrong = acceptor.check_password(f"{DOMAIN}\\alice", "Wrong-" + PASSWORD)
    assert isinstance(wrong, Refused) and wrong.reason == "rejected"
    disabled = acceptor.check_password(f"{DOMAIN}\\carol", PASSWORD)
    assert isinstance(disabled, Refused) and disabled.reason == "rejected"


def test_winbindd_unreachable_fails_closed_with_401_and_a_reason(site: Site, winbind: Winbind) -> None:
    url = f"http://127.0.0.1:{site.port}/Ntlm/open"
    winbind.detach()
    try:
        before = len(access_lines(site.engine, 0))
        assert curl("--ntlm", "-u", f"{DOMAIN}\\alice:{PASSWORD}", url) == [401]
        # curl's legs are 2 or 3 lines (ntlm_auth may answer the NEGOTIATE leg without winbindd and
        # fail only the AUTHENTICATE one): wait for the refusal, whichever line it is, not the 2nd.
        log = site.engine.state_dir / "access.log"
        refused = wait_until(
            lambda: [
                x
                for x in (log.read_text() if log.exists() else "").splitlines()[before:]
                if x.endswith(" refused:unavailable")
            ],
            10,
            "a refused:unavailable line",
        )
        assert all(" 401 " in line for line in refused), refused
        assert "NTLM through winbind is not available" in site.engine.output()
        wait_no_helpers(site.engine)
    finally:
        winbind.attach()
    assert curl("--ntlm", "-u", f"{DOMAIN}\\alice:{PASSWORD}", url) == [200]


def test_auth_set_checks_the_backend(site: Site) -> None:
    with pytest.raises(BcsError, match="UserFile"):
        site.engine.call("auth.set", ntlmBackend="Ldap")
    assert site.engine.call("auth.get")["ntlmBackend"] == "Winbind"


def test_without_ntlm_auth_ntlm_is_refused_as_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail closed: no helper, no login (a hidden ntlm_auth stands for a machine without winbind)."""
    import bcs.auth.winbind as winbind_module

    monkeypatch.setattr(winbind_module, "helper_path", lambda: None)
    acceptor = NegotiateAcceptor(ntlm_backend="Winbind")
    client = spnego.client(username=f"{DOMAIN}\\alice", password=PASSWORD, protocol="ntlm")
    result = acceptor.step(object(), "NTLM", base64.b64encode(client.step()).decode())
    assert isinstance(result, Refused) and result.reason == "unavailable"
    basic = acceptor.check_password(f"{DOMAIN}\\alice", PASSWORD)
    assert isinstance(basic, Refused) and basic.reason == "unavailable"
    with pytest.raises(BcsError, match="ntlm_auth"):
        winbind_module.check_helper()
