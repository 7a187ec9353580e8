"""BITS_POST needs write access (issue 14 + 15): NTLM on an upload group, SDDL by user, on the wire.

A real engine with an NTLM user file and a principals map; pyspnego as the client over one
keep-alive connection (the handshake rides on the Create-Session packet, as BITS does it). A user
with read access only gets 403 + 0x80070005 for Create-Session, a user with write access uploads,
and the reader can then download what the writer uploaded.
"""

from __future__ import annotations

import base64
import http.client
from pathlib import Path
from typing import Any

import spnego

from auth_support import write_ntlm_users
from conftest import EngineProcess, free_port
from test_client_support import wait_until

DOMAIN = "S-1-5-21-1000-2000-3000"
PROTOCOL = "{7df0354d-249b-430f-820d-3d2a9bef4931}"


def bits_post(
    conn: http.client.HTTPConnection, path: str, headers: dict[str, str], body: bytes = b""
) -> http.client.HTTPResponse:
    conn.request("BITS_POST", path, body=body, headers={**headers, "Content-Length": str(len(body))})
    response = conn.getresponse()
    response.read()
    return response


def ntlm_packet(
    conn: http.client.HTTPConnection, path: str, user: str, password: str, headers: dict[str, str]
) -> http.client.HTTPResponse:
    """``headers`` sent as a BITS_POST through an NTLM handshake on ``conn``; the last answer."""
    client = spnego.client(user, password, protocol="ntlm")
    token = client.step()
    for _ in range(3):
        auth = {"Authorization": "NTLM " + base64.b64encode(token).decode()}
        response = bits_post(conn, path, {**headers, **auth})
        challenge = response.getheader("WWW-Authenticate", "")
        if response.status != 401 or not challenge.startswith("NTLM "):
            return response
        token = client.step(base64.b64decode(challenge.split()[1]))
    raise AssertionError("the handshake did not end")


def test_bits_post_needs_write_access_by_sddl(engine_factory: Any, tmp_path: Path) -> None:
    users = write_ntlm_users(tmp_path / "users", "BCS:alice:Alice-pw1", "BCS:bob:Bob-pw1")
    engine: EngineProcess = engine_factory("upauth").start()
    engine.call(
        "auth.set",
        ntlmUserFile=str(users),
        principals=[
            {"name": "BCS\\alice", "sid": f"{DOMAIN}-1001"},
            {"name": "BCS\\bob", "sid": f"{DOMAIN}-1002"},
        ],
    )
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    port = free_port()
    prefix = f"http://+:{port}/Up/"
    engine.call("urlgroup.create", urlGroup=prefix, authentication=["NTLM"], uploadEnabled=True)
    # alice reads, bob reads and writes
    sddl = f"D:(A;;FR;;;{DOMAIN}-1001)(A;;FRFW;;;{DOMAIN}-1002)"
    engine.call("url.create", urlGroup=prefix, urlSuffix="files", sourcePath=str(incoming), sddl=sddl)
    path = "/Up/files/report.bin"
    create = {"BITS-Packet-Type": "Create-Session", "BITS-Supported-Protocols": PROTOCOL}

    anonymous = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    response = bits_post(anonymous, path, create)
    assert response.status == 401 and response.getheader("BITS-Packet-Type") == "Ack"
    anonymous.close()

    reader = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    response = ntlm_packet(reader, path, "BCS\\alice", "Alice-pw1", create)
    assert response.status == 403
    assert response.getheader("BITS-Error-Code") == "0x80070005"
    assert response.getheader("BITS-Packet-Type") == "Ack"
    reader.close()

    writer = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    response = ntlm_packet(writer, path, "BCS\\bob", "Bob-pw1", create)
    assert response.status == 200, response.headers
    session = response.getheader("BITS-Session-Id")
    assert session
    data = b"uploaded by bob\n" * 1000
    # the connection is authenticated: the next packets need no Authorization
    response = bits_post(
        writer,
        path,
        {
            "BITS-Packet-Type": "Fragment",
            "BITS-Session-Id": session,
            "Content-Name": "report.bin",
            "Content-Range": f"bytes 0-{len(data) - 1}/{len(data)}",
        },
        data,
    )
    assert response.status == 200 and response.getheader("BITS-Received-Content-Range") == str(len(data))
    response = bits_post(writer, path, {"BITS-Packet-Type": "Close-Session", "BITS-Session-Id": session})
    assert response.status == 200
    writer.close()
    assert (incoming / "report.bin").read_bytes() == data
    assert engine.call("upload.list") == []

    # alice may read what bob wrote (GET through the same handshake)
    reader = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    client = spnego.client("BCS\\alice", "Alice-pw1", protocol="ntlm")
    token = client.step()
    for _ in range(3):
        reader.request("GET", path, headers={"Authorization": "NTLM " + base64.b64encode(token).decode()})
        got = reader.getresponse()
        body = got.read()
        challenge = got.getheader("WWW-Authenticate", "")
        if got.status != 401 or not challenge.startswith("NTLM "):
            break
        token = client.step(base64.b64decode(challenge.split()[1]))
    assert (got.status, body) == (200, data)
    reader.close()
    log = engine.state_dir / "access.log"
    wait_until(
        lambda: "BCS\\alice refused:sddl-denied" in log.read_text(), 10, "the refusal in the access log"
    )
