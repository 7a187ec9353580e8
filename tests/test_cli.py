"""The ``bcs`` command line against a real engine: output forms and exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bcs.cli.render import render
from bcs.rpc.transport import pipe_path
from conftest import EngineProcess
from pipe_impostor import NOBODY, Impostor, can_switch_uid


def bcs(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bcs", *args], capture_output=True, text=True, timeout=60, input=stdin
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
