"""File host benchmark: the engine side by side with nginx (and caddy) and a bare waitress file app, one run.

Usage: .venv/bin/python bench/bench_host.py [--duration 15] [--size-mib 1024] [--only big,ranges,small,paced]
       [--rounds 3] [--no-caddy] [--quick] [--json FILE]

Workloads (wrk as the client, all on loopback, one server at a time, same files):

* big:    8 concurrent downloads of a 1 GiB file (wrk -c8), aggregate MB/s, and the server's CPU
          seconds per GiB sent (utime+stime of the server's processes, from /proc).
* ranges: 16 MiB sequential ranges (Range: bytes=a-b) over one keep-alive connection (wrk -c1).
* small:  a 64 KiB file, wrk -c32, requests/s.
* paced:  8 concurrent downloads of the 1 GiB file by curl clients each held to a link's rate
          (``--paced-rates``, default 110M and 12M per client: gigabit and 100-megabit clients), so
          that both servers deliver the same bytes per second; the server's CPU seconds per GiB.

Why the CPU target is judged on "paced": on loopback the kernel runs the receiving side's TCP work
in whichever process transmits, so at full speed a server's own CPU per GiB mostly says how much of
the client's work it absorbed: nginx measured 0.08-0.31 s/GiB on "big" depending only on how fast it
happened to run, while the whole machine's CPU per GiB stayed at 1.0-1.1 s. At equal delivered
rates that coupling is gone and the figure is the server's own cost (README, Benchmarks).

Each server gets a short unmeasured warm-up round per workload; then the measured rounds alternate
between the servers and the median is kept.

caddy (``file_server``, access log off as nginx's) joins nginx in every workload when it is on PATH
(``--no-caddy``: not); its ratios (engine/caddy) have no target.

Prints a table and the ratios the file host is held to (engine/nginx, engine/waitress).
Linux only (reads /proc). Needs nginx and wrk (scripts/install). Runs as root or not.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import benchlib
from benchlib import BareWaitress, Caddy, Engine, GiB, Group, MiB, Nginx, Ratio, Result, Target, ratio

PACED_CLIENTS = 8
WARMUP_SECONDS = 2  # the unmeasured first round of each server in each workload


def measure(target: Target, workload: str, work: Path, duration: float, size: int) -> Result:
    if workload.startswith("paced-"):
        return measure_paced(target, workload.removeprefix("paced-"), duration)
    return benchlib.measure_wrk(target, workload, duration, work, size)


def measure_paced(target: Target, rate: str, duration: float) -> Result:
    """8 curl clients, each held to ``rate`` (curl's --limit-rate), for ``duration`` seconds."""
    before = benchlib.cpu_seconds(target.pids())
    started = time.monotonic()
    clients = [
        subprocess.Popen(
            [
                *("curl", "-s", "-o", "/dev/null", "-w", "%{size_download}"),
                *("--max-time", str(duration), "--limit-rate", rate, target.url_base + "big.bin"),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(PACED_CLIENTS)
    ]
    got = sum(int(float(c.communicate()[0] or 0)) for c in clients)  # curl exits 28 at --max-time
    seconds = time.monotonic() - started
    cpu = benchlib.cpu_seconds(target.pids()) - before
    return {
        "MBps": got / seconds / 1e6,
        "reqps": PACED_CLIENTS / seconds,
        "errors": 0 if got else PACED_CLIENTS,
        "cpu_s_per_GiB": cpu / (got / GiB) if got else float("nan"),
    }


def server_of(kind: str, work: Path, files: Path, access_log: bool) -> benchlib.Server:
    if kind == "nginx":
        return Nginx(work, files)
    if kind == "caddy":
        return Caddy(work, files)
    if kind == "engine":
        return Engine(work, files, [Group("Bench")], access_log=access_log)
    return BareWaitress(work, files)


def host_ratios(results: dict[str, dict[str, Result]]) -> list[Ratio]:
    ratios = []
    if "big" in results:
        b = results["big"]
        ratios.append(
            ratio("big: engine/nginx aggregate MB/s", b["engine"]["MBps"], b["nginx"]["MBps"], at_least=1.0)
        )
        ratios.append(
            ratio(
                "big: engine/nginx CPU s per GiB (unequal rates)",
                b["engine"]["cpu_s_per_GiB"],
                b["nginx"]["cpu_s_per_GiB"],
            )
        )
        ratios.append(
            ratio("big: engine/waitress aggregate MB/s", b["engine"]["MBps"], b["waitress"]["MBps"])
        )
    if "ranges" in results:
        r = results["ranges"]
        ratios.append(
            ratio("ranges: engine/nginx MB/s", r["engine"]["MBps"], r["nginx"]["MBps"], at_least=0.9)
        )
    if "small" in results:
        s = results["small"]
        ratios.append(
            ratio("small: engine/waitress req/s", s["engine"]["reqps"], s["waitress"]["reqps"], at_least=0.85)
        )
        ratios.append(ratio("small: engine/nginx req/s", s["engine"]["reqps"], s["nginx"]["reqps"]))
    for workload, p in results.items():
        if workload.startswith("paced-"):
            ratios.append(
                ratio(
                    f"{workload}: engine/nginx CPU s per GiB",
                    p["engine"]["cpu_s_per_GiB"],
                    p["nginx"]["cpu_s_per_GiB"],
                    at_most=1.3,
                )
            )
    return ratios + caddy_ratios(results)


def caddy_ratios(results: dict[str, dict[str, Result]]) -> list[Ratio]:
    """engine/caddy on each workload caddy ran (no targets: caddy is an extra comparison)."""
    ratios = []
    for workload, r in results.items():
        if "caddy" not in r:
            continue
        key, what = ("reqps", "req/s") if workload == "small" else ("MBps", "MB/s")
        if workload == "big":
            what = "aggregate MB/s"
        if not workload.startswith("paced-"):
            ratios.append(ratio(f"{workload}: engine/caddy {what}", r["engine"][key], r["caddy"][key]))
        unequal = " (unequal rates)" if workload == "big" else ""
        ratios.append(
            ratio(
                f"{workload}: engine/caddy CPU s per GiB{unequal}",
                r["engine"]["cpu_s_per_GiB"],
                r["caddy"]["cpu_s_per_GiB"],
            )
        )
    return ratios


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--size-mib", type=int, default=1024, help="size of the big file")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per workload (median kept)")
    parser.add_argument("--only", default="big,ranges,small,paced", help="workloads to run")
    parser.add_argument(
        "--paced-rates", default="110M,12M", help="per-client rates of the paced workload (curl --limit-rate)"
    )
    parser.add_argument("--no-access-log", action="store_true", help="run the engine without access log")
    parser.add_argument("--no-caddy", action="store_true", help="leave caddy out even where it is installed")
    parser.add_argument("--quick", action="store_true", help="smoke run: 64 MiB, 1 s, one round, no warm-up")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    if args.quick:
        args.duration, args.rounds, args.size_mib = 1, 1, min(args.size_mib, 64)
    missing = benchlib.missing_tools("wrk", "nginx", "curl")
    if missing:
        print(f"{', '.join(missing)} missing (bash scripts/install)", file=sys.stderr)
        return 2
    workloads = []
    for name in args.only.split(","):
        workloads += [f"paced-{rate}" for rate in args.paced_rates.split(",")] if name == "paced" else [name]
    size = args.size_mib * MiB
    base = Path(tempfile.mkdtemp(prefix="bcs-bench-"))
    os.chmod(base, 0o755)
    try:
        files = benchlib.make_files(base / "files", args.size_mib)
        benchlib.write_wrk_scripts(base)
        results: dict[str, dict[str, Result]] = {}
        kinds = {
            "big": ["nginx", "waitress", "engine"],
            "ranges": ["nginx", "engine"],
            "small": ["nginx", "waitress", "engine"],
        }
        kinds.update({w: ["nginx", "engine"] for w in workloads if w.startswith("paced-")})
        if benchlib.caddy_installed() and not args.no_caddy:
            for servers in kinds.values():
                servers.insert(1, "caddy")
        for workload in workloads:
            # Fresh servers per workload: a bare waitress that served the 1 GiB downloads answered
            # 64 KiB requests 2-4x slower afterwards (measured), which would flatter the engine.
            with ExitStack() as stack:
                targets = [
                    stack.enter_context(
                        server_of(kind, base / f"srv-{workload}-{kind}", files, not args.no_access_log)
                    ).target(kind)
                    for kind in kinds[workload]
                ]
                results[workload] = benchlib.compare(
                    workload,
                    targets,
                    measurer(workload, base, args.duration, size),
                    args.rounds,
                    not args.quick,
                )
        benchlib.print_medians(results)
        ratios = host_ratios(results)
        benchlib.print_ratios(ratios)
        benchlib.write_json(args.json, results, ratios)
        return 0
    finally:
        shutil.rmtree(base, ignore_errors=True)


def measurer(workload: str, work: Path, duration: float, size: int) -> Callable[[Target, bool], Result]:
    """``compare``'s measure of ``workload``: ``WARMUP_SECONDS`` when warming up, else ``duration``."""

    def measure_once(target: Target, warmup: bool) -> Result:
        return measure(target, workload, work, WARMUP_SECONDS if warmup else duration, size)

    return measure_once


if __name__ == "__main__":
    sys.exit(main())
