"""File host benchmark: the engine side by side with nginx and a bare waitress file app, one run.

Usage: .venv/bin/python bench/bench_host.py [--duration 15] [--size-mib 1024] [--only big,ranges,small]

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

Prints a table and the ratios the file host is held to (engine/nginx, engine/waitress).
Linux only (reads /proc). Needs nginx and wrk (scripts/install). Runs as root or not.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
MiB = 1024 * 1024
GiB = 1024 * MiB
PACED_CLIENTS = 8
WARMUP_SECONDS = 2  # the unmeasured first round of each server in each workload

WRK_DONE = textwrap.dedent(
    """
    done = function(summary, latency, requests)
      io.write(string.format("RESULT bytes=%d duration_us=%d requests=%d errors=%d\\n",
        summary.bytes, summary.duration, summary.requests,
        summary.errors.connect + summary.errors.read + summary.errors.write
        + summary.errors.status + summary.errors.timeout))
    end
    """
)

WRK_RANGES = textwrap.dedent(
    """
    local chunk = 16 * 1024 * 1024
    local size = tonumber(os.getenv("BENCH_SIZE"))
    local offset = 0
    request = function()
      local last = offset + chunk - 1
      local hdr = string.format("bytes=%d-%d", offset, last)
      offset = offset + chunk
      if offset + chunk > size then offset = 0 end
      return wrk.format("GET", nil, {Range = hdr})
    end
    """
)

BARE_WAITRESS = textwrap.dedent(
    """
    import logging, os, sys
    from waitress import serve
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    root = sys.argv[2]
    def app(environ, start_response):
        path = os.path.join(root, environ["PATH_INFO"].rsplit("/", 1)[-1])
        fh = open(path, "rb")
        size = os.fstat(fh.fileno()).st_size
        start_response("200 OK", [("Content-Type", "application/octet-stream"),
                                  ("Content-Length", str(size))])
        return environ["wsgi.file_wrapper"](fh, 262144)
    # 12 threads, as the engine's listener for this group (4 + 8 for a group without connection
    # limit): waitress's default 4 served 1000 req/s where 12 served 1800 (wrk -c32, measured).
    serve(app, host="127.0.0.1", port=int(sys.argv[1]), threads=12, _quiet=True)
    """
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


def cpu_seconds(pids: list[int]) -> float:
    """CPU time of the processes (all their threads), in seconds.

    The scheduler's exact run time per thread (``/proc/<pid>/task/<tid>/schedstat``, ns) where the
    kernel has it; utime+stime otherwise, which a tick-sampling kernel (HZ=250 here) only estimates.
    """
    total = 0.0
    for pid in pids:
        try:
            tids = os.listdir(f"/proc/{pid}/task")
            total += (
                sum(int(Path(f"/proc/{pid}/task/{tid}/schedstat").read_text().split()[0]) for tid in tids)
                / 1e9
            )
            continue
        except (FileNotFoundError, IndexError, ValueError):
            pass
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False).stdout
    return [int(p) for p in out.split()]


class Server:
    name = ""
    url_base = ""

    def pids(self) -> list[int]:
        raise NotImplementedError


class Nginx(Server):
    name = "nginx"

    def __init__(self, work: Path, files: Path) -> None:
        self.port = free_port()
        conf = work / "nginx.conf"
        user = "user root;\n" if os.geteuid() == 0 else ""
        conf.write_text(
            f"""{user}worker_processes auto;
pid {work}/nginx.pid;
error_log {work}/nginx-error.log;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 100000;
  client_body_temp_path {work}/nginx-tmp;
  proxy_temp_path {work}/nginx-tmp;
  fastcgi_temp_path {work}/nginx-tmp;
  uwsgi_temp_path {work}/nginx-tmp;
  scgi_temp_path {work}/nginx-tmp;
  server {{
    listen 127.0.0.1:{self.port};
    location /Bench/ {{ alias {files}/; }}
  }}
}}
"""
        )
        self.proc = subprocess.Popen(["nginx", "-c", str(conf), "-p", str(work), "-g", "daemon off;"])
        wait_port(self.port)
        self.url_base = f"http://127.0.0.1:{self.port}/Bench/"

    def pids(self) -> list[int]:
        return [self.proc.pid, *children(self.proc.pid)]

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGQUIT)
        self.proc.wait(20)


class Engine(Server):
    name = "engine"

    def __init__(self, work: Path, files: Path, access_log: bool) -> None:
        sys.path.insert(0, str(HERE.parent / "engine"))
        self.port = free_port()
        self.pipe = f"bcs-bench-{uuid.uuid4().hex[:8]}"
        state = work / "engine-state"
        state.mkdir()
        group = f"http://+:{self.port}/Bench/"
        urls = "".join(
            f"  - urlSuffix: {f.name}\n    sourcePath: {f}\n" for f in sorted(files.iterdir()) if f.is_file()
        )
        (state / "config.yaml").write_text(
            "version: 1\n"
            f"server:\n  accessLog: {'true' if access_log else 'false'}\n"
            f"urlGroups:\n- urlGroup: {group}\n  connectionLimit: 0\n  urls:\n{urls}"
        )
        self.log = open(work / "engine.out", "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bcs", "--pipe-name", self.pipe, "serve", "--state-dir", str(state)],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        wait_port(self.port)
        self.url_base = f"http://127.0.0.1:{self.port}/Bench/"

    def pids(self) -> list[int]:
        return [self.proc.pid]

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(30)
        self.log.close()


class BareWaitress(Server):
    name = "waitress"

    def __init__(self, work: Path, files: Path) -> None:
        self.port = free_port()
        script = work / "bare_waitress.py"
        script.write_text(BARE_WAITRESS)
        self.proc = subprocess.Popen([sys.executable, str(script), str(self.port), str(files)])
        wait_port(self.port)
        self.url_base = f"http://127.0.0.1:{self.port}/Bench/"

    def pids(self) -> list[int]:
        return [self.proc.pid]

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(20)


def wrk(
    url: str, connections: int, threads: int, duration: int, script: Path, env: dict[str, str]
) -> dict[str, int]:
    out = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{duration}s",
            "--timeout",
            "60s",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        timeout=duration + 120,
        env={**os.environ, **env},
        check=False,
    )
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            return {k: int(v) for k, v in (kv.split("=") for kv in line.split()[1:])}
    raise RuntimeError(f"wrk failed: {out.stdout}\n{out.stderr}")


def measure(server: Server, workload: str, work: Path, duration: int, size: int) -> dict[str, Any]:
    if workload.startswith("paced-"):
        return measure_paced(server, workload.removeprefix("paced-"), duration)
    plain = work / "done.lua"
    ranges = work / "ranges.lua"
    env = {"BENCH_SIZE": str(size)}
    if workload == "ranges":  # a response callback would make wrk buffer bodies: check the status once
        check = subprocess.run(
            ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-r", "0-9", server.url_base + "big.bin"],
            capture_output=True,
            text=True,
            check=False,
        )
        if check.stdout != "206":
            raise RuntimeError(f"{server.name} answered {check.stdout} to a Range request")
    before = cpu_seconds(server.pids())
    if workload == "big":
        r = wrk(server.url_base + "big.bin", 8, 2, duration, plain, env)
    elif workload == "ranges":
        r = wrk(server.url_base + "big.bin", 1, 1, duration, ranges, env)
    else:
        r = wrk(server.url_base + "small.bin", 32, 2, duration, plain, env)
    cpu = cpu_seconds(server.pids()) - before
    seconds = r["duration_us"] / 1e6
    return {
        "MBps": r["bytes"] / seconds / 1e6,
        "reqps": r["requests"] / seconds,
        "errors": r["errors"],
        "cpu_s_per_GiB": cpu / (r["bytes"] / GiB) if r["bytes"] else float("nan"),
    }


def measure_paced(server: Server, rate: str, duration: int) -> dict[str, Any]:
    """8 curl clients, each held to ``rate`` (curl's --limit-rate), for ``duration`` seconds."""
    before = cpu_seconds(server.pids())
    started = time.monotonic()
    clients = [
        subprocess.Popen(
            [
                *("curl", "-s", "-o", "/dev/null", "-w", "%{size_download}"),
                *("--max-time", str(duration), "--limit-rate", rate, server.url_base + "big.bin"),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(PACED_CLIENTS)
    ]
    got = sum(int(float(c.communicate()[0] or 0)) for c in clients)  # curl exits 28 at --max-time
    seconds = time.monotonic() - started
    cpu = cpu_seconds(server.pids()) - before
    return {
        "MBps": got / seconds / 1e6,
        "reqps": PACED_CLIENTS / seconds,
        "errors": 0 if got else PACED_CLIENTS,
        "cpu_s_per_GiB": cpu / (got / GiB) if got else float("nan"),
    }


@contextmanager
def running(kind: str, work: Path, files: Path, access_log: bool) -> Iterator[Server]:
    sub = work
    sub.mkdir()
    server: Any
    if kind == "nginx":
        (sub / "nginx-tmp").mkdir()
        server = Nginx(sub, files)
    elif kind == "engine":
        server = Engine(sub, files, access_log)
    else:
        server = BareWaitress(sub, files)
    try:
        yield server
    finally:
        server.stop()


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
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    for tool in ("wrk", "nginx", "curl"):
        if shutil.which(tool) is None:
            print(f"{tool} is missing (bash scripts/install)", file=sys.stderr)
            return 2
    workloads = []
    for name in args.only.split(","):
        workloads += [f"paced-{rate}" for rate in args.paced_rates.split(",")] if name == "paced" else [name]
    size = args.size_mib * MiB
    base = Path(tempfile.mkdtemp(prefix="bcs-bench-"))
    os.chmod(base, 0o755)
    try:
        files = base / "files"
        files.mkdir()
        block = os.urandom(MiB)
        with open(files / "big.bin", "wb") as fh:
            for _ in range(args.size_mib):
                fh.write(block)
        (files / "small.bin").write_bytes(os.urandom(64 * 1024))
        subprocess.run(["cat", str(files / "big.bin")], stdout=subprocess.DEVNULL, check=True)  # page cache
        (base / "done.lua").write_text(WRK_DONE)
        (base / "ranges.lua").write_text(WRK_RANGES + WRK_DONE)
        results: dict[str, dict[str, dict[str, Any]]] = {}
        kinds = {
            "big": ["nginx", "waitress", "engine"],
            "ranges": ["nginx", "engine"],
            "small": ["nginx", "waitress", "engine"],
        }
        kinds.update({w: ["nginx", "engine"] for w in workloads if w.startswith("paced-")})
        for workload in workloads:
            # Fresh servers per workload: a bare waitress that served the 1 GiB downloads answered
            # 64 KiB requests 2-4x slower afterwards (measured), which would flatter the engine.
            with ExitStack() as stack:
                servers = {
                    kind: stack.enter_context(
                        running(kind, base / f"srv-{workload}-{kind}", files, not args.no_access_log)
                    )
                    for kind in kinds[workload]
                }
                samples: dict[str, list[dict[str, Any]]] = {kind: [] for kind in kinds[workload]}
                # One short unmeasured round each first: a fresh Python server pays one-time costs
                # on its first requests (lazy imports, MIME table, thread start) that are not what
                # a GiB costs it; nginx gets the same warm-up.
                for kind in kinds[workload]:
                    measure(servers[kind], workload, base, WARMUP_SECONDS, size)
                # Rounds alternate the servers, so that a noisy neighbour hits all of them alike.
                for round_no in range(args.rounds):
                    for kind in kinds[workload]:
                        r = measure(servers[kind], workload, base, args.duration, size)
                        samples[kind].append(r)
                        print(
                            f"{workload:11} round {round_no + 1} {kind:9} {r['MBps']:9.1f} MB/s "
                            f"{r['reqps']:9.1f} req/s {r['cpu_s_per_GiB']:6.3f} CPU s/GiB  errors {r['errors']}",
                            flush=True,
                        )
                results[workload] = {
                    kind: {key: statistics.median(x[key] for x in runs) for key in runs[0]}
                    for kind, runs in samples.items()
                }
        print("\nmedians:")
        for workload, by_kind in results.items():
            for kind, r in by_kind.items():
                print(
                    f"{workload:11} {kind:9} {r['MBps']:9.1f} MB/s {r['reqps']:9.1f} req/s "
                    f"{r['cpu_s_per_GiB']:6.3f} CPU s/GiB"
                )
        print()
        ratios = {}
        if "big" in results:
            b = results["big"]
            ratios["big: engine/nginx aggregate MB/s (>= 1.0)"] = b["engine"]["MBps"] / b["nginx"]["MBps"]
            ratios["big: engine/nginx CPU s per GiB (unequal rates)"] = (
                b["engine"]["cpu_s_per_GiB"] / b["nginx"]["cpu_s_per_GiB"]
            )
            ratios["big: engine/waitress aggregate MB/s"] = b["engine"]["MBps"] / b["waitress"]["MBps"]
        if "ranges" in results:
            r = results["ranges"]
            ratios["ranges: engine/nginx MB/s (>= 0.9)"] = r["engine"]["MBps"] / r["nginx"]["MBps"]
        if "small" in results:
            s = results["small"]
            ratios["small: engine/waitress req/s (>= 0.85)"] = s["engine"]["reqps"] / s["waitress"]["reqps"]
            ratios["small: engine/nginx req/s"] = s["engine"]["reqps"] / s["nginx"]["reqps"]
        for workload, p in results.items():
            if workload.startswith("paced-"):
                ratios[f"{workload}: engine/nginx CPU s per GiB (<= 1.3)"] = (
                    p["engine"]["cpu_s_per_GiB"] / p["nginx"]["cpu_s_per_GiB"]
                )
        for name, value in ratios.items():
            print(f"{name:52} {value:6.2f}")
        if args.json:
            args.json.write_text(json.dumps({"results": results, "ratios": ratios}, indent=2))
        return 0
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
