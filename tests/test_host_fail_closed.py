"""Fail closed: security settings refuse service whenever they cannot be honoured.

A group that authenticates answers a request without credentials 401 and never the file. A URL
with an SDDL is checked against the caller's SIDs: anonymous callers hold fixed ones; an
authenticated caller whose SIDs no directory or principals map gives is refused 403 with
``BITS-Error-Code: 0x80070005`` (E_ACCESSDENIED), the URL says ``enforced: false``, and the
settings stay accepted and persisted. SDDL strings are parsed at ``url.create`` and
``config.import``, and a bad one is refused naming the position.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from bcs.auth.sddl import parse_sddl
from bcs.errors import InvalidArgumentError
from bcs.rpc.client import RpcError
from conftest import EngineProcess, free_port
from test_host_http import access_lines, fetch


def curl_status(port: int, path: str) -> tuple[int, str]:
    """Status and BITS-Error-Code of an anonymous curl request."""
    out = subprocess.run(
        ["curl", "-s", "-o", "/dev/null", "-D", "-", f"http://127.0.0.1:{port}{path}"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    status = int(out.split()[1])
    code = ""
    for line in out.splitlines():
        if line.lower().startswith("bits-error-code:"):
            code = line.split(":", 1)[1].strip()
    return status, code


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    path = tmp_path / "a"
    path.write_bytes(b"top secret\n")
    return path


def test_a_group_that_requires_authentication_answers_anonymous_curl_with_401_never_the_file(
    engine: EngineProcess, secret: Path
) -> None:
    port = free_port()
    group = f"http://+:{port}/Sec/"
    created = engine.call("urlgroup.create", urlGroup=group, authentication=["NTLM"])
    engine.call("url.create", urlGroup=group, urlSuffix="a", sourcePath=str(secret))
    assert created["enforced"] is True
    assert curl_status(port, "/Sec/a") == (401, "0x80190191")
    status, headers, body = fetch(port, "/Sec/a")
    assert status == 401 and b"top secret" not in body
    assert headers["www-authenticate"] == "NTLM"
    assert fetch(port, "/Sec/missing")[0] == 401, "no hint which URLs exist either"
    host = engine.call("server.status")["services"]["host"]
    assert host["securityEnforced"] is True
    assert engine.call("urlgroup.get", urlGroup=group)["urls"][0]["enforced"] is True


def test_an_sddl_is_checked_for_anonymous_callers_while_its_neighbours_serve(
    engine: EngineProcess, secret: Path, tmp_path: Path
) -> None:
    port = free_port()
    group = f"http://+:{port}/Mixed/"
    public = tmp_path / "public.txt"
    public.write_text("hello\n")
    engine.call("urlgroup.create", urlGroup=group)
    engine.call("url.create", urlGroup=group, urlSuffix="public.txt", sourcePath=str(public))
    made = engine.call(
        "url.create", urlGroup=group, urlSuffix="admins/a", sourcePath=str(secret), sddl="D:(A;;GA;;;BA)"
    )
    engine.call(
        "url.create", urlGroup=group, urlSuffix="anon/a", sourcePath=str(secret), sddl="D:(A;;FR;;;AN)"
    )
    engine.call(
        "url.create", urlGroup=group, urlSuffix="everyone/a", sourcePath=str(secret), sddl="D:(A;;FR;;;WD)"
    )
    assert made["enforced"] is True and made["sddl"] == "D:(A;;GA;;;BA)"
    assert curl_status(port, "/Mixed/admins/a") == (403, "0x80070005")
    assert fetch(port, "/Mixed/public.txt")[:1] == (200,)
    assert fetch(port, "/Mixed/anon/a")[:1] == (200,), "anonymous callers hold Anonymous Logon (AN)"
    assert fetch(port, "/Mixed/everyone/a")[0] == 403, "and not Everyone, as Windows since 2003"
    got = engine.call("urlgroup.get", urlGroup=group)
    assert got["enforced"] is True
    lines = access_lines(engine, 4)
    assert lines[0].endswith(" refused:sddl-denied")
    assert lines[3].endswith(" refused:sddl-denied")


def test_settings_stay_persisted_and_enforced_after_a_restart(engine: EngineProcess, secret: Path) -> None:
    port = free_port()
    group = f"http://+:{port}/Sec/"
    engine.call("urlgroup.create", urlGroup=group, authentication=["Negotiate", "NTLM"])
    engine.call("url.create", urlGroup=group, urlSuffix="a", sourcePath=str(secret))
    engine.restart()
    assert engine.call("urlgroup.get", urlGroup=group)["authentication"] == ["Negotiate", "NTLM"]
    assert curl_status(port, "/Sec/a")[0] == 401
    engine.call("urlgroup.set", urlGroup=group, authentication=[])
    assert curl_status(port, "/Sec/a") == (200, "")
    assert engine.call("server.status")["services"]["host"]["securityEnforced"] is True


def test_an_sddl_for_authenticated_callers_without_a_sid_source_is_not_enforced_and_refuses(
    engine: EngineProcess, secret: Path
) -> None:
    port = free_port()
    cert_only, mixed = f"https://+:{port}/Cert/", f"https://+:{port}/Mixed/"
    assert engine.call("urlgroup.create", urlGroup=cert_only, authentication=["ClientCertificate"])[
        "enforced"
    ]
    engine.call("url.create", urlGroup=cert_only, urlSuffix="a", sourcePath=str(secret))
    made = engine.call("urlgroup.create", urlGroup=mixed, authentication=["ClientCertificate", "Negotiate"])
    assert made["enforced"] is True
    engine.call("urlgroup.delete", urlGroup=mixed)
    assert engine.call("server.status")["services"]["host"]["securityEnforced"] is True
    url = engine.call(
        "url.create", urlGroup=cert_only, urlSuffix="b", sourcePath=str(secret), sddl="D:(A;;GA;;;BA)"
    )
    assert url["enforced"] is False
    got = engine.call("urlgroup.get", urlGroup=cert_only)
    assert got["enforced"] is False
    assert {u["urlSuffix"]: u["enforced"] for u in got["urls"]} == {"a": True, "b": False}
    host = engine.call("server.status")["services"]["host"]
    assert host["unenforcedSettings"] == [{"urlGroup": cert_only, "urlSuffix": "b", "setting": "sddl"}]


@pytest.mark.parametrize(
    ("sddl", "position"),
    [
        ("X:(A;;GA;;;BA)", 1),
        ("D:(A;;GQ;;;BA)", 7),
        ("D:(A;;GA;;;ZZ)", 12),
        ("D:(A;;GA;;;BA", 14),
        ("O:BA", 1),
    ],
)
def test_url_create_refuses_an_sddl_that_does_not_parse_naming_the_position(
    engine: EngineProcess, secret: Path, sddl: str, position: int
) -> None:
    group = f"http://+:{free_port()}/Bad/"
    engine.call("urlgroup.create", urlGroup=group)
    with pytest.raises(RpcError) as info:
        engine.call("url.create", urlGroup=group, urlSuffix="a", sourcePath=str(secret), sddl=sddl)
    assert info.value.data["name"] == "E_INVALIDARG"
    assert f"at character {position}" in info.value.message
    assert engine.call("url.list", urlGroup=group) == []


def test_config_import_refuses_a_bad_sddl_naming_the_setting(engine: EngineProcess, secret: Path) -> None:
    yaml = (
        f"version: 1\nurlGroups:\n- urlGroup: http://+:{free_port()}/Imp/\n  urls:\n"
        f"  - urlSuffix: a\n    sourcePath: {secret}\n    sddl: 'D:(A;;GA;;;BA'\n"
    )
    with pytest.raises(RpcError) as info:
        engine.call("config.import", yaml=yaml)
    assert info.value.data["name"] == "E_INVALIDARG"
    assert "urlGroups[0].urls[0].sddl" in info.value.message
    assert "at character 14" in info.value.message


def test_sddl_parser_reads_owner_group_flags_hex_masks_and_sids() -> None:
    sd = parse_sddl("O:BAG:SYD:PAI(A;OICI;FA;;;S-1-5-21-1-2-3-500)(D;;0x120089;;;WD)(A;;GRGX;;;AU)")
    assert sd.owner == "BA" and sd.group == "SY" and sd.dacl_flags == {"P", "AI"}
    assert sd.dacl is not None
    assert [(a.type, a.mask, a.sid) for a in sd.dacl] == [
        ("A", 0x1F01FF, "S-1-5-21-1-2-3-500"),
        ("D", 0x120089, "WD"),
        ("A", 0x80000000 | 0x20000000, "AU"),
    ]
    assert parse_sddl("D:").dacl == ()  # an empty DACL: nobody
    assert parse_sddl("D:NO_ACCESS_CONTROL").dacl is None  # a NULL DACL: everybody


@pytest.mark.parametrize(
    "sddl",
    [
        "",
        "D:D:",
        "D:(XA;;GA;;;BA;(x))",
        "D:(A;;GA;;;BA;attr)",
        "D:NO_ACCESS_CONTROL(A;;GA;;;BA)",
        "D:(A;;0x1FFFFFFFF;;;BA)",
    ],
)
def test_sddl_parser_refuses_what_it_cannot_evaluate(sddl: str) -> None:
    with pytest.raises(InvalidArgumentError):
        parse_sddl(sddl)
