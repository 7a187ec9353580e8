"""The cmdlets against the live contract: what each one sends is checked against ``rpc.describe``
of a real engine, then sent over the real pipe exactly as the cmdlet builds it (key names and
JSON types read from the cmdlet's syntax tree).

Methods whose handlers are not implemented yet answer E_NOTIMPL; that still proves the request
passed the engine's parameter validation (a drifted cmdlet gets -32602, an unknown method -32601).
"""

from __future__ import annotations

import json
import re
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

import powershell_static as ps
from conftest import EngineProcess, free_port
from test_client_support import make_pki

FIXTURES = Path(__file__).parent / "powershell_fixtures"
PROTOCOL_ERRORS = {
    -32700: "parse error",
    -32600: "invalid request",
    -32601: "method not found",
    -32602: "invalid params",
    -32603: "internal error",
}
# System.Management.Automation.ErrorCategory names (New-BcsErrorRecord falls back to NotSpecified).
ERROR_CATEGORIES = set(
    [
        "NotSpecified",
        "OpenError",
        "CloseError",
        "DeviceError",
        "DeadlockDetected",
        "InvalidArgument",
        "InvalidData",
        "InvalidOperation",
        "InvalidResult",
        "InvalidType",
        "MetadataError",
        "NotImplemented",
        "NotInstalled",
        "ObjectNotFound",
        "OperationStopped",
        "OperationTimeout",
        "SyntaxError",
        "ParserError",
        "PermissionDenied",
        "ResourceBusy",
        "ResourceExists",
        "ResourceUnavailable",
        "ReadError",
        "WriteError",
        "FromStdErr",
        "SecurityError",
        "ProtocolError",
        "ConnectionError",
        "AuthenticationError",
        "LimitsExceeded",
        "QuotaExceeded",
        "NotEnabled",
    ]
)


def _describe(engine: EngineProcess) -> dict[str, Any]:
    describe: dict[str, Any] = engine.call("rpc.describe")
    return describe


def _known_values(engine: EngineProcess, tmp_path: Path) -> dict[str, Any]:
    """Values whose content matters to the engine; every other value follows the cmdlet's type."""
    port = free_port()
    source = tmp_path / "contract.txt"
    source.write_text("contract\n")
    return {
        "urlGroup": f"http://127.0.0.1:{port}/Contract/",
        "urlSuffix": "contract.txt",
        "sourcePath": str(source),
        "remoteUrl": f"http://127.0.0.1:{port}/Contract/contract.txt",
        "localPath": str(tmp_path / "downloaded.txt"),
        "jobId": str(uuid.uuid4()),
        "yaml": engine.call("config.export")["yaml"],
        "name": "*",
        "displayName": "contract",
        # url.create: a switch; a job's files[]: what Start-BcsJob / Add-BcsFile send without -Sha256
        "sha256": ps.ByType({"boolean": True, "string": ""}),
        "userName": "contract",
        "password": "contract-secret",
        "customHeaders": ["X-Bcs-Contract: 1"],
        "proxyList": ["http://127.0.0.1:9/"],
        "proxyBypass": ["localhost"],
        "caBundle": str(tmp_path / "ca.pem"),
        "clientCertificate": str(tmp_path / "client.pem"),
        "maxUrlGroups": 25,
        "timeout": 0,
        "suspended": True,
    }


def _ssl_known_values(tmp_path: Path) -> dict[str, Any]:
    """Values for the sslcert.* methods: a real PEM certificate and key, and a free port.

    ``clientCertificate`` is a file path for job.create/job.set but the client-certificate mode
    (Ignore, Accept, Require) for sslcert.set, so these override ``_known_values`` there.
    """
    pki = make_pki(tmp_path / "pki")
    return {
        "port": free_port(),
        "certificatePath": str(pki["server_cert"]),
        "keyPath": str(pki["server_key"]),
        "clientCertificate": "Require",
        "trustedCaPath": str(pki["ca"]),
    }


def _calls(functions: dict[str, ps.Function]) -> list[tuple[ps.Function, ps.RpcCall]]:
    return [
        (f, call) for f in functions.values() if f.name != "Invoke-BcsRpc" for call in f.rpc_calls(functions)
    ]


def _result_matches(result: Any, declared: str) -> bool:
    if declared == "null":
        return result is None
    if declared.endswith("[]"):
        return isinstance(result, list) and all(isinstance(item, dict) for item in result)
    return isinstance(result, dict)


def _answer_problems(
    where: str, request: dict[str, Any], answer: dict[str, Any], declared_result: str
) -> list[str]:
    """What would break Invoke-BcsRpc (or mean the cmdlet drifted) in one answer."""
    if answer.get("id") != request["id"]:
        return [f"{where}: answer id {answer.get('id')} != {request['id']}"]
    if "error" not in answer:
        if _result_matches(answer.get("result"), declared_result):
            return []
        return [f"{where}: result {json.dumps(answer.get('result'))[:120]} is not a {declared_result}"]
    error = answer["error"]
    code = error.get("code")
    if code in PROTOCOL_ERRORS:
        return [
            f"{where}: {PROTOCOL_ERRORS[code]} ({code}): {error.get('message')} for {json.dumps(request['params'])[:300]}"
        ]
    data = error.get("data") or {}
    problems = []
    missing = {"hresult", "name", "category", "errorId", "transient", "target"} - set(data)
    if missing:
        problems.append(f"{where}: error.data lacks {sorted(missing)}")
    if not re.fullmatch(r"Bcs\.[A-Za-z]+\.[A-Za-z]+", str(data.get("errorId"))):
        problems.append(f"{where}: errorId {data.get('errorId')!r} is not Bcs.<Noun>.<Reason>")
    if data.get("category") not in ERROR_CATEGORIES:
        problems.append(f"{where}: category {data.get('category')!r} is not an ErrorCategory")
    if not re.fullmatch(r"0x[0-9A-F]{8}", str(data.get("hresult"))):
        problems.append(f"{where}: hresult {data.get('hresult')!r} is not 0xXXXXXXXX")
    return problems


def test_every_rpc_call_of_the_cmdlets_names_a_described_method_with_declared_params(
    engine: EngineProcess,
) -> None:
    assert ps.contract_problems(ps.module_functions(), _describe(engine)) == []


def test_every_method_in_rpc_describe_has_its_cmdlet(engine: EngineProcess) -> None:
    assert ps.coverage_problems(ps.module_functions(), _describe(engine)) == []


def test_contract_check_fails_for_a_drifted_parameter_name_type_and_method(engine: EngineProcess) -> None:
    (drifted,) = ps.functions_in(FIXTURES / "Set-BcsUrlGroup.ps1")
    problems = ps.contract_problems({drifted.name: drifted}, _describe(engine))
    assert any("'connectionLimits' is not a parameter of urlgroup.set" in p for p in problems), problems
    assert any("bandwidthLimit is sent as string, declared integer" in p for p in problems), problems
    assert any("'urlgroup.update' is not in rpc.describe" in p for p in problems), problems
    assert all(p.startswith("tests/powershell_fixtures/Set-BcsUrlGroup.ps1:") for p in problems)


def test_contract_check_reads_the_fields_of_an_object_parameter_and_fails_for_drifted_ones(
    engine: EngineProcess,
) -> None:
    """The ldap object of auth.set: field names, their JSON types and required fields are checked
    against rpc.describe's ``fields`` as the params' own keys are."""
    (drifted,) = ps.functions_in(FIXTURES / "Set-BcsAuthenticationDrift.ps1")
    problems = ps.contract_problems({drifted.name: drifted}, _describe(engine))
    fixture = "tests/powershell_fixtures/Set-BcsAuthenticationDrift.ps1"
    expected = [
        f"{fixture}:53: Set-BcsAuthenticationDrift auth.set: ldap field 'bindPwd' is not declared",
        f"{fixture}:56: Set-BcsAuthenticationDrift auth.set: ldap field 'baseDN' is not declared",
        f"{fixture}:59: Set-BcsAuthenticationDrift auth.set: ldap.cacheSeconds is sent as string, declared integer",
        f"{fixture}:50: Set-BcsAuthenticationDrift auth.set: required ldap.bindUser is only sent conditionally",
    ]
    assert len(problems) == len(expected), problems
    for start in expected:
        assert any(p.startswith(start) for p in problems), (start, problems)
    # The module's own Set-BcsAuthentication sends every field the reader finds, typed as declared.
    functions = ps.module_functions()
    f = functions["Set-BcsAuthentication"]
    (call,) = f.rpc_calls(functions)
    shapes = [ps.value_shape(f, k, functions) for k in call.keys if k.key == "ldap"]
    assert [s.json_type for s in shapes] == ["object", "object"]
    assert [s.fields for s in shapes] == [
        set(),  # -RemoveLdap: @{}
        {"url", "bindUser", "bindPassword", "baseDn", "caPath", "cacheSeconds"},
    ]
    assert {name: s.json_type for name, s in shapes[1].field_shapes.items()} == {
        "url": "string",
        "bindUser": "string",
        "bindPassword": "string",
        "baseDn": "string",
        "caPath": "string",
        "cacheSeconds": "integer",
    }


def test_an_empty_object_is_accepted_only_where_rpc_describe_declares_empty_removes(
    engine: EngineProcess,
) -> None:
    describe = _describe(engine)
    functions = ps.module_functions()
    assert ps.contract_problems(functions, describe) == []
    (ldap,) = [p for p in ps.methods_by_name(describe)["auth.set"]["params"] if p["name"] == "ldap"]
    assert ldap["emptyRemoves"] is True
    del ldap["emptyRemoves"]
    problems = ps.contract_problems(functions, describe)
    assert len(problems) == 2, problems
    for field in ("url", "bindUser"):
        assert any(
            f"ldap lacks required field {field!r} (@{{}} is not declared emptyRemoves)" in p for p in problems
        ), problems


def test_a_drifted_object_field_is_sent_and_rejected_by_the_engine_with_invalid_params(
    engine: EngineProcess, tmp_path: Path
) -> None:
    (drifted,) = ps.functions_in(FIXTURES / "Set-BcsAuthenticationDrift.ps1")
    (call,) = drifted.rpc_calls()
    method = ps.methods_by_name(_describe(engine))["auth.set"]
    params = ps.sample_params(drifted, call, method, ps.module_functions(), _known_values(engine, tmp_path))
    assert set(params) == {"ldap"}
    assert set(params["ldap"]) == {"url", "bindUser", "bindPwd", "baseDN", "cacheSeconds"}
    with engine.client() as client:
        answer = client.request({"jsonrpc": "2.0", "id": 1, "method": "auth.set", "params": params})
    assert answer["error"]["code"] == -32602
    assert "parameter 'ldap' has unknown field" in answer["error"]["message"]
    assert engine.call("auth.get")["ldap"] is None


# The keys Add-BcsJobSetting assigns to the params of job.create and job.set, and the JSON type each
# gets from the helper's parameter declarations.
JOB_SETTING_KEYS = {
    "description": "string",
    "credentials": "array",
    "proxyUsage": "string",
    "proxyList": "array",
    "proxyBypass": "array",
    "minimumRetryDelay": "integer",
    "noProgressTimeout": "integer",
    "maxDownloadTime": "integer",
    "customHeaders": "array",
    "securityFlags": "integer",
    "caBundle": "string",
    "clientCertificate": "string",
    "bandwidthLimit": "integer",
    "dynamic": "boolean",
}


@pytest.mark.parametrize(("cmdlet", "method"), [("Start-BcsJob", "job.create"), ("Set-BcsJob", "job.set")])
def test_the_job_settings_the_helper_assigns_are_read_as_keys_of_the_cmdlets_call(
    engine: EngineProcess, cmdlet: str, method: str
) -> None:
    functions = ps.module_functions()
    f = functions[cmdlet]
    (call,) = [c for c in f.rpc_calls(functions) if c.method == method]
    helper = functions["Add-BcsJobSetting"]
    from_helper = {k.key: ps.value_shape(f, k, functions).json_type for k in call.keys if k.owner is helper}
    assert from_helper == JOB_SETTING_KEYS
    declared = {p["name"]: p["type"] for p in ps.methods_by_name(_describe(engine))[method]["params"]}
    assert {k: declared.get(k) for k in JOB_SETTING_KEYS} == JOB_SETTING_KEYS
    # Without the module's functions the reader sees only the cmdlet's own keys.
    assert not set(JOB_SETTING_KEYS) & {k.key for c in f.rpc_calls() for k in c.keys}


def _drifted_job_functions() -> tuple[ps.Function, dict[str, ps.Function]]:
    (caller,) = ps.functions_in(FIXTURES / "Set-BcsJobDrift.ps1")
    (helper,) = ps.functions_in(FIXTURES / "private" / "Add-BcsJobDrift.ps1")
    return caller, {**ps.module_functions(), caller.name: caller, helper.name: helper}


def test_contract_check_fails_for_a_key_a_private_helper_drifted_typed_in_the_helper(
    engine: EngineProcess,
) -> None:
    _, functions = _drifted_job_functions()
    problems = ps.contract_problems(functions, _describe(engine))  # the module itself is clean
    helper_file = "tests/powershell_fixtures/private/Add-BcsJobDrift.ps1"
    assert any(
        p.startswith(
            f"{helper_file}:55: Add-BcsJobDrift (via Set-BcsJobDrift) job.set: key 'retryDelay' is not a parameter"
        )
        for p in problems
    ), problems
    # Set-BcsJobDrift declares [long]$BandwidthLimit; the helper's [string] is what goes out.
    assert any(
        p.startswith(f"{helper_file}:58:") and "bandwidthLimit is sent as string, declared integer" in p
        for p in problems
    ), problems
    assert len(problems) == 2, problems


def test_a_drifted_helper_key_is_sent_and_rejected_by_the_engine_with_invalid_params(
    engine: EngineProcess, tmp_path: Path
) -> None:
    caller, functions = _drifted_job_functions()
    (call,) = caller.rpc_calls(functions)
    method = ps.methods_by_name(_describe(engine))["job.set"]
    params = ps.sample_params(
        caller, call, method, functions, _known_values(engine, tmp_path), only={"retryDelay"}
    )
    assert set(params) == {"jobId", "retryDelay"}
    with engine.client() as client:
        answer = client.request({"jsonrpc": "2.0", "id": 1, "method": "job.set", "params": params})
    assert answer["error"]["code"] == -32602
    assert "retryDelay" in answer["error"]["message"]


def test_coverage_check_fails_when_a_method_has_no_cmdlet(engine: EngineProcess) -> None:
    functions = ps.module_functions()
    del functions["Wait-BcsJob"]
    assert any(
        p.startswith("job.wait: its cmdlet Wait-BcsJob")
        for p in ps.coverage_problems(functions, _describe(engine))
    )


@pytest.mark.parametrize("every_key", [True, False], ids=["all-parameters", "mandatory-only"])
def test_the_json_each_cmdlet_builds_passes_the_engine_validation(
    engine: EngineProcess, tmp_path: Path, every_key: bool
) -> None:
    methods = ps.methods_by_name(_describe(engine))
    functions = ps.module_functions()
    known = _known_values(engine, tmp_path)
    ssl_known = {**known, **_ssl_known_values(tmp_path)}
    problems: list[str] = []
    sent = 0
    with engine.client() as client:
        for request_id, (f, call) in enumerate(_calls(functions), start=1):
            if call.method == "server.stop":
                continue  # test_stop_server_json_stops_the_engine
            assert call.method is not None
            method = methods[call.method]
            values = ssl_known if call.method.startswith("sslcert.") else known
            params = ps.sample_params(f, call, method, functions, values, every_key=every_key)
            request = {"jsonrpc": "2.0", "id": request_id, "method": call.method, "params": params}
            answer = client.request(request)
            problems += _answer_problems(
                f"{f.line_of(call.node)} {f.name} {call.method}", request, answer, method["result"]
            )
            sent += 1
    assert sent >= 25
    assert problems == []


def test_a_drifted_cmdlet_json_is_rejected_by_the_engine_with_invalid_params(
    engine: EngineProcess, tmp_path: Path
) -> None:
    (drifted,) = ps.functions_in(FIXTURES / "Set-BcsUrlGroup.ps1")
    call = next(c for c in drifted.rpc_calls() if c.method == "urlgroup.set")
    method = ps.methods_by_name(_describe(engine))["urlgroup.set"]
    params = ps.sample_params(drifted, call, method, ps.module_functions(), _known_values(engine, tmp_path))
    assert "connectionLimits" in params
    with engine.client() as client:
        answer = client.request({"jsonrpc": "2.0", "id": 1, "method": "urlgroup.set", "params": params})
        problems = _answer_problems("fixture", {"id": 1, "params": params}, answer, method["result"])
    assert answer["error"]["code"] == -32602
    assert "connectionLimits" in answer["error"]["message"]
    assert problems and "invalid params" in problems[0]


def _pascal(name: str) -> str:
    return name[:1].upper() + name[1:]


def _view_properties(type_name: str) -> list[str]:
    tree = ET.parse(ps.ROOT / "BitsCompactServer.Format.ps1xml")
    for view in tree.getroot().iter("View"):
        if view.findtext("ViewSelectedBy/TypeName") == type_name:
            return [p.text or "" for p in view.iter("PropertyName")]
    raise AssertionError(f"no view for {type_name}")


def _computed_properties(type_name: str) -> set[str]:
    tree = ET.parse(ps.ROOT / "BitsCompactServer.Types.ps1xml")
    for t in tree.getroot().iter("Type"):
        if t.findtext("Name") == type_name:
            return {m.findtext("Name") or "" for m in t.find("Members") or []}
    return set()


def test_set_bcsserver_json_changes_settings_and_the_server_view_finds_its_columns(
    engine: EngineProcess,
) -> None:
    functions = ps.module_functions()
    f = functions["Set-BcsServer"]
    (call,) = f.rpc_calls()
    method = ps.methods_by_name(_describe(engine))["server.set"]
    params = ps.sample_params(
        f,
        call,
        method,
        functions,
        {
            "maxUrlGroups": 40,
            "bandwidthLimit": 2048,
            "accessLog": False,
            "accessLogFormat": "json",
            "metricsPort": 0,
            "metricsAddress": "127.0.0.1",
        },
    )
    assert set(params) == {
        "maxUrlGroups",
        "bandwidthLimit",
        "accessLog",
        "accessLogFormat",
        "metricsPort",
        "metricsAddress",
        "backgroundJobSlots",
        "jobBandwidthLimit",
    }
    result = engine.call("server.set", **params)
    assert result["maxUrlGroups"] == 40 and result["bandwidthLimit"] == 2048 and result["accessLog"] is False
    assert result["accessLogFormat"] == "json"
    (status_call,) = functions["Get-BcsServer"].rpc_calls()
    status = engine.call(status_call.method or "")
    assert status["maxUrlGroups"] == 40
    properties = {_pascal(k) for k in status} | _computed_properties("Bcs.Server")
    assert set(_view_properties("Bcs.Server")) <= properties


def test_export_then_import_configuration_json_round_trips(engine: EngineProcess) -> None:
    functions = ps.module_functions()
    (export_call,) = functions["Export-BcsConfiguration"].rpc_calls()
    exported = engine.call(export_call.method or "")
    assert isinstance(exported["yaml"], str) and exported["yaml"]
    f = functions["Import-BcsConfiguration"]
    (import_call,) = f.rpc_calls()
    method = ps.methods_by_name(_describe(engine))[import_call.method or ""]
    params = ps.sample_params(f, import_call, method, functions, {"yaml": exported["yaml"]})
    assert params == {"yaml": exported["yaml"]}
    imported = engine.call(import_call.method or "", **params)
    assert imported["config"] == exported["config"]


def test_import_configuration_json_with_a_bad_setting_gives_an_error_record_source(
    engine: EngineProcess,
) -> None:
    bad = "version: 1\nserver:\n  maxUrlGroups: 0\nurlGroups: []\n"
    with engine.client() as client:
        answer = client.request(
            {"jsonrpc": "2.0", "id": 7, "method": "config.import", "params": {"yaml": bad}}
        )
    assert answer["error"]["code"] == -32000
    data = answer["error"]["data"]
    assert data["errorId"].startswith("Bcs.") and data["category"] in ERROR_CATEGORIES
    assert "maxUrlGroups" in answer["error"]["message"]


def test_stop_server_reads_the_engine_pid_then_stops_the_engine_whose_process_exits(
    engine: EngineProcess,
) -> None:
    # Stop-BcsServer waits for the process whose pid server.status reports, not for the pipe.
    calls = ps.module_functions()["Stop-BcsServer"].rpc_calls()
    assert [(c.method, c.keys) for c in calls] == [("server.status", []), ("server.stop", [])]
    assert engine.proc is not None
    assert engine.call("server.status")["pid"] == engine.proc.pid
    assert engine.call("server.stop") == {"stopping": True, "pid": engine.proc.pid}
    assert engine.proc.wait(20) == 0


class CmdletJson:
    """Sends what a cmdlet's Invoke-BcsRpc call sends, built from the cmdlet's syntax tree."""

    def __init__(self, engine: EngineProcess, known: dict[str, Any]) -> None:
        self.functions = ps.module_functions()
        self.methods = ps.methods_by_name(_describe(engine))
        self.known = known
        self.client = engine.client()
        self.ids = 0

    def params(
        self,
        cmdlet: str,
        method: str,
        bound: set[str] | None = None,
        drop: frozenset[str] = frozenset(),
        **values: Any,
    ) -> dict[str, Any]:
        """The params of one invocation; ``drop`` removes the keys of another parameter set."""
        f = self.functions[cmdlet]
        call = next(c for c in ps.reachable_calls(f, self.functions) if c.method == method)
        owner = next(g for g in self.functions.values() if any(c.node == call.node for c in g.rpc_calls()))
        known = {**self.known, **values}
        params = ps.sample_params(
            owner, call, self.methods[method], self.functions, known, only=bound or set()
        )
        return {k: v for k, v in params.items() if k not in drop}

    def send(
        self,
        cmdlet: str,
        method: str,
        bound: set[str] | None = None,
        drop: frozenset[str] = frozenset(),
        **values: Any,
    ) -> Any:
        params = self.params(cmdlet, method, bound, drop, **values)
        self.ids += 1
        answer = self.client.request({"jsonrpc": "2.0", "id": self.ids, "method": method, "params": params})
        assert "error" not in answer, f"{cmdlet} {method} {params}: {answer.get('error')}"
        problems = _answer_problems(
            cmdlet, {"id": self.ids, "params": params}, answer, self.methods[method]["result"]
        )
        assert problems == []
        return answer["result"]


def _assert_view_columns_present(type_name: str, result: dict[str, Any]) -> None:
    properties = {_pascal(k) for k in result} | _computed_properties(type_name)
    missing = set(_view_properties(type_name)) - properties
    assert not missing, f"{type_name} view columns missing from the engine's object: {missing}"


def test_cmdlet_json_runs_the_hello_world_walkthrough_on_a_real_engine(
    engine: EngineProcess, tmp_path: Path
) -> None:
    port = free_port()
    group = f"http://127.0.0.1:{port}/Demo/"
    source = tmp_path / "hello.txt"
    source.write_bytes(b"Hello, BITS Compact Server!\n" * 4096)
    second = tmp_path / "second.txt"
    second.write_bytes(b"second file\n")
    known = _known_values(engine, tmp_path)
    known.update(urlGroup=group, urlSuffix="hello.txt", sourcePath=str(source), authentication=[])
    bcs = CmdletJson(engine, known)
    try:
        created = bcs.send("New-BcsUrlGroup", "urlgroup.create")
        assert created["urlGroup"] == group
        _assert_view_columns_present("Bcs.UrlGroup", created)
        url = bcs.send("Add-BcsUrl", "url.create")
        _assert_view_columns_present("Bcs.Url", url)
        bcs.send("Add-BcsUrl", "url.create", urlSuffix="second.txt", sourcePath=str(second))
        assert {u["urlSuffix"] for u in bcs.send("Get-BcsUrl", "url.list")} == {"hello.txt", "second.txt"}
        assert [g["urlGroup"] for g in bcs.send("Get-BcsUrlGroup", "urlgroup.list")] == [group]
        assert bcs.send("Get-BcsUrlGroup", "urlgroup.get", urlGroup=group)["urlGroup"] == group
        changed = bcs.send(
            "Set-BcsUrlGroup", "urlgroup.set", {"connectionLimit", "bandwidthLimit"}, connectionLimit=5
        )
        assert changed["connectionLimit"] == 5

        (tmp_path / "out").mkdir()
        # Start-BcsJob -Suspended, then Add-BcsFile, Set-BcsJob, Resume-BcsJob, the wait loop, Complete.
        job = bcs.send(
            "Start-BcsJob",
            "job.create",
            remoteUrl=group + "hello.txt",
            localPath=str(tmp_path / "out" / "hello.txt"),
            suspended=True,
            displayName="HelloWorld",
        )
        assert job["jobState"] == "Suspended" and job["displayName"] == "HelloWorld"
        _assert_view_columns_present("Bcs.Job", job)
        bcs.known["jobId"] = job["jobId"]
        assert job["jobId"] in [j["jobId"] for j in bcs.send("Get-BcsJob", "job.list")]
        assert bcs.send("Get-BcsJob", "job.get")["jobId"] == job["jobId"]
        added = bcs.send(
            "Add-BcsFile",
            "job.addFile",
            remoteUrl=group + "second.txt",
            localPath=str(tmp_path / "out" / "second.txt"),
        )
        assert added["filesTotal"] == 2
        job = bcs.send(
            "Set-BcsJob",
            "job.set",
            {"description", "priority", "customHeaders", "credentials"},
            description="walkthrough",
            scheme="Negotiate",
        )
        assert job["description"] == "walkthrough" and job["priority"] == "Foreground"
        assert "contract-secret" not in json.dumps(job)
        bcs.send("Resume-BcsJob", "job.resume")
        change_count = 0
        for _ in range(100):
            job = bcs.send("Wait-BcsJob", "job.wait", changeCount=change_count, timeout=5)
            change_count = job["changeCount"]
            if job["jobState"] in ("Transferred", "Error"):
                break
        assert job["jobState"] == "Transferred", job
        assert job["bytesTransferred"] == job["bytesTotal"] == source.stat().st_size + second.stat().st_size
        done = bcs.send("Complete-BcsJob", "job.complete")
        assert done["jobState"] == "Acknowledged"
        assert (tmp_path / "out" / "hello.txt").read_bytes() == source.read_bytes()
        assert (tmp_path / "out" / "second.txt").read_bytes() == second.read_bytes()

        # A job that is suspended, then cancelled (Suspend-BcsJob, Remove-BcsJob).
        other = bcs.send(
            "Start-BcsJob",
            "job.create",
            remoteUrl=group + "hello.txt",
            localPath=str(tmp_path / "other.txt"),
            suspended=False,
        )
        bcs.known["jobId"] = other["jobId"]
        assert bcs.send("Suspend-BcsJob", "job.suspend")["jobState"] in ("Suspended", "Transferred")
        assert bcs.send("Remove-BcsJob", "job.cancel")["jobState"] == "Cancelled"
        assert not (tmp_path / "other.txt").exists()

        assert bcs.send("Remove-BcsUrl", "url.delete", urlSuffix="second.txt") is None
        assert bcs.send("Remove-BcsUrlGroup", "urlgroup.delete") is None
        assert bcs.send("Get-BcsUrlGroup", "urlgroup.list") == []
    finally:
        bcs.client.close()


def test_every_engine_error_maps_to_a_powershell_error_category_and_error_id() -> None:
    # New-BcsErrorRecord falls back to NotSpecified for an unknown category: keep the engine's valid.
    from bcs.errors import BcsError, codes

    for row in codes():
        assert row.category in ERROR_CATEGORIES, f"{row.name}: {row.category}"
        assert re.fullmatch(r"[A-Za-z]+", row.reason), f"{row.name}: {row.reason}"
        error = BcsError(row, "x", noun="Job")
        assert re.fullmatch(r"0x[0-9A-F]{8}", error.to_data()["hresult"])


def test_a_failed_job_carries_the_error_fields_the_synchronous_cmdlets_report(
    engine: EngineProcess, tmp_path: Path
) -> None:
    # Complete-BcsJobTransfer builds its ErrorRecord from errorCode, errorName and errorDescription.
    source = (ps.ROOT / "cmdlets" / "private" / "Complete-BcsJobTransfer.ps1").read_text()
    for field in ("errorCode", "errorName", "errorDescription", "jobState", "jobId"):
        assert f"$job.{field}" in source
    group = f"http://127.0.0.1:{free_port()}/Fail/"
    known = _known_values(engine, tmp_path)
    known.update(urlGroup=group, authentication=[])
    bcs = CmdletJson(engine, known)
    try:
        bcs.send("New-BcsUrlGroup", "urlgroup.create")
        job = bcs.send(
            "Start-BcsJob",
            "job.create",
            remoteUrl=group + "missing.txt",
            localPath=str(tmp_path / "m.txt"),
            suspended=False,
        )
        bcs.known["jobId"] = job["jobId"]
        change_count = 0
        for _ in range(60):
            job = bcs.send("Start-BcsJob", "job.wait", changeCount=change_count, timeout=5)
            change_count = job["changeCount"]
            if job["jobState"] == "Error":
                break
        assert job["jobState"] == "Error", job
        assert re.fullmatch(r"0x[0-9A-F]{8}", job["errorCode"]), job["errorCode"]
        assert job["errorName"] and job["errorDescription"]
        assert bcs.send("Remove-BcsJob", "job.cancel")["jobState"] == "Cancelled"
    finally:
        bcs.client.close()


def test_ssl_certificate_cmdlets_json_binds_gets_lists_and_removes_a_certificate(
    engine: EngineProcess, tmp_path: Path
) -> None:
    import datetime

    from cryptography import x509

    known = {**_known_values(engine, tmp_path), **_ssl_known_values(tmp_path)}
    port = known["port"]
    cert = x509.load_pem_x509_certificate(Path(known["certificatePath"]).read_bytes())
    bcs = CmdletJson(engine, known)
    try:
        # Two parameter sets: Files (the default) and Store. The reader of the cmdlet does not follow
        # sets, so a sample holds the keys of both; each set's request drops the other set's keys.
        store_keys = frozenset({"thumbprint", "storeLocation", "storeName"})
        file_keys = frozenset({"certificatePath", "keyPath", "keyPassword"})
        minimal = bcs.params("Set-BcsSslCertificate", "sslcert.set")
        assert set(minimal) == {"port", "thumbprint"}  # mandatory -Thumbprint; the paths are conditional
        every = bcs.params("Set-BcsSslCertificate", "sslcert.set", set(store_keys | file_keys))
        assert set(every) == {"port"} | store_keys | file_keys
        store_request = bcs.params(
            "Set-BcsSslCertificate", "sslcert.set", set(store_keys), file_keys, thumbprint="AB" * 20
        )
        answer = bcs.client.request(
            {"jsonrpc": "2.0", "id": 98, "method": "sslcert.set", "params": store_request}
        )
        assert answer["error"]["data"]["name"] == "CRYPT_E_NOT_FOUND", answer  # not in CurrentUser\My
        assert (
            _answer_problems("sslcert.set", {"id": 98, "params": store_request}, answer, "SslCertificate")
            == []
        )
        bound = bcs.send(
            "Set-BcsSslCertificate",
            "sslcert.set",
            {"certificatePath", "keyPath", "clientCertificate", "trustedCaPath"},
            store_keys,
        )
        assert bound["port"] == port and bound["clientCertificate"] == "Require"
        assert bound["certificatePath"] == known["certificatePath"] and bound["keyPath"] == known["keyPath"]
        assert bound["trustedCaPath"] == known["trustedCaPath"]
        assert "localhost" in bound["subject"] and bound["thumbprint"]
        assert isinstance(bound["listening"], bool) and isinstance(bound["daysToExpiry"], int)
        _assert_view_columns_present("Bcs.SslCertificate", bound)
        # ConvertTo-BcsObject turns a string of this form into a UTC [datetime] in both editions.
        settings = (ps.ROOT / "cmdlets" / "private" / "ModuleSettings.ps1").read_text()
        pattern = re.search(r"\$script:BcsDateTimePattern = '([^']+)'", settings)
        assert pattern is not None
        for name, expected in (
            ("notBefore", cert.not_valid_before_utc),
            ("notAfter", cert.not_valid_after_utc),
        ):
            value = bound[name]
            assert value.endswith("Z") and re.fullmatch(pattern.group(1), value), (name, value)
            parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
            assert abs((parsed - expected).total_seconds()) < 1, (name, value, expected)

        assert bcs.send("Get-BcsSslCertificate", "sslcert.get")["port"] == port
        assert [c["port"] for c in bcs.send("Get-BcsSslCertificate", "sslcert.list")] == [port]
        assert bcs.send("Remove-BcsSslCertificate", "sslcert.delete") is None
        assert bcs.send("Get-BcsSslCertificate", "sslcert.list") == []
        # Get-BcsSslCertificate -Port of an unbound port gets an engine error it can make a record of.
        request = {"jsonrpc": "2.0", "id": 99, "method": "sslcert.get", "params": {"port": port}}
        answer = bcs.client.request(request)
        assert "error" in answer, answer
        assert _answer_problems("sslcert.get", request, answer, "SslCertificate") == []
    finally:
        bcs.client.close()


def test_authentication_cmdlets_json_sets_gets_and_removes_settings(
    engine: EngineProcess, tmp_path: Path
) -> None:
    from auth_support import write_ntlm_users

    users = write_ntlm_users(tmp_path / "ntlm-users", "BCS:alice:Alice-pw1")
    domain = "S-1-5-21-1000-2000-3000"
    principal = {"name": "BCS\\alice", "sid": f"{domain}-1001", "groups": [f"{domain}-2001"]}
    known = {
        **_known_values(engine, tmp_path),
        "ntlmUserFile": str(users),
        "keytabPath": "",
        "principals": [principal],
        "url": "ldaps://127.0.0.1:1",
        "bindUser": "svc-bcs@corp.example",
        "bindPassword": "Not-the-pw1",
        "baseDn": "DC=corp,DC=example",
        "caPath": "",
    }
    bcs = CmdletJson(engine, known)
    try:
        # Set-BcsAuthentication -KeytabPath '' -NtlmUserFile ... -Principal 'BCS\alice=...:...'
        assert set(bcs.params("Set-BcsAuthentication", "auth.set")) == set()  # nothing is mandatory
        got = bcs.send("Set-BcsAuthentication", "auth.set", {"keytabPath", "ntlmUserFile", "principals"})
        assert got["ntlmUserFile"] == str(users) and got["principals"] == [principal]
        assert got["resolvesSids"] is True
        _assert_view_columns_present("Bcs.Authentication", got)
        assert bcs.send("Get-BcsAuthentication", "auth.get") == got
        # -LdapUrl -LdapCredential ... -LdapCacheSeconds: the whole ldap object; the DC is unreachable
        request = bcs.params("Set-BcsAuthentication", "auth.set", {"ldap"})
        assert set(request["ldap"]) == {"url", "bindUser", "bindPassword", "baseDn", "caPath", "cacheSeconds"}
        answer = bcs.client.request({"jsonrpc": "2.0", "id": 90, "method": "auth.set", "params": request})
        assert answer["error"]["data"]["name"] == "ERROR_DS_UNAVAILABLE", answer
        assert _answer_problems("auth.set", {"id": 90, "params": request}, answer, "AuthSettings") == []
        assert "Not-the-pw1" not in json.dumps(answer)
        # -RemoveLdap sends {}; -ClearPrincipals sends []
        removed = bcs.send(
            "Set-BcsAuthentication", "auth.set", {"ldap", "principals"}, ldap={}, principals=[]
        )
        assert removed["ldap"] is None and removed["principals"] == [] and removed["resolvesSids"] is False
    finally:
        bcs.client.close()
