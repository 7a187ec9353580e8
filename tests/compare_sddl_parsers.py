"""Measure our SDDL parser + access check against winacl's parser and Samba's access_check (issue 14).

Not a test (pytest does not collect it): the figures behind the parser decision in
``bcs/auth/access.py``. Run from the repository root::

    python3 -m venv /tmp/winacl-venv && /tmp/winacl-venv/bin/pip install winacl
    PYTHONPATH=engine:tests python tests/compare_sddl_parsers.py --winacl-python /tmp/winacl-venv/bin/python

Cases: the matrix and the seeded random descriptors of ``tests/test_auth_access.py``, each decided
by Samba 4.17 (one /usr/bin/python3 process). "winacl" means winacl's parser feeding our check (it
has no access check of its own); a descriptor winacl cannot parse counts as refused (fail closed).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import timeit

from bcs.auth.access import READ_ACCESS, compile_rule
from bcs.auth.sddl import SID_ALIASES, Ace, SecurityDescriptor, parse_sddl, resolve_sid
from test_auth_access import DOMAIN, MATRIX, NESTED, PEOPLE, RANDOM, Case, run_oracle

WINACL = r"""
import json, sys, time
from winacl.dtyp.security_descriptor import SECURITY_DESCRIPTOR
TYPES = {"ACCESS_ALLOWED_ACE_TYPE": "A", "ACCESS_DENIED_ACE_TYPE": "D",
         "ACCESS_ALLOWED_OBJECT_ACE_TYPE": "OA", "ACCESS_DENIED_OBJECT_ACE_TYPE": "OD",
         "SYSTEM_AUDIT_ACE_TYPE": "AU", "SYSTEM_ALARM_ACE_TYPE": "AL",
         "SYSTEM_AUDIT_OBJECT_ACE_TYPE": "OU", "SYSTEM_ALARM_OBJECT_ACE_TYPE": "OL"}
job = json.load(sys.stdin)
out = []
for sddl in job["sddls"]:
    try:
        sd = SECURITY_DESCRIPTOR.from_sddl(sddl, domain_sid=job["domain"])
        aces = [] if sd.Dacl is None else [
            [TYPES[a.AceType.name], int(a.AceFlags), a.Mask, str(a.Sid)] for a in sd.Dacl.aces]
        out.append({"owner": None if sd.Owner is None else str(sd.Owner), "aces": aces, "null": sd.Dacl is None})
    except Exception as exc:
        out.append({"error": type(exc).__name__})
sample = [s for s, o in zip(job["sddls"], out) if "error" not in o]  # time what it can parse
best = float("inf")
for _ in range(5):
    start = time.perf_counter()
    for sddl in sample:
        SECURITY_DESCRIPTOR.from_sddl(sddl, domain_sid=job["domain"])
    best = min(best, (time.perf_counter() - start) / len(sample))
from winacl.dtyp.sid import SID
aliases = {}
for alias in job["aliases"]:
    try:
        aliases[alias] = str(SID.from_sddl(alias, domain_sid=job["domain"]))
    except Exception:
        aliases[alias] = None
print(json.dumps({"parsed": out, "seconds_per_parse": best, "timed": sample, "aliases": aliases}))
"""


def winacl_decisions(python: str, cases: list[Case]) -> tuple[list[bool], float, list[str]]:
    sddls = [c.sddl for c in cases]
    job = {"domain": DOMAIN, "sddls": sddls, "aliases": sorted(SID_ALIASES)}
    done = subprocess.run(
        [python, "-c", WINACL], input=json.dumps(job), capture_output=True, text=True, timeout=300
    )
    if done.returncode != 0:
        sys.exit(done.stderr)
    answer = json.loads(done.stdout)
    decisions, errors = [], 0
    for case, parsed in zip(cases, answer["parsed"], strict=True):
        if "error" in parsed:
            errors += 1
            decisions.append(False)
            continue
        aces = tuple(
            Ace(kind, frozenset({"IO"}) if flags & 0x08 else frozenset(), mask, sid)
            for kind, flags, mask, sid in parsed["aces"]
        )
        sd = SecurityDescriptor(parsed["owner"], None, None if parsed["null"] else aces, frozenset(), ())
        decisions.append(compile_rule(sd, domain_sid=DOMAIN).allows(case.sids, case.desired))
    print(f"winacl: {errors} of {len(cases)} SDDL strings refused by its parser")
    wrong = [a for a, sid in answer["aliases"].items() if sid != resolve_sid(a, DOMAIN)]
    print(
        f"winacl: {len(wrong)} of {len(SID_ALIASES)} SID aliases unknown or resolved unlike Samba: {' '.join(wrong)}"
    )
    return decisions, answer["seconds_per_parse"], answer["timed"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--winacl-python", help="a python with winacl installed (skip winacl without it)")
    args = parser.parse_args()
    cases = MATRIX + RANDOM
    samba = run_oracle(cases, [], [])["decisions"]
    assert isinstance(samba, list)

    ours = [compile_rule(c.sddl, domain_sid=DOMAIN).allows(c.sids, c.desired) for c in cases]
    print(f"ours:   {sum(o == s for o, s in zip(ours, samba, strict=True))}/{len(cases)} agree with Samba")
    sddls = [c.sddl for c in cases]
    parse = min(timeit.repeat(lambda: [parse_sddl(s) for s in sddls], number=5, repeat=3)) / 5 / len(sddls)
    compiled = min(
        timeit.repeat(lambda: [compile_rule(s, domain_sid=DOMAIN) for s in sddls], number=5, repeat=3)
    )
    print(
        f"ours:   parse {parse * 1e6:.1f} us, parse + compile {compiled / 5 / len(sddls) * 1e6:.1f} us per SDDL"
    )

    rule = compile_rule(f"D:(D;;FW;;;DG)(A;;GR;;;{NESTED})(A;IO;GA;;;WD)(A;;FA;;;BA)", domain_sid=DOMAIN)
    token = PEOPLE["alice"].sids
    frozen = frozenset(token)
    for label, sids in (("frozenset", frozen), ("tuple", token)):
        runs = timeit.repeat(lambda sids=sids: rule.allows(sids, READ_ACCESS), number=100_000, repeat=5)
        print(
            f"ours:   {min(runs) / 100_000 * 1e6:.2f} us per check (4 ACEs, {len(token)}-SID token as {label})"
        )
    assert rule.allows(frozen, READ_ACCESS)

    if args.winacl_python:
        decisions, per_parse, timed = winacl_decisions(args.winacl_python, cases)
        agree = sum(d == s for d, s in zip(decisions, samba, strict=True))
        wrongly_granted = sum(d and not s for d, s in zip(decisions, samba, strict=True))
        print(
            f"winacl: {agree}/{len(cases)} agree with Samba (a refused SDDL counts as a denial); "
            f"{wrongly_granted} granted where Samba denies"
        )
        mine = min(timeit.repeat(lambda: [parse_sddl(s) for s in timed], number=1, repeat=5)) / len(timed)
        print(
            f"parse of the {len(timed)} SDDL strings both parse: winacl {per_parse * 1e6:.1f} us, ours {mine * 1e6:.1f} us"
        )


if __name__ == "__main__":
    main()
