"""Upload sessions of the BITS upload server against a real engine: reconnects, restarts, one
session per destination, overwrite policy, limits, timeouts, the group's bandwidth and connection
limits, and the upload.* RPC methods."""

from __future__ import annotations

import os
import ssl
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from bcs.rpc.client import RpcClient
from conftest import EngineProcess, free_port
from test_client_support import make_pki, wait_until
from upload_support import BitsConnection, BitsUploader, Response, packet, upload_group

BG_E_SESSION_NOT_FOUND = "0x8020001F"
ERROR_SHARING_VIOLATION = "0x80070020"
E_ACCESSDENIED = "0x80070005"
MB = 1_000_000


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "incoming"
    path.mkdir()
    return path


def received(r: Response) -> int:
    value = r.header("BITS-Received-Content-Range")
    assert value is not None, r.head
    return int(value)


def group(engine: EngineProcess, folder: Path, **settings: Any) -> tuple[int, str]:
    number = free_port()
    return number, upload_group(engine, number, folder, **settings)


def test_every_packet_may_come_on_a_new_connection(engine: EngineProcess, folder: Path) -> None:
    port, _ = group(engine, folder)
    data = os.urandom(300_000)
    with BitsConnection(port) as c:
        up = BitsUploader(c, "/upload/files/r.bin")
        assert up.create().status == 200
    for offset in range(0, len(data), 100_000):
        with BitsConnection(port) as c:
            up.conn = c
            r = up.fragment(offset, data[offset : offset + 100_000], len(data))
            assert received(r) == offset + 100_000
    with BitsConnection(port) as c:
        up.conn = c
        assert up.close().status == 200
    assert (folder / "r.bin").read_bytes() == data


def test_the_destination_appears_only_on_close_and_whole(engine: EngineProcess, folder: Path) -> None:
    port, _ = group(engine, folder)
    with BitsConnection(port) as c:
        up = BitsUploader(c, "/upload/files/whole.bin")
        up.upload(b"x" * 1000, fragment=300, close=False)
        assert not (folder / "whole.bin").exists()
        assert up.close().status == 200
    assert (folder / "whole.bin").read_bytes() == b"x" * 1000
    assert [p.name for p in (engine.state_dir / "uploads").iterdir() if p.suffix == ".part"] == []


def test_an_existing_file_gets_403_unless_overwrites_are_allowed(engine: EngineProcess, folder: Path) -> None:
    port, prefix = group(engine, folder)
    (folder / "there.txt").write_text("old")
    with BitsConnection(port) as c:
        r = BitsUploader(c, "/upload/files/there.txt").create()
        assert r.status == 403 and r.header("BITS-Error-Code") == E_ACCESSDENIED
        engine.call("urlgroup.set", urlGroup=prefix, allowOverwrites=True)
        BitsUploader(c, "/upload/files/there.txt").upload(b"new")
    assert (folder / "there.txt").read_text() == "new"


def test_a_file_that_appears_before_close_is_not_replaced(engine: EngineProcess, folder: Path) -> None:
    port, _ = group(engine, folder)
    with BitsConnection(port) as c:
        up = BitsUploader(c, "/upload/files/late.txt")
        up.upload(b"uploaded", close=False)
        (folder / "late.txt").write_text("someone else's")
        r = up.close()
        assert r.status == 403 and r.header("BITS-Error-Code") == E_ACCESSDENIED
        assert (folder / "late.txt").read_text() == "someone else's"
        (folder / "late.txt").unlink()
        assert up.close().status == 200  # the session waited, UPLOADED
    assert (folder / "late.txt").read_bytes() == b"uploaded"


def test_two_clients_uploading_to_the_same_name(engine: EngineProcess, folder: Path) -> None:
    port, prefix = group(engine, folder)
    first_data, second_data = os.urandom(200_000), os.urandom(150_000)
    with BitsConnection(port) as a, BitsConnection(port) as b:
        first = BitsUploader(a, "/upload/files/same.bin")
        second = BitsUploader(b, "/upload/files/same.bin")
        assert first.create().status == 200
        assert received(first.fragment(0, first_data[:100_000], len(first_data))) == 100_000
        r = second.create()
        assert r.status == 409 and r.header("BITS-Error-Code") == ERROR_SHARING_VIOLATION
        assert r.header("BITS-Packet-Type") == "Ack"
        assert received(first.fragment(100_000, first_data[100_000:], len(first_data))) == len(first_data)
        r = second.create()
        assert r.status == 409  # UPLOADED still holds the destination until Close
        assert first.close().status == 200
        r = second.create()
        assert r.status == 403 and r.header("BITS-Error-Code") == E_ACCESSDENIED  # exists now
        engine.call("urlgroup.set", urlGroup=prefix, allowOverwrites=True)
        second.upload(second_data)
    assert (folder / "same.bin").read_bytes() == second_data


def test_a_session_that_received_nothing_yields_its_destination(engine_factory: Any, folder: Path) -> None:
    engine = engine_factory().start(env={"BCS_TEST_UPLOAD_EMPTY_SESSION_HOLD": "0.5"})
    port, _ = group(engine, folder)
    with BitsConnection(port) as a, BitsConnection(port) as b:
        lost = BitsUploader(a, "/upload/files/orphan.bin")
        assert lost.create().status == 200  # its Ack "lost": the client never uses it
        again = BitsUploader(b, "/upload/files/orphan.bin")
        assert again.create().status == 409
        time.sleep(0.6)
        again.upload(b"second try")
        r = lost.fragment(0, b"late", 4)
        assert r.status == 500 and r.header("BITS-Error-Code") == BG_E_SESSION_NOT_FOUND
    assert (folder / "orphan.bin").read_bytes() == b"second try"


def test_close_before_the_last_byte_discards_the_upload(engine: EngineProcess, folder: Path) -> None:
    port, _ = group(engine, folder)
    with BitsConnection(port) as c:
        up = BitsUploader(c, "/upload/files/partial.bin")
        assert up.create().status == 200
        assert received(up.fragment(0, b"half", 8)) == 4
        assert up.close().status == 200
        r = up.fragment(4, b"more", 8)
        assert r.status == 500 and r.header("BITS-Error-Code") == BG_E_SESSION_NOT_FOUND
    assert os.listdir(folder) == []
    assert not [p for p in (engine.state_dir / "uploads").iterdir() if p.suffix == ".part"]


def test_cancel_deletes_the_session_and_repeats_are_answered(engine: EngineProcess, folder: Path) -> None:
    port, _ = group(engine, folder)
    with BitsConnection(port) as c:
        up = BitsUploader(c, "/upload/files/c.bin")
        assert up.create().status == 200
        assert received(up.fragment(0, b"abc", 6)) == 3
        assert up.cancel().status == 200
        assert up.cancel().status == 200  # its Ack was lost: resent
        r = up.fragment(3, b"def", 6)
        assert r.status == 500 and r.header("BITS-Error-Code") == BG_E_SESSION_NOT_FOUND
        assert engine.call("upload.list") == []
        done = BitsUploader(c, "/upload/files/d.bin")
        done.upload(b"kept")
        assert done.close().status == 200  # a resent Close
        assert done.cancel().status == 200  # a Cancel after the file was placed changes nothing
    assert os.listdir(folder) == ["d.bin"] and (folder / "d.bin").read_bytes() == b"kept"


def test_a_user_has_at_most_max_sessions_per_user_in_a_group(engine: EngineProcess, folder: Path) -> None:
    port, _ = group(engine, folder, maxSessionsPerUser=2)
    with BitsConnection(port) as c:
        ups = [BitsUploader(c, f"/upload/files/{i}.bin") for i in range(3)]
        assert ups[0].create().status == 200 and ups[1].create().status == 200
        r = ups[2].create()
        assert r.status == 503 and r.header("Retry-After") and r.header("BITS-Packet-Type") == "Ack"
        assert ups[0].cancel().status == 200
        assert ups[2].create().status == 200


def test_a_session_without_progress_expires_and_is_swept(engine_factory: Any, folder: Path) -> None:
    engine = engine_factory().start(env={"BCS_TEST_UPLOAD_CLEANUP_INTERVAL": "0.3"})
    port, prefix = group(engine, folder, sessionTimeout=1)
    with BitsConnection(port) as c:
        up = BitsUploader(c, "/upload/files/slow.bin")
        assert up.create().status == 200
        assert received(up.fragment(0, b"abc", 10)) == 3
        assert len(engine.call("upload.list")) == 1
        wait_until(lambda: engine.call("upload.list") == [], timeout=10, what="session swept")
        assert not [p for p in (engine.state_dir / "uploads").iterdir() if p.suffix == ".part"]
        r = up.fragment(3, b"def", 10)
        assert r.status == 500 and r.header("BITS-Error-Code") == BG_E_SESSION_NOT_FOUND
        # Without the sweep, a late packet finds the session expired all the same.
        engine.call("urlgroup.set", urlGroup=prefix, sessionTimeout=2)
        late = BitsUploader(c, "/upload/files/late.bin")
        assert late.create().status == 200
        time.sleep(2.1)
        r = late.fragment(0, b"x", 1)
        assert r.status == 500 and r.header("BITS-Error-Code") == BG_E_SESSION_NOT_FOUND


def test_host_id_and_its_fallback_timeout_come_with_the_create_ack(
    engine: EngineProcess, folder: Path
) -> None:
    port, prefix = group(engine, folder, hostId="upload2.example.test", hostIdFallbackTimeout=110)
    with BitsConnection(port) as c:
        r = BitsUploader(c, "/upload/files/h.bin").create()
        assert r.header("BITS-Host-Id") == "upload2.example.test"
        assert r.header("BITS-Host-Id-Fallback-Timeout") == "110"
        assert b"\r\nBITS-Host-Id: upload2.example.test\r\n" in r.head
        engine.call("urlgroup.set", urlGroup=prefix, hostId="")
        r = BitsUploader(c, "/upload/files/h2.bin").create()
        assert r.header("BITS-Host-Id") is None and r.header("BITS-Host-Id-Fallback-Timeout") is None


def test_sessions_survive_a_clean_restart_without_resending(engine: EngineProcess, folder: Path) -> None:
    port, _ = group(engine, folder)
    data = os.urandom(3_000_000)
    with BitsConnection(port) as c:
        up = BitsUploader(c, "/upload/files/restart.bin")
        assert up.create().status == 200
        assert received(up.fragment(0, data[:1_000_000], len(data))) == 1_000_000
    engine.restart()
    with BitsConnection(port) as c:
        up.conn = c
        assert received(up.fragment(1_000_000, data[1_000_000:], len(data))) == len(data)
        assert up.close().status == 200
    assert (folder / "restart.bin").read_bytes() == data


# --- limits of the group ---------------------------------------------------------------------------


def test_the_group_bandwidth_cap_holds_for_uploads(engine: EngineProcess, folder: Path) -> None:
    port, _ = group(engine, folder, bandwidthLimit=1 * MB)
    data = os.urandom(4 * MB)
    with BitsConnection(port) as c:
        up = BitsUploader(c, "/upload/files/capped.bin")
        started = time.monotonic()
        up.upload(data, fragment=256 * 1024)
        elapsed = time.monotonic() - started
    assert (folder / "capped.bin").read_bytes() == data
    assert abs(len(data) / elapsed - MB) <= 0.1 * MB, len(data) / elapsed


def test_the_group_connection_limit_counts_fragments_in_progress(engine: EngineProcess, folder: Path) -> None:
    port, prefix = group(engine, folder, bandwidthLimit=1 * MB, connectionLimit=1)
    slow_data = os.urandom(2 * MB)
    results: list[Response] = []
    with BitsConnection(port) as a, BitsConnection(port) as b:
        slow = BitsUploader(a, "/upload/files/slow.bin")
        other = BitsUploader(b, "/upload/files/other.bin")
        assert slow.create().status == 200 and other.create().status == 200
        worker = threading.Thread(target=lambda: results.append(slow.fragment(0, slow_data, len(slow_data))))
        worker.start()
        wait_until(lambda: engine.call("urlgroup.get", urlGroup=prefix)["activeTransfers"] == 1, timeout=10)
        r = other.fragment(0, b"blocked", 7)
        assert r.status == 503 and r.header("Retry-After") and r.header("BITS-Packet-Type") == "Ack"
        worker.join(30)
        assert received(results[0]) == len(slow_data)
        assert received(other.fragment(0, b"allowed", 7)) == 7
    counters = engine.call("urlgroup.get", urlGroup=prefix)
    assert counters["bytesReceived"] == len(slow_data) + 7 and counters["rejectedTransfers"] == 1


# --- upload.list / upload.delete and the group settings ------------------------------------------------


def test_upload_list_shows_active_sessions_and_upload_delete_removes_one(
    engine: EngineProcess, folder: Path
) -> None:
    port, prefix = group(engine, folder)
    with BitsConnection(port) as c:
        up = BitsUploader(c, "/upload/files/listed.bin")
        assert up.create().status == 200
        up.fragment(0, b"abcde", 10)
        (session,) = engine.call("upload.list")
        assert session["sessionId"] == up.session_id
        assert session["urlGroup"] == prefix and session["url"] == "/upload/files/listed.bin"
        assert session["destination"] == str(folder / "listed.bin")
        assert session["owner"] == "anonymous" and session["state"] == "Receiving"
        assert session["bytesReceived"] == 5 and session["bytesTotal"] == 10
        assert session["contentName"] == "upload.bin"
        assert engine.call("upload.list", urlGroup=prefix.lower()) == [session]
        engine.call("upload.delete", sessionId=str(up.session_id).lower())
        assert engine.call("upload.list") == []
        r = up.fragment(5, b"fghij", 10)
        assert r.status == 500 and r.header("BITS-Error-Code") == BG_E_SESSION_NOT_FOUND
    with RpcClient(engine.pipe_name) as rpc:
        for params, code in (
            ({"sessionId": up.session_id}, "0x80070490"),
            ({"sessionId": "nope"}, "0x80070057"),
        ):
            with pytest.raises(Exception) as failure:
                rpc.call("upload.delete", params)
            assert getattr(failure.value, "data", {}).get("hresult") == code
        with pytest.raises(Exception) as failure:
            rpc.call("upload.list", {"urlGroup": "http://+:1/none/"})
        assert getattr(failure.value, "data", {}).get("hresult") == "0x80070490"


def test_upload_settings_are_shown_persisted_and_checked(engine: EngineProcess, folder: Path) -> None:
    _, prefix = group(engine, folder)
    got = engine.call("urlgroup.get", urlGroup=prefix)
    assert {
        k: got[k] for k in ("allowOverwrites", "maxUploadSize", "sessionTimeout", "maxSessionsPerUser")
    } == {
        "allowOverwrites": False,
        "maxUploadSize": 0,
        "sessionTimeout": 1_209_600,
        "maxSessionsPerUser": 50,
    }
    assert (
        got["hostId"] == "" and got["hostIdFallbackTimeout"] == 86_400 and got["notificationType"] == "None"
    )
    changed = engine.call(
        "urlgroup.set",
        urlGroup=prefix,
        allowOverwrites=True,
        maxUploadSize=10 * MB,
        sessionTimeout=3600,
        maxSessionsPerUser=5,
        hostId="[::1]:8080",
        hostIdFallbackTimeout=0,
        notificationUrl="http://127.0.0.1:9/app/notify?x=1",
        notificationType="ByReference",
    )
    assert changed["maxUploadSize"] == 10 * MB and changed["notificationType"] == "ByReference"
    engine.restart()
    again = engine.call("urlgroup.get", urlGroup=prefix)
    assert {k: again[k] for k in changed if k not in ("listening", "requests")} == {
        k: changed[k] for k in changed if k not in ("listening", "requests")
    }
    text = (engine.state_dir / "config.yaml").read_text()
    assert "notificationUrl: http://127.0.0.1:9/app/notify?x=1" in text and "maxSessionsPerUser: 5" in text
    with RpcClient(engine.pipe_name) as rpc:
        for bad in (
            {"hostId": "two words"},
            {"notificationUrl": "https://app.example/notify"},
            {"notificationUrl": "/relative/notify"},  # resolved on the client's Host header: refused
            {"notificationUrl": "", "notificationType": "ByValue"},
            {"notificationType": "Sometimes"},
            {"sessionTimeout": 0},
            {"maxUploadSize": -1},
        ):
            with pytest.raises(Exception) as failure:
                rpc.call("urlgroup.set", {"urlGroup": prefix, **bad})
            assert getattr(failure.value, "data", {}).get("hresult") == "0x80070057", bad


def test_the_upload_session_view_finds_its_columns_in_upload_list(
    engine: EngineProcess, folder: Path
) -> None:
    root = ET.parse(Path(__file__).resolve().parent.parent / "BitsCompactServer.Format.ps1xml").getroot()
    (view,) = [v for v in root.iter("View") if v.findtext("Name") == "Bcs.UploadSession"]
    columns = [item.findtext("PropertyName") for item in view.iter("TableColumnItem")]
    port, _ = group(engine, folder)
    with BitsConnection(port) as c:
        assert BitsUploader(c, "/upload/files/v.bin").create().status == 200
    (session,) = engine.call("upload.list")
    pascal = {key[0].upper() + key[1:] for key in session}
    assert columns and set(columns) <= pascal, columns


def test_uploads_work_over_https_where_cheroot_streams_the_body(
    engine: EngineProcess, folder: Path, tmp_path: Path
) -> None:
    pki = make_pki(tmp_path / "pki")
    port = free_port()
    engine.call(
        "sslcert.set", port=port, certificatePath=str(pki["server_cert"]), keyPath=str(pki["server_key"])
    )
    prefix = f"https://+:{port}/upload/"
    engine.call("urlgroup.create", urlGroup=prefix, uploadEnabled=True)
    engine.call("url.create", urlGroup=prefix, urlSuffix="files", sourcePath=str(folder))
    context = ssl.create_default_context(cafile=str(pki["ca"]))
    data = os.urandom(3 * MB)
    wait_until(lambda: engine.call("urlgroup.get", urlGroup=prefix)["listening"], timeout=10)
    with BitsConnection(port, tls=context) as c:
        up = BitsUploader(c, "/upload/files/tls.bin")
        assert up.create().status == 200
        assert received(up.fragment(0, data[:MB], len(data))) == MB
        r = up.fragment(2 * MB, data[2 * MB :], len(data))  # a gap: 416, its body left unread
        assert r.status == 416 and received(r) == MB
        assert received(up.fragment(MB // 2, data[MB // 2 :], len(data))) == len(data)  # overlap
        assert up.close().status == 200
        assert b"\r\nBITS-Packet-Type: Ack\r\n" in up.conn.request(up.path, packet("Ping")).head
    assert (folder / "tls.bin").read_bytes() == data
