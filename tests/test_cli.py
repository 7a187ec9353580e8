"""The ``bcs`` command line against a real engine: output forms and exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bcs.cli.render import render
from bcs.rpc.transport import pipe_path
from conftest import EngineProcess
from pipe_impostor import NOBODY, Impostor, can_switch_uid


def bcs(*args: str, stdin: str | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = None
    if cwd is not None:  # run elsewhere: the bcs package must still be found
        engine_dir = str(Path(__file__).resolve().parent.parent / "engine")
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([engine_dir, os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(
        [sys.executable, "-m", "bcs", *args],
        capture_output=True,
        text=True,
        timeout=60,
        input=stdin,
        cwd=cwd,
        env=env,
    )


def test_status_prints_aligned_fields(engine: EngineProcess) -> None:
    out = bcs("--pipe-name", engine.pipe_name, "status")
    assert out.returncode == 0, out.stderr
    assert f"pipeName           : {engine.pipe_name}" in out.stdout


def test_json_option_prints_the_result_as_json(engine: EngineProcess) -> None:
    out = bcs("--pipe-name", engine.pipe_name, "--json", "server", "status")
    assert out.returncode == 0
    assert json.loads(out.stdout)["pipeName"] == engine.pipe_name


def test_global_options_also_work_after_the_subcommand(engine: EngineProcess) -> None:
    out = bcs("status", "--pipe-name", engine.pipe_name, "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["pipeName"] == engine.pipe_name


def test_generated_options_are_typed_and_sent(engine: EngineProcess) -> None:
    out = bcs(
        "--pipe-name",
        engine.pipe_name,
        "--json",
        "server",
        "set",
        "--max-url-groups",
        "60",
        "--no-access-log",
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert (result["maxUrlGroups"], result["accessLog"]) == (60, False)


def test_engine_error_exits_1_with_message_and_hresult(engine: EngineProcess, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("server:\n  maxUrlGroups: -4\n")
    out = bcs("--pipe-name", engine.pipe_name, "config", "import", str(bad))
    assert out.returncode == 1
    assert "server.maxUrlGroups: must be between 1 and 100000" in out.stderr
    assert "(E_INVALIDARG 0x80070057)" in out.stderr


def test_bad_usage_exits_2(engine: EngineProcess) -> None:
    out = bcs("--pipe-name", engine.pipe_name, "server", "set", "--max-url-groups", "many")
    assert out.returncode == 2
    assert "invalid int value" in out.stderr


def test_no_engine_exits_3_and_says_how_to_start_one() -> None:
    out = bcs("--pipe-name", "bcs-test-nothing-here", "status")
    assert out.returncode == 3
    assert "Start one with `bcs serve`" in out.stderr


def test_config_export_to_file_and_import_back(engine: EngineProcess, tmp_path: Path) -> None:
    target = tmp_path / "exported.yaml"
    assert bcs("--pipe-name", engine.pipe_name, "config", "export", "-o", str(target)).returncode == 0
    text = target.read_text()
    assert "maxUrlGroups: 25" in text
    target.write_text(text.replace("maxUrlGroups: 25", "maxUrlGroups: 26"))
    out = bcs("--pipe-name", engine.pipe_name, "config", "import", str(target))
    assert out.returncode == 0, out.stderr
    assert engine.call("server.status")["maxUrlGroups"] == 26
    out = bcs("--pipe-name", engine.pipe_name, "config", "import", "-", stdin=text)
    assert out.returncode == 0 and engine.call("server.status")["maxUrlGroups"] == 25


def test_stop_alias_stops_the_engine(engine: EngineProcess) -> None:
    assert bcs("--pipe-name", engine.pipe_name, "stop").returncode == 0
    assert engine.proc is not None and engine.proc.wait(20) == 0


def test_serve_refuses_a_second_engine_with_exit_1(engine: EngineProcess, tmp_path: Path) -> None:
    out = bcs("serve", "--pipe-name", engine.pipe_name, "--state-dir", str(tmp_path / "s2"))
    assert out.returncode == 1
    assert "already serving pipe" in out.stderr


def test_render_lists_as_tables() -> None:
    text = render([{"a": 1, "b": "x", "nested": {"n": 1}}, {"a": 22, "b": None}])
    assert text.splitlines() == ["a   b", "--  -", "1   x", "22"]
    assert render([]) == "(none)"


def test_relative_local_paths_are_resolved_against_the_callers_directory(tmp_path: Path) -> None:
    from bcs.cli.parser import absolute_paths

    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        assert absolute_paths("a/b.txt", "localPath") == str(tmp_path / "a" / "b.txt")
        files = [{"remoteUrl": "http://x/y", "localPath": "y"}]
        assert absolute_paths(files, "files") == [
            {"remoteUrl": "http://x/y", "localPath": str(tmp_path / "y")}
        ]
        assert absolute_paths("http://x/y", "remoteUrl") == "http://x/y"
    finally:
        os.chdir(cwd)


@pytest.mark.skipif(not can_switch_uid(), reason="acting as another local user (uid 65534) needs root")
def test_job_create_with_credentials_refuses_a_pipe_squatted_by_another_user(tmp_path: Path) -> None:
    name = f"bcs-test-squat-{os.getpid()}"
    path = pipe_path(name)
    impostor = Impostor(path)
    try:
        impostor.expect_connection()
        out = bcs(
            "--pipe-name",
            name,
            "job",
            "create",
            "--remote-url",
            "http://127.0.0.1:9/x",
            "--local-path",
            str(tmp_path / "x"),
            "--credentials",
            '{"scheme":"Basic","userName":"admin","password":"Cl1-Pa55word"}',
        )
        received = impostor.received()
    finally:
        impostor.close()
    assert received == b""
    assert out.returncode == 1, out.stdout
    assert f"refusing to talk to pipe '{name}' at {path}" in out.stderr
    assert f"served by uid {NOBODY} (pid " in out.stderr and "nothing was sent" in out.stderr


DOMAIN_SID = "S-1-5-21-1000-2000-3000"


def test_auth_set_takes_flat_options_and_auth_get_shows_them(engine: EngineProcess, tmp_path: Path) -> None:
    from auth_support import write_ntlm_users

    users = write_ntlm_users(tmp_path / "ntlm-users", "BCS:alice:Alice-pw1")
    out = bcs(
        "--pipe-name",
        engine.pipe_name,
        "--json",
        "auth",
        "set",
        "--ntlm-user-file",
        "ntlm-users",  # relative to the caller's directory
        "--principal",
        f"BCS\\alice={DOMAIN_SID}-1001:{DOMAIN_SID}-2001, {DOMAIN_SID}-2002",
        "--principal",
        f"bob={DOMAIN_SID}-1002",
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["ntlmUserFile"] == str(users)
    assert result["principals"] == [
        {
            "name": "BCS\\alice",
            "sid": f"{DOMAIN_SID}-1001",
            "groups": [f"{DOMAIN_SID}-2001", f"{DOMAIN_SID}-2002"],
        },
        {"name": "bob", "sid": f"{DOMAIN_SID}-1002", "groups": []},
    ]
    assert result["resolvesSids"] is True
    shown = bcs("--pipe-name", engine.pipe_name, "auth", "get")
    assert shown.returncode == 0, shown.stderr
    assert f"ntlmUserFile : {users}" in shown.stdout and "resolvesSids : true" in shown.stdout
    # what is not given stays; '' restores a default; --clear-principals empties the map
    out = bcs(
        "--pipe-name", engine.pipe_name, "--json", "auth", "set", "--keytab-path", "", "--clear-principals"
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert (result["keytabPath"], result["ntlmUserFile"], result["principals"]) == ("", str(users), [])
    # the engine's checks: a SID that is not one changes nothing
    out = bcs("--pipe-name", engine.pipe_name, "auth", "set", "--principal", "BCS\\x=S-1-bogus")
    assert out.returncode == 1 and "is not a SID" in out.stderr and "(E_INVALIDARG 0x80070057)" in out.stderr
    assert engine.call("auth.get")["principals"] == []


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            ["--remove-ldap", "--ldap-url", "ldaps://dc:636"],
            "--remove-ldap removes the directory; it cannot go with --ldap-url",
        ),
        (
            ["--ldap-base-dn", "DC=corp,DC=example"],
            "give --ldap-url and --ldap-bind-user (missing --ldap-url)",
        ),
        (["--ldap-url", "ldaps://dc:636"], "(missing --ldap-bind-user)"),
        (["--principal", f"a={DOMAIN_SID}-1", "--clear-principals"], "give one of them"),
        (["--principal", "BCS\\carol"], "is not of the form NAME=SID[:GROUPSID,...]"),
        (["--principal", f"={DOMAIN_SID}-1"], "is not of the form NAME=SID[:GROUPSID,...]"),
    ],
)
def test_auth_set_refuses_contradicting_or_incomplete_options_and_changes_nothing(
    engine: EngineProcess, options: list[str], message: str
) -> None:
    before = engine.call("auth.get")
    out = bcs("--pipe-name", engine.pipe_name, "auth", "set", *options)
    assert out.returncode == 1, out.stdout
    assert out.stderr.startswith("bcs: ") and message in out.stderr
    assert engine.call("auth.get") == before


def test_auth_set_takes_the_bind_password_only_from_standard_input(engine: EngineProcess) -> None:
    out = bcs(
        "--pipe-name",
        engine.pipe_name,
        "auth",
        "set",
        "--ldap-url",
        "ldaps://127.0.0.1:1",
        "--ldap-bind-user",
        "svc@corp.example",
        "--ldap-bind-password",
        "Secret-On-Argv1",
    )
    assert out.returncode == 2
    assert "--ldap-bind-password: takes only '-'" in out.stderr
    assert "Secret-On-Argv1" not in out.stderr + out.stdout
    # '-' with nothing on standard input
    out = bcs(
        "--pipe-name",
        engine.pipe_name,
        "auth",
        "set",
        "--ldap-url",
        "ldaps://127.0.0.1:1",
        "--ldap-bind-user",
        "svc@corp.example",
        "--ldap-bind-password",
        "-",
        stdin="",
    )
    assert out.returncode == 1 and "no password on standard input" in out.stderr
    # a directory that cannot be reached is refused by the engine's bind, and nothing changes
    out = bcs(
        "--pipe-name",
        engine.pipe_name,
        "auth",
        "set",
        "--ldap-url",
        "ldaps://127.0.0.1:1",
        "--ldap-bind-user",
        "svc@corp.example",
        "--ldap-bind-password",
        "-",
        stdin="Not-the-pw1\n",
    )
    assert out.returncode == 1 and "(ERROR_DS_UNAVAILABLE 0x8007200F)" in out.stderr
    assert "Not-the-pw1" not in out.stderr + out.stdout
    assert engine.call("auth.get")["ldap"] is None


def test_auth_set_binds_to_a_real_directory_with_the_password_from_standard_input(
    engine: EngineProcess, samba_dc: Any
) -> None:
    directory = [
        "--ldap-url",
        samba_dc.ldaps_url,
        "--ldap-bind-user",
        samba_dc.bind_user,
        "--ldap-base-dn",
        samba_dc.base_dn,
        "--ldap-ca-path",
        str(samba_dc.ca_path),
    ]
    out = bcs(
        "--pipe-name",
        engine.pipe_name,
        "--json",
        "auth",
        "set",
        *directory,
        "--ldap-cache-seconds",
        "60",
        "--ldap-bind-password",
        "-",
        stdin=samba_dc.bind_password + "\n",
    )
    assert out.returncode == 0, out.stderr
    ldap = json.loads(out.stdout)["ldap"]
    assert ldap == {
        "url": samba_dc.ldaps_url,
        "bindUser": samba_dc.bind_user,
        "bindPasswordSet": True,
        "baseDn": samba_dc.base_dn,
        "caPath": str(samba_dc.ca_path),
        "cacheSeconds": 60,
    }
    assert samba_dc.bind_password not in out.stdout + out.stderr
    assert samba_dc.bind_password not in (engine.state_dir / "config.yaml").read_text()
    # a wrong password is refused by the directory, and the stored one stays
    out = bcs(
        "--pipe-name",
        engine.pipe_name,
        "auth",
        "set",
        *directory,
        "--ldap-bind-password",
        "-",
        stdin="Wrong-pw-1\n",
    )
    assert out.returncode == 1 and "(ERROR_DS_UNAVAILABLE 0x8007200F)" in out.stderr
    assert engine.call("auth.get")["ldap"]["cacheSeconds"] == 60
    # without --ldap-bind-password the stored password binds again
    out = bcs(
        "--pipe-name", engine.pipe_name, "--json", "auth", "set", *directory, "--ldap-cache-seconds", "120"
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["ldap"]["cacheSeconds"] == 120
    out = bcs("--pipe-name", engine.pipe_name, "--json", "auth", "set", "--remove-ldap")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["ldap"] is None
    assert samba_dc.bind_password not in (engine.state_dir / "secrets.json").read_text()


def test_parse_principal_splits_at_the_first_equals_and_colon() -> None:
    from bcs.cli.auth import parse_principal

    assert parse_principal(f" CORP\\alice = {DOMAIN_SID}-1001 : {DOMAIN_SID}-2001 ,, {DOMAIN_SID}-2002 ") == {
        "name": "CORP\\alice",
        "sid": f"{DOMAIN_SID}-1001",
        "groups": [f"{DOMAIN_SID}-2001", f"{DOMAIN_SID}-2002"],
    }
    assert parse_principal(f"alice@corp.example={DOMAIN_SID}-1001:")["groups"] == []
