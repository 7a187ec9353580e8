"""Samba's ``access_check`` as the oracle of SDDL decisions, and a Samba DC's own tokens.

No tests here. ``tests/test_auth_access.py`` (descriptors x synthetic tokens) and
``tests/test_host_authz.py`` (the end-to-end matrix against the Samba DC) both ask Samba 4.17
through ``decide``: ONE system-Python process (package python3-samba; Samba's bindings do not live
in the venv) fed the whole job as JSON.

Rights: Samba does not map generic rights in ACEs and reads ``FA`` as 0x1ff (test-infra.md), so
every rights field is rewritten as the hex mask Windows maps it to (``oracle_sddl``), from the
winnt.h table below, not from ``bcs.auth.sddl``'s. A NULL DACL (``D:NO_ACCESS_CONTROL``, which
Samba 4.17 cannot parse) is built by hand.

Tokens: a case may name a user of a Samba DC (``user``) instead of, or besides, listing SIDs; the
oracle then reads that account's ``objectSid`` and ``tokenGroups`` (the DC's own transitive
expansion, primary group included) from the DC's ``sam.ldb`` through ``samba.samdb.SamDB``, not
through LDAP or ``bcs.auth.sids``, and puts them first in the token. ``tokens`` in the answer holds
what it read per user.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["GENERIC", "RIGHTS", "SYSTEM_PYTHON", "decide", "oracle_sddl", "samba_available", "windows_mask"]

SYSTEM_PYTHON = "/usr/bin/python3"

# winnt.h: FILE_GENERIC_READ/WRITE/EXECUTE, FILE_ALL_ACCESS and the SDDL right abbreviations.
GENERIC = {0x80000000: 0x120089, 0x40000000: 0x120116, 0x20000000: 0x1200A0, 0x10000000: 0x1F01FF}
RIGHTS = {
    "GA": 0x10000000, "GR": 0x80000000, "GW": 0x40000000, "GX": 0x20000000,
    "RC": 0x20000, "SD": 0x10000, "WD": 0x40000, "WO": 0x80000,
    "RP": 0x10, "WP": 0x20, "CC": 0x1, "DC": 0x2, "LC": 0x4, "SW": 0x8, "LO": 0x80, "DT": 0x40, "CR": 0x100,
    "FA": 0x1F01FF, "FR": 0x120089, "FW": 0x120116, "FX": 0x1200A0,
}  # fmt: skip


def windows_mask(rights: str) -> int:
    """The mask Windows reads from an SDDL rights field, generic rights mapped (the oracle's side)."""
    if rights.lower().startswith("0x"):
        mask = int(rights, 16)
    elif rights.isdigit():
        mask = int(rights)
    else:
        mask = 0
        for i in range(0, len(rights), 2):
            mask |= RIGHTS[rights[i : i + 2]]
    for generic, specific in GENERIC.items():
        if mask & generic:
            mask = (mask & ~generic) | specific
    return mask


def oracle_sddl(sddl: str) -> str | None:
    """``sddl`` with every rights field as a mapped hex mask; None for a NULL DACL."""
    if "NO_ACCESS_CONTROL" in sddl:
        return None
    return re.sub(
        r"\(([A-Z]+);([A-Z]*);([^;()]+);",
        lambda m: f"({m.group(1)};{m.group(2)};0x{windows_mask(m.group(3)):x};",
        sddl,
    )


_SCRIPT = r"""
import json, sys
from samba.dcerpc import security
from samba.security import access_check
from samba import NTSTATUSError
job = json.load(sys.stdin)
dom = security.dom_sid(job["domain"])
out = {"decisions": [], "aliases": {}, "rights": {}, "tokens": {}}
if job.get("samdb"):
    import ldb
    from samba.auth import system_session
    from samba.ndr import ndr_unpack
    from samba.param import LoadParm
    from samba.samdb import SamDB
    lp = LoadParm()
    lp.load(job["samdb"])
    db = SamDB(url=lp.private_path("sam.ldb"), session_info=system_session(), lp=lp)
    for user in job["users"]:
        found = db.search(db.domain_dn(), expression="(sAMAccountName=%s)" % ldb.binary_encode(user),
                          attrs=["objectSid"])
        groups = db.search(found[0].dn, scope=ldb.SCOPE_BASE, attrs=["tokenGroups"])
        raw = [found[0]["objectSid"][0], *groups[0].get("tokenGroups", [])]
        out["tokens"][user] = [str(ndr_unpack(security.dom_sid, value)) for value in raw]
for case in job["cases"]:
    if case["sddl"] is None:
        sd = security.descriptor()
        sd.type = security.SEC_DESC_DACL_PRESENT | security.SEC_DESC_SELF_RELATIVE
        sd.dacl = None
    else:
        sd = security.descriptor.from_sddl(case["sddl"], dom)
    sids = out["tokens"][case["user"]] + case["sids"] if case.get("user") else case["sids"]
    token = security.token()
    token.sids = [security.dom_sid(s) for s in sids]
    token.num_sids = len(sids)
    try:
        out["decisions"].append(access_check(sd, token, case["desired"]) == case["desired"])
    except NTSTATUSError:
        out["decisions"].append(False)
for alias in job["aliases"]:
    out["aliases"][alias] = str(security.descriptor.from_sddl("D:(A;;0x1;;;%s)" % alias, dom).dacl.aces[0].trustee)
for right in job["rights"]:
    try:
        out["rights"][right] = security.descriptor.from_sddl("D:(A;;%s;;;WD)" % right, dom).dacl.aces[0].access_mask
    except TypeError:
        out["rights"][right] = None
print(json.dumps(out))
"""


def samba_available() -> bool:
    """Whether the system Python has Samba's bindings with ``access_check``."""
    if not Path(SYSTEM_PYTHON).exists():
        return False
    probe = subprocess.run(
        [SYSTEM_PYTHON, "-c", "from samba.dcerpc import security; from samba.security import access_check"],
        capture_output=True,
        timeout=60,
        check=False,
    )
    return probe.returncode == 0


def decide(
    domain: str,
    cases: Sequence[dict[str, Any]],
    *,
    aliases: Sequence[str] = (),
    rights: Sequence[str] = (),
    samdb: str | Path | None = None,
    users: Sequence[str] = (),
) -> dict[str, Any]:
    """Samba's answers, all in one process.

    Args:
        domain: the domain SID that SDDL aliases such as ``DU`` are relative to.
        cases: ``{"sddl": oracle_sddl(...) or None, "sids": [...], "desired": mask}``, plus
            ``"user": name`` to put that DC account's own token first.
        aliases, rights: SDDL abbreviations whose SID / mask Samba should report.
        samdb: the DC's smb.conf, to read ``users``' tokens from its sam.ldb.
        users: the accounts (``sAMAccountName``) whose tokens to read.

    Returns:
        ``decisions`` (one bool per case: every desired bit granted), ``aliases``, ``rights`` and
        ``tokens`` (user -> [objectSid, *tokenGroups]).
    """
    job = {
        "domain": domain,
        "cases": list(cases),
        "aliases": list(aliases),
        "rights": list(rights),
        "samdb": str(samdb) if samdb is not None else None,
        "users": list(users),
    }
    done = subprocess.run(
        [SYSTEM_PYTHON, "-c", _SCRIPT],
        input=json.dumps(job),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    answer: dict[str, Any] = json.loads(done.stdout)
    return answer
