"""HTTPS benchmark (issue 13): the engine's https groups side by side with nginx + TLS (and caddy), one run.

Usage: .venv/bin/python bench/bench_tls.py [--duration 10] [--rounds 3] [--size-mib 1024]
       [--ranges 16] [--certs ecdsa,rsa] [--only big,ranges,idle] [--servers ...] [--no-caddy] [--quick]
       [--json FILE]

For each certificate (ECDSA P-256, RSA 2048, made with openssl for the run), every https server
gets the same certificate and the same TLS policy (TLS 1.2 and 1.3, ``DEFAULT:@SECLEVEL=2``, the
server's preference), and a probe with OpenSSL's client defaults (wrk's) must find the same
protocol and cipher on all of them, or the run stops. Servers, one run, same files:

* nginx-tls:    nginx with ``ssl`` (no kTLS), 2 workers on 2 cores
* caddy-tls:    caddy's ``file_server`` with the same certificate files (``tls cert key``), when
                caddy is on PATH (an extra comparison, no target). Go chooses its TLS 1.3 cipher
                itself (AES-128-GCM here, not configurable), so caddy is left out of the
                same-cipher check and its session is printed beside the others
* engine-https: an https group of the engine bound to the certificate
* engine-http:  a plain http group of the same engine process (measured with the first certificate
                only: it has none), for the engine's HTTP vs HTTPS figure
* cheroot:      a bare cheroot file app with the builtin TLS adapter, 256 KiB chunks: the ceiling
                of a Python server on cheroot's TLS (issue 13 measured it at 0.98x / 0.81x nginx)

Workloads (wrk, loopback):

* big:    8 concurrent downloads of the big file (wrk -c8), aggregate MB/s
* ranges: sequential ``--ranges`` MiB ranges (16) on one keep-alive connection (wrk -c1)

and each server's CPU seconds per GiB sent (from /proc; at full speed on loopback the kernel's
receive work lands partly on the sender, so read CPU ratios with bench_host.py's caveat).
Each server is warmed up once per workload, then the rounds alternate; medians are kept.
Prints the rounds, the medians and the ratios with their targets: engine-https/nginx-tls >= 0.95
aggregate and >= 0.9 ranges. ``--quick``: a smoke run of seconds (numbers meaningless).
Linux only. Needs nginx, wrk, curl and openssl (scripts/install).
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import ssl
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import benchlib
from benchlib import BareCheroot, Caddy, Engine, Group, MiB, Nginx, Ratio, Result, Target, ratio

SERVERS = ("nginx-tls", "engine-https", "engine-http", "cheroot")
EXTRA = "caddy-tls"  # in the default servers where caddy is installed; not held to the same cipher


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per workload (median kept)")
    parser.add_argument("--size-mib", type=int, default=1024, help="size of the big file")
    parser.add_argument("--ranges", "--range-mib", dest="range_mib", type=int, default=benchlib.RANGE_MIB)
    parser.add_argument("--certs", default="ecdsa,rsa", help="certificate kinds: ecdsa (P-256), rsa (2048)")
    parser.add_argument(
        "--only", default="big,ranges,idle", help="workloads to run (idle: handshakes beside idle clients)"
    )
    parser.add_argument(
        "--idle-connections", type=int, default=200, help="idle TCP clients for the idle workload"
    )
    default_servers = [*SERVERS, EXTRA] if benchlib.caddy_installed() else list(SERVERS)
    parser.add_argument(
        "--servers",
        default=",".join(default_servers),
        help=f"servers to run (nginx-tls and engine-https at least; {EXTRA} where caddy is installed)",
    )
    parser.add_argument("--no-access-log", action="store_true", help="run the engine without access log")
    parser.add_argument(
        "--no-caddy", action="store_true", help=f"leave {EXTRA} out even where caddy is installed"
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: 64 MiB, 1 s, one round, no warm-up")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    if args.quick:
        args.duration, args.rounds, args.size_mib = 1, 1, min(args.size_mib, 64)
    missing = benchlib.missing_tools("wrk", "nginx", "curl", "openssl")
    if missing:
        print(f"{', '.join(missing)} missing (bash scripts/install)", file=sys.stderr)
        return 2
    servers = [s for s in args.servers.split(",") if not (args.no_caddy and s == EXTRA)]
    workloads = args.only.split(",")
    size, range_bytes = args.size_mib * MiB, args.range_mib * MiB
    base = Path(tempfile.mkdtemp(prefix="bcs-bench-tls-"))
    os.chmod(base, 0o755)
    try:
        files = benchlib.make_files(base / "files", args.size_mib)
        benchlib.write_wrk_scripts(base)
        results: dict[str, dict[str, Result]] = {}
        idle: dict[str, dict[str, float]] = {}
        sessions: dict[str, dict[str, str]] = {}
        for index, kind in enumerate(args.certs.split(",")):
            cert = benchlib.make_certificate(base / "pki", kind)
            with ExitStack() as stack:
                targets = start(stack, base / kind, files, cert, servers, index == 0, not args.no_access_log)
                sessions[kind] = same_tls_session(targets)
                print(f"{kind}: every https server negotiates {sessions[kind]['engine-https']}", flush=True)
                if EXTRA in sessions[kind]:
                    print(f"{kind}: {EXTRA} negotiates {sessions[kind][EXTRA]} (Go's choice)", flush=True)
                if "idle" in workloads:
                    for target in targets:
                        if target.url_base.startswith("https://") and target.name != "cheroot":  # the bare
                            # cheroot app is the throughput ceiling only (listen backlog 5, no idle defence)
                            idle[f"{kind}-{target.name}"] = idle_handshakes(target, args.idle_connections)
                for workload in (w for w in workloads if w != "idle"):

                    def measure(target: Target, warmup: bool, workload: str = workload) -> Result:
                        seconds = 1 if warmup else args.duration
                        return benchlib.measure_wrk(target, workload, seconds, base, size, range_bytes)

                    results[f"{kind}-{workload}"] = benchlib.compare(
                        f"{kind}-{workload}", targets, measure, args.rounds, warmup=not args.quick
                    )
        benchlib.print_medians(results)
        ratios = tls_ratios(results)
        for key, figures in idle.items():
            print(
                f"{key}: TLS handshake beside {args.idle_connections} idle clients: median "
                f"{figures['median_ms']:.1f} ms, max {figures['max_ms']:.1f} ms over {figures['samples']:.0f}"
            )
            # issue 13: an idle client must not delay another's handshake by more than 1 s
            ratios.append(
                Ratio(
                    f"{key}: slowest handshake beside idle clients, s", figures["max_ms"] / 1000, at_most=1.0
                )
            )
        benchlib.print_ratios(ratios)
        benchlib.write_json(args.json, results, ratios, tls=sessions, idle_handshakes=idle)
        return 0
    finally:
        shutil.rmtree(base, ignore_errors=True)


def start(
    stack: ExitStack,
    work: Path,
    files: Path,
    cert: tuple[Path, Path],
    servers: list[str],
    with_http: bool,
    access_log: bool,
) -> list[Target]:
    """The servers of one certificate, started; their targets in the order they are measured."""
    targets = []
    if "nginx-tls" in servers:
        targets.append(stack.enter_context(Nginx(work / "nginx", files, tls=cert)).target("nginx-tls"))
    if EXTRA in servers:
        targets.append(stack.enter_context(Caddy(work / "caddy", files, tls=cert)).target(EXTRA))
    groups = [Group("Tls", "https", certificate=cert)]
    plain = with_http and "engine-http" in servers
    if plain:
        groups.append(Group("Plain"))
    engine = stack.enter_context(Engine(work / "engine", files, groups, access_log=access_log))
    assert isinstance(engine, Engine)
    targets.append(engine.group_target("engine-https", "Tls"))
    if plain:
        targets.append(engine.group_target("engine-http", "Plain"))
    if "cheroot" in servers:
        targets.append(stack.enter_context(BareCheroot(work / "cheroot", files, cert)).target())
    return targets


def same_tls_session(targets: list[Target]) -> dict[str, str]:
    """The protocol and cipher of each https target; raises unless they are all the same (but caddy's)."""
    found = {
        t.name: " ".join(benchlib.tls_session(t.port)) for t in targets if t.url_base.startswith("https:")
    }
    held = {name: session for name, session in found.items() if name != EXTRA}
    if len(set(held.values())) != 1:
        raise RuntimeError(f"the https servers negotiate different TLS sessions: {held}")
    return found


def idle_handshakes(target: Target, idle: int, samples: int = 30) -> dict[str, float]:
    """Handshake times of new TLS clients while ``idle`` TCP clients hold connections and say nothing.

    cheroot's builtin adapter once did the handshake in the accepting thread, so one silent client
    stalled every other (issue 13); the figure here is what a client waits with ``idle`` of them.
    """
    host, port = "127.0.0.1", int(target.url_base.split(":")[2].split("/")[0])
    # From 16 loopback addresses: the engine closes a 65th connection of one address at accept.
    sources = [(f"127.0.0.{2 + n}", 0) for n in range(16)]
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    silent = []
    try:
        for n in range(idle):
            silent.append(socket.create_connection((host, port), timeout=10, source_address=sources[n % 16]))
        time.sleep(0.5)
        times = []
        for _ in range(samples):
            started = time.monotonic()
            with (
                socket.create_connection((host, port), timeout=30) as raw,
                context.wrap_socket(raw, server_hostname="localhost"),
            ):
                times.append(time.monotonic() - started)
        return {
            "median_ms": statistics.median(times) * 1000,
            "max_ms": max(times) * 1000,
            "samples": float(samples),
            "idle": float(idle),
        }
    finally:
        for sock in silent:
            sock.close()


def tls_ratios(results: dict[str, dict[str, Result]]) -> list[Ratio]:
    ratios = []
    for key, r in results.items():
        workload = key.split("-", 1)[1]
        engine = r["engine-https"]
        target = {"big": 0.95, "ranges": 0.9}.get(workload)
        what = "aggregate MB/s" if workload == "big" else "MB/s"
        if "nginx-tls" in r:
            nginx = r["nginx-tls"]
            extra = {"at_least": target} if target else {}
            ratios.append(
                ratio(f"{key}: engine-https/nginx-tls {what}", engine["MBps"], nginx["MBps"], **extra)
            )
            ratios.append(
                ratio(
                    f"{key}: engine-https/nginx-tls CPU s per GiB",
                    engine["cpu_s_per_GiB"],
                    nginx["cpu_s_per_GiB"],
                )
            )
        if EXTRA in r:
            caddy = r[EXTRA]
            ratios.append(ratio(f"{key}: engine-https/{EXTRA} {what}", engine["MBps"], caddy["MBps"]))
            ratios.append(
                ratio(
                    f"{key}: engine-https/{EXTRA} CPU s per GiB",
                    engine["cpu_s_per_GiB"],
                    caddy["cpu_s_per_GiB"],
                )
            )
        if "cheroot" in r:
            ratios.append(
                ratio(f"{key}: engine-https/bare cheroot {what}", engine["MBps"], r["cheroot"]["MBps"])
            )
            if "nginx-tls" in r:
                ratios.append(
                    ratio(
                        f"{key}: bare cheroot/nginx-tls {what}", r["cheroot"]["MBps"], r["nginx-tls"]["MBps"]
                    )
                )
        # engine-http ran with the first certificate only: its figure serves every certificate
        plain = next(
            (
                v["engine-http"]
                for k, v in results.items()
                if k.endswith(f"-{workload}") and "engine-http" in v
            ),
            None,
        )
        if plain is not None:
            ratios.append(ratio(f"{key}: engine https/http {what}", engine["MBps"], plain["MBps"]))
            ratios.append(
                ratio(
                    f"{key}: engine https/http CPU s per GiB", engine["cpu_s_per_GiB"], plain["cpu_s_per_GiB"]
                )
            )
    return ratios


if __name__ == "__main__":
    sys.exit(main())
