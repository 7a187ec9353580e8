"""Authentication benchmark (issue 14): anonymous, NTLM and Negotiate (Kerberos) groups of one engine, one run.

Usage: .venv/bin/python bench/bench_auth.py [--rounds 3] [--size-mib 1024] [--ranges 16]
       [--ranges-requests 64] [--small-requests 2000] [--connections 4]
       [--handshake-seconds 5] [--handshake-clients 2] [--only small,ranges,handshakes] [--quick]

One engine serves the same files in three URL groups, each on its own port:

* anonymous: no authentication
* ntlm:      ``authentication: [NTLM]``, accounts from an NTLM user file (pyspnego's
             ``DOMAIN:USER:PASSWORD``)
* negotiate: ``authentication: [Negotiate]``, the keytab of an MIT KDC started for the run
             (``tests/auth_support.py``, as the tests start it); the client holds a ticket

Workloads (curl, one keep-alive connection per curl process, on ``localhost``: Kerberos needs it):

* small:  ``--connections`` curl processes at once, each making ``--small-requests`` GETs of a
          64 KiB file on its connection; requests/s
* ranges: one curl process, ``--ranges-requests`` sequential ``--ranges`` MiB ranges (16) of the
          big file on one connection; MB/s
* handshakes: ``--handshake-clients`` processes for ``--handshake-seconds`` each, looping: a new
          connection, the full handshake (NTLM: NEGOTIATE, CHALLENGE, AUTHENTICATE; Kerberos: one
          SPNEGO token with an AP-REQ), one GET of the 64 KiB file, close. pyspnego is the client.
          Handshakes per second and the engine's CPU milliseconds per handshake; the clients run on
          the same 2 cores, so this is a floor for the server alone.

How the clients authenticate, as curl does: NTLM authenticates the connection once, later requests
on it carry no ``Authorization``; curl's Negotiate sends a fresh Kerberos token on every request,
so each of its requests is a full one-leg handshake on the server (the engine accepts both).

The server's CPU per GiB comes from /proc. Each group is warmed up once per workload, then the
rounds alternate; medians are kept. Ratios: ntlm/anonymous and negotiate/anonymous on ranges
(target >= 0.9) and on small. ``--quick``: a smoke run of seconds (numbers meaningless).
Linux only. Needs curl and an MIT KDC (krb5kdc, kdb5_util, kadmin.local, kinit: scripts/install).
"""

from __future__ import annotations

import argparse
import base64
import http.client
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import benchlib
from benchlib import CurlTransfer, Engine, GiB, Group, MiB, Ratio, Result, Target, ratio

sys.path.insert(0, str(benchlib.HERE.parent / "tests"))
sys.path.append(str(benchlib.ENGINE_DIR))  # tests/conftest.py imports bcs (PYTHONPATH, if set, wins)

from auth_support import KerberosRealm, write_ntlm_users

DOMAIN, USER, PASSWORD = "BCS", "alice", "Alice-pw1"
GROUPS = {"anonymous": ("Anon", []), "ntlm": ("Ntlm", ["NTLM"]), "negotiate": ("Nego", ["Negotiate"])}
SCHEME = {"ntlm": "NTLM", "negotiate": "Negotiate"}


def curl_options(name: str) -> list[tuple[str, str | None]]:
    """curl's options for the group ``name``."""
    if name == "ntlm":
        return [("ntlm", None), ("user", f"{DOMAIN}\\{USER}:{PASSWORD}")]
    if name == "negotiate":
        return [("negotiate", None), ("user", ":")]
    return []


def handshake_loop(args: tuple[str, int, str, float]) -> tuple[int, int]:
    """One client process of the handshakes workload: (handshakes done, failed) in ``seconds``.

    Runs in a spawned process; KRB5_CONFIG and KRB5CCNAME come from the environment.
    """
    import spnego

    name, port, path, seconds = args
    scheme = SCHEME[name]
    done = failed = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if name == "ntlm":
            ctx = spnego.client(
                f"{DOMAIN}\\{USER}", PASSWORD, hostname="localhost", service="HTTP", protocol="ntlm"
            )
        else:
            ctx = spnego.client(hostname="localhost", service="HTTP", protocol="negotiate")
        conn = http.client.HTTPConnection("localhost", port, timeout=30)
        try:
            token = ctx.step()
            status = 0
            for _ in range(3):
                assert token is not None
                conn.request(
                    "GET", path, headers={"Authorization": f"{scheme} {base64.b64encode(token).decode()}"}
                )
                resp = conn.getresponse()
                resp.read()
                status = resp.status
                if status != 401:
                    break
                offer = next(
                    (
                        v.split(" ", 1)[1]
                        for k, v in resp.getheaders()
                        if k.lower() == "www-authenticate" and v.startswith(scheme + " ")
                    ),
                    None,
                )
                if offer is None:
                    break
                token = ctx.step(base64.b64decode(offer))
            kerberos = name != "negotiate" or ctx.negotiated_protocol == "kerberos"
            if status == 200 and kerberos:
                done += 1
            else:
                failed += 1
        except (OSError, http.client.HTTPException, spnego.exceptions.SpnegoError):
            failed += 1
        finally:
            conn.close()
    return done, failed


def measure_handshakes(target: Target, name: str, seconds: float, clients: int) -> Result:
    """``clients`` processes running ``handshake_loop`` at once; handshakes/s and engine CPU per handshake."""
    path = target.url_base.split(str(target.port), 1)[1] + "small.bin"
    before = benchlib.cpu_seconds(target.pids())
    started = time.monotonic()
    with multiprocessing.get_context("spawn").Pool(clients) as pool:
        counts = pool.map(handshake_loop, [(name, target.port, path, seconds)] * clients)
    wall = time.monotonic() - started
    cpu = benchlib.cpu_seconds(target.pids()) - before
    done = sum(c[0] for c in counts)
    return {
        "MBps": done * 64 * 1024 / wall / 1e6,
        "reqps": done / seconds,  # each client loops for ``seconds`` (the pool's start-up is not counted)
        "errors": sum(c[1] for c in counts),
        "cpu_s_per_GiB": cpu / (done * 64 * 1024 / GiB) if done else float("nan"),
        "cpu_ms_per_handshake": cpu * 1000 / done if done else float("nan"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per workload (median kept)")
    parser.add_argument("--size-mib", type=int, default=1024, help="size of the big file")
    parser.add_argument("--ranges", "--range-mib", dest="range_mib", type=int, default=benchlib.RANGE_MIB)
    parser.add_argument("--ranges-requests", type=int, default=64, help="ranges per round (one connection)")
    parser.add_argument(
        "--small-requests", type=int, default=2000, help="64 KiB GETs per connection per round"
    )
    parser.add_argument("--connections", type=int, default=4, help="connections of the small workload")
    parser.add_argument("--handshake-seconds", type=float, default=5.0)
    parser.add_argument("--handshake-clients", type=int, default=2, help="client processes of the handshakes")
    parser.add_argument("--only", default="small,ranges,handshakes", help="workloads to run")
    parser.add_argument("--no-access-log", action="store_true", help="run the engine without access log")
    parser.add_argument("--quick", action="store_true", help="smoke run: a few requests and one round")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.size_mib = 1, min(args.size_mib, 64)
        args.ranges_requests, args.small_requests, args.connections = 8, 50, 2
        args.handshake_seconds, args.handshake_clients = 1.0, 1
    missing = benchlib.missing_tools("curl")
    if missing or not KerberosRealm.available():
        print("curl or the MIT KDC tools are missing (bash scripts/install)", file=sys.stderr)
        return 2
    workloads = args.only.split(",")
    range_bytes = args.range_mib * MiB
    base = Path(tempfile.mkdtemp(prefix="bcs-bench-auth-"))
    os.chmod(base, 0o755)
    try:
        files = benchlib.make_files(base / "files", args.size_mib)
        realm = KerberosRealm(base / "realm").start()
        with ExitStack() as stack:
            stack.callback(realm.stop)
            realm.add_user(USER, PASSWORD)
            realm.kinit(USER, PASSWORD)
            # curl, the handshake clients and the engine all read these
            os.environ.update({k: realm.env[k] for k in ("KRB5_CONFIG", "KRB5CCNAME")})
            users = write_ntlm_users(base / "ntlm-users", f"{DOMAIN}:{USER}:{PASSWORD}")
            groups = [Group(path, authentication=schemes) for path, schemes in GROUPS.values()]
            engine = stack.enter_context(
                Engine(
                    base / "engine",
                    files,
                    groups,
                    access_log=not args.no_access_log,
                    auth={"keytabPath": str(realm.keytab), "ntlmUserFile": str(users)},
                    host="localhost",
                )
            )
            assert isinstance(engine, Engine)
            targets = [engine.group_target(name, path) for name, (path, _) in GROUPS.items()]
            results: dict[str, dict[str, Result]] = {}
            for workload in workloads:
                measure = measurer(workload, args, base, range_bytes)
                chosen = [t for t in targets if workload != "handshakes" or t.name in SCHEME]
                results[workload] = benchlib.compare(workload, chosen, measure, args.rounds, not args.quick)
        benchlib.print_medians(results)
        for name, r in results.get("handshakes", {}).items():
            print(
                f"handshakes     {name:14} {r['reqps']:9.1f} handshakes/s  "
                f"{r['cpu_ms_per_handshake']:6.2f} engine CPU ms per handshake"
            )
        ratios = auth_ratios(results)
        benchlib.print_ratios(ratios)
        benchlib.write_json(args.json, results, ratios)
        return 0
    finally:
        shutil.rmtree(base, ignore_errors=True)


def measurer(
    workload: str, args: argparse.Namespace, work: Path, range_bytes: int
) -> Callable[[Target, bool], Result]:
    """``compare``'s measure of ``workload`` (a warm-up is a tenth of a round)."""
    size = args.size_mib * MiB

    def measure(target: Target, warmup: bool) -> Result:
        if workload == "handshakes":
            seconds = 1.0 if warmup else args.handshake_seconds
            return measure_handshakes(target, target.name, seconds, args.handshake_clients)
        if workload == "small":
            count = max(1, args.small_requests // (10 if warmup else 1))
            transfers = [CurlTransfer(target.url_base + "small.bin")] * count
            processes = args.connections
        else:
            count = max(1, args.ranges_requests // (10 if warmup else 1))
            slots = max(1, size // range_bytes)  # sequential ranges, from the start again at the end
            transfers = [
                CurlTransfer(target.url_base + "big.bin", f"{a}-{a + range_bytes - 1}")
                for a in ((i % slots) * range_bytes for i in range(count))
            ]
            processes = 1
        return benchlib.measure_curl(target, transfers, processes, curl_options(target.name), folder=work)

    return measure


def auth_ratios(results: dict[str, dict[str, Result]]) -> list[Ratio]:
    ratios = []
    for workload, what, key, target in (("ranges", "MB/s", "MBps", 0.9), ("small", "req/s", "reqps", None)):
        r = results.get(workload)
        if r is None:
            continue
        for name in SCHEME:
            extra = {"at_least": target} if target else {}
            ratios.append(
                ratio(f"{workload}: {name}/anonymous {what}", r[name][key], r["anonymous"][key], **extra)
            )
            ratios.append(
                ratio(
                    f"{workload}: {name}/anonymous engine CPU s per GiB",
                    r[name]["cpu_s_per_GiB"],
                    r["anonymous"]["cpu_s_per_GiB"],
                )
            )
    return ratios


if __name__ == "__main__":
    sys.exit(main())
