"""The management pipe with a real engine process over the real Unix socket: framing, errors, access."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from bcs import lockfile
from bcs.rpc.client import EngineNotRunningError, RpcClient, RpcError, UntrustedEngineError
from conftest import EngineProcess
from pipe_impostor import NOBODY, Impostor, can_switch_uid


class RawPipe:
    """A bare socket to the engine, to send exactly the bytes a test wants."""

    def __init__(self, engine: EngineProcess) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(20)
        self.sock.connect(engine.path)
        self.buf = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def line(self) -> Any:
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return json.loads(line)

    def call(self, message: Any) -> Any:
        self.send(json.dumps(message).encode() + b"\n")
        return self.line()

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def raw(engine: EngineProcess) -> Any:
    pipe = RawPipe(engine)
    yield pipe
    pipe.close()


STATUS = {"jsonrpc": "2.0", "id": 1, "method": "server.status"}


def assert_usable(pipe: RawPipe) -> None:
    answer = pipe.call(STATUS)
    assert answer["id"] == 1 and answer["result"]["version"]


def test_status_answers_over_the_unix_socket(engine: EngineProcess) -> None:
    status = engine.call("server.status")
    assert status["pipeName"] == engine.pipe_name
    assert status["pipePath"] == engine.path
    assert status["stateDir"] == str(engine.state_dir.resolve())
    assert status["services"].keys() >= {"host", "client"}


def test_socket_is_mode_0600_and_lives_where_dotnet_looks(engine: EngineProcess) -> None:
    tmp = os.environ.get("TMPDIR") or "/tmp/"
    assert engine.path == os.path.join(tmp, f"CoreFxPipe_{engine.pipe_name}")
    st = os.stat(engine.path)
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o600
    assert st.st_uid == os.geteuid()


def test_malformed_json_gets_parse_error_and_connection_stays_usable(raw: RawPipe) -> None:
    raw.send(b'{"jsonrpc": "2.0", "id": 1, "method": \n')
    answer = raw.line()
    assert answer["id"] is None
    assert answer["error"]["code"] == -32700
    assert answer["error"]["data"]["hresult"] == "0x80070057"
    assert answer["error"]["data"]["errorId"] == "Bcs.Rpc.ParseError"
    assert_usable(raw)


def test_invalid_utf8_gets_parse_error(raw: RawPipe) -> None:
    raw.send(b'{"jsonrpc":"2.0","id":1,"method":"\xff\xfe"}\n')
    assert raw.line()["error"]["code"] == -32700
    assert_usable(raw)


def test_line_over_the_cap_is_refused_and_connection_stays_usable(raw: RawPipe) -> None:
    big = (
        b'{"jsonrpc":"2.0","id":9,"method":"server.status","params":{"x":"'
        + b"a" * (4 * 1024 * 1024)
        + b'"}}\n'
    )
    raw.send(big)
    answer = raw.line()
    assert answer["error"]["code"] == -32600
    assert "longer than 4194304 bytes" in answer["error"]["message"]
    assert_usable(raw)


@pytest.mark.parametrize("payload", [b"[1]", b'"text"', b"42", b"null", b"true"])
def test_non_object_request_is_an_invalid_request(raw: RawPipe, payload: bytes) -> None:
    raw.send(payload + b"\n")
    answer = raw.line()
    answer = answer[0] if isinstance(answer, list) else answer
    assert answer["error"]["code"] == -32600
    assert_usable(raw)


@pytest.mark.parametrize(
    ("request_", "why"),
    [
        ({"id": 1, "method": "server.status"}, '"jsonrpc" must be exactly "2.0"'),
        ({"jsonrpc": "1.0", "id": 1, "method": "server.status"}, '"jsonrpc" must be exactly "2.0"'),
        ({"jsonrpc": "2.0", "id": 1, "method": 5}, '"method" must be a string'),
        (
            {"jsonrpc": "2.0", "id": {"a": 1}, "method": "server.status"},
            "id must be a string, a number or null",
        ),
        ({"jsonrpc": "2.0", "id": 1, "method": "server.status", "extra": 1}, "unknown member 'extra'"),
    ],
)
def test_malformed_request_objects_are_invalid_requests(raw: RawPipe, request_: Any, why: str) -> None:
    answer = raw.call(request_)
    assert answer["error"]["code"] == -32600
    assert why in answer["error"]["message"]


def test_unknown_method_gets_method_not_found_with_hresult(raw: RawPipe) -> None:
    answer = raw.call({"jsonrpc": "2.0", "id": "a", "method": "nope.nothing"})
    assert answer["id"] == "a"
    assert answer["error"]["code"] == -32601
    assert answer["error"]["data"]["name"] == "E_NOTIMPL"
    assert answer["error"]["data"]["errorId"] == "Bcs.Rpc.MethodNotFound"


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "missing required parameter 'yaml'"),
        ({"yaml": "a: 1", "extra": True}, "unknown parameter 'extra'"),
        ({"yaml": 12}, "parameter 'yaml' must be of type string, not integer"),
        ([1, 2], "takes at most 1 positional parameters"),
        ("yaml", "params must be an object or an array"),
    ],
)
def test_bad_params_get_invalid_params_naming_the_parameter(raw: RawPipe, params: Any, message: str) -> None:
    answer = raw.call({"jsonrpc": "2.0", "id": 3, "method": "config.import", "params": params})
    assert answer["error"]["code"] == -32602
    assert message in answer["error"]["message"]
    assert answer["error"]["data"]["hresult"] == "0x80070057"
    assert answer["error"]["data"]["errorId"] == "Bcs.Rpc.InvalidParams"


def test_wrongly_typed_integer_param_is_refused(raw: RawPipe) -> None:
    for bad in ("5", 5.5, True):
        answer = raw.call(
            {"jsonrpc": "2.0", "id": 3, "method": "server.set", "params": {"maxUrlGroups": bad}}
        )
        assert answer["error"]["code"] == -32602
        assert "maxUrlGroups" in answer["error"]["message"]
    assert raw.call(STATUS)["result"]["maxUrlGroups"] == 25


def test_batch_mixing_good_and_bad_calls_answers_each(raw: RawPipe) -> None:
    batch = [
        {"jsonrpc": "2.0", "id": 1, "method": "server.status"},
        {"jsonrpc": "2.0", "id": 2, "method": "no.such"},
        {"jsonrpc": "2.0", "method": "server.status"},  # notification: no answer
        {"jsonrpc": "2.0", "id": 3, "method": "server.set", "params": {"maxUrlGroups": "x"}},
        17,
        {"jsonrpc": "2.0", "id": 4, "method": "server.set", "params": {"maxUrlGroups": 30}},
    ]
    answers = raw.call(batch)
    assert len(answers) == 5
    by_id = {a["id"]: a for a in answers if a["id"] is not None}
    assert "result" in by_id[1]
    assert by_id[2]["error"]["code"] == -32601
    assert by_id[3]["error"]["code"] == -32602
    assert by_id[4]["result"]["maxUrlGroups"] == 30
    assert next(a for a in answers if a["id"] is None)["error"]["code"] == -32600


def test_empty_batch_is_an_invalid_request(raw: RawPipe) -> None:
    assert raw.call([])["error"]["code"] == -32600


def test_notification_gets_no_answer(raw: RawPipe) -> None:
    raw.send(b'{"jsonrpc":"2.0","method":"server.status"}\n')
    assert raw.call({"jsonrpc": "2.0", "id": 77, "method": "server.status"})["id"] == 77


def test_many_requests_on_one_connection(raw: RawPipe) -> None:
    lines = b"".join(
        json.dumps({"jsonrpc": "2.0", "id": i, "method": "server.status"}).encode() + b"\n"
        for i in range(200)
    )
    raw.send(lines)
    assert [raw.line()["id"] for _ in range(200)] == list(range(200))


def test_crlf_line_endings_from_windows_writers_are_accepted(raw: RawPipe) -> None:
    raw.send(b'{"jsonrpc":"2.0","id":5,"method":"server.status"}\r\n')
    assert raw.line()["id"] == 5


def test_concurrent_clients_are_served(engine: EngineProcess) -> None:
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            with engine.client() as c:
                for _ in range(25):
                    assert c.call("server.status")["pid"]
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors


def test_client_disconnecting_mid_line_changes_nothing(engine: EngineProcess) -> None:
    before = (engine.state_dir / "config.yaml").read_bytes()
    pipe = RawPipe(engine)
    pipe.send(b'{"jsonrpc":"2.0","id":1,"method":"server.set","params":{"maxUrlGroups":')
    pipe.close()
    time.sleep(0.2)
    with engine.client() as c:
        assert c.call("server.status")["maxUrlGroups"] == 25
    assert (engine.state_dir / "config.yaml").read_bytes() == before


def _connect_as_nobody(path: str) -> subprocess.CompletedProcess[str]:
    code = (
        "import json, os, socket, sys\n"
        "os.setgid(65534); os.setuid(65534)  # after the imports: /root (the stdlib) is 0700\n"
        "s = socket.socket(socket.AF_UNIX)\n"
        "try:\n"
        f"    s.connect({path!r})\n"
        "except PermissionError as e:\n"
        "    print('EACCES'); sys.exit(0)\n"
        's.sendall(b\'{"jsonrpc":"2.0","id":1,"method":"server.stop"}\\n\')\n'
        "data = b''\n"
        "while True:\n"
        "    chunk = s.recv(65536)\n"
        "    if not chunk: break\n"
        "    data += chunk\n"
        "print(data.decode())\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    return proc


@pytest.mark.skipif(os.geteuid() != 0, reason="switching to another uid needs root")
def test_peer_with_another_uid_is_refused_by_mode_and_by_peercred(engine: EngineProcess) -> None:
    # The socket's mode 0600 keeps other users out ...
    assert _connect_as_nobody(engine.path).stdout.strip() == "EACCES"
    # ... and if the mode is loosened, the SO_PEERCRED check still refuses them.
    os.chmod(engine.path, 0o666)
    out = _connect_as_nobody(engine.path).stdout.strip()
    answer = json.loads(out)
    assert answer["error"]["data"]["name"] == "E_ACCESSDENIED"
    assert "uid 65534 may not manage this engine" in answer["error"]["message"]
    assert engine.call("server.status")["pid"]  # the engine did not stop


def test_second_engine_on_the_same_pipe_name_refuses_to_start(
    engine: EngineProcess, engine_factory: Any
) -> None:
    second = engine_factory("other", pipe_name=engine.pipe_name)
    second.start(wait=False)
    assert second.proc is not None
    assert second.proc.wait(30) == 1
    assert f"already serving pipe '{engine.pipe_name}'" in second.output()
    assert engine.call("server.status")["pid"]
    assert not (second.state_dir / "engine.log").exists()  # failed before touching its state dir


def test_second_engine_on_the_same_state_dir_refuses_to_start(engine: EngineProcess) -> None:
    second = EngineProcess(engine.state_dir)
    second.log_path = engine.state_dir.parent / "second.out"
    second.start(wait=False)
    assert second.proc is not None
    try:
        assert second.proc.wait(30) == 1
    finally:
        second.stop()
    assert "already uses state directory" in second.output()


def test_unusable_state_dir_stops_startup_with_a_clear_message(tmp_path: Path, engine_factory: Any) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    e = engine_factory("x", config=None)
    e.state_dir = blocker / "state"
    e.start(wait=False)
    assert e.proc is not None
    assert e.proc.wait(30) == 1
    assert f"state directory {blocker / 'state'} is not usable" in e.output()


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a read-only tmpfs needs root")
def test_read_only_state_dir_is_refused_with_a_clear_message(tmp_path: Path, engine_factory: Any) -> None:
    state = tmp_path / "ro"
    state.mkdir()
    # A read-only file system refuses writes even to root, as a read-only volume would in production.
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(state)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr!r}")
    try:
        e = engine_factory("ro-engine", config=None)
        e.state_dir = state
        e.start(wait=False)
        assert e.proc is not None
        assert e.proc.wait(30) == 1
        assert f"state directory {state} is not usable: Read-only file system" in e.output()
    finally:
        subprocess.run(["umount", str(state)], check=True)


def test_two_engines_run_side_by_side(engine_factory: Any) -> None:
    a = engine_factory("a").start()
    b = engine_factory("b").start()
    a.call("server.set", maxUrlGroups=40)
    assert a.call("server.status")["maxUrlGroups"] == 40
    assert b.call("server.status")["maxUrlGroups"] == 25
    assert a.call("server.status")["pid"] != b.call("server.status")["pid"]


def test_rpc_describe_lists_every_method_with_typed_params(engine: EngineProcess) -> None:
    described = engine.call("rpc.describe")
    assert described["protocol"] == "jsonrpc-2.0"
    methods = {m["name"]: m for m in described["methods"]}
    assert {
        "server.status",
        "config.import",
        "urlgroup.create",
        "job.create",
        "rpc.describe",
    } <= methods.keys()
    for m in described["methods"]:
        assert m["summary"] and m["result"] and "cmdlet" in m
        for p in m["params"]:
            assert p["type"] in {"string", "integer", "number", "boolean", "array", "object"}
            assert isinstance(p["required"], bool) and p["doc"]
    assert methods["config.import"]["params"] == [
        {"name": "yaml", "type": "string", "required": True, "doc": "The configuration, as config.yaml text."}
    ]
    assert methods["urlgroup.create"]["cmdlet"] == "New-BcsUrlGroup"


def test_state_changing_calls_are_audited_with_the_caller_and_never_their_parameters(
    engine: EngineProcess,
) -> None:
    import pwd

    methods = {m["name"]: m for m in engine.call("rpc.describe")["methods"]}
    assert methods["server.status"]["readOnly"] is True
    assert methods["urlgroup.create"]["readOnly"] is False
    engine.call("server.set", maxUrlGroups=30)
    engine.call("server.status")
    with pytest.raises(RpcError):
        engine.call("server.set", maxUrlGroups="secret-looking-value")
    me = f"uid {os.geteuid()} ({pwd.getpwuid(os.geteuid()).pw_name}) pid {os.getpid()}"
    text = (engine.state_dir / "engine.log").read_text()
    audit = [line for line in text.splitlines() if "bcs.audit" in line]
    assert any(f"{me} called server.set: ok" in line for line in audit), audit
    assert any(f"{me} called server.set: rejected 0x80070057" in line for line in audit), audit
    assert not any("server.status" in line for line in audit), audit
    assert "secret-looking-value" not in "\n".join(audit)


def test_server_stop_answers_then_stops_cleanly(engine: EngineProcess) -> None:
    assert engine.proc is not None
    assert engine.call("server.stop") == {"stopping": True, "pid": engine.proc.pid}
    assert engine.proc.wait(20) == 0
    assert not os.path.exists(engine.path)
    assert "engine stopped" in (engine.state_dir / "engine.log").read_text()


def test_sigterm_stops_cleanly_and_removes_the_socket(engine: EngineProcess) -> None:
    assert engine.stop() == 0
    assert not os.path.exists(engine.path)


def test_engine_restarts_on_a_stale_socket_after_kill_9(engine: EngineProcess) -> None:
    engine.kill()
    assert os.path.exists(engine.path)  # left behind by the crash
    engine.start()
    assert engine.call("server.status")["pid"]


def test_client_reports_engine_not_running_with_how_to_start() -> None:
    with pytest.raises(EngineNotRunningError, match=r"Start one with `bcs serve`"):
        RpcClient("bcs-test-nobody-home").connect()


def test_secrets_in_params_never_reach_the_log(engine: EngineProcess, tmp_path: Path) -> None:
    secret = "S3cr3t-Passw0rd-in-a-test"
    with engine.client() as c:
        job = c.call(
            "job.create",
            files=[{"remoteUrl": "http://127.0.0.1:9/x", "localPath": str(tmp_path / "x")}],
            credentials=[{"scheme": "Basic", "userName": "u", "password": secret}],
            suspended=True,
        )
        assert secret not in json.dumps(job)
        with pytest.raises(RpcError):
            c.call("job.create", credentials=[{"scheme": "Bogus", "password": secret}])
        c.call("job.cancel", jobId=job["jobId"])
    engine.stop()
    assert secret not in (engine.state_dir / "engine.log").read_text()
    assert secret not in engine.output()


# --- issue #11 section 1: another local user squatting the pipe path -------------------------------

needs_root = pytest.mark.skipif(
    not can_switch_uid(), reason="acting as another local user (uid 65534) needs root"
)

CREDENTIALS = {"scheme": "Basic", "userName": "admin", "password": "Sq4tt3d-Pa55word"}


def start_expecting_refusal(e: EngineProcess) -> tuple[int | str, str]:
    """Start ``e``; (exit code, output), or ("started", output) for an engine that came up (stopped again)."""
    e.start(wait=False)
    assert e.proc is not None
    try:
        e.wait_ready(timeout=30)
    except RuntimeError:
        return e.proc.wait(10), e.output()
    e.stop()
    return "started", e.output()


@pytest.fixture
def squatted(engine_factory: Any) -> Any:
    """An engine (not started) whose pipe path another user squats; the impostor is stopped after."""
    made: list[Impostor] = []

    def squat(with_lock: bool) -> tuple[EngineProcess, Impostor]:
        victim: EngineProcess = engine_factory("victim")
        impostor = Impostor(victim.path, with_lock=with_lock)
        made.append(impostor)
        return victim, impostor

    yield squat
    for impostor in made:
        impostor.close()


@needs_root
def test_client_refuses_a_pipe_served_by_another_user_and_sends_it_nothing(
    squatted: Any, tmp_path: Path
) -> None:
    victim, impostor = squatted(with_lock=False)
    impostor.expect_connection()
    client = RpcClient(victim.pipe_name, timeout=10)
    with pytest.raises(UntrustedEngineError) as refused:
        client.call(
            "job.create",
            files=[{"remoteUrl": "http://127.0.0.1:9/x", "localPath": str(tmp_path / "x")}],
            credentials=[CREDENTIALS],
        )
    client.close()
    assert impostor.received() == b""
    message = refused.value.message
    assert f"pipe '{victim.pipe_name}' at {victim.path}" in message
    assert f"served by uid {NOBODY} (pid " in message and "not by root" in message
    assert "nothing was sent" in message
    assert refused.value.error_id == "Bcs.Server.UntrustedEngine"


@needs_root
@pytest.mark.parametrize("with_lock", [True, False], ids=["socket-and-held-lock", "socket-only"])
def test_engine_names_the_uid_squatting_its_pipe_path_instead_of_another_engine(
    squatted: Any, with_lock: bool
) -> None:
    victim, _ = squatted(with_lock=with_lock)
    code, out = start_expecting_refusal(victim)
    assert code == 1, out
    assert "another engine" not in out
    if with_lock:
        assert (
            f"refusing lock file {victim.path}.lock (owner uid {NOBODY}): it belongs to uid {NOBODY}" in out
        )
    else:
        assert f"{victim.path} is a socket owned by uid {NOBODY}, not by this engine's uid 0" in out
    assert "another local user may" in out
    assert os.lstat(victim.path).st_uid == NOBODY  # left for the administrator to look at


@needs_root
@pytest.mark.parametrize("kind", ["symlink", "hardlink"])
def test_pipe_lock_planted_as_a_link_to_a_root_file_is_refused_and_the_file_kept(
    engine_factory: Any, tmp_path: Path, kind: str
) -> None:
    precious = tmp_path / "precious.conf"
    precious.write_text("root's data\n")
    precious.chmod(0o644)
    victim: EngineProcess = engine_factory("victim")
    lock_path = victim.path + ".lock"
    if kind == "symlink":
        os.symlink(precious, lock_path)
        os.lchown(lock_path, NOBODY, NOBODY)  # planted by another local user
    else:
        os.link(precious, lock_path)
    try:
        code, out = start_expecting_refusal(victim)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(lock_path)
    assert precious.read_text() == "root's data\n"
    assert stat.S_IMODE(precious.stat().st_mode) == 0o644
    assert code == 1, out
    expected = f"a symbolic link to {precious}" if kind == "symlink" else "it has 2 hard links"
    assert f"refusing lock file {lock_path}" in out and expected in out


@pytest.mark.parametrize("kind", ["symlink", "other-uid"])
def test_state_dir_lock_planted_by_someone_else_is_refused_and_the_file_kept(
    engine_factory: Any, tmp_path: Path, kind: str
) -> None:
    if kind == "other-uid" and not can_switch_uid():
        pytest.skip("giving a file to another uid needs root")
    precious = tmp_path / "precious.conf"
    precious.write_text("root's data\n")
    precious.chmod(0o644)
    e: EngineProcess = engine_factory("state")
    lock_path = e.state_dir / "engine.lock"
    if kind == "symlink":
        lock_path.symlink_to(precious)
    else:
        lock_path.write_text("4242")
        os.chown(lock_path, NOBODY, NOBODY)
    code, out = start_expecting_refusal(e)
    assert precious.read_text() == "root's data\n"
    assert stat.S_IMODE(precious.stat().st_mode) == 0o644
    assert code == 1, out
    assert f"refusing lock file {lock_path}" in out
    if kind == "symlink":
        assert f"a symbolic link to {precious}" in out
    else:
        assert f"it belongs to uid {NOBODY}, not to this engine's uid {os.geteuid()}" in out
        assert lock_path.read_text() == "4242"
    assert not os.path.exists(e.path)  # the pipe was released again


def test_windows_state_lock_takes_the_same_fixed_byte_beyond_the_pid(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Windows-only behaviour, checked through the position handed to msvcrt.locking (issue #10).

    msvcrt.locking locks from the current file position: the lock must be taken at one fixed
    offset whatever the file holds (two engines must contend for the same byte), and that byte
    must lie beyond the pid text so that a second engine can still read the pid.
    """
    locked: list[tuple[int, int, int]] = []
    held: set[int] = set()

    class FakeMsvcrt:
        LK_NBLCK = 2
        LK_UNLCK = 0

        @staticmethod
        def locking(fd: int, mode: int, nbytes: int) -> None:
            position = os.lseek(fd, 0, os.SEEK_CUR)
            locked.append((position, mode, nbytes))
            if mode == FakeMsvcrt.LK_NBLCK:
                if position in held:
                    raise PermissionError(13, "Permission denied")
                held.add(position)
            else:
                held.discard(position)

    monkeypatch.setitem(sys.modules, "msvcrt", FakeMsvcrt)
    monkeypatch.setattr(lockfile.sys, "platform", "win32")
    path = str(tmp_path / "engine.lock")
    first = lockfile.LockFile.open(path, "choose another --state-dir")
    assert first.try_lock()
    first.write_pid()
    second = lockfile.LockFile.open(path, "choose another --state-dir")
    assert not second.try_lock()  # the same byte, though the file is no longer empty
    assert second.holder() == str(os.getpid())
    second.close()
    first.close()
    offsets = {position for position, mode, _ in locked}
    assert offsets == {lockfile.WINDOWS_LOCK_OFFSET}
    assert all(nbytes == 1 for _, _, nbytes in locked)
    assert lockfile.WINDOWS_LOCK_OFFSET > 64 and lockfile.WINDOWS_LOCK_OFFSET < 2**31
    assert not held  # closing unlocked it


_CLIENT_AS_NOBODY = r"""
import json, os, sys
from bcs.errors import BcsError
from bcs.rpc.client import RpcClient
os.setgroups([]); os.setgid(65534); os.setuid(65534)  # after the imports: /root (the stdlib) is 0700
results = {}
for label, name in (("root-engine", sys.argv[1]), ("own-uid", sys.argv[2])):
    try:
        with RpcClient(name, timeout=10) as c:
            results[label] = {"result": c.call("server.status")}
    except BcsError as exc:
        results[label] = {"error": type(exc).__name__, "message": exc.message}
print(json.dumps(results))
"""


@needs_root
def test_unprivileged_client_trusts_its_own_uid_and_is_told_whose_engine_refuses_it(
    engine: EngineProcess, squatted: Any
) -> None:
    own, impostor = squatted(with_lock=False)  # a server of uid 65534: the client's own uid this time
    impostor.expect_connection()
    proc = subprocess.run(
        [sys.executable, "-c", _CLIENT_AS_NOBODY, engine.pipe_name, own.pipe_name],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    results = json.loads(proc.stdout)
    assert results["own-uid"] == {"result": {"jobId": "{00000000-0000-0000-0000-000000000000}"}}
    assert impostor.received().startswith(b'{"jsonrpc": "2.0"')
    refused = results["root-engine"]
    assert refused["error"] == "AccessDeniedError"
    assert f"pipe '{engine.pipe_name}' at {engine.path} belongs to uid 0" in refused["message"]


@needs_root
def test_client_without_so_peercred_judges_the_socket_owner(
    squatted: Any, engine: EngineProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    """macOS and the BSDs: Python has no SO_PEERCRED there, so the client reads the socket's owner."""
    import bcs.rpc.client as client_module

    monkeypatch.setattr(client_module, "peer_credentials", lambda sock: (None, None))
    assert engine.call("server.status")["pid"]  # root's socket: trusted
    victim, impostor = squatted(with_lock=False)
    impostor.expect_connection()
    with pytest.raises(UntrustedEngineError, match=f"served by a socket owned by uid {NOBODY}, not by root"):
        RpcClient(victim.pipe_name, timeout=10).call("server.status")
    assert impostor.received() == b""
