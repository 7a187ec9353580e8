"""JSON-RPC lines that used to break the engine (issue #11, section 2), against a real engine.

Lone surrogates, non-finite numbers, deep nesting, huge integers, config.import bypassing the
url.create rules, and log floods: each is refused with an answer that names the parameter or the
setting, and the connection serves the next line as usual.
"""

from __future__ import annotations

import http.client
import json
import logging
import time
from pathlib import Path
from typing import Any

import pytest

from bcs.rpc.protocol import INTERNAL_ERROR, Dispatcher, RejectionLog
from bcs.rpc.registry import CallContext, Method, MethodRegistry
from conftest import EngineProcess
from test_rpc_pipe import RawPipe, assert_usable

GROUP = "http://127.0.0.1:{port}/Bad/"


@pytest.fixture
def raw(engine: EngineProcess) -> Any:
    pipe = RawPipe(engine)
    yield pipe
    pipe.close()


def send_text(pipe: RawPipe, text: str) -> Any:
    """Send one JSON text as written (so ``\\ud800`` escapes reach the engine untouched)."""
    pipe.send(text.encode("utf-8") + b"\n")
    return pipe.line()


def request(method: str, params: str, request_id: int = 7) -> str:
    return f'{{"jsonrpc":"2.0","id":{request_id},"method":"{method}","params":{params}}}'


def assert_invalid_param(answer: Any, name: str) -> None:
    assert answer["id"] == 7, answer
    assert answer["error"]["code"] == -32602, answer
    assert f"'{name}'" in answer["error"]["message"], answer


# --- lone surrogates -------------------------------------------------------------------------------


def test_lone_surrogate_display_name_is_refused_and_creates_no_job(
    engine: EngineProcess, raw: RawPipe
) -> None:
    answer = send_text(raw, request("job.create", '{"displayName":"\\ud800","suspended":true}'))
    assert_invalid_param(answer, "displayName")
    assert "surrogate" in answer["error"]["message"]
    assert_usable(raw)
    assert engine.call("job.list") == []
    engine.restart()
    assert engine.call("job.list") == []


@pytest.mark.parametrize(
    ("method", "params", "name"),
    [
        ("urlgroup.get", '{"urlGroup":"\\ud800"}', "urlGroup"),
        ("urlgroup.get", '{"urlGroup":"http://+:1/a\\udfff/"}', "urlGroup"),
        ("url.create", '{"urlGroup":"http://+:1/a/","urlSuffix":"\\ud800","sourcePath":"/tmp"}', "urlSuffix"),
        ("config.import", '{"yaml":"\\ud800"}', "yaml"),
        (
            "job.create",
            '{"suspended":true,"files":[{"remoteUrl":"http://127.0.0.1/\\ud800","localPath":"/tmp/x"}]}',
            "files[0].remoteUrl",
        ),
        ("job.create", '{"suspended":true,"customHeaders":["X-A: 1","X-B: \\udc00"]}', "customHeaders[1]"),
        ("job.list", '["\\ud800"]', "name"),
    ],
)
def test_lone_surrogate_anywhere_in_params_is_invalid_params_naming_it(
    engine: EngineProcess, raw: RawPipe, method: str, params: str, name: str
) -> None:
    assert_invalid_param(send_text(raw, request(method, params)), name)
    assert_usable(raw)
    assert engine.call("job.list") == []


@pytest.mark.parametrize(
    "text",
    [
        '{"jsonrpc":"2.0","id":7,"method":"no.such\\ud800"}',
        request("server.status", '{"bad\\ud800":1}'),
        request("job.create", '{"suspended":true,"files":[{"remoteUrl":"x","localPath":"y","\\ud800":1}]}'),
        '{"jsonrpc":"2.0","id":"\\ud800","method":"server.status"}',
        '[{"jsonrpc":"2.0","id":7,"method":"no.such\\ud800"},{"jsonrpc":"2.0","id":8,"method":"server.status"}]',
    ],
)
def test_echoed_lone_surrogates_never_drop_the_connection(raw: RawPipe, text: str) -> None:
    answer = send_text(raw, text)
    first = answer[0] if isinstance(answer, list) else answer
    assert first["error"]["code"] in (-32600, -32601, -32602)
    if isinstance(answer, list):
        assert answer[1]["result"]["version"]
    assert_usable(raw)


def test_reply_that_cannot_be_encoded_is_an_internal_error_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    registry = MethodRegistry()
    registry.add(Method("bad.reply", "x", (), "string", "", lambda ctx: {"text": "\ud800"}))
    registry.add(Method("deep.reply", "x", (), "object", "", lambda ctx: _deep(100_000)))
    registry.add(Method("nan.reply", "x", (), "number", "", lambda ctx: float("nan")))
    dispatcher = Dispatcher(registry)
    ctx = CallContext(engine=None)
    with caplog.at_level(logging.ERROR, logger="bcs.rpc"):
        for name in ("bad.reply", "deep.reply", "nan.reply"):
            answer = json.loads(
                dispatcher.handle_line(f'{{"jsonrpc":"2.0","id":3,"method":"{name}"}}'.encode(), ctx) or b""
            )
            assert answer["id"] == 3
            assert answer["error"]["code"] == INTERNAL_ERROR
            assert "\ud800" not in answer["error"]["message"]
        batch = (
            b'[{"jsonrpc":"2.0","id":1,"method":"bad.reply"},{"jsonrpc":"2.0","id":2,"method":"rpc.none"}]'
        )
        answers = json.loads(dispatcher.handle_line(batch, ctx) or b"")
        assert [a["error"]["code"] for a in answers] == [INTERNAL_ERROR, -32601]
    assert "could not be encoded" in caplog.text


def _deep(depth: int) -> Any:
    value: Any = 0
    for _ in range(depth):
        value = [value]
    return value


# --- nesting depth ---------------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [200, 1000, 100_000])
@pytest.mark.parametrize("where", ["top", "params", "batch"])
def test_deeply_nested_json_is_refused_and_connection_stays_usable(
    raw: RawPipe, depth: int, where: str
) -> None:
    deep = "[" * depth + "]" * depth
    text = {
        "top": deep,
        "params": request("job.list", f'{{"name":{deep}}}'),
        "batch": f"[{request('server.status', '{}')},{deep}]",
    }[where]
    answer = send_text(raw, text)
    assert answer["error"]["code"] in (-32700, -32600), answer
    assert "nest" in answer["error"]["message"]
    assert_usable(raw)


def test_nesting_within_the_limit_is_served(raw: RawPipe) -> None:
    answer = send_text(raw, request("job.create", '{"suspended":true,"files":[' + "[" * 20 + "]" * 20 + "]}"))
    assert_invalid_param(answer, "files[0]")


# --- non-finite numbers ----------------------------------------------------------------------------


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e999", "-1e999"])
def test_non_finite_numbers_are_invalid_params_naming_them(
    engine: EngineProcess, raw: RawPipe, number: str
) -> None:
    job = engine.call("job.create", suspended=True)
    wait = f'{{"jobId":"{job["jobId"]}","changeCount":{job["changeCount"]},"timeout":{number}}}'
    started = time.monotonic()
    answer = send_text(raw, request("job.wait", wait))
    assert time.monotonic() - started < 10
    assert_invalid_param(answer, "timeout")
    assert "finite" in answer["error"]["message"]
    nested = send_text(raw, request("job.create", f'{{"suspended":true,"files":[{{"remoteUrl":{number}}}]}}'))
    assert_invalid_param(nested, "files[0].remoteUrl")
    assert_usable(raw)


# --- huge integers ---------------------------------------------------------------------------------


@pytest.mark.parametrize("digits", [30, 4000, 4400, 100_000])
def test_huge_integers_are_invalid_params_naming_them(raw: RawPipe, digits: int) -> None:
    answer = send_text(raw, request("server.set", f'{{"bandwidthLimit":{"9" * digits}}}'))
    assert_invalid_param(answer, "bandwidthLimit")
    assert len(answer["error"]["message"]) < 400
    assert_usable(raw)


@pytest.mark.parametrize("digits", [30, 4000, 4400])
def test_config_import_of_a_huge_integer_names_the_setting(
    engine: EngineProcess, raw: RawPipe, digits: int
) -> None:
    before = (engine.state_dir / "config.yaml").read_bytes()
    text = f"version: 1\nserver:\n  bandwidthLimit: {'9' * digits}\n"
    answer = raw.call({"jsonrpc": "2.0", "id": 7, "method": "config.import", "params": {"yaml": text}})
    error = answer["error"]
    assert error["code"] == -32000 and error["data"]["name"] == "E_INVALIDARG", answer
    assert "line 3: server.bandwidthLimit:" in error["message"]
    assert len(error["message"]) < 400
    assert (engine.state_dir / "config.yaml").read_bytes() == before
    assert_usable(raw)


def test_config_import_of_an_escaped_lone_surrogate_names_the_setting(raw: RawPipe) -> None:
    text = 'version: 1\nurlGroups:\n- urlGroup: "http://+:1/a/"\n  urls:\n  - urlSuffix: "x\\ud800"\n    sourcePath: /tmp\n'
    answer = raw.call({"jsonrpc": "2.0", "id": 7, "method": "config.import", "params": {"yaml": text}})
    assert answer["error"]["code"] == -32000, answer
    assert answer["error"]["data"]["name"] == "E_INVALIDARG"
    assert_usable(raw)


# --- one validation for url.create and config.import -----------------------------------------------


def _import_one_url(suffix: str, source: str, port: int = 1) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": 7,
        "method": "config.import",
        "params": {
            "yaml": json.dumps(
                {
                    "version": 1,
                    "urlGroups": [
                        {
                            "urlGroup": f"http://127.0.0.1:{port}/Bad/",
                            "urls": [{"urlSuffix": suffix, "sourcePath": source}],
                        }
                    ],
                }
            )
        },
    }


@pytest.mark.parametrize("suffix", ["a\\b", "a?b", "a#b", "a\x01b", "a\x7fb", "a/../b", "x" * 300])
def test_config_import_refuses_the_suffixes_url_create_refuses(
    engine: EngineProcess, raw: RawPipe, tmp_path: Path, suffix: str
) -> None:
    from conftest import free_port

    port = free_port()
    source = tmp_path / "f.txt"
    source.write_bytes(b"x")
    engine.call("urlgroup.create", urlGroup=GROUP.format(port=port))
    created = raw.call(
        {
            "jsonrpc": "2.0",
            "id": 7,
            "method": "url.create",
            "params": {"urlGroup": GROUP.format(port=port), "urlSuffix": suffix, "sourcePath": str(source)},
        }
    )
    assert created["error"]["data"]["name"] == "E_INVALIDARG", created
    imported = raw.call(_import_one_url(suffix, str(source), port))
    assert imported["error"]["data"]["name"] == "E_INVALIDARG", imported
    assert "urlGroups[0].urls[0].urlSuffix" in imported["error"]["message"]
    assert created["error"]["message"].split(": ", 1)[-1].split(": ", 1)[-1] in imported["error"]["message"]
    assert engine.call("config.export")["config"]["urlGroups"][0]["urls"] == []


def test_config_import_refuses_a_missing_source_as_url_create_does(
    engine: EngineProcess, raw: RawPipe, tmp_path: Path
) -> None:
    from conftest import free_port

    port = free_port()
    missing = str(tmp_path / "gone.txt")
    engine.call("urlgroup.create", urlGroup=GROUP.format(port=port))
    created = raw.call(
        {
            "jsonrpc": "2.0",
            "id": 7,
            "method": "url.create",
            "params": {"urlGroup": GROUP.format(port=port), "urlSuffix": "a", "sourcePath": missing},
        }
    )
    imported = raw.call(_import_one_url("a", missing, port))
    assert created["error"]["data"]["name"] == imported["error"]["data"]["name"] == "ERROR_FILE_NOT_FOUND"
    assert created["error"]["data"]["hresult"] == imported["error"]["data"]["hresult"]
    assert "urlGroups[0].urls[0].sourcePath" in imported["error"]["message"]
    assert missing in imported["error"]["message"]
    assert engine.call("config.export")["config"]["urlGroups"][0]["urls"] == []


def test_engine_still_starts_when_a_published_source_was_deleted(engine_factory: Any, tmp_path: Path) -> None:
    from conftest import free_port

    port = free_port()
    source = tmp_path / "gone.txt"
    config = (
        f"version: 1\nurlGroups:\n- urlGroup: http://127.0.0.1:{port}/Bad/\n"
        f"  urls:\n  - urlSuffix: gone.txt\n    sourcePath: {source}\n"
    )
    engine = engine_factory(config=config).start()
    assert engine.call("url.list", urlGroup=GROUP.format(port=port))[0]["sourcePath"] == str(source)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/Bad/gone.txt")
        assert conn.getresponse().status == 404
    finally:
        conn.close()


# --- logging ---------------------------------------------------------------------------------------


def test_rejected_values_are_truncated_and_rate_limited_in_the_log(
    engine: EngineProcess, raw: RawPipe
) -> None:
    big = "B" * 200_000
    for i in range(60):
        answer = raw.call({"jsonrpc": "2.0", "id": i, "method": "job.create", "params": {"priority": big}})
        assert answer["error"]["code"] == -32602
        assert len(answer["error"]["message"]) < 1000
        answer = raw.call({"jsonrpc": "2.0", "id": i, "method": "job.get", "params": {"jobId": big}})
        assert answer["error"]["code"] == -32000
    assert_usable(raw)
    log = (engine.state_dir / "engine.log").read_text(encoding="utf-8")
    assert "management pipe" in log  # the first lines were not rotated away
    lines = log.splitlines()
    assert max(len(line) for line in lines) < 2000
    assert sum("job.create rejected" in line for line in lines) <= 20
    assert sum("job.get failed" in line for line in lines) <= 20
    assert "200000 characters" in log


def test_rejection_log_keeps_a_burst_then_summarises_the_rest(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    limiter = RejectionLog(
        logging.getLogger("bcs.test"), per_window=3, window=60.0, clock=lambda: now[0], timers=False
    )
    with caplog.at_level(logging.INFO, logger="bcs.test"):
        for i in range(10):
            limiter.log(logging.INFO, "job.create rejected", "job.create rejected: %s", i)
        limiter.log(logging.INFO, "job.get failed", "job.get failed: %s", "x")
        now[0] = 61.0
        limiter.log(logging.INFO, "job.create rejected", "job.create rejected: %s", "late")
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [
        "job.create rejected: 0",
        "job.create rejected: 1",
        "job.create rejected: 2",
        "job.get failed: x",
        "suppressed 7 similar lines (job.create rejected) in the last 60 s",
        "job.create rejected: late",
    ]
