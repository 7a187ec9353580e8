"""Our BITS client uploading to our BITS upload server (bits-protocol.md 2.5): Upload and UploadReply
jobs, in one engine or in two (a client engine and a server engine, so that either can be killed),
with nginx as a size-limiting reverse proxy for the 413 rule."""

from __future__ import annotations

import base64
import hashlib
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bcs.rpc.client import RpcError
from conftest import EngineProcess, free_port
from test_client_cli import bcs
from test_client_support import Nginx, make_pki, random_file, sha256, wait_job, wait_until
from upload_support import upload_group

KiB = 1024
MiB = 1024 * KiB
STOPPED = ("Transferred", "Error", "TransientError")


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "incoming"
    path.mkdir()
    return path


def upload(engine: EngineProcess, url: str, source: Path, kind: str = "Upload", **settings: Any) -> str:
    """Start an upload job (Foreground, so it runs at once); its id."""
    params: dict[str, Any] = {"priority": "Foreground", "minimumRetryDelay": 5, **settings}
    job = engine.call("job.create", type=kind, files=[{"remoteUrl": url, "localPath": str(source)}], **params)
    assert job["transferType"] == kind and job["bytesTotal"] == source.stat().st_size
    job_id: str = job["jobId"]
    return job_id


def progress(engine: EngineProcess, job_id: str, at_least: int, timeout: float = 60.0) -> dict[str, Any]:
    """The job once the server acknowledged ``at_least`` bytes."""
    job: dict[str, Any] = wait_until(
        lambda: (j := engine.call("job.get", jobId=job_id))["bytesTransferred"] >= at_least and j,
        timeout,
        f"{at_least} bytes acknowledged",
    )
    return job


def access_log(engine: EngineProcess) -> list[list[str]]:
    """The server's access log lines, split (time client method URL status bytes seconds user [why])."""
    path = engine.state_dir / "access.log"
    return [line.split(" ") for line in path.read_text().splitlines()] if path.exists() else []


def created(engine: EngineProcess) -> list[str]:
    """Session ids the server created, in order (from its log)."""
    return [
        line.split("upload session ")[1].split(" ")[0]
        for line in engine.output().splitlines()
        if "bcs.host.upload: upload session" in line and " created for " in line
    ]


def test_small_empty_and_multi_fragment_uploads_appear_on_complete_with_their_bytes(
    engine: EngineProcess, folder: Path, tmp_path: Path
) -> None:
    port = free_port()
    upload_group(engine, port, folder)
    base = f"http://127.0.0.1:{port}/upload/files"
    small = tmp_path / "small.txt"
    small.write_bytes(b"Hello, BITS upload!\n")
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    big = random_file(tmp_path / "big.bin", 24 * MiB + 7)  # 1 MiB first, then bigger fragments
    jobs = {
        name: upload(engine, f"{base}/{name}", path)
        for name, path in (("small.txt", small), ("empty.bin", empty), ("big.bin", big))
    }
    for name, job_id in jobs.items():
        done = wait_job(engine, job_id, STOPPED)
        assert done["jobState"] == "Transferred", done
        assert done["bytesTransferred"] == done["bytesTotal"] and done["filesTransferred"] == 1
        assert done["replyFileName"] is None
        assert not (folder / name).exists()  # our server places the file on Close-Session
    sessions = {s["url"].rsplit("/", 1)[1]: s for s in engine.call("upload.list")}
    assert {k: (s["state"], s["bytesReceived"]) for k, s in sessions.items()} == {
        "small.txt": ("Uploaded", 20),
        "empty.bin": ("Uploaded", 0),
        "big.bin": ("Uploaded", 24 * MiB + 7),
    }
    assert sessions["small.txt"]["contentName"] == "small.txt"
    for job_id in jobs.values():
        result = engine.call("job.complete", jobId=job_id)
        assert (result["jobState"], result["completeResult"]) == ("Acknowledged", "S_OK")
    assert (folder / "small.txt").read_bytes() == small.read_bytes()
    assert (folder / "empty.bin").read_bytes() == b""
    assert sha256(folder / "big.bin") == sha256(big)
    assert engine.call("upload.list") == []

    def big_posts() -> list[list[str]]:
        return [line for line in access_log(engine) if line[2] == "BITS_POST" and "big.bin" in line[3]]

    fragments = wait_until(lambda: len(big_posts()) >= 7 and big_posts(), 10, "the access log")
    # Create-Session, a first fragment of 1 MiB, then fragments sized by the rate (at most twice
    # the last, at most 32 MiB): 1, 2, 4, 8, 9+; Close-Session: every Ack 200
    assert len(fragments) >= 2 + 5 and {line[4] for line in fragments} == {"200"}, fragments


def test_an_existing_destination_without_overwrites_is_an_error_and_a_cli_upload_works(
    engine: EngineProcess, folder: Path, tmp_path: Path
) -> None:
    port = free_port()
    upload_group(engine, port, folder)
    (folder / "taken.txt").write_bytes(b"already here")
    source = tmp_path / "new.txt"
    source.write_bytes(b"new content")
    job_id = upload(engine, f"http://127.0.0.1:{port}/upload/files/taken.txt", source)
    failed = wait_job(engine, job_id, STOPPED)
    # 403 + BITS-Error-Code 0x80070005 at Create-Session: the server's code, fatal (4xx)
    assert (failed["jobState"], failed["errorCode"], failed["errorContext"]) == (
        "Error",
        "0x80070005",
        "RemoteFile",
    ), failed
    assert "403" in failed["errorDescription"]
    engine.call("job.cancel", jobId=job_id)
    assert (folder / "taken.txt").read_bytes() == b"already here"
    # bcs job create --type upload --wait --complete
    out = bcs(
        engine,
        "job",
        "create",
        "--type",
        "upload",
        "--remote-url",
        f"http://127.0.0.1:{port}/upload/files/cli.txt",
        "--local-path",
        str(source),
        "--priority",
        "Foreground",
        "--wait",
        "--complete",
        "--json",
    )
    assert out.returncode == 0, out.stderr
    assert '"Acknowledged"' in out.stdout and '"transferType": "Upload"' in out.stdout
    assert (folder / "cli.txt").read_bytes() == b"new content"


def test_kill_9_of_the_client_engine_resumes_the_same_session_after_a_restart(
    engine_factory: Any, folder: Path, tmp_path: Path
) -> None:
    server: EngineProcess = engine_factory("server").start()
    client: EngineProcess = engine_factory("client").start()
    port = free_port()
    upload_group(server, port, folder)
    source = random_file(tmp_path / "resume.bin", 16 * MiB)
    job_id = upload(
        client, f"http://127.0.0.1:{port}/upload/files/resume.bin", source, bandwidthLimit=2 * MiB
    )
    progress(client, job_id, 3 * MiB)
    time.sleep(2.5)  # a progress checkpoint (every 2 s) is in jobs.db
    (session,) = server.call("upload.list")
    client.kill()
    client.start()
    again = client.call("job.get", jobId=job_id)
    assert 0 < again["bytesTransferred"] < 16 * MiB, again  # the acknowledged offset survived kill -9
    client.call("job.set", jobId=job_id, bandwidthLimit=0)
    done = wait_job(client, job_id, STOPPED)
    assert done["jobState"] == "Transferred", done
    assert [s["sessionId"] for s in server.call("upload.list")] == [session["sessionId"]]
    assert created(server) == [session["sessionId"]]  # no second session
    client.call("job.complete", jobId=job_id)
    assert sha256(folder / "resume.bin") == sha256(source)


def test_a_server_restart_in_the_middle_of_an_upload_through_a_1_mb_s_group_cap(
    engine_factory: Any, folder: Path, tmp_path: Path
) -> None:
    server: EngineProcess = engine_factory("server").start()
    client: EngineProcess = engine_factory("client").start()
    port = free_port()
    upload_group(server, port, folder, bandwidthLimit=1_000_000)
    size = 7 * 1_000_000
    source = random_file(tmp_path / "capped.bin", size)
    job_id = upload(client, f"http://127.0.0.1:{port}/upload/files/capped.bin", source)
    progress(client, job_id, 1_000_000)
    # A clean stop records the session's progress. (The fragment in flight is written at once as
    # the server stops, its Ack never sent: the client does not count those bytes yet.)
    server.restart()
    (session,) = server.call("upload.list")
    held = session["bytesReceived"]
    assert held < size - 2_000_000, session
    stopped = wait_job(client, job_id, STOPPED, timeout=60)
    assert (stopped["jobState"], stopped["errorContext"]) == ("TransientError", "GeneralTransport"), stopped
    resumed = time.monotonic()
    client.call("job.resume", jobId=job_id)  # instead of waiting out minimumRetryDelay
    done = wait_job(client, job_id, ("Transferred", "Error"), timeout=120)
    elapsed = time.monotonic() - resumed
    assert done["jobState"] == "Transferred", done
    # The rest went through the group's 1 MB/s cap. The server pays for each 1 MiB step before
    # writing it (UPLOAD_CHUNK), so the first step of an idle bucket is free.
    assert elapsed >= (size - held - MiB) / 1_000_000 * 0.95, (elapsed, held)
    assert created(server) == [session["sessionId"]]  # the session survived the restart
    client.call("job.complete", jobId=job_id)
    assert sha256(folder / "capped.bin") == sha256(source)


def test_the_server_losing_acknowledged_bytes_gets_416_and_the_client_resyncs(
    engine_factory: Any, folder: Path, tmp_path: Path
) -> None:
    # The server records progress only every 64 MiB: killed, it comes back at its last record (0),
    # behind what it acknowledged; the client's next fragment gets 416 with the server's offset.
    env = {"BCS_TEST_UPLOAD_CHECKPOINT_BYTES": str(64 * MiB), "BCS_TEST_UPLOAD_CHECKPOINT_SECONDS": "3600"}
    server: EngineProcess = engine_factory("server").start(env=env)
    client: EngineProcess = engine_factory("client").start()
    port = free_port()
    upload_group(server, port, folder)
    source = random_file(tmp_path / "lost.bin", 8 * MiB)
    job_id = upload(client, f"http://127.0.0.1:{port}/upload/files/lost.bin", source, bandwidthLimit=2 * MiB)
    progress(client, job_id, 2 * MiB)
    server.kill()
    failed = wait_job(client, job_id, ("TransientError", "Error"), timeout=60)
    assert (failed["jobState"], failed["errorContext"]) == ("TransientError", "GeneralTransport"), failed
    acknowledged = failed["bytesTransferred"]
    server.start(env=env)
    (session,) = server.call("upload.list")
    assert session["bytesReceived"] < acknowledged
    client.call("job.set", jobId=job_id, bandwidthLimit=0)
    client.call("job.resume", jobId=job_id)
    done = wait_job(client, job_id, STOPPED, timeout=60)
    assert done["jobState"] == "Transferred", done
    wait_until(
        lambda: [line for line in access_log(server) if line[2] == "BITS_POST" and line[4] == "416"],
        10,
        "a 416 in the server's access log",
    )
    client.call("job.complete", jobId=job_id)
    assert sha256(folder / "lost.bin") == sha256(source)


@pytest.fixture
def proxy(tmp_path: Path) -> Iterator[Any]:
    """nginx in front of a server engine, with a small client_max_body_size (it answers 413)."""
    if shutil.which("nginx") is None:
        pytest.skip("nginx not installed")
    started: list[Nginx] = []

    def make(upstream: int, limit: str) -> Nginx:
        extra = (
            f"location /upload/ {{ proxy_pass http://127.0.0.1:{upstream}; client_max_body_size {limit}; "
            'proxy_http_version 1.1; proxy_set_header Connection ""; }'
        )
        nginx = Nginx(tmp_path / f"nginx{len(started)}", tmp_path, extra=extra).start()
        started.append(nginx)
        return nginx

    yield make
    for nginx in started:
        nginx.stop()


def test_413_from_a_proxy_shrinks_the_fragments_and_the_upload_completes(
    engine: EngineProcess, proxy: Any, folder: Path, tmp_path: Path
) -> None:
    port = free_port()
    upload_group(engine, port, folder)
    nginx: Nginx = proxy(port, "200k")
    source = random_file(tmp_path / "shrink.bin", 3 * MiB + 5)
    job_id = upload(engine, nginx.url("/upload/files/shrink.bin"), source)
    done = wait_job(engine, job_id, STOPPED)
    assert done["jobState"] == "Transferred", done
    assert done["transientErrorCount"] == 0  # a 413 is no job error
    engine.call("job.complete", jobId=job_id)
    assert sha256(folder / "shrink.bin") == sha256(source)
    posts = [(status, size) for method, _, _, status, size in nginx.log() if method == "BITS_POST"]
    refused = [s for s in posts if s[0] == 413]
    assert len(refused) == 3, posts  # 1 MiB, 512 KiB, 256 KiB refused; 128 KiB fragments pass
    # the fragments that passed were of 128 KiB: 25 of them reached the server
    wait_until(
        lambda: (
            len([line for line in access_log(engine) if line[2] == "BITS_POST" and line[4] == "200"])
            >= 3 * MiB // (128 * KiB) + 2
        ),
        10,
        "Create-Session, 25 fragments of at most 128 KiB and Close-Session in the server's log",
    )


def test_413_at_the_5_kb_floor_is_the_job_error(
    engine: EngineProcess, proxy: Any, folder: Path, tmp_path: Path
) -> None:
    port = free_port()
    upload_group(engine, port, folder)
    nginx: Nginx = proxy(port, "4k")
    source = random_file(tmp_path / "floor.bin", 64 * KiB)
    job_id = upload(engine, nginx.url("/upload/files/floor.bin"), source)
    failed = wait_job(engine, job_id, STOPPED)
    assert (failed["jobState"], failed["errorCode"], failed["errorContext"]) == (
        "Error",
        "0x8019019D",
        "RemoteFile",
    ), failed
    sizes = [size for method, _, _, status, size in nginx.log() if method == "BITS_POST" and status == 413]
    assert len(sizes) == 5  # the whole 64 KiB, then 32, 16, 8 and 5 KiB: never less
    engine.call("job.cancel", jobId=job_id)


def test_a_deleted_session_makes_the_client_start_a_new_one(
    engine: EngineProcess, folder: Path, tmp_path: Path
) -> None:
    port = free_port()
    upload_group(engine, port, folder)
    source = random_file(tmp_path / "again.bin", 6 * MiB)
    job_id = upload(engine, f"http://127.0.0.1:{port}/upload/files/again.bin", source, bandwidthLimit=2 * MiB)
    progress(engine, job_id, 2 * MiB)
    (first,) = engine.call("upload.list")
    engine.call("upload.delete", sessionId=first["sessionId"])  # Remove-BcsUploadSession
    engine.call("job.set", jobId=job_id, bandwidthLimit=0)
    done = wait_job(engine, job_id, STOPPED)
    assert done["jobState"] == "Transferred" and done["transientErrorCount"] == 0, done
    (second,) = engine.call("upload.list")
    assert second["sessionId"] != first["sessionId"] and created(engine) == [
        first["sessionId"],
        second["sessionId"],
    ]
    engine.call("job.complete", jobId=job_id)
    assert sha256(folder / "again.bin") == sha256(source)


def test_sessions_lost_again_and_again_end_the_turn_with_bg_e_no_progress(
    engine: EngineProcess, folder: Path, tmp_path: Path
) -> None:
    # sessionTimeout 1 s and fragments that take 2 s to arrive: each session has expired when its
    # first fragment is read, so the server answers BG_E_SESSION_NOT_FOUND every time.
    port = free_port()
    upload_group(engine, port, folder, sessionTimeout=1)
    source = random_file(tmp_path / "expire.bin", 64 * KiB)
    job_id = upload(
        engine, f"http://127.0.0.1:{port}/upload/files/expire.bin", source, bandwidthLimit=28 * KiB
    )
    failed = wait_job(engine, job_id, STOPPED, timeout=90)
    assert (failed["jobState"], failed["errorCode"], failed["errorName"]) == (
        "TransientError",
        "0x80200024",
        "BG_E_NO_PROGRESS",
    ), failed
    assert len(created(engine)) == 4  # the first session and 3 new ones (CLIENT_UPLOAD_NEW_SESSIONS)
    engine.call("job.cancel", jobId=job_id)


def test_the_local_file_changing_is_bg_e_local_file_changed_and_cancel_sends_cancel_session(
    engine: EngineProcess, folder: Path, tmp_path: Path
) -> None:
    port = free_port()
    upload_group(engine, port, folder)
    source = random_file(tmp_path / "moving.bin", 6 * MiB)
    job_id = upload(
        engine, f"http://127.0.0.1:{port}/upload/files/moving.bin", source, bandwidthLimit=2 * MiB
    )
    progress(engine, job_id, 1)
    with open(source, "ab") as fh:
        fh.write(b"more")
    failed = wait_job(engine, job_id, STOPPED)
    assert (failed["jobState"], failed["errorCode"], failed["errorName"], failed["errorContext"]) == (
        "Error",
        "0x8020001D",
        "BG_E_LOCAL_FILE_CHANGED",
        "LocalFile",
    ), failed
    (session,) = engine.call("upload.list")
    staging = engine.state_dir / "uploads" / (session["sessionId"].strip("{}") + ".part")
    assert staging.exists()
    result = engine.call("job.cancel", jobId=job_id)
    assert (result["jobState"], result["sessionCancelled"]) == ("Cancelled", True)
    assert engine.call("upload.list") == [] and not staging.exists()
    assert not (folder / "moving.bin").exists()
    assert source.stat().st_size == 6 * MiB + 4  # the local file is the user's: never touched


def test_cancel_in_the_middle_of_an_upload_sends_cancel_session(
    engine: EngineProcess, folder: Path, tmp_path: Path
) -> None:
    port = free_port()
    upload_group(engine, port, folder)
    source = random_file(tmp_path / "cancel.bin", 8 * MiB)
    job_id = upload(
        engine, f"http://127.0.0.1:{port}/upload/files/cancel.bin", source, bandwidthLimit=2 * MiB
    )
    progress(engine, job_id, 1)
    (session,) = engine.call("upload.list")
    result = engine.call("job.cancel", jobId=job_id)
    assert (result["jobState"], result["sessionCancelled"]) == ("Cancelled", True)
    assert engine.call("upload.list") == []
    assert f"upload session {session['sessionId']} cancelled" in engine.output()
    assert not (folder / "cancel.bin").exists() and source.exists()


def test_host_id_without_progress_falls_back_to_the_job_host(
    engine: EngineProcess, folder: Path, tmp_path: Path
) -> None:
    port = free_port()
    dead = free_port()  # nothing listens there: the Host-Id host is down
    upload_group(engine, port, folder, hostId=f"127.0.0.1:{dead}", hostIdFallbackTimeout=2)
    source = random_file(tmp_path / "host.bin", 2 * MiB)
    job_id = upload(engine, f"http://127.0.0.1:{port}/upload/files/host.bin", source)
    first = wait_job(engine, job_id, STOPPED)
    # the Ping to the Host-Id host failed before its fallback time: a transient error
    assert (first["jobState"], first["errorContext"], first["errorCode"]) == (
        "TransientError",
        "GeneralTransport",
        "0x80072EFD",
    ), first
    done = wait_job(engine, job_id, ("Transferred", "Error"), timeout=60)  # retried after 5 s
    assert done["jobState"] == "Transferred", done
    assert len(created(engine)) == 1  # the session went on at the job's own host
    engine.call("job.complete", jobId=job_id)
    assert sha256(folder / "host.bin") == sha256(source)


# --- upload-reply -----------------------------------------------------------------------------------


@pytest.fixture
def app() -> Iterator[Any]:
    """The server application of tests/test_host_upload_reply.py, on its own port."""
    import threading
    from wsgiref.simple_server import make_server

    from test_host_upload_reply import Application, QuietHandler

    application = Application()
    server = make_server("127.0.0.1", 0, application, handler_class=QuietHandler)
    application.server = server
    application.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield application
    server.shutdown()
    server.server_close()
    thread.join(10)


@pytest.mark.parametrize("kind", ["ByValue", "ByReference"])
def test_upload_reply_fetches_the_application_reply_and_complete_writes_the_reply_file(
    engine: EngineProcess, folder: Path, tmp_path: Path, app: Any, kind: str
) -> None:
    port = free_port()
    path = "/byref" if kind == "ByReference" else "/byvalue"
    upload_group(
        engine, port, folder, notificationType=kind, notificationUrl=f"http://127.0.0.1:{app.port}{path}"
    )
    source = random_file(tmp_path / "report.bin", 3 * MiB + 1)
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    reply_file = tmp_path / "answer.txt"
    job_id = upload(
        engine,
        f"http://127.0.0.1:{port}/upload/files/report.bin",
        source,
        kind="UploadReply",
        replyFileName=str(reply_file),
    )
    done = wait_job(engine, job_id, STOPPED)
    assert done["jobState"] == "Transferred", done
    expected = (
        f"sha256:{digest}".encode() if kind == "ByReference" else f"got {3 * MiB + 1} bytes:{digest}".encode()
    )
    got = engine.call("job.get", jobId=job_id)
    assert base64.b64decode(got["replyData"]) == expected
    assert (got["replyFileName"], got["replyBytesTotal"], got["replyBytesTransferred"]) == (
        str(reply_file),
        len(expected),
        len(expected),
    )
    assert not reply_file.exists()  # the reply file appears on Complete, as in BITS
    assert len(app.calls) == 1
    result = engine.call("job.complete", jobId=job_id)
    assert result["jobState"] == "Acknowledged"
    assert reply_file.read_bytes() == expected
    assert not (folder / "report.bin").exists()  # the application took it (no BITS-Copy-File-To-Destination)
    assert engine.call("upload.list") == []
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".BIT")] == []


def test_upload_reply_to_a_group_without_an_application_is_an_error(
    engine: EngineProcess, folder: Path, tmp_path: Path
) -> None:
    port = free_port()
    upload_group(engine, port, folder)
    source = tmp_path / "r.txt"
    source.write_bytes(b"reply please")
    job_id = upload(engine, f"http://127.0.0.1:{port}/upload/files/r.txt", source, kind="UploadReply")
    failed = wait_job(engine, job_id, STOPPED)
    assert (failed["jobState"], failed["errorCode"]) == ("Error", "0x8020001B"), failed
    assert "BITS-Reply-URL" in failed["errorDescription"]
    engine.call("job.cancel", jobId=job_id)


# --- NTLM -------------------------------------------------------------------------------------------


def test_upload_to_an_ntlm_group_authenticates_and_resumes_after_suspend(
    engine_factory: Any, folder: Path, tmp_path: Path
) -> None:
    users = tmp_path / "ntlm_users"
    users.write_text("BCS:alice:Alice-pw1\n")
    engine: EngineProcess = engine_factory("ntlm").start(env={"NTLM_USER_FILE": str(users)})
    port = free_port()
    upload_group(engine, port, folder, authentication=["NTLM"])
    source = random_file(tmp_path / "secret.bin", 6 * MiB)
    url = f"http://127.0.0.1:{port}/upload/files/secret.bin"
    anonymous = upload(engine, url, source)
    refused = wait_job(engine, anonymous, STOPPED)
    assert (refused["jobState"], refused["errorCode"]) == ("Error", "0x80190191"), refused
    engine.call("job.cancel", jobId=anonymous)
    job_id = upload(
        engine,
        url,
        source,
        bandwidthLimit=2 * MiB,
        credentials=[{"scheme": "NTLM", "userName": "BCS\\alice", "password": "Alice-pw1"}],
    )
    progress(engine, job_id, 1 * MiB)
    engine.call("job.suspend", jobId=job_id)
    engine.call("job.set", jobId=job_id, bandwidthLimit=0)
    engine.call("job.resume", jobId=job_id)  # a new connection: Ping authenticates it first
    done = wait_job(engine, job_id, STOPPED)
    assert done["jobState"] == "Transferred", done
    (session,) = engine.call("upload.list")
    assert session["owner"].lower() == "bcs\\alice"
    engine.call("job.complete", jobId=job_id)  # Close-Session authenticates too
    assert sha256(folder / "secret.bin") == sha256(source)
    users_seen = {line[7] for line in access_log(engine) if line[2] == "BITS_POST" and line[4] == "200"}
    assert users_seen == {"BCS\\alice"}, users_seen


def test_complete_after_the_server_lost_the_session_uploads_the_file_again(
    engine: EngineProcess, folder: Path, tmp_path: Path
) -> None:
    port = free_port()
    upload_group(engine, port, folder)
    source = random_file(tmp_path / "lost-close.bin", 3 * MiB)
    job_id = upload(engine, f"http://127.0.0.1:{port}/upload/files/lost-close.bin", source)
    assert wait_job(engine, job_id, STOPPED)["jobState"] == "Transferred"
    (session,) = engine.call("upload.list")
    engine.call("upload.delete", sessionId=session["sessionId"])  # the administrator removed it
    with pytest.raises(RpcError) as info:
        engine.call("job.complete", jobId=job_id)
    assert info.value.data["name"] == "BG_E_SESSION_NOT_FOUND"
    assert "uploads the file again" in info.value.message
    done = wait_job(engine, job_id, STOPPED)
    assert done["jobState"] == "Transferred", done
    assert engine.call("job.complete", jobId=job_id)["jobState"] == "Acknowledged"
    assert sha256(folder / "lost-close.bin") == sha256(source)
    assert len(created(engine)) == 2


def test_a_server_without_bits_upload_support_is_a_fatal_http_error(
    engine: EngineProcess, tmp_path: Path
) -> None:
    if shutil.which("nginx") is None:
        pytest.skip("nginx not installed")
    www = tmp_path / "www"
    www.mkdir()
    nginx = Nginx(tmp_path / "nginx", www).start()
    try:
        source = tmp_path / "plain.txt"
        source.write_bytes(b"to a plain web server")
        job_id = upload(engine, nginx.url("/plain.txt"), source)
        failed = wait_job(engine, job_id, STOPPED)
        # nginx answers BITS_POST on a static location with 405: fatal (4xx), context REMOTE_FILE
        assert (failed["jobState"], failed["errorCode"], failed["errorContext"]) == (
            "Error",
            "0x80190195",
            "RemoteFile",
        ), failed
        engine.call("job.cancel", jobId=job_id)
    finally:
        nginx.stop()


def test_upload_over_https_with_a_ca_bundle_and_basic_credentials(
    engine_factory: Any, folder: Path, tmp_path: Path
) -> None:
    users = tmp_path / "ntlm_users"
    users.write_text("BCS:alice:Alice-pw1\n")
    engine: EngineProcess = engine_factory("tls").start(env={"NTLM_USER_FILE": str(users)})
    pki = make_pki(tmp_path / "pki")
    port = free_port()
    engine.call(
        "sslcert.set", port=port, certificatePath=str(pki["server_cert"]), keyPath=str(pki["server_key"])
    )
    prefix = f"https://+:{port}/upload/"
    engine.call("urlgroup.create", urlGroup=prefix, uploadEnabled=True, authentication=["Basic"])
    engine.call("url.create", urlGroup=prefix, urlSuffix="files", sourcePath=str(folder))
    source = random_file(tmp_path / "tls.bin", 5 * MiB + 3)
    url = f"https://localhost:{port}/upload/files/tls.bin"
    untrusted = upload(engine, url, source)
    failed = wait_job(engine, untrusted, STOPPED)
    assert (failed["jobState"], failed["errorCode"]) == ("Error", "0x80072F8F"), failed  # unknown CA
    engine.call("job.cancel", jobId=untrusted)
    job_id = upload(
        engine,
        url,
        source,
        caBundle=str(pki["ca"]),
        credentials=[{"scheme": "Basic", "userName": "BCS\\alice", "password": "Alice-pw1"}],
    )
    done = wait_job(engine, job_id, STOPPED)
    assert done["jobState"] == "Transferred", done
    engine.call("job.complete", jobId=job_id)
    assert sha256(folder / "tls.bin") == sha256(source)
