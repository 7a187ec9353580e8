"""The benchmarks in bench/ still run: each script in its ``--quick`` mode (seconds, numbers meaningless).

They start real servers (nginx, caddy where installed, the engine, an MIT KDC) and clients (wrk,
curl); what is checked is that a run completes, every measured request succeeded and the ratio
table is printed, so a change to the engine or to bench/benchlib.py that breaks a benchmark shows
here and not on the day the figures are measured. bench/report.py, which runs them all and writes
the Markdown report and the plots, is run on the quickest of them.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
ENGINE = Path(__file__).resolve().parent.parent / "engine"
CADDY = shutil.which("caddy") is not None  # an extra comparison of bench_host and bench_tls where installed

TOOLS = {
    "bench_host.py": ("wrk", "nginx", "curl"),
    "bench_tls.py": ("wrk", "nginx", "curl", "openssl"),
    "bench_auth.py": ("curl", "krb5kdc", "kdb5_util", "kadmin.local", "kinit"),
    "bench_client.py": ("nginx",),
}


def run_quick(script: str) -> str:
    missing = [tool for tool in TOOLS[script] if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed (bash scripts/install)")
    done = subprocess.run(
        [sys.executable, str(BENCH / script), "--quick"],
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, "PYTHONPATH": str(ENGINE)},  # the engine of this checkout
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def assert_rounds_without_errors(out: str, rounds: int) -> None:
    lines = [line for line in out.splitlines() if " round " in line]
    assert len(lines) == rounds, out
    assert all(line.endswith("errors 0") for line in lines), out
    assert "\nratios:\n" in out, out


def test_bench_host_quick_runs_every_workload_on_every_server() -> None:
    out = run_quick("bench_host.py")
    # big and small: nginx, waitress, engine; ranges and the two paced rates: nginx, engine; caddy in all
    assert_rounds_without_errors(out, 3 + 2 + 3 + 2 + 2 + (5 if CADDY else 0))
    assert re.search(r"ranges: engine/nginx MB/s +[0-9.]+ +\(target >= 0.9\)", out), out
    assert ("big: engine/caddy aggregate MB/s" in out) == CADDY, out


def test_bench_tls_quick_compares_both_certificates_with_one_cipher() -> None:
    out = run_quick("bench_tls.py")
    # per certificate and workload: nginx-tls, engine-https, cheroot, caddy-tls where installed, and
    # engine-http with the first certificate
    assert_rounds_without_errors(out, 2 * (4 + 4) - 2 + (4 if CADDY else 0))
    sessions = re.findall(r"^(ecdsa|rsa): every https server negotiates (\S+ \S+)$", out, re.M)
    assert [kind for kind, _ in sessions] == ["ecdsa", "rsa"], out
    if CADDY:  # Go picks its own TLS 1.3 cipher: printed, not held to the others'
        assert len(re.findall(r"^(ecdsa|rsa): caddy-tls negotiates TLSv1\.[23] \S+", out, re.M)) == 2, out
        assert "ecdsa-big: engine-https/caddy-tls aggregate MB/s" in out, out
    for workload, target in (("big", "0.95"), ("ranges", "0.9")):
        for kind in ("ecdsa", "rsa"):
            label = f"{kind}-{workload}: engine-https/nginx-tls"
            assert re.search(rf"{label} [^\n]*\(target >= {target}\)", out), out
    assert "engine https/http" in out


def test_bench_auth_quick_authenticates_with_ntlm_and_kerberos() -> None:
    out = run_quick("bench_auth.py")
    # small and ranges: anonymous, ntlm, negotiate; handshakes: ntlm, negotiate
    assert_rounds_without_errors(out, 3 + 3 + 2)
    for name in ("ntlm", "negotiate"):
        assert re.search(rf"ranges: {name}/anonymous MB/s +[0-9.]+ +\(target >= 0.9\)", out), out
        found = re.search(rf"^handshakes +{name} +([0-9.]+) handshakes/s", out, re.M)
        assert found is not None and float(found.group(1)) > 0, out


def test_bench_client_quick_runs_its_three_workloads() -> None:
    out = run_quick("bench_client.py")
    assert "ratio job/http.client" in out and "jobs/s" in out and "job.list round trip" in out, out


def load_report() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_report", BENCH / "report.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up while they are made
    spec.loader.exec_module(module)
    return module


def test_report_quick_writes_the_markdown_table_and_the_plots(tmp_path: Path) -> None:
    if shutil.which("nginx") is None:
        pytest.skip("nginx not installed (bash scripts/install)")
    pytest.importorskip("matplotlib", reason="the bench extra: pip install '.[bench]'")
    out = tmp_path / "results"
    done = subprocess.run(
        [sys.executable, str(BENCH / "report.py"), "--quick", "--only", "client", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(ENGINE)},
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert f"report: {out / 'report.md'}" in done.stdout, done.stdout
    report = (out / "report.md").read_text()
    assert "mode: quick" in report, report
    assert "| workload | metric | job | http.client |" in report, report
    assert re.search(
        r"\| big \| wall s \| [0-9.]+ \| [0-9.]+ \| .* \| [0-9.]+ \| ≤ 1.25 \| (met|\*\*NOT met\*\*) \|",
        report,
    ), report
    assert json.loads((out / "client.json").read_text())["ratios"], "no ratios in the JSON"
    assert (out / "client.log").read_text().count("job.list round trip") == 1
    for png in ("client.png", "summary.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", png
        assert f"]({png})" in report, report


def test_report_table_puts_engine_nginx_caddy_side_by_side_with_targets() -> None:
    report = load_report()
    figures = {"MBps": 1000.0, "reqps": 10.0, "errors": 0, "cpu_s_per_GiB": 0.2}
    payload = {
        "results": {
            "big": {
                "nginx": figures,
                "caddy": {**figures, "MBps": 2000.0},
                "waitress": figures,
                "engine": {**figures, "MBps": 1100.0, "errors": 3},
            },
            "small": {"nginx": figures, "engine": {**figures, "reqps": 8.5}, "waitress": figures},
        },
        "ratios": {
            "big: engine/nginx aggregate MB/s": {"value": 1.1, "target": ">= 1", "met": True},
            "small: engine/waitress req/s": {"value": 0.85, "target": ">= 0.85", "met": True},
            "small: engine/nginx req/s": {"value": 0.85, "target": "", "met": None},
        },
    }
    lines = report.bench_table(report.BENCHES["host"], payload)
    assert lines[0] == (
        "| workload | metric | engine | nginx | caddy | waitress | engine/nginx | target | met"
        " | engine/caddy | engine/waitress | target | met |"
    )
    assert (
        "| big | MB/s | 1,100 (3 errors) | 1,000 | 2,000 | 1,000 | 1.10 | ≥ 1 | met | 0.55 | 1.10 |  |  |"
        in lines
    )
    assert "| small | req/s | 8.500 | 10.0 | - | 10.0 | 0.85 |  |  | - | 0.85 | ≥ 0.85 | met |" in lines
    assert "| small: engine/nginx req/s | 0.85 |  |  |" in lines
