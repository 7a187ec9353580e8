"""A Python replay of ``pester/EndToEnd.Tests.ps1``: the same RPC calls, the same expectations.

PowerShell cannot run here, so every Pester assertion that depends on the engine is replayed
against a real engine started the way ``Start-BcsServer`` starts it (``serve --detach
--no-demo``), while port 8080 (the demo group's) is held by another process, as on a busy
developer machine. Each step names the Pester ``It`` it stands for; the keys sent for each method
must be keys that cmdlet really sends (read from its syntax tree), so a replay cannot drift into
calls the module never makes. Keep the two files in step: change one, change the other.
"""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import powershell_static as ps
from bcs.detach import process_exists, wait_for_exit
from bcs.rpc.client import EngineNotRunningError, RpcClient, RpcError
from conftest import free_port

pytestmark = pytest.mark.skipif(
    sys.platform == "win32", reason="the replay holds ports and pids the Unix way"
)

FUNCTIONS = ps.module_functions()


class Module:
    """Sends what a cmdlet sends, over the pipe, the way Invoke-BcsRpc does (one line each way)."""

    def __init__(self, pipe_name: str) -> None:
        self.pipe_name = pipe_name

    def send(self, cmdlet: str, method: str, **params: Any) -> Any:
        calls = [c for c in ps.reachable_calls(FUNCTIONS[cmdlet], FUNCTIONS) if c.method == method]
        assert calls, f"{cmdlet} never calls {method}"
        keys = {k.key for c in calls for k in c.keys}
        assert set(params) <= keys, f"{cmdlet} {method} does not send {set(params) - keys}"
        for name, value in params.items():
            # The fields of an object (ldap) or of the objects of an array (principals, files).
            objects = [value] if isinstance(value, dict) else value if isinstance(value, list) else []
            sent = {field for field in (k for o in objects if isinstance(o, dict) for k in o)}
            if sent:
                fields = {
                    f
                    for c in calls
                    for k in c.keys
                    if k.key == name
                    for f in ps.value_shape(_owner(c), k, FUNCTIONS).fields
                }
                assert sent <= fields, f"{cmdlet} {method} {name} does not send {sent - fields}"
        with RpcClient(self.pipe_name, timeout=60) as client:
            return client.call(method, params)

    def error(self, cmdlet: str, method: str, **params: Any) -> dict[str, Any]:
        with pytest.raises(RpcError) as info:
            self.send(cmdlet, method, **params)
        data: dict[str, Any] = info.value.data
        return data

    def wait(self, job_id: str, timeout: float = 120) -> dict[str, Any]:
        """Wait-BcsJob: long-poll job.wait (5 s steps) until the job stops moving."""
        change_count = 0
        job: dict[str, Any] = {}
        for _ in range(int(timeout / 5) + 1):
            job = self.send("Wait-BcsJob", "job.wait", jobId=job_id, changeCount=change_count, timeout=5.0)
            change_count = job["changeCount"]
            if job["jobState"] in ("Transferred", "Error", "Acknowledged", "Cancelled"):
                break
        return job


def _owner(call: ps.RpcCall) -> ps.Function:
    """The module function whose Invoke-BcsRpc call ``call`` is."""
    return next(f for f in FUNCTIONS.values() if any(c.node == call.node for c in f.rpc_calls()))


def start_bcs_server(pipe_name: str, state: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    """What Start-BcsServer runs: the launcher's exit code and its one JSON line."""
    launcher = [sys.executable, "-m", "bcs", "--pipe-name", pipe_name, "serve", "--detach", "--timeout", "30"]
    proc = subprocess.run(
        [*launcher, "--state-dir", str(state), "--log-dir", str(state), "--no-demo", *extra],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    return proc.returncode, json.loads(proc.stdout.strip().splitlines()[-1])


def stop_bcs_server(module: Module) -> int:
    """Stop-BcsServer: the pid from server.status, server.stop, then wait for the process to exit."""
    pid: int = module.send("Stop-BcsServer", "server.status")["pid"]
    assert module.send("Stop-BcsServer", "server.stop")["stopping"] is True
    assert wait_for_exit(pid, 30), "Stop-BcsServer would report Bcs.Server.StopTimeout"
    return pid


@pytest.fixture(scope="module")
def port_8080_held() -> Iterator[None]:
    """Another program on 8080, where a demo configuration would listen."""
    sock = socket.socket(socket.AF_INET6)
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    try:
        sock.bind(("::", 8080))
        sock.listen(5)
    except OSError:
        pass  # something already holds 8080: the same situation
    yield
    sock.close()


@pytest.fixture
def pipe_name() -> Iterator[str]:
    name = f"bcs-replay-{uuid.uuid4().hex[:10]}"
    yield name
    subprocess.run(
        [sys.executable, "-m", "bcs", "--pipe-name", name, "stop", "--timeout", "20"],
        capture_output=True,
        check=False,
    )


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_hello_world_example(port_8080_held: None, pipe_name: str, tmp_path: Path) -> None:
    """Describe 'examples/HelloWorld.ps1' / It 'hosts a file, downloads it with a job and completes it'."""
    port = free_port()
    state = tmp_path / "hello-state"
    code, answer = start_bcs_server(pipe_name, state)
    assert code == 0, answer
    bcs = Module(pipe_name)
    content = state / "content"
    content.mkdir()
    source = content / "hello.txt"
    source.write_text("Hello, World! Greetings from BITS Compact Server.")
    group = bcs.send(
        "New-BcsUrlGroup", "urlgroup.create", urlGroup=f"http://+:{port}/HelloWorld/", connectionLimit=3
    )
    url = bcs.send(
        "Add-BcsUrl", "url.create", urlGroup=group["urlGroup"], urlSuffix="hello.txt", sourcePath=str(source)
    )
    assert [u["urlSuffix"] for u in bcs.send("Get-BcsUrl", "url.list", urlGroup=group["urlGroup"])] == [
        "hello.txt"
    ]
    destination = state / "downloaded-hello.txt"
    job = bcs.send(
        "Start-BcsJob",
        "job.create",
        displayName="Hello World",
        type="Download",
        priority="Foreground",
        suspended=False,
        files=[{"remoteUrl": f"http://localhost:{port}/HelloWorld/hello.txt", "localPath": str(destination)}],
    )
    job = bcs.wait(job["jobId"])
    assert job["jobState"] == "Transferred", job
    job = bcs.send("Complete-BcsJob", "job.complete", jobId=job["jobId"])
    # $result.JobState, .Identical, .Content, .Url, Test-Path .Destination
    assert job["jobState"] == "Acknowledged"
    assert sha256(destination) == sha256(source)
    assert destination.read_text().startswith("Hello, World!")
    assert url["url"].endswith(f":{port}/HelloWorld/hello.txt")
    # The example's cleanup: remove the group, stop the engine.
    bcs.send("Remove-BcsUrlGroup", "urlgroup.delete", urlGroup=group["urlGroup"])
    assert not process_exists(stop_bcs_server(bcs))


def test_the_cmdlets_against_a_running_engine(port_8080_held: None, pipe_name: str, tmp_path: Path) -> None:
    """Describe 'The cmdlets against a running engine', It by It."""
    port = free_port()
    state = tmp_path / "state"
    group = f"http://+:{port}/Pester/"
    payload = tmp_path / "content" / "payload.bin"
    payload.parent.mkdir()
    payload.write_bytes(bytes(range(256)) * (3 * 1024 * 4))  # 3 MiB
    remote = f"http://localhost:{port}/Pester/payload.bin"
    code, answer = start_bcs_server(pipe_name, state)
    assert code == 0, answer
    server = answer["status"]
    bcs = Module(pipe_name)

    def initialize_group() -> None:  # Initialize-PesterUrlGroup
        try:
            bcs.send("Get-BcsUrlGroup", "urlgroup.get", urlGroup=group)
        except RpcError:
            bcs.send("New-BcsUrlGroup", "urlgroup.create", urlGroup=group, connectionLimit=2)
        suffixes = [u["urlSuffix"] for u in bcs.send("Get-BcsUrl", "url.list", urlGroup=group)]
        if "payload.bin" not in suffixes:
            bcs.send(
                "Add-BcsUrl", "url.create", urlGroup=group, urlSuffix="payload.bin", sourcePath=str(payload)
            )

    def new_job(destination: Path, **settings: Any) -> dict[str, Any]:  # Start-BcsJob
        params = {
            "displayName": "BITS Transfer",
            "type": "Download",
            "priority": "Foreground",
            "suspended": False,
        }
        params.update(settings)
        files = [{"remoteUrl": remote, "localPath": str(destination)}]
        job: dict[str, Any] = bcs.send("Start-BcsJob", "job.create", files=files, **params)
        return job

    def after_each() -> None:  # AfterEach: Get-BcsJob | Remove-BcsJob
        for job in bcs.send("Get-BcsJob", "job.list"):
            bcs.send("Remove-BcsJob", "job.cancel", jobId=job["jobId"])

    # It 'starts the engine on its own pipe and reports it'
    assert server["pipeName"] == pipe_name
    assert bcs.send("Get-BcsServer", "server.status")["pid"] == server["pid"]
    after_each()

    # It 'refuses a second engine on the same pipe'
    code, second = start_bcs_server(pipe_name, tmp_path / "other-state")
    assert code == 1 and second["error"]["errorId"] == "Bcs.Server.AlreadyRunning"
    after_each()

    # It 'reports dates as UTC [datetime] in every edition' (the engine's side: ISO 8601 in UTC)
    assert server["startTime"].endswith("Z")
    after_each()

    # It 'changes server settings'
    assert bcs.send("Set-BcsServer", "server.set", maxUrlGroups=50)["maxUrlGroups"] == 50
    assert bcs.send("Get-BcsServer", "server.status")["maxUrlGroups"] == 50
    after_each()

    # It 'serves Prometheus metrics on its own port when asked, and stops'
    metrics_port = free_port()
    status = bcs.send("Set-BcsServer", "server.set", metricsPort=metrics_port, accessLogFormat="json")
    assert status["metricsPort"] == metrics_port and status["services"]["metrics"]["listening"] is True
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10) as page:
        assert page.status == 200
        assert "# TYPE bcs_http_requests_total counter" in page.read().decode()
    status = bcs.send("Set-BcsServer", "server.set", metricsPort=0, accessLogFormat="text")
    assert status["services"]["metrics"]["listening"] is False
    assert isinstance(bcs.send("Get-BcsServer", "server.status")["services"]["host"]["urlGroups"], list)
    after_each()

    # It 'creates, publishes into and lists a URL group'
    assert bcs.send("Get-BcsUrlGroup", "urlgroup.list") == [], "the engine started with -NoDemo"
    created = bcs.send("New-BcsUrlGroup", "urlgroup.create", urlGroup=group, connectionLimit=2)
    bcs.send("Add-BcsUrl", "url.create", urlGroup=group, urlSuffix="payload.bin", sourcePath=str(payload))
    assert created["urlGroup"] in [g["urlGroup"] for g in bcs.send("Get-BcsUrlGroup", "urlgroup.list")]
    got = bcs.send("Get-BcsUrlGroup", "urlgroup.get", urlGroup=group)
    assert [u["urlSuffix"] for u in bcs.send("Get-BcsUrl", "url.list", urlGroup=got["urlGroup"])] == [
        "payload.bin"
    ]
    assert (
        bcs.send("Set-BcsUrlGroup", "urlgroup.set", urlGroup=group, bandwidthLimit=0)["bandwidthLimit"] == 0
    )
    after_each()

    # It 'publishes a file under its pinned SHA-256 (Repr-Digest)'
    pinned = bcs.send(
        "Add-BcsUrl",
        "url.create",
        urlGroup=group,
        urlSuffix="pinned.bin",
        sourcePath=str(payload),
        sha256=True,
    )
    hex_digest = sha256(payload)
    assert pinned["sha256"] is True and pinned["digestState"] == "Known"
    assert pinned["sha256Digest"] == hex_digest
    head = urllib.request.Request(f"http://localhost:{port}/Pester/pinned.bin", method="HEAD")
    with urllib.request.urlopen(head, timeout=10) as page:
        expected = "sha-256=:" + base64.b64encode(bytes.fromhex(hex_digest)).decode() + ":"
        assert page.headers["Repr-Digest"] == expected
    bcs.send("Remove-BcsUrl", "url.delete", urlGroup=group, urlSuffix="pinned.bin")
    after_each()

    # It 'writes an ErrorRecord with id, category and target for an unknown URL group'
    data = bcs.error("Get-BcsUrlGroup", "urlgroup.get", urlGroup="http://+:1/Missing/")
    assert data["errorId"].startswith("Bcs.UrlGroup.NotFound")
    assert data["category"] == "ObjectNotFound" and data["hresult"] == "0x80070490"
    after_each()

    # It 'downloads synchronously and completes the job, as Start-BitsTransfer'
    initialize_group()
    sync = tmp_path / "sync.bin"
    job = bcs.wait(new_job(sync)["jobId"])
    assert job["jobState"] == "Transferred", job
    assert bcs.send("Start-BcsJob", "job.complete", jobId=job["jobId"])["jobState"] == "Acknowledged"
    assert sha256(sync) == sha256(payload)
    after_each()

    # It 'checks the expected SHA-256 of each file (-Sha256)'
    initialize_group()
    pinned = tmp_path / "pinned.bin"
    files = [{"remoteUrl": remote, "localPath": str(pinned), "sha256": sha256(payload).upper()}]
    job = bcs.send(
        "Start-BcsJob",
        "job.create",
        files=files,
        displayName="BITS Transfer",
        type="Download",
        priority="Foreground",
        suspended=False,
    )
    job = bcs.wait(job["jobId"])
    assert job["jobState"] == "Transferred", job
    assert bcs.send("Start-BcsJob", "job.complete", jobId=job["jobId"])["jobState"] == "Acknowledged"
    assert sha256(pinned) == sha256(payload)
    files = [{"remoteUrl": remote, "localPath": str(tmp_path / "wrong.bin"), "sha256": "0" * 64}]
    job = bcs.send(
        "Start-BcsJob",
        "job.create",
        files=files,
        displayName="BITS Transfer",
        type="Download",
        priority="Normal",
        suspended=False,
    )
    job = bcs.wait(job["jobId"])
    assert job["jobState"] == "Error" and job["errorName"] == "CRYPT_E_HASH_VALUE"
    assert job["errorId"] and job["errorCategory"] == "InvalidData"
    assert not (tmp_path / "wrong.bin").exists()
    after_each()

    # It 'runs an asynchronous job through Wait-BcsJob and the pipeline to Complete-BcsJob'
    initialize_group()
    job = new_job(tmp_path / "async.bin", priority="Normal")
    assert job["jobState"] != "Acknowledged"
    assert job["creationTime"].endswith("Z")
    waited = bcs.wait(job["jobId"])
    done = bcs.send("Complete-BcsJob", "job.complete", jobId=waited["jobId"])
    assert done["jobState"] == "Acknowledged" and (tmp_path / "async.bin").exists()
    after_each()

    # It 'suspends, changes, resumes asynchronously and cancels a job through the pipeline'
    initialize_group()
    destination = tmp_path / "suspended.bin"
    job = new_job(destination, suspended=True, displayName="Pester suspended")
    assert job["jobState"] == "Suspended"
    assert [j["jobId"] for j in bcs.send("Get-BcsJob", "job.list", name="Pester sus*")] == [job["jobId"]]
    assert bcs.send("Get-BcsJob", "job.get", jobId=job["jobId"])["jobId"] == job["jobId"]  # Get-BcsJob $id
    changed = bcs.send("Set-BcsJob", "job.set", jobId=job["jobId"], priority="Low", description="from Pester")
    assert changed["priority"] == "Low"
    added = bcs.send(
        "Add-BcsFile",
        "job.addFile",
        jobId=job["jobId"],
        remoteUrl=remote,
        localPath=str(tmp_path / "second.bin"),
    )
    assert added["filesTotal"] == 2
    assert bcs.send("Resume-BcsJob", "job.resume", jobId=job["jobId"])["jobState"] != "Suspended"
    bcs.send(
        "Remove-BcsJob", "job.cancel", jobId=bcs.send("Get-BcsJob", "job.get", jobId=job["jobId"])["jobId"]
    )
    assert not destination.exists()
    after_each()

    # It 'does not find a cancelled job any more, as BITS (BG_E_NOT_FOUND)'
    initialize_group()
    job = new_job(tmp_path / "cancelled.bin", suspended=True)
    bcs.send("Remove-BcsJob", "job.cancel", jobId=job["jobId"])
    data = bcs.error("Get-BcsJob", "job.get", jobId=job["jobId"])
    assert data["errorId"].startswith("Bcs.Job.NotFound")
    assert data["category"] == "ObjectNotFound" and data["hresult"] == "0x80200001"
    assert job["jobId"] not in [j["jobId"] for j in bcs.send("Get-BcsJob", "job.list")]
    after_each()

    # It 'uploads a file with -TransferType Upload to an upload-enabled URL group and completes it'
    upload_group = f"http://+:{port}/PesterUpload/"
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    bcs.send("New-BcsUrlGroup", "urlgroup.create", urlGroup=upload_group)
    bcs.send("Set-BcsUrlGroup", "urlgroup.set", urlGroup=upload_group, uploadEnabled=True)
    bcs.send("Add-BcsUrl", "url.create", urlGroup=upload_group, urlSuffix="files", sourcePath=str(incoming))
    job = bcs.send(
        "Start-BcsJob",
        "job.create",
        displayName="BITS Transfer",
        type="Upload",
        priority="Foreground",
        suspended=False,
        files=[
            {
                "remoteUrl": f"http://localhost:{port}/PesterUpload/files/uploaded.bin",
                "localPath": str(payload),
            }
        ],
    )
    job = bcs.wait(job["jobId"])  # Complete-BcsJobTransfer: Wait-BcsJobChange, then job.complete
    assert job["jobState"] == "Transferred", job
    job = bcs.send("Start-BcsJob", "job.complete", jobId=job["jobId"])
    assert (job["jobState"], job["transferType"]) == ("Acknowledged", "Upload")
    assert job["bytesTransferred"] == payload.stat().st_size
    assert sha256(incoming / "uploaded.bin") == sha256(payload)
    assert bcs.send("Get-BcsUploadSession", "upload.list", urlGroup=upload_group) == []
    bcs.send("Remove-BcsUrlGroup", "urlgroup.delete", urlGroup=upload_group)
    after_each()

    # It 'does not create anything with -WhatIf' (no call is made)
    assert not [g for g in bcs.send("Get-BcsUrlGroup", "urlgroup.list") if "WhatIf" in g["urlGroup"]]
    after_each()

    # It 'exports and imports the configuration'
    initialize_group()
    exported = bcs.send("Export-BcsConfiguration", "config.export")["yaml"]
    assert "Pester" in exported
    bcs.send("Remove-BcsUrlGroup", "urlgroup.delete", urlGroup=group)
    assert bcs.send("Get-BcsUrlGroup", "urlgroup.list") == []
    bcs.send("Import-BcsConfiguration", "config.import", yaml=exported)
    assert [g["urlGroup"] for g in bcs.send("Get-BcsUrlGroup", "urlgroup.list")] == [group]
    after_each()

    # It 'imports the text Export-BcsConfiguration writes to the pipeline'
    initialize_group()
    text = bcs.send("Export-BcsConfiguration", "config.export")["yaml"]
    imported = bcs.send("Import-BcsConfiguration", "config.import", yaml=text)
    assert "yaml" in imported and "config" in imported  # what Bcs.Configuration is made of
    assert [g["urlGroup"] for g in bcs.send("Get-BcsUrlGroup", "urlgroup.list")] == [group]
    after_each()

    # It 'removes URLs and URL groups through the pipeline'
    initialize_group()
    for url in bcs.send("Get-BcsUrl", "url.list", urlGroup=group):
        bcs.send("Remove-BcsUrl", "url.delete", urlGroup=url["urlGroup"], urlSuffix=url["urlSuffix"])
    assert bcs.send("Get-BcsUrl", "url.list", urlGroup=group) == []
    for g in bcs.send("Get-BcsUrlGroup", "urlgroup.list"):
        bcs.send("Remove-BcsUrlGroup", "urlgroup.delete", urlGroup=g["urlGroup"])
    assert bcs.send("Get-BcsUrlGroup", "urlgroup.list") == []
    after_each()

    # It 'stops the engine and returns once its process has exited'
    pid = stop_bcs_server(bcs)
    assert not process_exists(pid)
    with pytest.raises(EngineNotRunningError):
        bcs.send("Get-BcsServer", "server.status")


DOMAIN_SID = "S-1-5-21-1000-2000-3000"
UNREACHABLE_DC = "ldaps://127.0.0.1:1"  # nothing listens on port 1: refused at once
BIND_USER = "svc-bcs@corp.example"
STORED_PASSWORD = "Stored-Bind-Pw1"


def test_authentication_settings(pipe_name: str, tmp_path: Path) -> None:
    """``pester/Authentication.Tests.ps1``, It by It (no domain controller: a directory that cannot
    be reached is refused, one put in place by Import-BcsConfiguration is kept and removed)."""
    state = tmp_path / "auth-state"
    code, answer = start_bcs_server(pipe_name, state)
    assert code == 0, answer
    bcs = Module(pipe_name)
    users = tmp_path / "ntlm-users"  # $TestDrive/ntlm-users
    users.write_text("BCS:alice:Alice-pw1\n")
    alice = {
        "name": "BCS\\alice",
        "sid": f"{DOMAIN_SID}-1001",
        "groups": [f"{DOMAIN_SID}-2001", f"{DOMAIN_SID}-2002"],
    }
    bob = {"name": "BCS\\bob", "sid": f"{DOMAIN_SID}-1002", "groups": []}

    # It 'starts with no keytab, NTLM user file, directory or principals'
    auth = bcs.send("Get-BcsAuthentication", "auth.get")
    assert (auth["keytabPath"], auth["ntlmUserFile"], auth["ldap"], auth["principals"]) == ("", "", None, [])
    assert auth["resolvesSids"] is False

    # It 'sets the NTLM user file and the principals map from NAME=SID:GROUPSID strings'
    # (-NtlmUserFile ./ntlm-users from $TestDrive: the cmdlet sends the full path)
    auth = bcs.send("Set-BcsAuthentication", "auth.set", ntlmUserFile=str(users), principals=[alice, bob])
    assert auth["ntlmUserFile"] == str(users)
    assert [p["name"] for p in auth["principals"]] == ["BCS\\alice", "BCS\\bob"]
    assert auth["principals"][0]["groups"] == alice["groups"] and auth["principals"][1]["groups"] == []
    assert auth["resolvesSids"] is True

    # It 'keeps what it is not given'
    auth = bcs.send("Set-BcsAuthentication", "auth.set", keytabPath="")
    assert auth["ntlmUserFile"] == str(users) and len(auth["principals"]) == 2

    # It 'refuses a malformed principal and -Principal with -ClearPrincipals before calling the engine'
    # (no call is made)
    assert len(bcs.send("Get-BcsAuthentication", "auth.get")["principals"]) == 2

    # It 'writes the engine error for a SID that is not one, and changes nothing'
    data = bcs.error(
        "Set-BcsAuthentication", "auth.set", principals=[{"name": "BCS\\x", "sid": "S-1-bogus", "groups": []}]
    )
    assert data["errorId"].startswith("Bcs.Configuration.InvalidArgument")
    assert data["category"] == "InvalidArgument" and data["hresult"] == "0x80070057"
    assert len(bcs.send("Get-BcsAuthentication", "auth.get")["principals"]) == 2

    # It 'refuses a directory it cannot bind to, and changes nothing'
    data = bcs.error(
        "Set-BcsAuthentication",
        "auth.set",
        ldap={"url": UNREACHABLE_DC, "bindUser": BIND_USER, "bindPassword": "Not-the-pw1"},
    )
    assert data["errorId"].startswith("Bcs.Principal.DirectoryUnavailable")
    assert data["category"] == "ResourceUnavailable" and data["hresult"] == "0x8007200F"
    assert bcs.send("Get-BcsAuthentication", "auth.get")["ldap"] is None

    # It 'keeps the stored bind password for the same directory and account, and removes both with -RemoveLdap'
    exported = bcs.send("Export-BcsConfiguration", "config.export")["yaml"]
    assert "  ldap: null\n" in exported
    with_dc = exported.replace(
        "  ldap: null\n",
        f"  ldap: {{url: '{UNREACHABLE_DC}', bindUser: '{BIND_USER}', bindPassword: '{STORED_PASSWORD}'}}\n",
    )
    bcs.send("Import-BcsConfiguration", "config.import", yaml=with_dc)
    auth = bcs.send("Get-BcsAuthentication", "auth.get")
    assert auth["ldap"]["url"] == UNREACHABLE_DC and auth["ldap"]["bindPasswordSet"] is True
    assert STORED_PASSWORD not in json.dumps(auth)
    assert STORED_PASSWORD not in bcs.send("Export-BcsConfiguration", "config.export")["yaml"]
    # -LdapUrl and -LdapBindUser as stored: nothing changes, so the engine does not bind
    auth = bcs.send("Set-BcsAuthentication", "auth.set", ldap={"url": UNREACHABLE_DC, "bindUser": BIND_USER})
    assert auth["ldap"]["bindPasswordSet"] is True
    auth = bcs.send("Set-BcsAuthentication", "auth.set", ldap={})
    assert auth["ldap"] is None and auth["resolvesSids"] is True  # the principals map stays
    assert "bindPassword" not in bcs.send("Export-BcsConfiguration", "config.export")["yaml"]
    assert STORED_PASSWORD not in (state / "secrets.json").read_text()

    # It 'changes nothing with -WhatIf' (no call is made)
    assert len(bcs.send("Get-BcsAuthentication", "auth.get")["principals"]) == 2

    # It 'empties the principals map'
    auth = bcs.send("Set-BcsAuthentication", "auth.set", principals=[])
    assert auth["principals"] == [] and auth["resolvesSids"] is False
    assert not process_exists(stop_bcs_server(bcs))
