"""What the benchmarks share: the servers they start, the clients they drive, CPU accounting, the
alternating rounds and the ratio table.

* Servers, each a context manager with ``name``, ``url_base`` and ``pids()``: ``Nginx`` (plain or
  TLS), ``Caddy`` (the same, where installed), ``Engine`` (``python -m bcs serve`` with URL groups,
  https bindings and authentication written into its config.yaml), ``BareWaitress`` and
  ``BareCheroot`` (the reference apps the engine's listeners are built on). A ``Target`` is one URL
  base of a server and the processes whose CPU counts for it (one engine serves several targets:
  http and https, anonymous and authenticated groups).
* Clients: wrk (``measure_wrk``: whole files or sequential ranges, aggregate MB/s, requests/s and
  the server's CPU per GiB), curl (``run_curl_list``: a list of transfers on one keep-alive
  connection per process, with any of curl's authentication options).
* ``compare`` warms each target up once, then alternates measured rounds between them (a noisy
  neighbour hits all alike) and keeps the medians; ``Ratio`` / ``print_ratios`` print the ratios
  a benchmark is held to, with their targets.

The engine run is the one beside this file (``engine/``) unless ``PYTHONPATH`` names another one
(the README compares versions that way). Linux only (CPU from /proc).
"""

from __future__ import annotations

import json
import math
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ENGINE_DIR = HERE.parent / "engine"
MiB = 1024 * 1024
GiB = 1024 * MiB
RANGE_MIB = 16  # the ranges workload's request size (issues 12-14: 16 MiB ranges)

Result = dict[str, float]  # MBps, reqps, errors, cpu_s_per_GiB (and what a workload adds)

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
    local chunk = tonumber(os.getenv("BENCH_CHUNK"))
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

# The ceiling the engine's https path is compared with (issue 13): a file app on cheroot with its
# builtin TLS adapter, 256 KiB chunks, the engine's TLS policy and thread count, single ranges.
BARE_CHEROOT = textwrap.dedent(
    """
    import os, ssl, sys
    from cheroot import wsgi
    from cheroot.ssl.builtin import BuiltinSSLAdapter
    port, root, cert, key = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    def app(environ, start_response):
        fh = open(os.path.join(root, environ["PATH_INFO"].rsplit("/", 1)[-1]), "rb")
        size = os.fstat(fh.fileno()).st_size
        first, last, status = 0, size - 1, "200 OK"
        headers = [("Content-Type", "application/octet-stream")]
        spec = environ.get("HTTP_RANGE", "")
        if spec.startswith("bytes="):
            a, b = spec[6:].split("-")
            first, last, status = int(a), min(int(b), size - 1), "206 Partial Content"
            headers.append(("Content-Range", f"bytes {first}-{last}/{size}"))
        headers.append(("Content-Length", str(last - first + 1)))
        start_response(status, headers)
        fh.seek(first)
        def body(left=last - first + 1):
            try:
                while left > 0:
                    data = fh.read(min(262144, left))
                    if not data:
                        return
                    left -= len(data)
                    yield data
            finally:
                fh.close()
        return body()
    server = wsgi.Server(("127.0.0.1", port), app, numthreads=12)
    adapter = BuiltinSSLAdapter(cert, key)
    adapter.context.minimum_version = ssl.TLSVersion.TLSv1_2
    adapter.context.set_ciphers("DEFAULT:@SECLEVEL=2")
    server.ssl_adapter = adapter
    server.safe_start()
    """
)


# --- plumbing ----------------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port nothing holds on any address, below the kernel's ephemeral port range.

    Port 0's choice comes from the ephemeral range, where every outgoing connection of the
    machine (wrk's, curl's, other test suites' idle connections) takes its local port too: one of
    them took such a port between this choice and the engine's bind more than once (the engine
    binds every address and found it held for its 20 s). Below the range only a listener
    chosen the same way can collide.
    """
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 0
    if low > 11000:
        for _ in range(200):
            port = random.randrange(10000, low)
            if _bindable(port):
                return port
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        chosen: int = s.getsockname()[1]
        return chosen


def _bindable(port: int) -> bool:
    """Whether ``port`` can be bound on every IPv4 and IPv6 address (as the engine binds it), now."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as v4:
            v4.bind(("0.0.0.0", port))
    except OSError:
        return False
    try:
        v6 = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    except OSError:  # no IPv6 here
        return True
    with v6:
        try:
            v6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            v6.bind(("::", port))
        except OSError:
            return False
    return True


def wait_port(port: int, timeout: float = 20.0, proc: subprocess.Popen[Any] | None = None) -> None:
    """Wait until something accepts on 127.0.0.1:``port`` (``proc``: fail early when it exits)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the server for port {port} exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


def cpu_seconds(pids: Sequence[int], per_thread: bool = True) -> float:
    """CPU time of the processes (all their threads), in seconds.

    ``per_thread``: the scheduler's exact run time per live thread
    (``/proc/<pid>/task/<tid>/schedstat``, ns) where the kernel has it; otherwise, or when threads
    come and go during the measurement (their time would be lost), utime+stime of the process,
    which a tick-sampling kernel (HZ=250 here) only estimates.
    """
    total = 0.0
    for pid in pids:
        if per_thread:
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


def missing_tools(*tools: str) -> list[str]:
    """The tools of ``tools`` that are not on PATH (scripts/install installs them all)."""
    import shutil

    return [tool for tool in tools if shutil.which(tool) is None]


def make_files(folder: Path, big_mib: int, small_bytes: int = 64 * 1024) -> Path:
    """``big.bin`` (``big_mib`` MiB) and ``small.bin`` of random bytes in ``folder``, in the page cache."""
    folder.mkdir(parents=True, exist_ok=True)
    block = os.urandom(MiB)
    with open(folder / "big.bin", "wb") as fh:
        for _ in range(big_mib):
            fh.write(block)
    (folder / "small.bin").write_bytes(os.urandom(small_bytes))
    subprocess.run(["cat", str(folder / "big.bin")], stdout=subprocess.DEVNULL, check=True)
    return folder


def make_certificate(folder: Path, kind: str) -> tuple[Path, Path]:
    """A self-signed certificate for localhost and 127.0.0.1 and its key (``kind``: ecdsa = P-256, rsa = 2048 bits).

    Made with the openssl command line; (certificate path, key path).
    """
    folder.mkdir(parents=True, exist_ok=True)
    key_options = {
        "ecdsa": ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
        "rsa": ["-newkey", "rsa:2048"],
    }[kind]
    cert, key = folder / f"{kind}.crt", folder / f"{kind}.key"
    subprocess.run(
        [
            *("openssl", "req", "-x509", *key_options, "-nodes", "-sha256", "-days", "2"),
            *("-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"),
            *("-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def engine_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a benchmarked engine: this one, ``extra``, and ``PYTHONPATH`` naming the
    checkout's engine unless it is set (so ``python -m bcs`` is the code beside this file)."""
    env = {**os.environ, **(extra or {})}
    if not env.get("PYTHONPATH"):  # unset or empty: an empty one would import an installed bcs
        env["PYTHONPATH"] = str(ENGINE_DIR)
    return env


def tls_session(port: int, host: str = "127.0.0.1") -> tuple[str, str]:
    """(protocol, cipher) a client with OpenSSL's defaults (as wrk and curl use) gets from ``port``."""
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection((host, port), timeout=10) as raw, context.wrap_socket(raw) as tls:
        cipher = tls.cipher()
        assert cipher is not None
        return cipher[1], cipher[0]


# --- servers -----------------------------------------------------------------------------------


@dataclass
class Target:
    """One thing measured: a name, its URL base (ends with /) and the processes whose CPU counts."""

    name: str
    url_base: str
    pids: Callable[[], list[int]]
    port: int = 0


class Server:
    """A server process started for a benchmark; ``with`` stops it."""

    name = ""
    url_base = ""
    port = 0
    proc: subprocess.Popen[bytes]

    def pids(self) -> list[int]:
        return [self.proc.pid]

    def target(self, name: str | None = None) -> Target:
        return Target(name or self.name, self.url_base, self.pids, self.port)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(20)

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.stop()


class Nginx(Server):
    """nginx serving ``files`` under ``location`` (plain, or TLS with ``tls`` = (cert, key))."""

    name = "nginx"

    def __init__(
        self,
        work: Path,
        files: Path,
        tls: tuple[Path, Path] | None = None,
        workers: str = "auto",
        location: str = "/Bench/",
    ) -> None:
        work.mkdir(parents=True, exist_ok=True)
        (work / "nginx-tmp").mkdir(exist_ok=True)
        self.port = free_port()
        user = "user root;\n" if os.geteuid() == 0 else ""
        listen = f"listen 127.0.0.1:{self.port}"
        if tls is not None:
            # The engine's TLS policy (bcs.host.tls.load_context): TLS 1.2 and 1.3, security level 2
            # ciphers, the server's preference (Python's contexts set it).
            listen += (
                f" ssl;\n    ssl_certificate {tls[0]};\n    ssl_certificate_key {tls[1]};\n"
                "    ssl_protocols TLSv1.2 TLSv1.3;\n    ssl_ciphers DEFAULT:@SECLEVEL=2;\n"
                "    ssl_prefer_server_ciphers on"
            )
        conf = work / "nginx.conf"
        conf.write_text(
            f"""{user}worker_processes {workers};
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
    {listen};
    location {location} {{ alias {files}/; }}
  }}
}}
"""
        )
        self.proc = subprocess.Popen(["nginx", "-c", str(conf), "-p", str(work), "-g", "daemon off;"])
        wait_port(self.port, proc=self.proc)
        self.url_base = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}{location}"

    def pids(self) -> list[int]:
        return [self.proc.pid, *children(self.proc.pid)]

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGQUIT)
        self.proc.wait(20)


class Caddy(Server):
    """caddy serving ``files`` under ``location`` (plain, or TLS with ``tls`` = (cert, key)), an
    extra comparison where it is installed (never required).

    Set up as ``Nginx`` is: a plain ``file_server``, the same certificate files (``tls cert key``,
    TLS 1.2 and 1.3), no automatic HTTPS, no admin endpoint, HTTP/1.1 only (nginx here has no
    HTTP/2 and wrk speaks HTTP/1.1), access log off as nginx's (``access_log``: on, to a file).
    Go picks its own TLS 1.3 cipher (AES-128-GCM where the CPU has AES instructions; not
    configurable), so over TLS 1.3 caddy does not encrypt with the cipher nginx and the engine use.
    """

    name = "caddy"

    def __init__(
        self,
        work: Path,
        files: Path,
        tls: tuple[Path, Path] | None = None,
        location: str = "/Bench/",
        access_log: bool = False,
    ) -> None:
        work.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        scheme = "https" if tls else "http"
        site = [f"{scheme}://127.0.0.1:{self.port} {{", "\tbind 127.0.0.1"]
        if tls is not None:
            site += [f"\ttls {tls[0]} {tls[1]} {{", "\t\tprotocols tls1.2 tls1.3", "\t}"]
        if access_log:
            site += ["\tlog {", f"\t\toutput file {work}/caddy-access.log", "\t}"]
        serve = [f"\troot * {files}", "\tfile_server"]
        if location != "/":
            serve = [f"\thandle_path {location}* {{", *(f"\t{line}" for line in serve), "\t}"]
        conf = work / "Caddyfile"
        conf.write_text(
            "\n".join(
                [
                    "{",
                    "\tadmin off",
                    "\tauto_https off",
                    f"\tstorage file_system {work}/caddy-data",
                    "\tservers {",
                    "\t\tprotocols h1",
                    "\t}",
                    "}",
                    *site,
                    *serve,
                    "}",
                    "",
                ]
            )
        )
        self.log = open(work / "caddy.out", "wb")  # noqa: SIM115 - closed in stop()
        # caddy keeps an autosave.json and certificate storage under XDG dirs: the work dir's
        env = {
            **os.environ,
            "XDG_CONFIG_HOME": str(work / "xdg-config"),
            "XDG_DATA_HOME": str(work / "xdg-data"),
        }
        self.proc = subprocess.Popen(
            ["caddy", "run", "--config", str(conf), "--adapter", "caddyfile"],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        try:
            wait_port(self.port, proc=self.proc)
        except RuntimeError:
            self.stop()
            raise RuntimeError(f"caddy did not start: {(work / 'caddy.out').read_text()[-2000:]}") from None
        self.url_base = f"{scheme}://127.0.0.1:{self.port}{location}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            super().stop()
        self.log.close()

    def __exit__(self, *exc: object) -> None:
        self.stop()  # also when caddy died: its log file is closed either way


def caddy_installed() -> bool:
    """Whether caddy is on PATH (scripts/install installs it; the benchmarks compare with it if so)."""
    return not missing_tools("caddy")


@dataclass
class Group:
    """One URL group of a benchmarked engine: ``<scheme>://+:<port>/<path>/`` publishing every file."""

    path: str
    scheme: str = "http"
    authentication: list[str] = field(default_factory=list)
    certificate: tuple[Path, Path] | None = None  # https: the port's binding
    port: int = field(default_factory=free_port)


class Engine(Server):
    """``python -m bcs serve`` with ``groups`` (each publishing every file of ``files``), in one process.

    ``auth``: the ``auth`` section of config.yaml (keytabPath, ntlmUserFile); ``env``: added to
    the engine's environment; ``host``: the name in its URLs (Kerberos needs ``localhost``).
    """

    name = "engine"

    def __init__(
        self,
        work: Path,
        files: Path,
        groups: Sequence[Group],
        *,
        access_log: bool = True,
        auth: dict[str, Any] | None = None,
        env: dict[str, str] | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        self.groups = {g.path: g for g in groups}
        self.host = host
        self.pipe = f"bcs-bench-{uuid.uuid4().hex[:8]}"
        state = work / "engine-state"
        state.mkdir(parents=True)
        urls = [{"urlSuffix": f.name, "sourcePath": str(f)} for f in sorted(files.iterdir()) if f.is_file()]
        config: dict[str, Any] = {
            "version": 1,
            "server": {"accessLog": access_log},
            "urlGroups": [
                {
                    "urlGroup": f"{g.scheme}://+:{g.port}/{g.path}/",
                    "connectionLimit": 0,
                    "authentication": g.authentication,
                    "urls": urls,
                }
                for g in groups
            ],
            "sslCertificates": [
                {"port": g.port, "certificatePath": str(g.certificate[0]), "keyPath": str(g.certificate[1])}
                for g in groups
                if g.certificate is not None
            ],
        }
        if auth:
            config["auth"] = auth
        (state / "config.yaml").write_text(json.dumps(config, indent=1))  # JSON is YAML
        self.log = open(work / "engine.out", "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bcs", "--pipe-name", self.pipe, "serve", "--state-dir", str(state)],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env=engine_env(env),
        )
        try:
            for g in groups:
                wait_port(g.port, proc=self.proc)
        except RuntimeError:
            self.stop()
            raise RuntimeError(
                f"the engine did not start: {(work / 'engine.out').read_text()[-2000:]}"
            ) from None
        first = groups[0]
        self.port = first.port
        self.url_base = self.url(first.path)

    def url(self, path: str) -> str:
        g = self.groups[path]
        return f"{g.scheme}://{self.host}:{g.port}/{g.path}/"

    def group_target(self, name: str, path: str) -> Target:
        return Target(name, self.url(path), self.pids, self.groups[path].port)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(30)
        self.log.close()


class BareWaitress(Server):
    """A bare waitress app returning ``wsgi.file_wrapper`` (what the plain-HTTP listener is built on)."""

    name = "waitress"

    def __init__(self, work: Path, files: Path) -> None:
        work.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        script = work / "bare_waitress.py"
        script.write_text(BARE_WAITRESS)
        self.proc = subprocess.Popen([sys.executable, str(script), str(self.port), str(files)])
        wait_port(self.port, proc=self.proc)
        self.url_base = f"http://127.0.0.1:{self.port}/Bench/"


class BareCheroot(Server):
    """A bare cheroot file app with the builtin TLS adapter (what the https listener is built on)."""

    name = "cheroot"

    def __init__(self, work: Path, files: Path, tls: tuple[Path, Path]) -> None:
        work.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        script = work / "bare_cheroot.py"
        script.write_text(BARE_CHEROOT)
        self.log = open(work / "cheroot.out", "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, str(script), str(self.port), str(files), str(tls[0]), str(tls[1])],
            stdout=self.log,
            stderr=subprocess.STDOUT,  # cheroot logs every connection wrk drops at the end of a run
        )
        wait_port(self.port, proc=self.proc)
        self.url_base = f"https://127.0.0.1:{self.port}/Bench/"

    def stop(self) -> None:
        super().stop()
        self.log.close()


# --- clients -----------------------------------------------------------------------------------


def write_wrk_scripts(folder: Path) -> None:
    """The wrk Lua scripts ``measure_wrk`` runs: done.lua (whole files) and ranges.lua."""
    (folder / "done.lua").write_text(WRK_DONE)
    (folder / "ranges.lua").write_text(WRK_RANGES + WRK_DONE)


def wrk(
    url: str, connections: int, threads: int, duration: float, script: Path, env: dict[str, str]
) -> dict[str, int]:
    seconds = max(1, round(duration))
    out = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{seconds}s",
            "--timeout",
            "60s",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 120,
        env={**os.environ, **env},
        check=False,
    )
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            return {k: int(v) for k, v in (kv.split("=") for kv in line.split()[1:])}
    raise RuntimeError(f"wrk failed: {out.stdout}\n{out.stderr}")


def check_range(url: str) -> None:
    """Fail unless ``url`` answers a Range request with 206 (wrk cannot check without buffering bodies)."""
    check = subprocess.run(
        ["curl", "-sk", "-o", "/dev/null", "-w", "%{http_code}", "-r", "0-9", url],
        capture_output=True,
        text=True,
        check=False,
    )
    if check.stdout != "206":
        raise RuntimeError(f"{url} answered {check.stdout or check.stderr} to a Range request")


# wrk's shape of each workload: (connections, threads, file, script)
WRK_WORKLOADS = {
    "big": (8, 2, "big.bin", "done.lua"),  # 8 concurrent whole-file downloads
    "ranges": (1, 1, "big.bin", "ranges.lua"),  # sequential ranges on one keep-alive connection
    "small": (32, 2, "small.bin", "done.lua"),  # many small files
}


def measure_wrk(
    target: Target,
    workload: str,
    duration: float,
    scripts: Path,
    size: int,
    range_bytes: int = RANGE_MIB * MiB,
) -> Result:
    """One wrk run of ``workload`` (``WRK_WORKLOADS``) against ``target``, with the target's CPU per GiB."""
    connections, threads, name, script = WRK_WORKLOADS[workload]
    if workload == "ranges":
        check_range(target.url_base + name)
    before = cpu_seconds(target.pids())
    r = wrk(
        target.url_base + name,
        connections,
        threads,
        duration,
        scripts / script,
        {"BENCH_SIZE": str(size), "BENCH_CHUNK": str(range_bytes)},
    )
    cpu = cpu_seconds(target.pids()) - before
    seconds = r["duration_us"] / 1e6
    return {
        "MBps": r["bytes"] / seconds / 1e6,
        "reqps": r["requests"] / seconds,
        "errors": r["errors"],
        "cpu_s_per_GiB": cpu / (r["bytes"] / GiB) if r["bytes"] else math.nan,
    }


@dataclass
class CurlTransfer:
    """One transfer of a curl list: a URL, maybe a byte range."""

    url: str
    range: str = ""


def _curl_quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def run_curl_list(
    transfers: Sequence[CurlTransfer],
    processes: int,
    options: Sequence[tuple[str, str | None]] = (),
    env: dict[str, str] | None = None,
    folder: Path | None = None,
) -> tuple[int, int, int, float]:
    """``processes`` curl processes at once, each making every transfer of ``transfers`` in order.

    Each process keeps one connection alive from transfer to transfer (curl reuses it across
    the ``next`` sections of its config file); ``options`` are curl's long options with their
    value or None (``("ntlm", None)``, ``("user", "DOM\\user:pw")``), for every transfer.
    Returns (transfers, bytes, failed transfers, wall seconds): a transfer fails unless it ends
    200 or 206.
    """
    common = ['write-out = "%{http_code} %{size_download}\\n"\n', 'output = "/dev/null"\n', "insecure\n"]
    common += [
        f"{name} = {_curl_quote(value)}\n" if value is not None else f"{name}\n" for name, value in options
    ]
    sections = []
    for t in transfers:
        section = [f"url = {_curl_quote(t.url)}\n", *common]
        if t.range:
            section.append(f"range = {t.range}\n")
        sections.append("".join(section))
    config = (folder or Path("/tmp")) / f"curl-{uuid.uuid4().hex[:8]}.conf"
    config.write_text("next\n".join(sections))
    try:
        started = time.monotonic()
        procs = [
            subprocess.Popen(
                ["curl", "-sS", "-K", str(config)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
            )
            for _ in range(processes)
        ]
        outputs = [p.communicate(timeout=3600) for p in procs]
        wall = time.monotonic() - started
    finally:
        config.unlink()
    done = nbytes = failed = 0
    for out, err in outputs:
        answers = [line.split() for line in out.splitlines() if line.strip()]
        if not answers:
            raise RuntimeError(f"curl failed: {err.strip()}")
        failed += len(transfers) - len(answers)
        for code, size in answers:
            done += 1
            nbytes += int(float(size))
            failed += code not in ("200", "206")
    return done, nbytes, failed, wall


def measure_curl(
    target: Target,
    transfers: Sequence[CurlTransfer],
    processes: int,
    options: Sequence[tuple[str, str | None]] = (),
    env: dict[str, str] | None = None,
    folder: Path | None = None,
) -> Result:
    """``run_curl_list`` against ``target``, with the target's CPU per GiB."""
    before = cpu_seconds(target.pids())
    done, nbytes, failed, wall = run_curl_list(transfers, processes, options, env, folder)
    cpu = cpu_seconds(target.pids()) - before
    return {
        "MBps": nbytes / wall / 1e6,
        "reqps": done / wall,
        "errors": failed,
        "cpu_s_per_GiB": cpu / (nbytes / GiB) if nbytes else math.nan,
    }


# --- rounds, medians, ratios -------------------------------------------------------------------


def compare(
    workload: str,
    targets: Sequence[Target],
    measure: Callable[[Target, bool], Result],
    rounds: int,
    warmup: bool = True,
) -> dict[str, Result]:
    """Warm each target up (``measure(target, True)``, unrecorded), then ``rounds`` rounds alternating
    the targets; prints each round; returns the medians per target name.

    The warm-up pays a fresh Python server's one-time costs (lazy imports, thread start) that are
    not what a GiB costs it; every target gets the same.
    """
    if warmup:
        for target in targets:
            measure(target, True)
    samples: dict[str, list[Result]] = {t.name: [] for t in targets}
    for round_no in range(rounds):
        for target in targets:
            r = measure(target, False)
            samples[target.name].append(r)
            print(f"{workload:14} round {round_no + 1} {target.name:14} {format_result(r)}", flush=True)
    return {
        name: {key: statistics.median(x[key] for x in runs) for key in runs[0]}
        for name, runs in samples.items()
    }


def format_result(r: Result) -> str:
    return (
        f"{r['MBps']:9.1f} MB/s {r['reqps']:9.1f} req/s {r['cpu_s_per_GiB']:6.3f} CPU s/GiB  "
        f"errors {r['errors']:.0f}"
    )


def print_medians(results: dict[str, dict[str, Result]]) -> None:
    print("\nmedians:")
    for workload, by_target in results.items():
        for name, r in by_target.items():
            print(f"{workload:14} {name:14} {format_result(r)}")


@dataclass
class Ratio:
    """A ratio a benchmark reports, with the target it is held to (if any)."""

    label: str
    value: float
    at_least: float | None = None
    at_most: float | None = None

    @property
    def target(self) -> str:
        if self.at_least is not None:
            return f">= {self.at_least:g}"
        if self.at_most is not None:
            return f"<= {self.at_most:g}"
        return ""

    @property
    def met(self) -> bool | None:
        if math.isnan(self.value):
            return None
        if self.at_least is not None:
            return self.value >= self.at_least
        if self.at_most is not None:
            return self.value <= self.at_most
        return None


def ratio(label: str, numerator: float, denominator: float, **target: float) -> Ratio:
    """``numerator / denominator`` (nan when the denominator is 0 or nan) as a ``Ratio``."""
    value = numerator / denominator if denominator and not math.isnan(denominator) else math.nan
    return Ratio(label, value, **target)


def print_ratios(ratios: Sequence[Ratio]) -> None:
    print("\nratios:")
    width = max((len(r.label) for r in ratios), default=0)
    for r in ratios:
        verdict = {True: "met", False: "NOT met", None: ""}[r.met]
        target = f"(target {r.target}) {verdict}" if r.target else ""
        print(f"{r.label:{width}}  {r.value:6.2f}  {target}".rstrip())


def write_json(path: Path | None, results: Any, ratios: Sequence[Ratio], **extra: Any) -> None:
    if path is None:
        return
    payload = {
        "results": results,
        "ratios": {r.label: {"value": r.value, "target": r.target, "met": r.met} for r in ratios},
        **extra,
    }
    path.write_text(json.dumps(payload, indent=2))
