"""BITS upload benchmark: our client uploading to our server vs ``curl -T`` PUT to nginx, one run.

Usage: .venv/bin/python bench/bench_upload.py [--size-mib 1024] [--rounds 3] [--smoke | --quick]
       [--json PATH]

One file of --size-mib MiB (random bytes) is uploaded in alternating rounds, after one untimed
warm-up of each side:

* nginx: ``curl -sS -T file http://127.0.0.1:<port>/dav/<name>`` to nginx with ``dav_methods PUT``
  (Debian's nginx-light is built ``--with-http_dav_module``; checked with ``nginx -V`` and refused
  otherwise). nginx writes the body to its client_body_temp_path and renames it into place, so
  the PUT is complete when curl returns.
* ours: an Upload job in a client engine (Foreground) to an upload-enabled URL group of a second
  engine, the server; timed from ``job.create`` to ``job.complete`` returning, i.e. until
  Close-Session placed the file (what nginx's 201 means).

Everything (the source, nginx's and the server's temporary and destination files, the engines'
state directories and waitress' body spool, via TMPDIR) lives on /dev/shm when it exists, so the
disk does not dominate and every rename stays in one file system. Reported per side (medians):
wall time and MB/s, client CPU s/GiB (curl: this process's children rusage; ours: the client
engine's utime+stime from /proc), server CPU s/GiB (the nginx worker / the server engine), the
server's VmRSS before the first round and after the last (and its peak, VmHWM), and the rate
ratio ours/nginx (target >= 0.8). Every upload is checked by size and SHA-256.

``--json PATH`` writes the medians as bench/report.py reads them (benchlib.write_json): workload
``upload``, servers ``bcs`` and ``nginx``, MB/s, server CPU s/GiB, client CPU s/GiB, wall s and the
server's RSS; the ratio ``upload: bcs/nginx MB/s`` with its target.

Linux only (reads /proc). Needs nginx and curl (scripts/install). Run the full size only on an
idle machine; --smoke (or --quick) is 64 MiB x 2 rounds.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "engine"))

import benchlib
from benchlib import Ratio

from bcs.rpc.client import RpcClient

ENGINE_DIR = str(Path(__file__).resolve().parent.parent / "engine")

MiB = 1024 * 1024
GiB = 1024 * MiB


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_port(port: int) -> None:
    for _ in range(400):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def nginx_has_dav() -> bool:
    out = subprocess.run(["nginx", "-V"], capture_output=True, text=True, check=False)
    return "--with-http_dav_module" in out.stderr + out.stdout


def start_nginx(base: Path, root: Path, port: int) -> subprocess.Popen[bytes]:
    (base / "logs").mkdir(parents=True, exist_ok=True)
    (root / "dav").mkdir(parents=True, exist_ok=True)
    conf = base / "nginx.conf"
    conf.write_text(
        f"""
user root;
worker_processes 1;
error_log {base}/logs/error.log warn;
pid {base}/nginx.pid;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {root}/.body;
    proxy_temp_path {base}/proxy;
    fastcgi_temp_path {base}/fastcgi;
    uwsgi_temp_path {base}/uwsgi;
    scgi_temp_path {base}/scgi;
    keepalive_requests 100000;
    server {{
        listen 127.0.0.1:{port};
        root {root};
        location /dav/ {{
            dav_methods PUT;
            create_full_put_path on;
            client_max_body_size 0;
        }}
    }}
}}
"""
    )
    proc = subprocess.Popen(
        ["nginx", "-p", str(base), "-c", str(conf), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_port(port)
    return proc


def nginx_worker(master: int) -> int:
    """The pid of nginx's one worker process."""
    for _ in range(100):
        for task in Path(f"/proc/{master}/task").iterdir():
            children = (task / "children").read_text().split()
            if children:
                return int(children[0])
        time.sleep(0.05)
    raise RuntimeError("nginx has no worker")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def memory(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM in MiB."""
    out: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) / 1024
    return out


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(4 * MiB), b""):
            h.update(block)
    return h.hexdigest()


class Engine:
    """``python -m bcs serve`` with its own pipe and state directory."""

    def __init__(self, base: Path, name: str, tmp: Path) -> None:
        self.state = base / name
        self.state.mkdir()
        self.state.joinpath("config.yaml").write_text("version: 1\nurlGroups: []\n")
        self.pipe = f"bench-upload-{name}-{uuid.uuid4().hex[:8]}"
        self.log = base / f"{name}.log"
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "bcs",
                    "--pipe-name",
                    self.pipe,
                    "serve",
                    "--state-dir",
                    str(self.state),
                    "--log-level",
                    "WARNING",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONPATH": ENGINE_DIR, "TMPDIR": str(tmp)},  # this checkout's engine
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                with RpcClient(self.pipe, timeout=5) as c:
                    c.call("server.status")
                return
            except Exception:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"engine {name} did not start:\n{self.log.read_text(errors='replace')}")

    @property
    def pid(self) -> int:
        return self.proc.pid

    def client(self) -> RpcClient:
        c = RpcClient(self.pipe, timeout=600)
        c.connect()
        return c

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def curl_put(source: Path, url: str) -> tuple[float, float]:
    """``curl -T``; returns (wall seconds, curl's CPU seconds)."""
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    out = subprocess.run(
        ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-T", str(source), url],
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - t0
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert out.returncode == 0 and out.stdout in ("201", "204"), (out.returncode, out.stdout, out.stderr)
    return wall, (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)


def wait_state(client: RpcClient, job_id: str, states: tuple[str, ...]) -> dict[str, Any]:
    job: dict[str, Any] = client.call("job.get", jobId=job_id)
    while job["jobState"] not in states:
        job = client.call("job.wait", jobId=job_id, changeCount=job["changeCount"], timeout=30)
    return job


def job_upload(client: RpcClient, source: Path, url: str) -> float:
    """An Upload job from create to Complete (Close-Session placed the file); wall seconds."""
    t0 = time.perf_counter()
    job = client.call(
        "job.create",
        type="Upload",
        priority="Foreground",
        files=[{"remoteUrl": url, "localPath": str(source)}],
    )
    done = wait_state(client, job["jobId"], ("Transferred", "Error"))
    assert done["jobState"] == "Transferred", done
    client.call("job.complete", jobId=job["jobId"])
    return time.perf_counter() - t0


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--smoke", "--quick", action="store_true", help="64 MiB x 2 rounds")
    parser.add_argument("--json", type=Path, help="write the results there (bench/report.py)")
    args = parser.parse_args()
    if args.smoke:
        args.size_mib, args.rounds = 64, 2
    if shutil.which("nginx") is None or shutil.which("curl") is None:
        print("needs nginx and curl", file=sys.stderr)
        return 2
    if not nginx_has_dav():
        print("this nginx has no DAV module (nginx -V lacks --with-http_dav_module)", file=sys.stderr)
        return 2
    shm = Path("/dev/shm")
    base = Path(tempfile.mkdtemp(prefix="bench-upload-", dir=shm if shm.is_dir() else None))
    size = args.size_mib * MiB
    source = base / "source.bin"
    with open(source, "wb") as fh:
        for _ in range(args.size_mib):
            fh.write(os.urandom(MiB))
    digest = sha256(source)
    www, incoming, spool = base / "www", base / "incoming", base / "spool"
    for d in (www, incoming, spool):
        d.mkdir()
    # waitress spools request bodies to TMPDIR, and the engines' pipes live there too: this
    # process must look for them there
    os.environ["TMPDIR"] = str(spool)
    nginx_port, bits_port = free_port(), free_port()
    nginx = start_nginx(base / "nginx", www, nginx_port)
    engines: list[Engine] = []
    try:
        server = Engine(base, "server", spool)
        engines.append(server)
        client = Engine(base, "client", spool)
        engines.append(client)
        worker = nginx_worker(nginx.pid)
        with server.client() as s:
            group = f"http://+:{bits_port}/upload/"
            s.call("urlgroup.create", {"urlGroup": group, "uploadEnabled": True, "connectionLimit": 0})
            s.call("url.create", {"urlGroup": group, "urlSuffix": "files", "sourcePath": str(incoming)})
        with client.client() as c:

            def ours(name: str) -> tuple[float, float, float]:
                cpu_c, cpu_s = cpu_seconds(client.pid), cpu_seconds(server.pid)
                wall = job_upload(c, source, f"http://127.0.0.1:{bits_port}/upload/files/{name}")
                used = (cpu_seconds(client.pid) - cpu_c, cpu_seconds(server.pid) - cpu_s)
                target = incoming / name
                assert target.stat().st_size == size and sha256(target) == digest, name
                target.unlink()
                return wall, *used

            def theirs(name: str) -> tuple[float, float, float]:
                cpu_s = cpu_seconds(worker)
                wall, cpu_c = curl_put(source, f"http://127.0.0.1:{nginx_port}/dav/{name}")
                target = www / "dav" / name
                assert target.stat().st_size == size and sha256(target) == digest, name
                target.unlink()
                return wall, cpu_c, cpu_seconds(worker) - cpu_s

            rss = {"nginx": memory(worker), "bcs": memory(server.pid)}
            # Untimed warm-up: the first writes to a fresh tmpfs and the engines' first transfer
            # (threads, pools) are slower for whoever goes first.
            theirs("warmup.bin")
            ours("warmup.bin")
            results: dict[str, list[tuple[float, float, float]]] = {"nginx": [], "bcs": []}
            for r in range(args.rounds):
                results["nginx"].append(theirs(f"n{r}.bin"))
                results["bcs"].append(ours(f"b{r}.bin"))
                n, b = results["nginx"][-1][0], results["bcs"][-1][0]
                print(
                    f"  round {r + 1}: curl -T -> nginx {n:.3f} s ({size / n / 1e6:.0f} MB/s), "
                    f"BITS job -> bcs {b:.3f} s ({size / b / 1e6:.0f} MB/s)"
                )
            after = {"nginx": memory(worker), "bcs": memory(server.pid)}
        gib = size / GiB
        print(f"upload of {args.size_mib} MiB, {args.rounds} rounds, medians:")
        print(
            f"  {'':26} {'wall s':>8} {'MB/s':>7} {'client CPU s/GiB':>17} {'server CPU s/GiB':>17}"
            f" {'server RSS MiB before/after (peak)':>36}"
        )
        rates = {}
        figures: dict[str, benchlib.Result] = {}
        for side, label in (("nginx", "curl -T -> nginx dav PUT"), ("bcs", "BITS Upload job -> bcs")):
            wall = statistics.median(r[0] for r in results[side])
            rates[side] = size / wall
            cpu_c = statistics.median(r[1] for r in results[side]) / gib
            cpu_s = statistics.median(r[2] for r in results[side]) / gib
            mem = f"{rss[side]['VmRSS']:.1f} / {after[side]['VmRSS']:.1f} ({after[side]['VmHWM']:.1f})"
            print(f"  {label:26} {wall:8.3f} {size / wall / 1e6:7.0f} {cpu_c:17.3f} {cpu_s:17.3f} {mem:>36}")
            figures[side] = {
                "MBps": size / wall / 1e6,
                "cpu_s_per_GiB": cpu_s,
                "client_cpu_s_per_GiB": cpu_c,
                "seconds": wall,
                "rss_before_MiB": rss[side]["VmRSS"],
                "rss_after_MiB": after[side]["VmRSS"],
                "rss_peak_MiB": after[side]["VmHWM"],
            }
        ratio = rates["bcs"] / rates["nginx"]
        print(f"  rate ratio bcs/nginx       {ratio:.3f}  (target >= 0.8)")
        benchlib.write_json(
            args.json,
            {"upload": figures},
            [Ratio("upload: bcs/nginx MB/s", ratio, at_least=0.8)],
            size_mib=args.size_mib,
            rounds=args.rounds,
        )
    finally:
        for engine in engines:
            engine.stop()
        nginx.send_signal(signal.SIGTERM)
        nginx.wait(10)
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
