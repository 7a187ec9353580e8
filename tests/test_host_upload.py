"""The BITS upload server (BITS_POST) on the wire, against a real engine: packets, the fragment
table of bits-protocol.md 2.4, sessions, settings and the upload.* RPC methods."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import EngineProcess, free_port
from upload_support import (
    PROTOCOL,
    BitsConnection,
    BitsUploader,
    Response,
    fragment_headers,
    normalized,
    packet,
    upload_group,
)

E_INVALIDARG = "0x80070057"
E_ACCESSDENIED = "0x80070005"
BG_E_SESSION_NOT_FOUND = "0x8020001F"
BG_E_TOO_LARGE = "0x80200020"
ERROR_DISK_FULL = "0x80070070"
MAX_FRAGMENT = 64 * 1024 * 1024  # tunables.UPLOAD_MAX_FRAGMENT


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "incoming"
    path.mkdir()
    return path


@pytest.fixture
def port(engine: EngineProcess, folder: Path) -> int:
    number = free_port()
    upload_group(engine, number, folder)
    return number


@pytest.fixture
def conn(port: int) -> Iterator[BitsConnection]:
    with BitsConnection(port) as c:
        yield c


def assert_ack(r: Response, status: int, code: str | None = None) -> None:
    """An Ack: BITS-Packet-Type Ack, Content-Length 0, no body; error headers only with an error."""
    assert r.status == status, r.head
    assert r.header("BITS-Packet-Type") == "Ack", r.head
    assert r.header("Content-Length") == "0" and r.body == b"", r.head
    if code is None:
        assert r.header("BITS-Error-Code") is None, r.head
    else:
        assert r.header("BITS-Error-Code") == code, r.head
        assert r.header("BITS-Error-Context") == "0x5", r.head
    assert b"\r\nBITS-Packet-Type: Ack\r\n" in r.head  # spelled as Windows spells it


# --- MC-BUP 4.1 --------------------------------------------------------------------------------------


def test_mc_bup_4_1_exchange_replayed_on_one_connection_gets_byte_exact_acks(
    conn: BitsConnection, folder: Path
) -> None:
    body = os.urandom(4892)
    path = "/upload/files/2000mb-rfc2119.txt"
    create = conn.request(
        path,
        [
            ("Accept", "*/*"),
            ("BITS-Packet-Type", "Create-Session"),
            ("BITS-Supported-Protocols", PROTOCOL),
            ("Content-Name", "rfc2119.txt"),
            ("User-Agent", "Microsoft BITS/6.7"),
            ("Content-Length", "0"),
        ],
    )
    sid = create.header("BITS-Session-Id")
    assert sid is not None
    assert normalized(create.head, sid) == (
        b"HTTP/1.1 200 OK\r\n"
        b"Accept-Encoding: identity\r\n"
        b"BITS-Packet-Type: Ack\r\n"
        b"BITS-Protocol: {7df0354d-249b-430f-820d-3d2a9bef4931}\r\n"
        b"BITS-Session-Id: {SESSION}\r\n"
        b"Content-Length: 0\r\n"
        b"Date: <date>\r\n"
        b"Pragma: no-cache\r\n"
        b"Server: BITS-Compact-Server\r\n\r\n"
    )
    assert sid.startswith("{") and sid.endswith("}") and sid == sid.upper() and len(sid) == 38
    fragment = conn.request(
        path,
        [
            ("Accept", "*/*"),
            ("BITS-Packet-Type", "Fragment"),
            ("BITS-Session-Id", sid),
            ("Content-Name", "rfc2119.txt"),
            ("Content-Range", "bytes 0-4891/4892"),
            ("User-Agent", "Microsoft BITS/6.7"),
            ("Content-Length", "4892"),
        ],
        body,
    )
    assert normalized(fragment.head, sid) == (
        b"HTTP/1.1 200 OK\r\n"
        b"BITS-Packet-Type: Ack\r\n"
        b"BITS-Received-Content-Range: 4892\r\n"
        b"BITS-Session-Id: {SESSION}\r\n"
        b"Content-Length: 0\r\n"
        b"Date: <date>\r\n"
        b"Pragma: no-cache\r\n"
        b"Server: BITS-Compact-Server\r\n\r\n"
    )
    assert not (folder / "2000mb-rfc2119.txt").exists()  # it appears on Close-Session, whole
    close = conn.request(
        path,
        [
            ("Accept", "*/*"),
            ("BITS-Packet-Type", "Close-Session"),
            ("BITS-Session-Id", sid),
            ("User-Agent", "Microsoft BITS/6.7"),
            ("Content-Length", "0"),
        ],
    )
    assert normalized(close.head, sid) == (
        b"HTTP/1.1 200 OK\r\n"
        b"BITS-Packet-Type: Ack\r\n"
        b"BITS-Session-Id: {SESSION}\r\n"
        b"Content-Length: 0\r\n"
        b"Date: <date>\r\n"
        b"Pragma: no-cache\r\n"
        b"Server: BITS-Compact-Server\r\n\r\n"
    )
    assert (folder / "2000mb-rfc2119.txt").read_bytes() == body


# --- packets ---------------------------------------------------------------------------------------


def test_ping_is_acked_without_error_headers(conn: BitsConnection) -> None:
    assert_ack(conn.request("/upload/files/x.bin", packet("Ping")), 200)


@pytest.mark.parametrize(
    ("create", "fragment", "close"),
    [("CREATE-SESSION", "FRAGMENT", "CLOSE-SESSION"), ("create-session", "fragment", "close-session")],
)
def test_packet_types_match_in_any_case(
    conn: BitsConnection, folder: Path, create: str, fragment: str, close: str
) -> None:
    r = conn.request("/upload/files/case.bin", packet(create, BITS_Supported_Protocols=PROTOCOL))
    assert_ack(r, 200)
    sid = r.header("BITS-Session-Id")
    assert sid is not None
    headers = [("BITS-Packet-Type", fragment), *fragment_headers(sid, 0, 2, 3)[1:]]
    assert_ack(conn.request("/upload/files/case.bin", headers, b"abc"), 200)
    assert_ack(conn.request("/upload/files/case.bin", packet(close, sid)), 200)
    assert (folder / "case.bin").read_bytes() == b"abc"


@pytest.mark.parametrize(
    "headers",
    [
        [("BITS-Packet-Type", "Ping")],  # no Content-Length
        [("BITS-Packet-Type", "Ping"), ("Content-Length", "3")],  # a body where none belongs
        [("BITS-Packet-Type", "Upload-Everything"), ("Content-Length", "0")],
        [("BITS-Packet-Type", "Ack"), ("Content-Length", "0")],
        [("Content-Length", "0")],  # no packet type
        [("BITS-Packet-Type", "Ping"), ("BITS-Session-Id", "x" * 5000), ("Content-Length", "0")],
        [("BITS-Packet-Type", "Create-Session"), ("Content-Length", "0")],  # no protocols
        packet("Create-Session", BITS_Supported_Protocols="{00000000-0000-0000-0000-000000000000}"),
    ],
    ids=["no-length", "ping-body", "unknown", "ack", "no-type", "long-header", "no-protocols", "no-common"],
)
def test_bad_packets_get_400_and_e_invalidarg(conn: BitsConnection, headers: list[tuple[str, str]]) -> None:
    body = b"abc" if ("Content-Length", "3") in headers else b""
    assert_ack(conn.request("/upload/files/bad.bin", headers, body), 400, E_INVALIDARG)


def test_protocol_negotiation_picks_ours_among_many_in_any_case(conn: BitsConnection) -> None:
    offered = "{11111111-2222-3333-4444-555555555555} " + PROTOCOL.upper().replace("{", "").replace("}", "")
    r = conn.request("/upload/files/n.bin", packet("Create-Session", BITS_Supported_Protocols=offered))
    assert_ack(r, 200)
    assert r.header("BITS-Protocol") == PROTOCOL


def test_uploads_disabled_get_501_and_e_accessdenied(engine: EngineProcess, folder: Path) -> None:
    number = free_port()
    prefix = upload_group(engine, number, folder)
    engine.call("urlgroup.set", urlGroup=prefix, uploadEnabled=False)
    with BitsConnection(number) as c:
        r = c.request("/upload/files/a.bin", packet("Create-Session", BITS_Supported_Protocols=PROTOCOL))
        assert_ack(r, 501, E_ACCESSDENIED)
        assert_ack(c.request("/upload/files/a.bin", packet("Ping")), 501, E_ACCESSDENIED)
    assert os.listdir(folder) == []


def test_other_methods_still_get_405_listing_bits_post(port: int) -> None:
    with BitsConnection(port) as c:
        r = c.request("/upload/files/a.bin", [("Content-Length", "0")], method="PUT")
    assert r.status == 405 and r.header("Allow") == "GET, HEAD, BITS_POST"


def test_refusals_before_the_upload_dispatcher_are_acks_too(conn: BitsConnection) -> None:
    r = conn.request("/nogroup/a.bin", packet("Ping"))
    assert_ack(r, 404, "0x80190194")


# --- destinations ----------------------------------------------------------------------------------


def create(conn: BitsConnection, path: str) -> Response:
    return conn.request(path, packet("Create-Session", BITS_Supported_Protocols=PROTOCOL))


def test_a_new_name_in_a_subfolder_is_allowed_and_a_missing_folder_is_404(
    conn: BitsConnection, folder: Path
) -> None:
    (folder / "sub").mkdir()
    assert_ack(create(conn, "/upload/files/sub/new.bin"), 200)
    assert_ack(create(conn, "/upload/files/nosuch/new.bin"), 404, "0x80070003")


def test_a_folder_as_destination_gets_400(conn: BitsConnection, folder: Path) -> None:
    (folder / "sub").mkdir()
    assert_ack(create(conn, "/upload/files/sub"), 400, E_INVALIDARG)
    assert_ack(create(conn, "/upload/files/"), 400, E_INVALIDARG)


@pytest.mark.parametrize(
    "path", ["/upload/files/../escape.bin", "/upload/files/%2e%2e/escape.bin", "/upload/files/a%5cb"]
)
def test_traversal_is_refused(conn: BitsConnection, folder: Path, path: str) -> None:
    r = create(conn, path)
    assert r.status in (400, 404) and r.header("BITS-Packet-Type") == "Ack", r.head
    assert not (folder.parent / "escape.bin").exists()


def test_a_symlink_leaving_the_folder_is_refused(conn: BitsConnection, folder: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (folder / "link").symlink_to(outside)
    assert_ack(create(conn, "/upload/files/link/x.bin"), 404, "0x80190194")


def test_a_file_url_takes_no_uploads(engine: EngineProcess, folder: Path, tmp_path: Path) -> None:
    number = free_port()
    prefix = upload_group(engine, number, folder)
    single = tmp_path / "single.txt"
    single.write_text("x")
    engine.call("url.create", urlGroup=prefix, urlSuffix="single.txt", sourcePath=str(single))
    with BitsConnection(number) as c:
        assert_ack(create(c, "/upload/single.txt"), 403, E_ACCESSDENIED)


# --- the fragment table (bits-protocol.md 2.4) ---------------------------------------------------------


@pytest.fixture
def uploader(conn: BitsConnection) -> BitsUploader:
    up = BitsUploader(conn, "/upload/files/table.bin")
    assert_ack(up.create(), 200)
    return up


def received(r: Response) -> int:
    value = r.header("BITS-Received-Content-Range")
    assert value is not None, r.head
    return int(value)


def finish(up: BitsUploader, folder: Path) -> bytes:
    assert_ack(up.close(), 200)
    return (folder / "table.bin").read_bytes()


def test_fragments_append_and_the_ack_names_the_next_byte(uploader: BitsUploader, folder: Path) -> None:
    r = uploader.fragment(0, b"a" * 100, 300)
    assert_ack(r, 200)
    assert received(r) == 100 and r.header("BITS-Session-Id") == uploader.session_id
    assert received(uploader.fragment(100, b"b" * 200, 300)) == 300
    assert finish(uploader, folder) == b"a" * 100 + b"b" * 200


def test_an_overlap_writes_only_the_new_tail_and_never_overwrites(
    uploader: BitsUploader, folder: Path
) -> None:
    assert received(uploader.fragment(0, b"A" * 101, 151)) == 101
    # The docs' example: 0-100, then 50-150: only 101-150 are written.
    r = uploader.fragment(50, b"B" * 51 + b"C" * 50, 151)
    assert_ack(r, 200)
    assert received(r) == 151
    assert finish(uploader, folder) == b"A" * 101 + b"C" * 50


def test_a_pure_duplicate_writes_nothing(uploader: BitsUploader, folder: Path) -> None:
    assert received(uploader.fragment(0, b"A" * 100, 200)) == 100
    r = uploader.fragment(10, b"Z" * 50, 200)
    assert_ack(r, 200)
    assert received(r) == 100
    assert received(uploader.fragment(100, b"B" * 100, 200)) == 200
    r = uploader.fragment(150, b"Z" * 50, 200)  # after the last byte: still nothing written
    assert_ack(r, 200)
    assert received(r) == 200
    assert finish(uploader, folder) == b"A" * 100 + b"B" * 100


def test_a_gap_gets_416_with_the_next_byte_wanted(uploader: BitsUploader, folder: Path) -> None:
    assert received(uploader.fragment(0, b"A" * 100, 300)) == 100
    r = uploader.fragment(200, b"C" * 100, 300)
    assert_ack(r, 416, "0x801901A0")
    assert received(r) == 100 and r.header("BITS-Session-Id") == uploader.session_id
    assert received(uploader.fragment(100, b"B" * 200, 300)) == 300  # the client resyncs
    assert finish(uploader, folder) == b"A" * 100 + b"B" * 200


@pytest.mark.parametrize(
    ("content_range", "length", "body"),
    [
        (None, "3", b"abc"),  # missing
        ("bytes 0-2", "3", b"abc"),
        ("bytes 2-0/10", "3", b"abc"),  # last before first
        ("bytes 0-10/10", "11", b"a" * 11),  # last beyond the total
        ("items 0-2/10", "3", b"abc"),
        ("bytes a-b/c", "3", b"abc"),
        ("bytes 0-2/*", "3", b"abc"),
        ("bytes -1-2/10", "4", b"abcd"),
        ("bytes 0-2/99999999999999999999", "3", b"abc"),
        ("bytes 0-4/10", "3", b"abc"),  # Content-Length does not match the range
        ("bytes 0-2/10", None, b""),  # no Content-Length
    ],
)
def test_malformed_fragments_get_400_and_e_invalidarg(
    uploader: BitsUploader, content_range: str | None, length: str | None, body: bytes
) -> None:
    assert uploader.session_id is not None
    headers = [("BITS-Packet-Type", "Fragment"), ("BITS-Session-Id", uploader.session_id)]
    if content_range is not None:
        headers.append(("Content-Range", content_range))
    if length is not None:
        headers.append(("Content-Length", length))
    r = uploader.conn.request(uploader.path, headers, body)
    assert_ack(r, 400, E_INVALIDARG)
    assert received(r) == 0


def test_a_changed_total_gets_400(uploader: BitsUploader) -> None:
    assert received(uploader.fragment(0, b"a" * 10, 100)) == 10
    r = uploader.fragment(10, b"b" * 10, 200)
    assert_ack(r, 400, E_INVALIDARG)
    assert received(r) == 10


def test_a_file_over_max_upload_size_gets_500_and_bg_e_too_large(engine: EngineProcess, folder: Path) -> None:
    number = free_port()
    upload_group(engine, number, folder, maxUploadSize=1000)
    with BitsConnection(number) as c:
        up = BitsUploader(c, "/upload/files/big.bin")
        assert_ack(up.create(), 200)
        r = up.fragment(0, b"x" * 10, 1001)
        assert_ack(r, 500, BG_E_TOO_LARGE)
        assert received(r) == 0
        assert received(up.fragment(0, b"x" * 1000, 1000)) == 1000


def test_a_fragment_larger_than_the_server_buffer_gets_413_at_once(
    uploader: BitsUploader, folder: Path
) -> None:
    assert uploader.session_id is not None
    headers = fragment_headers(uploader.session_id, 0, MAX_FRAGMENT, MAX_FRAGMENT + 10)
    r = uploader.conn.request(uploader.path, headers)  # no body sent: the answer comes after the head
    assert_ack(r, 413, "0x8019019D")
    assert received(uploader.fragment(0, b"s" * 5120, 5120)) == 5120  # a smaller one goes through
    assert finish(uploader, folder) == b"s" * 5120


@pytest.mark.parametrize("session_id", ["{00000000-0000-0000-0000-000000000000}", "not-a-guid"])
def test_an_unknown_session_gets_500_and_bg_e_session_not_found(
    conn: BitsConnection, session_id: str
) -> None:
    r = conn.request("/upload/files/u.bin", fragment_headers(session_id, 0, 2, 3), b"abc")
    assert_ack(r, 500, BG_E_SESSION_NOT_FOUND)
    for kind in ("Close-Session", "Cancel-Session"):
        assert_ack(conn.request("/upload/files/u.bin", packet(kind, session_id)), 500, BG_E_SESSION_NOT_FOUND)


def test_a_session_is_not_found_on_another_url(uploader: BitsUploader) -> None:
    assert uploader.session_id is not None
    r = uploader.conn.request(
        "/upload/files/other.bin", fragment_headers(uploader.session_id, 0, 2, 3), b"abc"
    )
    assert_ack(r, 500, BG_E_SESSION_NOT_FOUND)


def test_a_session_id_without_braces_or_in_lower_case_is_still_found(
    uploader: BitsUploader, folder: Path
) -> None:
    assert uploader.session_id is not None
    uploader.session_id = uploader.session_id.strip("{}").lower()
    assert received(uploader.fragment(0, b"abc", 3)) == 3
    assert finish(uploader, folder) == b"abc"


def _mount_tmpfs(where: Path, size: str) -> None:
    where.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {done.stderr.decode().strip()}")


@pytest.fixture
def small_uploads_dir(engine_factory: Any, folder: Path) -> Iterator[tuple[EngineProcess, int]]:
    """An engine whose ``uploads/`` is a 3 MiB tmpfs (a real full disk, another file system)."""
    e: EngineProcess = engine_factory()
    uploads = e.state_dir / "uploads"
    _mount_tmpfs(uploads, "3m")
    try:
        e.start()
        number = free_port()
        upload_group(e, number, folder)
        yield e, number
    finally:
        e.stop()
        subprocess.run(["umount", str(uploads)], check=False)


def test_a_full_disk_gets_500_and_error_disk_full_and_keeps_what_fitted(
    small_uploads_dir: tuple[EngineProcess, int],
) -> None:
    e, number = small_uploads_dir
    data = os.urandom(4 * 1024 * 1024)
    with BitsConnection(number) as c:
        up = BitsUploader(c, "/upload/files/full.bin")
        assert_ack(up.create(), 200)
        r = up.fragment(0, data, len(data))
        assert_ack(r, 500, ERROR_DISK_FULL)
        kept = received(r)
        assert kept < len(data)
        staging = e.state_dir / "uploads" / (str(up.session_id).strip("{}") + ".part")
        assert staging.stat().st_size == kept
        assert (staging.read_bytes()) == data[:kept]


def test_a_file_staged_on_another_file_system_is_copied_then_renamed(
    small_uploads_dir: tuple[EngineProcess, int], folder: Path
) -> None:
    _, number = small_uploads_dir
    data = os.urandom(1024 * 1024)
    with BitsConnection(number) as c:
        BitsUploader(c, "/upload/files/copied.bin").upload(data)
    assert (folder / "copied.bin").read_bytes() == data
    assert os.listdir(folder) == ["copied.bin"]  # no hidden copy left behind
