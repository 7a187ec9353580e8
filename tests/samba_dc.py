"""A real Samba Active Directory domain controller on loopback, for the authentication tests.

No tests here. ``conftest.py`` turns ``running_dc`` into the session fixture ``samba_dc``; the SID
resolver tests and the authorization-matrix tests share it.

The recipe is test-infra.md's (provision into a temporary directory, smb.conf edits, ``samba -i``,
wait for 636), plus:
* the DC's TLS certificate is ours (CN/SAN localhost and 127.0.0.1, signed by a test CA), so clients
  verify it for real; Samba's self-made certificate names ``dc1.bcs.test``, which nothing here resolves;
* the users and groups are made with Samba's own Python API (``samba.samdb.SamDB``, what
  ``samba-tool user add`` calls) in one system-Python process before the DC starts: one process
  instead of a dozen ``samba-tool`` runs of ~1.5 s each;
* LDAP and Kerberos ports are fixed (one DC per machine): the DC runs only while this process holds
  an exclusive lock on ``LOCK_PATH``; another test process waits for it (``BCS_TEST_SAMBA_WAIT``
  seconds, default 240) and then skips. A DC left behind by a killed test run (its process group
  in ``PID_PATH``) is stopped by the next holder of the lock.

Directory content (password ``PASSWORD`` for every user):
* ``alice``: member of ``Engineers``, which is a member of ``Staff`` (nested);
* ``bob``: in no group of ours;
* ``carol``: disabled;
* ``svc-bcs``: the service account the SID resolver binds with (password never expires).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from test_client_support import make_cert

REALM = "BCS.TEST"
DOMAIN = "BCS"
ADMIN_PASSWORD = "AdminPassw0rd!"
PASSWORD = "Passw0rd-1234"
SERVICE_USER = "svc-bcs"
USERS = ("alice", "bob", "carol", SERVICE_USER)
GROUPS = ("Engineers", "Staff")
LDAPS_PORT = 636
LDAP_PORT = 389
KDC_PORT = 88
PACKAGES = ("samba", "samba-ad-dc", "samba-ad-provision", "samba-dsdb-modules", "python3-samba")
LOCK_PATH = Path(os.environ.get("BCS_TEST_SAMBA_LOCK", "/tmp/bcs-samba-dc.lock"))
PID_PATH = LOCK_PATH.with_suffix(".pid")
SYSTEM_PYTHON = "/usr/bin/python3"  # Samba's bindings live in the system Python, not in the venv

# Run by the system Python with Samba's bindings: the users, groups and memberships above.
_POPULATE = """
import json, sys
from samba.auth import system_session
from samba.param import LoadParm
from samba.samdb import SamDB

conf, password = sys.argv[1], sys.argv[2]
lp = LoadParm()
lp.load(conf)
db = SamDB(url=lp.private_path("sam.ldb"), session_info=system_session(), lp=lp)
for user in ("alice", "bob", "carol", "svc-bcs"):
    db.newuser(user, password)
db.setexpiry("(sAMAccountName=svc-bcs)", 0, no_expiry_req=True)
db.disable_account("(sAMAccountName=carol)")
for group in ("Engineers", "Staff"):
    db.newgroup(group)
db.add_remove_group_members("Engineers", ["alice"], add_members_operation=True)
db.add_remove_group_members("Staff", ["Engineers"], add_members_operation=True)
sids = {}
for name in ("alice", "bob", "carol", "svc-bcs", "Engineers", "Staff"):
    res = db.search(db.domain_dn(), expression="(sAMAccountName=%s)" % name, attrs=["objectSid"])
    sids[name] = str(db.schema_format_value("objectSid", res[0]["objectSid"][0]).decode())
sids["domain"] = str(db.get_domain_sid())
print(json.dumps(sids))
"""


def missing_packages(wait: float = 0.0) -> list[str]:
    """The Samba packages not installed; re-checked for ``wait`` seconds (apt may be installing them)."""
    deadline = time.monotonic() + wait
    while True:
        missing = [
            pkg
            for pkg in PACKAGES
            if subprocess.run(["dpkg", "-s", pkg], capture_output=True, check=False).returncode != 0
        ]
        if not missing or time.monotonic() >= deadline:
            return missing
        time.sleep(5)


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


class SambaDC:
    """One provisioned domain controller in ``root``; ``start``/``stop``/``pause``/``resume`` it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.conf = root / "etc" / "smb.conf"
        self.tls = root / "tls"
        self.ca_path = self.tls / "ca.crt"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = root / "samba.out"
        self.sids: dict[str, str] = {}
        self.timings: dict[str, float] = {}

    # --- facts for clients ---------------------------------------------------------------------------
    ldaps_url = f"ldaps://127.0.0.1:{LDAPS_PORT}"
    ldap_url = f"ldap://localhost:{LDAP_PORT}"  # StartTLS
    base_dn = "DC=bcs,DC=test"
    bind_user = f"{SERVICE_USER}@bcs.test"
    bind_password = PASSWORD

    @property
    def domain_sid(self) -> str:
        return self.sids["domain"]

    # --- life cycle ----------------------------------------------------------------------------------
    def provision(self) -> None:
        t0 = time.monotonic()
        self._run(
            "samba-tool",
            "domain",
            "provision",
            f"--targetdir={self.root}",
            f"--realm={REALM}",
            f"--domain={DOMAIN}",
            "--server-role=dc",
            "--use-rfc2307",
            "--dns-backend=NONE",
            f"--adminpass={ADMIN_PASSWORD}",
            "--host-name=dc1",
            "--option=interfaces=lo",
            "--option=bind interfaces only=yes",
        )
        self.timings["provision"] = time.monotonic() - t0
        self._configure()
        t0 = time.monotonic()
        out = self._run(SYSTEM_PYTHON, "-c", _POPULATE, str(self.conf), PASSWORD)
        self.sids = json.loads(out.strip().splitlines()[-1])
        self.timings["populate"] = time.monotonic() - t0

    def _configure(self) -> None:
        """test-infra.md's smb.conf edits, and our TLS certificate."""
        self.tls.mkdir()
        ca = make_cert(self.tls, "ca", None, ca=True, days=2)
        server = make_cert(self.tls, "localhost", (ca[0], ca[1]), days=2)
        os.chmod(server[3], 0o600)  # Samba refuses a key file others can read
        (self.root / "cache").mkdir(exist_ok=True)
        (self.root / "run").mkdir(exist_ok=True)
        (self.root / "log").mkdir(exist_ok=True)
        text = self.conf.read_text()
        head, _, _shares = text.partition("\n[homes]")  # drop the printer and home shares
        glob = "\n".join(
            line for line in head.splitlines() if not line.strip().startswith(("log file", "panic action"))
        )
        extra = {
            "log file": self.root / "log" / "log.%m",
            "pid directory": self.root / "run",
            "winbindd socket directory": self.root / "run" / "winbindd",
            "ntp signd socket directory": self.root / "run" / "ntp_signd",
            "ncalrpc dir": self.root / "run" / "ncalrpc",
            "load printers": "no",
            "printing": "bsd",
            "printcap name": "/dev/null",
            "disable spoolss": "yes",
            "ldap server require strong auth": "allow_sasl_over_tls",
            "tls enabled": "yes",
            "tls keyfile": server[3],
            "tls certfile": server[2],
            "tls cafile": ca[2],
        }
        lines = [glob, *(f"\t{key} = {value}" for key, value in extra.items())]
        sysvol = self.root / "state" / "sysvol"
        lines += [
            "",
            "[sysvol]",
            f"\tpath = {sysvol}",
            "\tread only = No",
            "",
            "[netlogon]",
            f"\tpath = {sysvol}/bcs.test/scripts",
            "\tread only = No",
            "",
        ]
        self.conf.write_text("\n".join(lines))

    def start(self, timeout: float = 60.0) -> None:
        """``samba -i`` in its own process group; returns once LDAPS answers."""
        t0 = time.monotonic()
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the subprocess
        self.proc = subprocess.Popen(
            ["samba", "-i", "-s", str(self.conf), "--debuglevel=1"],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        PID_PATH.write_text(json.dumps({"pgid": self.proc.pid, "root": str(self.root)}))
        deadline = time.monotonic() + timeout
        while not (port_open(LDAPS_PORT) and port_open(LDAP_PORT) and port_open(KDC_PORT)):
            if self.proc.poll() is not None:
                raise RuntimeError(f"samba exited with {self.proc.returncode}:\n{self.output()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"samba did not listen on 636 within {timeout} s:\n{self.output()}")
            time.sleep(0.1)
        self.timings["start"] = time.monotonic() - t0

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM the DC's process group (SIGKILL after ``timeout``); returns once 636 is closed."""
        if self.proc is None:
            return
        pgid = self.proc.pid
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGCONT)  # a paused DC must be able to act on SIGTERM
            os.killpg(pgid, signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
            self.proc.wait()
        _wait_group_gone(pgid, timeout)
        self.proc = None
        PID_PATH.unlink(missing_ok=True)
        deadline = time.monotonic() + timeout
        while port_open(LDAPS_PORT) and time.monotonic() < deadline:
            time.sleep(0.05)

    def pause(self) -> None:
        """SIGSTOP every process of the DC: its ports stay open and answer nothing (a hung DC)."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGCONT)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    # --- helpers -------------------------------------------------------------------------------------
    def samba_tool(self, *args: str) -> str:
        """``samba-tool ARGS`` against this DC's database (e.g. ``spn add``, ``domain exportkeytab``)."""
        return self._run("samba-tool", *args, "-s", str(self.conf))

    def output(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except FileNotFoundError:
            return ""

    def _run(self, *cmd: str) -> str:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=180, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd[:3])} failed ({done.returncode}):\n{done.stderr[-4000:]}")
        return done.stdout


def _wait_group_gone(pgid: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


def _stop_leftover() -> None:
    """Stop a DC a killed test run left behind (we hold the lock, so its owner is gone)."""
    try:
        left = json.loads(PID_PATH.read_text())
    except (FileNotFoundError, ValueError):
        return
    pgid = int(left["pgid"])
    try:
        cmdline = Path(f"/proc/{pgid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        cmdline = []
    if cmdline and os.path.basename(cmdline[0].decode(errors="replace")) == "samba":
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGCONT)
            os.killpg(pgid, signal.SIGTERM)
        _wait_group_gone(pgid, 10.0)
    PID_PATH.unlink(missing_ok=True)


@contextlib.contextmanager
def running_dc(root: Path) -> Iterator[SambaDC]:
    """Provision and start a DC in ``root`` under the machine-wide lock; stop it at the end.

    Raises:
        pytest.skip.Exception: Samba is not installed, or another test process keeps the DC.
    """
    import pytest

    if shutil.which("samba") is None or missing_packages():
        missing = missing_packages(wait=float(os.environ.get("BCS_TEST_SAMBA_INSTALL_WAIT", "90")))
        if missing:
            pytest.skip(
                f"Samba AD DC not installed (missing {', '.join(missing)}; scripts/install adds them)"
            )
    LOCK_PATH.parent.mkdir(parents=True, exist_ok=True)
    lock = open(LOCK_PATH, "a+")  # noqa: SIM115 - held for the DC's whole life
    try:
        wait = float(os.environ.get("BCS_TEST_SAMBA_WAIT", "240"))
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    pytest.skip(f"another test process runs the Samba DC ({LOCK_PATH} held for {wait:.0f} s)")
                time.sleep(0.5)
        _stop_leftover()
        busy = [p for p in (KDC_PORT, LDAP_PORT, LDAPS_PORT) if port_open(p)]
        if busy:
            pytest.skip(f"ports {busy} are in use by something else than our DC (a system Samba?)")
        dc = SambaDC(root)
        dc.provision()
        dc.start()
        try:
            yield dc
        finally:
            dc.stop()
    finally:
        fcntl.flock(lock, fcntl.LOCK_UN)
        lock.close()
