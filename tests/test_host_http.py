"""The file host's HTTP side against a real engine: ranges, validators, paths, real clients."""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import EngineProcess, free_port

Response = tuple[int, dict[str, str], bytes]


def fetch(port: int, path: str, method: str = "GET", headers: dict[str, str] | None = None) -> Response:
    """One request on its own connection; header names lower-case."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        conn.request(method, path, headers=headers or {})
        resp = conn.getresponse()
        body = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, body
    finally:
        conn.close()


def publish(engine: EngineProcess, port: int, urls: dict[str, Path], **settings: Any) -> str:
    prefix = f"http://+:{port}/Demo/"
    engine.call("urlgroup.create", urlGroup=prefix, **settings)
    for suffix, source in urls.items():
        engine.call("url.create", urlGroup=prefix, urlSuffix=suffix, sourcePath=str(source))
    return prefix


def access_lines(engine: EngineProcess, want: int) -> list[str]:
    """The access log once it has at least ``want`` lines (it is written every 0.25 s)."""
    path = engine.state_dir / "access.log"
    deadline = time.monotonic() + 10
    while True:
        lines = path.read_text().splitlines() if path.exists() else []
        if len(lines) >= want or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """A 3 MB file of pseudo-random bytes."""
    path = tmp_path / "data.bin"
    path.write_bytes(os.urandom(3 * 1024 * 1024 + 17))
    return path


@pytest.fixture
def served(engine: EngineProcess, data: Path) -> tuple[int, bytes]:
    port = free_port()
    publish(engine, port, {"data.bin": data})
    return port, data.read_bytes()


def test_head_reports_length_validators_and_ranges_without_body(served: tuple[int, bytes]) -> None:
    port, content = served
    status, headers, body = fetch(port, "/Demo/data.bin", "HEAD")
    assert status == 200 and body == b""
    assert headers["content-length"] == str(len(content))
    assert headers["accept-ranges"] == "bytes"
    assert headers["etag"].startswith('"') and "last-modified" in headers
    assert "transfer-encoding" not in headers
    _, get_headers, _ = fetch(port, "/Demo/data.bin")
    assert {k: v for k, v in get_headers.items() if k != "date"} == {
        k: v for k, v in headers.items() if k != "date"
    }


def test_get_without_range_returns_whole_body_never_chunked(served: tuple[int, bytes]) -> None:
    port, content = served
    status, headers, body = fetch(port, "/Demo/data.bin")
    assert status == 200 and body == content
    assert headers["content-length"] == str(len(content)) and "transfer-encoding" not in headers


def test_suffix_and_group_name_match_case_insensitively(served: tuple[int, bytes]) -> None:
    port, content = served
    status, _, body = fetch(port, "/demo/DATA.BIN")
    assert status == 200 and body == content


@pytest.mark.parametrize(
    ("spec", "first", "last"),
    [
        ("0-0", 0, 0),
        ("100-199", 100, 199),
        ("3145700-", 3145700, None),
        ("-10", -10, None),
        ("5-999999999", 5, None),
    ],
)
def test_single_range_gets_206_with_content_range(
    served: tuple[int, bytes], spec: str, first: int, last: int | None
) -> None:
    port, content = served
    size = len(content)
    status, headers, body = fetch(port, "/Demo/data.bin", headers={"Range": f"bytes={spec}"})
    begin = first if first >= 0 else size + first
    end = size - 1 if last is None else last
    assert status == 206
    assert body == content[begin : end + 1]
    assert headers["content-range"] == f"bytes {begin}-{end}/{size}"
    assert headers["content-length"] == str(end - begin + 1)


def test_multi_range_is_multipart_in_requested_order(served: tuple[int, bytes]) -> None:
    port, content = served
    size = len(content)
    status, headers, body = fetch(port, "/Demo/data.bin", headers={"Range": "bytes=2000-2099, 0-9,-5"})
    assert status == 206
    ctype = headers["content-type"]
    assert ctype.startswith("multipart/byteranges; boundary=")
    boundary = ctype.split("boundary=")[1].encode()
    assert headers["content-length"] == str(len(body))
    parts = [p for p in body.split(b"--" + boundary) if p.strip(b"\r\n") not in (b"", b"--")]
    assert len(parts) == 3
    got = []
    for part in parts:
        head, _, payload = part.partition(b"\r\n\r\n")
        assert payload.endswith(b"\r\n")
        crange = next(line for line in head.split(b"\r\n") if line.lower().startswith(b"content-range"))
        got.append((crange.split(b":")[1].strip().decode(), payload[:-2]))
    assert got == [
        (f"bytes 2000-2099/{size}", content[2000:2100]),
        (f"bytes 0-9/{size}", content[:10]),
        (f"bytes {size - 5}-{size - 1}/{size}", content[-5:]),
    ]


def test_unsatisfiable_range_gets_416_with_star_content_range(served: tuple[int, bytes]) -> None:
    port, content = served
    status, headers, body = fetch(port, "/Demo/data.bin", headers={"Range": f"bytes={len(content)}-"})
    assert status == 416
    assert headers["content-range"] == f"bytes */{len(content)}"
    assert headers["bits-error-code"] == "0x801901A0" and headers["bits-error-context"] == "0x5"
    assert len(body) < 100


@pytest.mark.parametrize("spec", ["bytes=abc", "bytes=5-1", "items=0-5", "bytes=", "bytes=--5"])
def test_malformed_range_is_ignored_with_full_body(served: tuple[int, bytes], spec: str) -> None:
    port, content = served
    status, _, body = fetch(port, "/Demo/data.bin", headers={"Range": spec})
    assert status == 200 and body == content


def test_if_range_honours_range_only_for_current_version(served: tuple[int, bytes]) -> None:
    port, content = served
    _, headers, _ = fetch(port, "/Demo/data.bin", "HEAD")
    etag, modified = headers["etag"], headers["last-modified"]
    for validator in (etag, modified):
        status, _, body = fetch(port, "/Demo/data.bin", headers={"Range": "bytes=0-9", "If-Range": validator})
        assert status == 206 and body == content[:10]
    for stale in ('"0-0"', "Mon, 01 Jan 2001 00:00:00 GMT", "W/" + etag):
        status, _, body = fetch(port, "/Demo/data.bin", headers={"Range": "bytes=0-9", "If-Range": stale})
        assert status == 200 and body == content


def test_conditional_get_gives_304_and_412(served: tuple[int, bytes]) -> None:
    port, _ = served
    _, headers, _ = fetch(port, "/Demo/data.bin", "HEAD")
    etag, modified = headers["etag"], headers["last-modified"]
    assert fetch(port, "/Demo/data.bin", headers={"If-None-Match": etag})[0] == 304
    assert fetch(port, "/Demo/data.bin", headers={"If-None-Match": '"other"'})[0] == 200
    assert fetch(port, "/Demo/data.bin", headers={"If-Modified-Since": modified})[0] == 304
    old = "Mon, 01 Jan 2001 00:00:00 GMT"
    assert fetch(port, "/Demo/data.bin", "HEAD", headers={"If-Modified-Since": old})[0] == 200
    status, headers412, _ = fetch(port, "/Demo/data.bin", headers={"If-Unmodified-Since": old})
    assert status == 412 and headers412["bits-error-code"] == "0x8019019C"
    assert fetch(port, "/Demo/data.bin", headers={"If-Unmodified-Since": modified})[0] == 200
    assert fetch(port, "/Demo/data.bin", headers={"If-Match": '"nope"'})[0] == 412


def test_validators_stay_stable_and_change_with_the_file(served: tuple[int, bytes], data: Path) -> None:
    port, _ = served
    first = fetch(port, "/Demo/data.bin", "HEAD")[1]
    time.sleep(0.05)
    second = fetch(port, "/Demo/data.bin", "HEAD")[1]
    assert (first["etag"], first["last-modified"]) == (second["etag"], second["last-modified"])
    data.write_bytes(b"changed")
    os.utime(data, (time.time() + 5, time.time() + 5))
    third = fetch(port, "/Demo/data.bin", "HEAD")[1]
    assert third["etag"] != first["etag"] and third["last-modified"] != first["last-modified"]
    assert third["content-length"] == "7"


def test_empty_file_serves_zero_length_and_refuses_ranges(engine: EngineProcess, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    port = free_port()
    publish(engine, port, {"empty": empty})
    status, headers, body = fetch(port, "/Demo/empty")
    assert (status, headers["content-length"], body) == (200, "0", b"")
    status, headers, _ = fetch(port, "/Demo/empty", headers={"Range": "bytes=0-"})
    assert status == 416 and headers["content-range"] == "bytes */0"


def test_errors_are_short_and_carry_bits_error_headers(served: tuple[int, bytes]) -> None:
    port, _ = served
    cases = [
        ("GET", "/Demo/missing.bin", 404, "0x80190194"),
        ("GET", "/Nope/data.bin", 404, "0x80190194"),
        ("GET", "/Demo/data.bin/extra", 404, "0x80190194"),
        ("DELETE", "/Demo/data.bin", 405, "0x80190195"),
        ("PUT", "/Demo/data.bin", 405, "0x80190195"),
    ]
    for method, path, status, code in cases:
        got, headers, body = fetch(port, path, method)
        assert got == status, (method, path)
        assert headers["bits-error-code"] == code and headers["bits-error-context"] == "0x5"
        assert len(body) < 200 and headers["content-length"] == str(len(body))
    assert fetch(port, "/Demo/data.bin", "DELETE")[1]["allow"] == "GET, HEAD"


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "tree"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "a.txt").write_bytes(b"alpha\n")
    (root / "b c.txt").write_bytes(b"bravo\n")
    (root / "\u00e9t\u00e9.txt").write_bytes(b"summer\n")
    (tmp_path / "secret.txt").write_bytes(b"secret\n")
    (root / "escape").symlink_to(tmp_path / "secret.txt")
    (root / "escape-dir").symlink_to(tmp_path)
    (root / "inside").symlink_to(root / "sub" / "a.txt")
    return root


def test_directory_url_serves_files_below_it(engine: EngineProcess, tree: Path) -> None:
    port = free_port()
    publish(engine, port, {"files": tree})
    assert fetch(port, "/Demo/files/sub/a.txt")[2] == b"alpha\n"
    assert fetch(port, "/Demo/files/b%20c.txt")[2] == b"bravo\n"
    assert fetch(port, "/Demo/files/%C3%A9t%C3%A9.txt")[2] == b"summer\n"
    assert fetch(port, "/Demo/files/inside")[2] == b"alpha\n"  # a symlink that stays inside is fine
    status, headers, _ = fetch(port, "/Demo/files/sub/a.txt", headers={"Range": "bytes=1-2"})
    assert status == 206 and headers["content-range"] == "bytes 1-2/6"


def test_directory_listing_only_when_enabled(engine: EngineProcess, tree: Path) -> None:
    port = free_port()
    prefix = publish(engine, port, {"files": tree})
    status, _, body = fetch(port, "/Demo/files/")
    assert status == 404 and b"sub" not in body
    assert fetch(port, "/Demo/files/sub/")[0] == 404
    engine.call("urlgroup.set", urlGroup=prefix, directoryListing=True)
    status, headers, body = fetch(port, "/Demo/files/")
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert b'href="sub/"' in body and b'href="b%20c.txt"' in body
    status, headers, _ = fetch(port, "/Demo/files/sub")
    assert status == 301 and headers["location"] == "/Demo/files/sub/"


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/Demo/files/escape", 404),  # symlink to a file outside the root
        ("/Demo/files/escape-dir/secret.txt", 404),  # symlinked directory leading outside
        ("/Demo/files/../secret.txt", 400),
        ("/Demo/files/%2e%2e/secret.txt", 400),
        ("/Demo/files/sub/%2E%2E/%2E%2E/secret.txt", 400),
        ("/Demo/files/./sub/a.txt", 400),
        ("/Demo/files/sub%2f..%2f..%2fsecret.txt", 400),
        ("/Demo/files/..%5csecret.txt", 400),
        ("/Demo/files/sub/a.txt%00.png", 400),
        ("/Demo/files/%ff%fe", 400),
        ("/Demo/files/" + "x" * 300, 414),
        ("/Demo/files/" + "a/" * 2100, 414),
        ("/Demo/files/%0a", 400),
    ],
)
def test_paths_that_leave_the_source_or_are_malformed_are_refused(
    engine: EngineProcess, tree: Path, path: str, status: int
) -> None:
    port = free_port()
    publish(engine, port, {"files": tree}, directoryListing=True)
    got, headers, body = fetch(port, path)
    assert got == status
    assert b"secret" not in body
    assert headers["bits-error-context"] == "0x5"


def test_raw_dotdot_request_line_is_refused(engine: EngineProcess, tree: Path) -> None:
    import socket

    port = free_port()
    publish(engine, port, {"files": tree})
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"GET /Demo/files/sub/../../secret.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 400") and b"secret\n" not in answer


def test_source_that_disappears_later_gives_404(engine: EngineProcess, tmp_path: Path) -> None:
    source = tmp_path / "gone.bin"
    source.write_bytes(b"x" * 100)
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "f").write_bytes(b"y")
    port = free_port()
    publish(engine, port, {"gone.bin": source, "folder": folder})
    assert fetch(port, "/Demo/gone.bin")[0] == 200
    source.unlink()
    shutil.rmtree(folder)
    assert fetch(port, "/Demo/gone.bin")[0] == 404
    assert fetch(port, "/Demo/folder/f")[0] == 404
    source.write_bytes(b"back")
    assert fetch(port, "/Demo/gone.bin")[2] == b"back"


def test_routing_prefers_strong_then_explicit_host_then_weak(engine: EngineProcess, tmp_path: Path) -> None:
    port = free_port()
    for name in ("strong", "explicit", "weak"):
        (tmp_path / name).write_text(name)

    def add(prefix: str, name: str) -> None:
        engine.call("urlgroup.create", urlGroup=prefix)
        engine.call("url.create", urlGroup=prefix, urlSuffix="f", sourcePath=str(tmp_path / name))

    def who(host: str) -> tuple[int, bytes]:
        status, _, body = fetch(port, "/G/f", headers={"Host": host})
        return status, body

    add(f"http://localhost:{port}/G/", "explicit")
    assert who(f"localhost:{port}") == (200, b"explicit")
    assert who("LOCALHOST") == (200, b"explicit")
    assert who("other.example")[0] == 400  # only an explicit host on this port: HTTP.SYS says 400
    add(f"http://*:{port}/g/", "weak")
    assert who(f"localhost:{port}") == (200, b"explicit")
    assert who("other.example") == (200, b"weak")
    add(f"http://+:{port}/G/", "strong")
    assert who(f"localhost:{port}") == (200, b"strong")
    assert who("other.example") == (200, b"strong")
    engine.call("urlgroup.delete", urlGroup=f"http://+:{port}/G/")
    assert who("localhost") == (200, b"explicit")


# --- real clients -----------------------------------------------------------------------------------


def run(cmd: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture
def big(tmp_path: Path) -> Path:
    path = tmp_path / "big.bin"
    path.write_bytes(os.urandom(24 * 1024 * 1024 + 333))
    return path


def test_curl_downloads_ranges_and_resumes_with_C(engine: EngineProcess, big: Path, tmp_path: Path) -> None:
    port = free_port()
    publish(engine, port, {"big.bin": big})
    url = f"http://127.0.0.1:{port}/Demo/big.bin"
    out = tmp_path / "out.bin"
    assert run(["curl", "-sSf", "-o", str(out), url]).returncode == 0
    assert sha256(out) == sha256(big)
    head = run(["curl", "-sSfI", url]).stdout.lower()
    assert f"content-length: {big.stat().st_size}" in head and "accept-ranges: bytes" in head
    part = tmp_path / "part.bin"
    assert run(["curl", "-sSf", "-r", "1000-1999", "-o", str(part), url]).returncode == 0
    assert part.read_bytes() == big.read_bytes()[1000:2000]
    with open(out, "r+b") as fh:
        fh.truncate(7 * 1024 * 1024 + 5)
    result = run(["curl", "-sSf", "-C", "-", "-o", str(out), url])
    assert result.returncode == 0, result.stderr
    assert sha256(out) == sha256(big)


def test_wget_continues_a_truncated_download(engine: EngineProcess, big: Path, tmp_path: Path) -> None:
    port = free_port()
    publish(engine, port, {"big.bin": big})
    target = tmp_path / "wget" / "big.bin"
    target.parent.mkdir()
    target.write_bytes(big.read_bytes()[: 10 * 1024 * 1024 + 1])
    result = run(["wget", "-q", "-c", f"http://127.0.0.1:{port}/Demo/big.bin"], cwd=target.parent)
    assert result.returncode == 0, result.stderr
    assert sha256(target) == sha256(big)
    log = "\n".join(access_lines(engine, 1))
    assert f" 206 {big.stat().st_size - (10 * 1024 * 1024 + 1)} " in log


def test_aria2c_downloads_over_three_connections(engine: EngineProcess, big: Path, tmp_path: Path) -> None:
    port = free_port()
    publish(engine, port, {"big.bin": big})
    out_dir = tmp_path / "aria"
    out_dir.mkdir()
    result = run(
        [
            "aria2c",
            "-q",
            "-x3",
            "-s3",
            "-k1M",
            "--allow-overwrite=true",
            "--file-allocation=none",
            "-d",
            str(out_dir),
            "-o",
            "big.bin",
            f"http://127.0.0.1:{port}/Demo/big.bin",
        ]
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert sha256(out_dir / "big.bin") == sha256(big)
    log = access_lines(engine, 3)
    assert sum(" 206 " in line for line in log) >= 3


def test_access_log_has_one_line_per_request_and_can_be_turned_off(
    served: tuple[int, bytes], engine: EngineProcess
) -> None:
    port, content = served
    fetch(port, "/Demo/data.bin")
    fetch(port, "/Demo/nothing")
    lines = access_lines(engine, 2)
    fields = lines[-2].split()
    assert fields[1] == "127.0.0.1" and fields[2] == "GET" and fields[3] == "/Demo/data.bin"
    assert fields[4] == "200" and fields[5] == str(len(content)) and fields[7] == "-"
    assert float(fields[6]) >= 0 and fields[0].endswith("Z")
    assert lines[-1].split()[3:5] == ["/Demo/nothing", "404"]
    engine.call("server.set", accessLog=False)
    fetch(port, "/Demo/data.bin")
    time.sleep(0.8)
    assert len(access_lines(engine, 0)) == len(lines)
