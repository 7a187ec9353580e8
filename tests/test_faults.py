"""Fault injection (issue 16): kill -9 of the engine at random points, then count what was lost.

Two real engines: a file host serving throttled files (stable) and a client engine running
multi-file download jobs, killed with SIGKILL at random moments (mid-transfer, mid-complete,
mid-checkpoint) and restarted. After every kill: no destination file exists that is not complete
and correct (a *visible partial file* or a *corrupt file*), and every job created before the kill
is still there (a *lost job*). At the end every job finishes, is completed, and every file is
compared with its source by SHA-256; no temporary file is left behind.

Uploads: an Upload job from a client engine to an upload group of the host engine (throttled),
with SIGKILL alternating between the client and the host; after each kill no visible file in the
upload folder is partial or corrupt (the destination appears only at Close-Session, atomically)
and the job is not lost; at the end every upload is completed and compared by SHA-256.

Configuration imports: ``config.import`` of a configuration with a random number of URL groups
while the engine is killed a few milliseconds later; after the restart the configuration is
either the old one or the new one (else it is *lost configuration*), and the engine starts.

``BCS_FAULTS=ci`` (default, ``.ci/run``): 10 kills of each kind; ``BCS_FAULTS=full``: 50. The
counts are printed (``-s``) and asserted to be 0; the README quotes a full run.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import random
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from bcs.rpc.client import RpcError
from conftest import EngineProcess, free_port
from test_client_support import wait_until

ROUNDS = {"ci": 10, "full": 50}[os.environ.get("BCS_FAULTS", "ci")]
MiB = 1024 * 1024


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def visible_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if not p.name.startswith("."))


def temp_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.name.startswith(".BIT"))


def test_kill_9_during_throttled_multi_file_downloads(engine_factory: Any, tmp_path: Path) -> None:
    rng = random.Random(int(os.environ.get("BCS_FAULTS_SEED", "16")))
    host: EngineProcess = engine_factory("host").start()
    client: EngineProcess = engine_factory("client").start()
    www = tmp_path / "www"
    www.mkdir()
    sources = {}
    for n, size in enumerate((700_000, 1_100_000, 300_000)):
        path = www / f"f{n}.bin"
        path.write_bytes(rng.randbytes(size))
        sources[path.name] = digest(path)
    port = free_port()
    prefix = f"http://+:{port}/Faults/"
    host.call("urlgroup.create", urlGroup=prefix, bandwidthLimit=2 * MiB, connectionLimit=0)
    for name in sources:
        host.call("url.create", urlGroup=prefix, urlSuffix=name, sourcePath=str(www / name))
    dest_root = tmp_path / "dest"
    dest_root.mkdir()
    jobs: dict[str, Path] = {}  # job id -> its destination folder
    completed: set[str] = set()
    counts = {"kills": 0, "corrupt": 0, "visiblePartial": 0, "lostJobs": 0, "leftoverTemp": 0}

    def new_job() -> None:
        folder = dest_root / f"job{len(jobs)}"
        folder.mkdir()
        files = [
            {"remoteUrl": f"http://127.0.0.1:{port}/Faults/{name}", "localPath": str(folder / name)}
            for name in sources
        ]
        job = client.call("job.create", files=files, priority="Foreground")
        jobs[job["jobId"]] = folder

    def check() -> None:
        known = {j["jobId"]: j for j in client.call("job.list")}
        for job_id, folder in jobs.items():
            if job_id not in known and job_id not in completed:
                # Completed just before the kill and its answer lost: then all files must be there.
                if sorted(p.name for p in visible_files(folder)) == sorted(sources):
                    completed.add(job_id)
                else:
                    counts["lostJobs"] += 1
                    completed.add(job_id)  # counted once
            for path in visible_files(folder):
                if path.name not in sources:
                    continue
                if path.stat().st_size != (www / path.name).stat().st_size:
                    counts["visiblePartial"] += 1
                elif digest(path) != sources[path.name]:
                    counts["corrupt"] += 1

    new_job()
    for _ in range(ROUNDS):
        # Complete what has transferred (sometimes racing the kill), keep two jobs running.
        for job in client.call("job.list"):
            if job["jobState"] == "Transferred" and rng.random() < 0.7:
                threading.Thread(target=_complete_quietly, args=(client, job["jobId"]), daemon=True).start()
        if sum(1 for j in client.call("job.list") if j["jobState"] not in ("Transferred",)) < 2:
            new_job()
        time.sleep(rng.uniform(0.0, 0.8))
        client.kill()
        counts["kills"] += 1
        client.start()
        check()
    # Let everything finish; complete; compare.
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        pending = client.call("job.list")
        for job in pending:
            if job["jobState"] == "Transferred":
                client.call("job.complete", jobId=job["jobId"])
            elif job["jobState"] in ("Error", "TransientError"):
                client.call("job.resume", jobId=job["jobId"])
        if not client.call("job.list"):
            break
        time.sleep(0.2)
    assert client.call("job.list") == [], "jobs did not finish"
    check()
    for folder in jobs.values():
        names = sorted(p.name for p in visible_files(folder))
        if names != sorted(sources):
            counts["lostJobs"] += 1
        counts["leftoverTemp"] += len(temp_files(folder))
    print(f"\ndownload faults: {counts}")
    assert counts["kills"] == ROUNDS
    assert {k: v for k, v in counts.items() if k != "kills"} == {
        "corrupt": 0,
        "visiblePartial": 0,
        "lostJobs": 0,
        "leftoverTemp": 0,
    }


def _complete_quietly(client: EngineProcess, job_id: str) -> None:
    with contextlib.suppress(RpcError, OSError, ConnectionError):  # killed meanwhile: the check decides
        client.call("job.complete", jobId=job_id)


def _config(n_groups: int, base_port: int, source: Path) -> str:
    lines = ["version: 1", "server:", f"  maxUrlGroups: {max(25, n_groups)}", "urlGroups:"]
    for i in range(n_groups):
        lines += [
            f"- urlGroup: http://+:{base_port + i}/G{i}/",
            f"  connectionLimit: {i + 1}",
            "  urls:",
            f"  - urlSuffix: f{i}.bin",
            f"    sourcePath: {source}",
        ]
    return "\n".join(lines) + "\n"


def test_kill_9_during_config_imports(engine_factory: Any, tmp_path: Path) -> None:
    rng = random.Random(int(os.environ.get("BCS_FAULTS_SEED", "16")))
    engine: EngineProcess = engine_factory().start()
    source = tmp_path / "f.bin"
    source.write_bytes(b"x")
    base_port = free_port()
    counts = {"kills": 0, "lostConfiguration": 0, "engineDidNotStart": 0}
    current = engine.call("config.export")["config"]["urlGroups"]
    for _ in range(ROUNDS):
        n = rng.randint(0, 6)
        wanted = _config(n, base_port + rng.choice((0, 10)), source)

        def do_import(text: str = wanted) -> None:
            with contextlib.suppress(RpcError, OSError, ConnectionError):
                engine.call("config.import", yaml=text)

        worker = threading.Thread(target=do_import, daemon=True)
        worker.start()
        time.sleep(rng.uniform(0.0, 0.05))
        engine.kill()
        counts["kills"] += 1
        worker.join(10)
        try:
            engine.start()
        except RuntimeError:
            counts["engineDidNotStart"] += 1
            pytest.fail(
                f"the engine did not start after a kill during config.import:\n{engine.output()[-3000:]}"
            )
        after = engine.call("config.export")["config"]["urlGroups"]
        new = _groups_of(wanted)
        if [g["urlGroup"] for g in after] not in ([g["urlGroup"] for g in current], new):
            counts["lostConfiguration"] += 1
        current = after
    print(f"\nconfig faults: {counts}")
    assert counts == {"kills": ROUNDS, "lostConfiguration": 0, "engineDidNotStart": 0}
    wait_until(lambda: engine.call("server.status")["pid"], 10, "engine answers")


def _groups_of(text: str) -> list[str]:
    return [line.split(": ", 1)[1] for line in text.splitlines() if line.startswith("- urlGroup: ")]


def test_kill_9_of_either_engine_during_throttled_uploads(engine_factory: Any, tmp_path: Path) -> None:
    rng = random.Random(int(os.environ.get("BCS_FAULTS_SEED", "16")))
    host: EngineProcess = engine_factory("uphost").start()
    client: EngineProcess = engine_factory("upclient").start()
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    port = free_port()
    prefix = f"http://+:{port}/In/"
    host.call(
        "urlgroup.create", urlGroup=prefix, uploadEnabled=True, bandwidthLimit=2 * MiB, connectionLimit=0
    )
    host.call("url.create", urlGroup=prefix, urlSuffix="files", sourcePath=str(incoming))
    outbox = tmp_path / "outbox"
    outbox.mkdir()
    expected: dict[str, str] = {}  # uploaded name -> SHA-256
    jobs: dict[str, str] = {}  # job id -> name
    finished: set[str] = set()
    counts = {"kills": 0, "corrupt": 0, "visiblePartial": 0, "lostJobs": 0}

    def new_upload() -> None:
        name = f"u{len(jobs)}.bin"
        local = outbox / name
        local.write_bytes(rng.randbytes(rng.randint(300_000, 1_500_000)))
        expected[name] = digest(local)
        files = [{"remoteUrl": f"http://127.0.0.1:{port}/In/files/{name}", "localPath": str(local)}]
        job = client.call("job.create", type="Upload", files=files, priority="Foreground")
        jobs[job["jobId"]] = name

    def check() -> None:
        for path in visible_files(incoming):
            if path.name not in expected:
                continue
            if digest(path) != expected[path.name]:
                counts[
                    "visiblePartial"
                    if path.stat().st_size < (outbox / path.name).stat().st_size
                    else "corrupt"
                ] += 1
        known = {j["jobId"] for j in client.call("job.list")}
        for job_id, name in jobs.items():
            if job_id in finished or job_id in known:
                continue
            finished.add(job_id)  # gone: completed just before a kill, else lost
            if not (incoming / name).exists():
                counts["lostJobs"] += 1

    new_upload()
    for n in range(ROUNDS):
        for job in client.call("job.list"):
            if job["jobState"] == "Transferred" and rng.random() < 0.7:
                threading.Thread(target=_complete_quietly, args=(client, job["jobId"]), daemon=True).start()
        if sum(1 for j in client.call("job.list") if j["jobState"] != "Transferred") < 2:
            new_upload()
        time.sleep(rng.uniform(0.0, 0.8))
        victim = client if n % 2 == 0 else host
        victim.kill()
        counts["kills"] += 1
        victim.start()
        check()
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        for job in client.call("job.list"):
            if job["jobState"] == "Transferred":
                with contextlib.suppress(RpcError):
                    client.call("job.complete", jobId=job["jobId"])
            elif job["jobState"] in ("Error", "TransientError"):
                client.call("job.resume", jobId=job["jobId"])
        if not client.call("job.list"):
            break
        time.sleep(0.3)
    assert client.call("job.list") == [], "upload jobs did not finish"
    check()
    for name, sha in expected.items():
        path = incoming / name
        if not path.exists():
            counts["lostJobs"] += 1
        elif digest(path) != sha:
            counts["corrupt"] += 1
    print(f"\nupload faults: {counts}")
    assert counts == {"kills": ROUNDS, "corrupt": 0, "visiblePartial": 0, "lostJobs": 0}
