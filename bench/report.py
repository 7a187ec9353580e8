"""Benchmark report: every benchmark in bench/ run one after the other, side by side with nginx (and
caddy where installed), written as a Markdown table and PNG plots.

Usage: .venv/bin/python bench/report.py [--quick] [--only host,client,tls,auth,upload] [--out DIR]
       [--no-caddy] [--figure PATH]

Each benchmark runs as a subprocess with ``--json`` (and ``--quick`` in quick mode: seconds each,
numbers meaningless; without it, the benchmark's own defaults: minutes each, on an idle machine
only). Its output goes to the terminal and to ``DIR/<name>.log``; its JSON to ``DIR/<name>.json``.
Then, in ``DIR`` (default ``bench/results``, which git ignores):

* ``report.md``: when, which mode, commit, machine and load average; per benchmark, one table of
  the medians (workload, metric, engine, nginx, caddy, the other servers, the ratios engine/nginx
  and engine/caddy with their targets and whether they are met), then every ratio the benchmark
  printed with its target
* ``<name>.png``: per benchmark, bars of each workload's throughput (MB/s, req/s or jobs/s) and
  the servers' CPU seconds per GiB, one bar per server
* ``summary.png``: every ratio held to a target, across the benchmarks, with its target marked
  and its engine/caddy counterpart beside; ``--figure PATH`` copies it there (the README figure)

``bench_upload.py`` is run when it exists in this checkout. A benchmark without ``--json`` is run
all the same and the end of its output is quoted in the report; one without ``--quick`` (or
``--smoke``) is left out of a quick run rather than run at full size. A benchmark that exits 2
(a tool it needs is missing) is reported as skipped; any other failure makes this script exit 1
after writing the report. Linux only; the tools come with ``bash scripts/install``, matplotlib with
the ``bench`` extra (``pip install '.[bench]'``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
QUICK_TIMEOUT = 600  # seconds a quick run of one benchmark may take before it is interrupted
INTERRUPT_GRACE = 30  # seconds between SIGINT (the benchmark stops its servers) and SIGKILL


@dataclass(frozen=True)
class Bench:
    """One benchmark script and how its results are tabulated.

    ``pairs``: the (numerator, denominator) servers whose ratio gets a column, in column order;
    the servers named there come first in the table, the others after them.
    """

    name: str
    script: str
    title: str
    pairs: tuple[tuple[str, str], ...]
    optional: tuple[str, ...] = ()  # servers run only where installed (a note says when absent)


BENCHES = {
    b.name: b
    for b in (
        Bench(
            "host",
            "bench_host.py",
            "File host (plain HTTP)",
            (("engine", "nginx"), ("engine", "caddy"), ("engine", "waitress")),
            ("caddy",),
        ),
        Bench("client", "bench_client.py", "BITS client (download jobs)", (("job", "http.client"),)),
        Bench(
            "tls",
            "bench_tls.py",
            "HTTPS file host",
            (("engine-https", "nginx-tls"), ("engine-https", "caddy-tls")),
            ("caddy-tls",),
        ),
        Bench(
            "auth",
            "bench_auth.py",
            "Authentication (NTLM, Negotiate)",
            (("ntlm", "anonymous"), ("negotiate", "anonymous")),
        ),
        Bench("upload", "bench_upload.py", "BITS uploads", (("bcs", "nginx"),)),
    )
}

# metric key -> (column text, words of the benchmarks' ratio labels for it)
METRICS = {
    "MBps": ("MB/s", "MB/s"),
    "reqps": ("req/s", "req/s"),
    "jobs_per_s": ("jobs/s", "jobs/s"),
    "creates_per_s": ("creates/s", "creates/s"),
    "cpu_s_per_GiB": ("CPU s/GiB", "CPU s per GiB"),
    "cpu_ms_per_handshake": ("CPU ms/handshake", "CPU ms per handshake"),
    "seconds": ("wall s", "wall time"),
    "median_ms": ("median ms", "median ms"),
    "max_ms": ("max ms", "max ms"),
}
THROUGHPUT = ("MBps", "reqps", "jobs_per_s")
CPU = ("cpu_s_per_GiB",)
COLORS = {"engine": "#1f77b4", "nginx": "#2ca02c", "caddy": "#ff7f0e"}


@dataclass
class Run:
    """What one benchmark run left: its exit status, time, JSON (if it writes one) and output."""

    bench: Bench
    status: str  # ok, failed, skipped
    why: str = ""
    seconds: float = 0.0
    load: tuple[float, float] = (math.nan, math.nan)  # 1-minute load average before and after
    payload: dict[str, Any] | None = None
    output: list[str] = field(default_factory=list)


# --- running -------------------------------------------------------------------------------------


def options_of(script: Path) -> set[str]:
    """The long options ``script --help`` lists."""
    done = subprocess.run(
        [sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    return set(re.findall(r"(--[a-z][a-z0-9-]*)", done.stdout))


def run_bench(bench: Bench, quick: bool, out: Path, no_caddy: bool) -> Run:
    """Run ``bench`` as a subprocess, its output streamed to the terminal and ``out/<name>.log``."""
    script = HERE / bench.script
    options = options_of(script)
    command = [sys.executable, str(script)]
    if quick:
        size = next((o for o in ("--quick", "--smoke") if o in options), None)
        if size is None:
            return Run(
                bench, "skipped", f"{bench.script} has no --quick: not run at full size in a quick report"
            )
        command.append(size)
    json_path = out / f"{bench.name}.json"
    json_path.unlink(missing_ok=True)
    if "--json" in options:
        command += ["--json", str(json_path)]
    if no_caddy and "--no-caddy" in options:
        command.append("--no-caddy")
    print(f"== {bench.script}: {' '.join(command[1:])}", flush=True)
    load_before = os.getloadavg()[0]
    started = time.monotonic()
    lines: list[str] = []
    with open(out / f"{bench.name}.log", "w") as log:
        proc = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
        )
        watchdog = threading.Timer(QUICK_TIMEOUT, interrupt, (proc,)) if quick else None
        if watchdog is not None:
            watchdog.start()
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                log.write(line)
                lines.append(line.rstrip("\n"))
                print(f"[{bench.name}] {line}", end="", flush=True)
            code = proc.wait()
        finally:
            if watchdog is not None:
                watchdog.cancel()
            if proc.poll() is None:
                interrupt(proc)
    run = Run(bench, "ok", seconds=time.monotonic() - started, output=lines)
    run.load = (load_before, os.getloadavg()[0])
    if code == 2:
        run.status, run.why = "skipped", last_line(lines) or "a tool it needs is missing"
    elif code != 0:
        run.status, run.why = "failed", f"exit status {code}: {last_line(lines)}"
    elif json_path.exists():
        run.payload = json.loads(json_path.read_text())
    elif "--json" in options:
        run.status, run.why = "failed", "exit status 0 but no JSON written"
    else:
        run.why = f"{bench.script} has no --json: the end of its output is quoted"
    return run


def interrupt(proc: subprocess.Popen[str]) -> None:
    """SIGINT (the benchmark's finally blocks stop its servers), SIGKILL if it does not end."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(INTERRUPT_GRACE)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def last_line(lines: Sequence[str]) -> str:
    return next((line.strip() for line in reversed(lines) if line.strip()), "")


# --- tables --------------------------------------------------------------------------------------


def metrics_of(workload: str, by_server: dict[str, dict[str, float]]) -> list[str]:
    """The metric rows of ``workload``: its throughput, its CPU, then whatever else it measured."""
    present: list[str] = []
    for figures in by_server.values():
        present += [key for key in figures if key != "errors" and key not in present]
    per_request = workload.endswith("small") or workload == "handshakes"
    headline = ["reqps", "MBps"] if per_request else ["MBps", "reqps"]
    rows = [next((k for k in [*headline, "jobs_per_s"] if k in present), "")]
    rows.append("cpu_ms_per_handshake" if workload == "handshakes" else "cpu_s_per_GiB")
    rows = [k for k in rows if k in present]
    skipped = {"MBps", "reqps", "cpu_s_per_GiB", "cpu_ms_per_handshake"}
    return rows + [k for k in present if k not in rows and k not in skipped]


def metric_name(key: str, workload: str) -> str:
    if key == "reqps" and workload == "handshakes":
        return "handshakes/s"
    return METRICS.get(key, (key, key))[0]


def fmt(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3f}"


def servers_of(bench: Bench, results: dict[str, dict[str, dict[str, float]]]) -> list[str]:
    seen: list[str] = []
    for by_server in results.values():
        seen += [s for s in by_server if s not in seen]
    ordered = [p[0] for p in bench.pairs] + [p[1] for p in bench.pairs]  # engines, then references
    ordered = [s for s in dict.fromkeys(ordered) if s in seen]
    return ordered + [s for s in seen if s not in ordered]


def find_ratio(
    ratios: dict[str, dict[str, Any]], workload: str, pair: tuple[str, str], key: str
) -> dict[str, Any]:
    """The benchmark's own ratio for ``pair`` on ``workload`` and metric ``key`` (empty if none)."""
    words = METRICS.get(key, (key, key))[1]
    prefix = f"{workload}: {pair[0]}/{pair[1]} "
    matches = [r for label, r in ratios.items() if label.startswith(prefix) and words in label]
    return next((r for r in matches if r.get("target")), matches[0] if matches else {})


def verdict(met: bool | None) -> str:
    return {True: "met", False: "**NOT met**", None: ""}[met]


def bench_table(bench: Bench, payload: dict[str, Any]) -> list[str]:
    """The Markdown of one benchmark's medians and ratios."""
    results: dict[str, dict[str, dict[str, float]]] = payload.get("results", {})
    ratios: dict[str, dict[str, Any]] = payload.get("ratios", {})
    servers = servers_of(bench, results)
    pairs = [p for p in bench.pairs if p[0] in servers and p[1] in servers]
    rows: list[tuple[str, str, list[str], list[tuple[str, str, str]]]] = []
    targeted = set()
    for workload, by_server in results.items():
        for key in metrics_of(workload, by_server):
            cells = []
            for server in servers:
                figures = by_server.get(server)
                value = figures.get(key) if figures else None
                cell = fmt(value)
                if figures and figures.get("errors") and value is not None:
                    cell += f" ({figures['errors']:.0f} errors)"
                cells.append(cell)
            ratio_cells = []
            for pair in pairs:
                a, b = by_server.get(pair[0], {}).get(key), by_server.get(pair[1], {}).get(key)
                value = a / b if a is not None and b and not math.isnan(b) else math.nan
                own = find_ratio(ratios, workload, pair, key)
                if own.get("target"):
                    targeted.add(pair)
                ratio_text = f"{value:.2f}" if not math.isnan(value) else "-"
                ratio_cells.append((ratio_text, own.get("target", ""), verdict(own.get("met"))))
            rows.append((workload, metric_name(key, workload), cells, ratio_cells))
    header = ["workload", "metric", *servers]
    for pair in pairs:
        header.append(f"{pair[0]}/{pair[1]}")
        if pair in targeted:
            header += ["target", "met"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for workload, metric, cells, ratio_cells in rows:
        row = [workload, metric, *cells]
        for pair, (ratio_text, target, met) in zip(pairs, ratio_cells, strict=True):
            row.append(ratio_text)
            if pair in targeted:
                row += [target.replace(">=", "≥").replace("<=", "≤"), met]
        lines.append("| " + " | ".join(row) + " |")
    if ratios:
        lines += [
            "",
            "Every ratio the benchmark printed:",
            "",
            "| ratio | value | target | met |",
            "|---|---|---|---|",
        ]
        for label, r in ratios.items():
            target = (r.get("target") or "").replace(">=", "≥").replace("<=", "≤")
            value = r.get("value")
            text = f"{value:.2f}" if value is not None and not math.isnan(value) else "-"
            lines.append(f"| {label} | {text} | {target} | {verdict(r.get('met'))} |")
    return lines


def machine() -> str:
    cpus = os.cpu_count() or 0
    return f"{platform.node()}, {cpus} CPUs, {platform.system()} {platform.release()}, Python {platform.python_version()}"


def tool_versions() -> str:
    found = []
    for tool, args in (
        ("nginx", ["-v"]),
        ("caddy", ["version"]),
        ("wrk", ["--version"]),
        ("curl", ["--version"]),
    ):
        if shutil.which(tool) is None:
            found.append(f"{tool} not installed")
            continue
        done = subprocess.run([tool, *args], capture_output=True, text=True, check=False, timeout=30)
        version = re.search(r"\d+\.\d+(\.\d+)?", done.stdout + done.stderr)
        found.append(f"{tool} {version.group(0) if version else '(version unknown)'}")
    return "; ".join(found)


def engine_source() -> str:
    """Where the benchmarked engine comes from (benchlib.engine_env: PYTHONPATH, else engine/)."""
    path = os.environ.get("PYTHONPATH")
    return f"PYTHONPATH={path}" if path else f"this checkout's {REPO / 'engine'}"


def commit() -> str:
    try:
        head = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return head + (" with uncommitted changes" if dirty else "")


def write_report(
    runs: Sequence[Run], quick: bool, out: Path, started: datetime, figures: dict[str, Path]
) -> Path:
    mode = "quick (smoke size: the numbers mean nothing)" if quick else "full (each benchmark's defaults)"
    lines = [
        "# Benchmark report",
        "",
        f"* started {started:%Y-%m-%d %H:%M} UTC, mode: {mode}",
        f"* commit {commit()}; engine measured: {engine_source()}",
        f"* machine: {machine()}",
        f"* tools: {tool_versions()}",
        "* each benchmark alternates its servers round by round and keeps medians; ratios are"
        " engine/reference of the same run (README, Benchmarks)",
    ]
    if "summary" in figures:
        lines += ["", f"![ratios against their targets]({figures['summary'].name})"]
    for run in runs:
        b = run.bench
        lines += ["", f"## {b.title}: `bench/{b.script}`", ""]
        if run.status == "skipped":
            lines.append(f"Skipped: {run.why}")
            continue
        lines.append(
            f"{'**Failed**' if run.status == 'failed' else 'Ran'} in {run.seconds:.0f} s; 1-minute load"
            f" average {run.load[0]:.2f} before, {run.load[1]:.2f} after. Output: `{b.name}.log`"
            + (f", results: `{b.name}.json`." if run.payload else ".")
        )
        if run.why:
            lines += ["", run.why]
        if run.payload is not None:
            missing = [s for s in b.optional if not any(s in by for by in run.payload["results"].values())]
            for server in missing:
                lines += ["", f"{server}: not run (not installed, or left out with `--no-caddy`)."]
            tls = run.payload.get("tls")
            if tls:
                lines += ["", "TLS sessions a client with OpenSSL's defaults got (wrk's):", ""]
                for kind, by_server in tls.items():
                    lines.append(f"* {kind}: " + ", ".join(f"{s} {v}" for s, v in by_server.items()))
            lines += ["", *bench_table(b, run.payload)]
        if run.payload is None or run.status == "failed":
            lines += ["", "```", *run.output[-40:], "```"]
        if b.name in figures:
            lines += ["", f"![{b.title}]({figures[b.name].name})"]
    report = out / "report.md"
    report.write_text("\n".join(lines) + "\n")
    return report


# --- plots ---------------------------------------------------------------------------------------


def color(server: str) -> str:
    for prefix, value in COLORS.items():
        if server.startswith(prefix):
            return value
    return "#1f77b4" if server in ("job", "bcs", "ntlm", "negotiate") else "#7f7f7f"


def plot_bench(run: Run, quick: bool, out: Path) -> Path | None:
    """Bars of each workload's throughput (top) and CPU s/GiB (bottom), one bar per server."""
    import matplotlib.pyplot as plt

    assert run.payload is not None
    results: dict[str, dict[str, dict[str, float]]] = run.payload["results"]
    servers = servers_of(run.bench, results)
    panels = []
    for workload, by_server in results.items():
        keys = metrics_of(workload, by_server)
        through = next((k for k in keys if k in THROUGHPUT), None)
        cpu = next((k for k in keys if k in CPU), None)
        if through or cpu:
            panels.append((workload, by_server, through, cpu))
    if not panels:
        return None
    fig, axes = plt.subplots(2, len(panels), figsize=(max(4.0, 3.0 * len(panels)), 6.5), squeeze=False)
    for column, (workload, by_server, through, cpu) in enumerate(panels):
        for row, key in enumerate((through, cpu)):
            ax = axes[row][column]
            names = [s for s in servers if key and s in by_server and key in by_server[s]]
            if key is None or not names:
                ax.set_axis_off()
                continue
            values = [by_server[s][key] for s in names]
            bars = ax.bar(
                range(len(names)),
                [0 if math.isnan(v) else v for v in values],
                color=[color(s) for s in names],
            )
            for bar, server in zip(bars, names, strict=True):
                if by_server[server].get("errors"):
                    bar.set_hatch("xx")
            ax.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=8)
            ax.set_title(f"{workload}: {metric_name(key, workload)}", fontsize=9)
            ax.tick_params(axis="y", labelsize=8)
    fig.suptitle(
        f"{run.bench.title} ({'quick run: numbers meaningless' if quick else 'medians'})", fontsize=11
    )
    fig.tight_layout()
    path = out / f"{run.bench.name}.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_summary(runs: Sequence[Run], quick: bool, started: datetime, out: Path) -> Path | None:
    """Every ratio held to a target, its target marked, its engine/caddy counterpart beside it."""
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    entries = []
    for run in runs:
        ratios: dict[str, dict[str, Any]] = (run.payload or {}).get("ratios", {})
        for label, r in ratios.items():
            if not r.get("target") or "/" not in label.split(":", 1)[-1]:
                continue  # an absolute figure (a latency in ms) is no ratio to draw beside 1.0
            caddy = ratios.get(label.replace("nginx", "caddy")) if "nginx" in label else None
            entries.append((f"{run.bench.name} {label}", r, caddy))
    if not entries:
        return None
    fig, ax = plt.subplots(figsize=(10, 0.45 * len(entries) + 1.6))
    for i, (label, r, caddy) in enumerate(reversed(entries)):
        value = r["value"] if r["value"] is not None else math.nan
        ok = r.get("met")
        ax.barh(i, 0 if math.isnan(value) else value, height=0.5, color="#2ca02c" if ok else "#d62728")
        ax.text(0 if math.isnan(value) else value, i, f" {value:.2f}", va="center", fontsize=8)
        target = float(re.sub(r"[^0-9.]", "", r["target"]))
        ax.plot([target, target], [i - 0.35, i + 0.35], color="black", linewidth=2)
        if caddy and caddy.get("value") is not None and not math.isnan(caddy["value"]):
            ax.barh(i - 0.38, caddy["value"], height=0.22, color=COLORS["caddy"])
        ax.text(-0.02, i, label, va="center", ha="right", fontsize=8, transform=ax.get_yaxis_transform())
    ax.set_yticks([])
    ax.axvline(1.0, color="#999999", linestyle="--", linewidth=1)
    ax.set_xlabel("ratio, engine / reference in the same run")
    legend = [
        Patch(color="#2ca02c", label="target met"),
        Patch(color="#d62728", label="target not met"),
        Line2D([], [], color="black", linewidth=2, label="target"),
        Patch(color=COLORS["caddy"], label="the same ratio against caddy"),
    ]
    ax.legend(
        handles=legend, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=4, fontsize=8, frameon=False
    )
    what = "quick run: numbers meaningless" if quick else "medians of alternating rounds"
    ax.set_title(f"BITS Compact Server benchmarks, {started:%Y-%m-%d} ({what})", fontsize=10)
    fig.subplots_adjust(left=0.45, right=0.97)
    path = out / "summary.png"
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def plot(runs: Sequence[Run], quick: bool, started: datetime, out: Path) -> dict[str, Path]:
    """The PNGs; empty (with a note) when matplotlib is not installed."""
    try:
        import matplotlib
    except ImportError:
        print("matplotlib is not installed (pip install '.[bench]'): no plots", file=sys.stderr)
        return {}
    matplotlib.use("Agg")
    figures = {}
    for run in runs:
        if run.payload is not None:
            path = plot_bench(run, quick, out)
            if path is not None:
                figures[run.bench.name] = path
    summary = plot_summary(runs, quick, started, out)
    if summary is not None:
        figures["summary"] = summary
    return figures


# --- main ----------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="every benchmark in its quick mode (seconds each)"
    )
    parser.add_argument("--only", help=f"benchmarks to run, of {','.join(BENCHES)} (default: all present)")
    parser.add_argument("--out", type=Path, default=HERE / "results", help="where to write (bench/results)")
    parser.add_argument("--no-caddy", action="store_true", help="leave caddy out even where it is installed")
    parser.add_argument("--figure", type=Path, help="also copy summary.png here (the README figure)")
    args = parser.parse_args()
    names = args.only.split(",") if args.only else list(BENCHES)
    unknown = [n for n in names if n not in BENCHES]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)} (known: {', '.join(BENCHES)})")
    present = [n for n in names if (HERE / BENCHES[n].script).exists()]
    if args.only and len(present) < len(names):
        absent = [BENCHES[n].script for n in names if n not in present]
        parser.error(f"{', '.join(absent)} not in this checkout")
    args.out.mkdir(parents=True, exist_ok=True)
    started = datetime.now(timezone.utc)
    runs = [run_bench(BENCHES[n], args.quick, args.out, args.no_caddy) for n in present]
    figures = plot(runs, args.quick, started, args.out)
    report = write_report(runs, args.quick, args.out, started, figures)
    if args.figure and "summary" in figures:
        args.figure.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(figures["summary"], args.figure)
    print(f"\nreport: {report}")
    for name, path in figures.items():
        print(
            f"figure: {path}" + (f" (copied to {args.figure})" if name == "summary" and args.figure else "")
        )
    for run in runs:
        if run.status != "ok":
            print(f"{run.bench.script}: {run.status}: {run.why}")
    return 1 if any(run.status == "failed" for run in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
