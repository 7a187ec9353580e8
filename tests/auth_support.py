"""Real authentication peers for tests: an MIT Kerberos realm on loopback and NTLM user files.

The realm follows test-infra.md ("MIT Kerberos realm"): its own krb5.conf and kdc.conf in a test
directory, a KDC on an ephemeral TCP/UDP port, the service ``HTTP/localhost`` in a keytab, and
users with passwords. Kerberos clients must name the server ``localhost`` (SPN HTTP/localhost),
not 127.0.0.1. The ``realm`` fixture in conftest.py starts one per test.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from conftest import free_port
from test_client_support import wait_port

REALM = "BCS.TEST"
SERVICE = "HTTP/localhost"


class KerberosRealm:
    """An MIT KDC for ``realm`` with its database, config and keytab under ``base``."""

    def __init__(self, base: Path, realm: str = REALM) -> None:
        self.base = base
        self.realm = realm
        self.port = free_port()
        self.keytab = base / "http.keytab"
        self.ccache = base / "cc"
        self._kdc: subprocess.Popen[bytes] | None = None
        self.env = {
            "KRB5_CONFIG": str(base / "krb5.conf"),
            "KRB5_KDC_PROFILE": str(base / "kdc.conf"),
            "KRB5CCNAME": f"FILE:{self.ccache}",
            "KRB5_KTNAME": f"FILE:{self.keytab}",
            "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
        }

    @staticmethod
    def available() -> bool:
        return all(shutil.which(tool) for tool in ("krb5kdc", "kdb5_util", "kadmin.local", "kinit"))

    def run(self, *cmd: str, stdin: str | None = None) -> None:
        subprocess.run(cmd, env=self.env, input=stdin, text=True, check=True, capture_output=True, timeout=30)

    def start(self) -> KerberosRealm:
        """Write the configuration, create the database and ``HTTP/localhost``'s keytab, start the KDC."""
        d, port, realm = self.base, self.port, self.realm
        d.mkdir(parents=True, exist_ok=True)
        (d / "krb5.conf").write_text(
            f"""[libdefaults]
 default_realm = {realm}
 dns_lookup_kdc = false
 dns_lookup_realm = false
 rdns = false
 dns_canonicalize_hostname = false
 udp_preference_limit = 1
[realms]
 {realm} = {{
  kdc = 127.0.0.1:{port}
 }}
[domain_realm]
 localhost = {realm}
"""
        )
        (d / "kdc.conf").write_text(
            f"""[kdcdefaults]
 kdc_ports = {port}
 kdc_tcp_ports = {port}
[realms]
 {realm} = {{
  database_name = {d}/principal
  key_stash_file = {d}/stash
  acl_file = {d}/kadm5.acl
  kdc_ports = {port}
  kdc_tcp_ports = {port}
 }}
[logging]
 kdc = FILE:{d}/kdc.log
"""
        )
        (d / "kadm5.acl").write_text("")
        self.run("kdb5_util", "create", "-s", "-r", realm, "-P", "masterpw")
        self.run("kadmin.local", "-q", f"addprinc -randkey {SERVICE}")
        self.run("kadmin.local", "-q", f"ktadd -k {self.keytab} {SERVICE}")
        self._kdc = subprocess.Popen(
            ["krb5kdc", "-n"], env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_port(port)
        return self

    def add_user(self, name: str, password: str) -> None:
        self.run("kadmin.local", "-q", f"addprinc -pw {password} {name}")

    def kinit(self, name: str, password: str, ccache: Path | None = None) -> str:
        """Get ``name``'s ticket-granting ticket into ``ccache`` (default: the realm's); returns its KRB5CCNAME."""
        cc = f"FILE:{ccache or self.ccache}"
        subprocess.run(
            ["kinit", name],
            env={**self.env, "KRB5CCNAME": cc},
            input=password + "\n",
            text=True,
            check=True,
            capture_output=True,
            timeout=30,
        )
        return cc

    def stop(self) -> None:
        if self._kdc is not None:
            self._kdc.terminate()
            self._kdc.wait(10)
            self._kdc = None


def write_ntlm_users(path: Path, *lines: str) -> Path:
    """An NTLM user file in pyspnego's ``DOMAIN:USER:PASSWORD`` format (what ``NTLM_USER_FILE`` names)."""
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path
