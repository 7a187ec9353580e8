"""Client certificates as identities (issue 13): a URL group whose ``authentication`` lists
``ClientCertificate`` serves a request whose TLS client certificate was verified, records the
certificate's UPN (else its CN) as the access log's user, and answers 403 + 0x80070005 otherwise.

Real curl with ``--cert``/``--key`` against the engine's https listener; the certificates are made
by ``make_cert`` (cryptography) and, for the UPN cross-check, by the openssl command line.
"""

from __future__ import annotations

import datetime
import subprocess
from pathlib import Path
from typing import Any

import pytest

from bcs.auth import clientcert
from bcs.auth.negotiate import NegotiateAcceptor
from bcs.auth.schemes import Authenticator, Challenge, Refused
from bcs.rpc.client import RpcError
from conftest import EngineProcess, free_port
from test_client_support import make_cert
from test_host_http import access_lines


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    base = tmp_path_factory.mktemp("pki")
    ca_cert, ca_key, ca_path, _ = make_cert(base, "ca", None, ca=True, days=365)
    ca = (ca_cert, ca_key)
    rogue_ca = make_cert(base, "rogue-ca", None, ca=True)
    return {
        "base": base,
        "ca": ca_path,
        "server": make_cert(base, "server", ca),
        "upn": make_cert(base, "alice-cn", ca, client=True, upn="alice@example.com"),
        "cn": make_cert(base, "bob", ca, client=True),
        "expired": make_cert(base, "carol", ca, client=True, days=-1, start_days_ago=30),
        "rogue": make_cert(base, "mallory", (rogue_ca[0], rogue_ca[1]), client=True),
        "server_only": make_cert(base, "dave", ca),  # ExtendedKeyUsage serverAuth only
    }


@pytest.fixture
def payload(tmp_path: Path) -> Path:
    path = tmp_path / "f.bin"
    path.write_bytes(b"for certificate holders only\n")
    return path


def secure_group(
    engine: EngineProcess,
    pki: dict[str, Any],
    payload: Path,
    authentication: list[str],
    mode: str = "Accept",
    port: int | None = None,
    name: str = "Sec",
) -> tuple[int, str]:
    port = port or free_port()
    group = f"https://+:{port}/{name}/"
    engine.call("urlgroup.create", urlGroup=group, authentication=authentication)
    engine.call("url.create", urlGroup=group, urlSuffix="f.bin", sourcePath=str(payload))
    if not any(b["port"] == port for b in engine.call("sslcert.list")):
        extra = {} if mode == "Ignore" else {"trustedCaPath": str(pki["ca"])}
        engine.call(
            "sslcert.set",
            port=port,
            certificatePath=str(pki["server"][2]),
            keyPath=str(pki["server"][3]),
            clientCertificate=mode,
            **extra,
        )
    return port, group


def curl(
    port: int,
    pki: dict[str, Any],
    out: Path,
    who: str | None = None,
    *extra: str,
    name: str = "Sec",
    path: str = "f.bin",
) -> tuple[int, dict[str, str]]:
    """Status and lower-cased headers of one curl GET (0 when the TLS handshake failed)."""
    cert = ["--cert", str(pki[who][2]), "--key", str(pki[who][3])] if who else []
    done = subprocess.run(
        [
            "curl",
            "-sS",
            "--max-time",
            "20",
            "--cacert",
            str(pki["ca"]),
            *cert,
            *extra,
            "-D",
            "-",
            "-o",
            str(out),
            f"https://localhost:{port}/{name}/{path}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    lines = done.stdout.splitlines()
    if done.returncode != 0 or not lines:
        return 0, {"error": done.stderr}
    headers = {}
    for line in lines[1:]:
        key, sep, value = line.partition(":")
        if sep:
            headers[key.strip().lower()] = value.strip()
    return int(lines[0].split()[1]), headers


def last_access(engine: EngineProcess, count: int) -> str:
    lines = access_lines(engine, count)
    assert len(lines) >= count, lines
    return lines[count - 1]


def test_a_certificate_with_a_upn_is_served_and_logged_by_its_upn(
    engine: EngineProcess, pki: dict[str, Any], payload: Path, tmp_path: Path
) -> None:
    port, group = secure_group(engine, pki, payload, ["ClientCertificate"])
    got = engine.call("urlgroup.get", urlGroup=group)
    assert got["enforced"] is True and got["urls"][0]["enforced"] is True
    assert got["authenticationWarning"] is None
    host = engine.call("server.status")["services"]["host"]
    assert host["securityEnforced"] is True and host["unenforcedSettings"] == []
    out = tmp_path / "out.bin"
    assert curl(port, pki, out, "upn")[0] == 200
    assert out.read_bytes() == payload.read_bytes()
    fields = last_access(engine, 1).split(" ")
    assert fields[2:5] == ["GET", "/Sec/f.bin", "200"] and fields[7] == "alice@example.com", fields


def test_a_certificate_without_a_upn_is_logged_by_its_common_name(
    engine: EngineProcess, pki: dict[str, Any], payload: Path, tmp_path: Path
) -> None:
    port, _ = secure_group(engine, pki, payload, ["ClientCertificate"])
    assert curl(port, pki, tmp_path / "out.bin", "cn")[0] == 200
    assert last_access(engine, 1).split(" ")[7] == "bob"


def test_no_certificate_gets_403_with_e_accessdenied_and_the_reason_only_in_the_log(
    engine: EngineProcess, pki: dict[str, Any], payload: Path, tmp_path: Path
) -> None:
    port, _ = secure_group(engine, pki, payload, ["ClientCertificate"])
    out = tmp_path / "out.bin"
    status, headers = curl(port, pki, out)
    assert (status, headers["bits-error-code"]) == (403, "0x80070005")
    body = out.read_text()
    assert "for certificate holders" not in body and "refused" not in body
    # A client cannot forge the TLS layer's variables with request headers.
    forged = ("-H", "SSL_CLIENT_VERIFY: SUCCESS", "-H", "SSL_CLIENT_CERT: forged")
    assert curl(port, pki, out, None, *forged)[0] == 403
    lines = access_lines(engine, 2)
    assert [line.split(" ")[7:] for line in lines] == [["-", "refused:no-client-certificate"]] * 2


@pytest.mark.parametrize("who", ["rogue", "expired", "server_only"])
def test_an_untrusted_expired_or_server_only_certificate_is_refused(
    engine: EngineProcess, pki: dict[str, Any], payload: Path, tmp_path: Path, who: str
) -> None:
    port, _ = secure_group(engine, pki, payload, ["ClientCertificate"])
    status, info = curl(port, pki, tmp_path / "out.bin", who)
    # OpenSSL refuses these in the handshake (unknown CA, expired, unsuitable purpose): no request.
    assert status == 0, info
    assert curl(port, pki, tmp_path / "ok.bin", "upn")[0] == 200
    assert [line.split(" ")[7] for line in access_lines(engine, 1)] == ["alice@example.com"]


def test_an_sddl_refuses_a_certificate_holder_without_a_sid_source_naming_them_in_the_log(
    engine: EngineProcess, pki: dict[str, Any], payload: Path, tmp_path: Path
) -> None:
    port, group = secure_group(engine, pki, payload, ["ClientCertificate"])
    engine.call(
        "url.create", urlGroup=group, urlSuffix="g.bin", sourcePath=str(payload), sddl="D:(A;;GA;;;BA)"
    )
    assert curl(port, pki, tmp_path / "out.bin", "upn", name="Sec", path="g.bin")[0] == 403
    assert access_lines(engine, 1)[0].endswith(" alice@example.com refused:principal-not-resolved")


def test_a_group_without_client_certificate_on_the_same_port_serves_anonymously(
    engine: EngineProcess, pki: dict[str, Any], payload: Path, tmp_path: Path
) -> None:
    port, _ = secure_group(engine, pki, payload, ["ClientCertificate"])
    secure_group(engine, pki, payload, [], port=port, name="Open")
    out = tmp_path / "out.bin"
    assert curl(port, pki, out, name="Open")[0] == 200
    assert curl(port, pki, out, "upn", name="Open")[0] == 200, "a certificate is not needed, nor named"
    assert curl(port, pki, out, name="Sec")[0] == 403
    lines = access_lines(engine, 3)
    assert [line.split(" ")[7:] for line in lines] == [["-"], ["-"], ["-", "refused:no-client-certificate"]]


def test_a_group_with_a_certificate_or_ntlm_serves_a_certificate_and_challenges_the_rest(
    engine: EngineProcess, pki: dict[str, Any], payload: Path, tmp_path: Path
) -> None:
    port, group = secure_group(engine, pki, payload, ["ClientCertificate", "NTLM"])
    got = engine.call("urlgroup.get", urlGroup=group)
    assert got["enforced"] is True
    assert curl(port, pki, tmp_path / "a.bin", "cn")[0] == 200
    assert curl(port, pki, tmp_path / "b.bin")[0] == 401, "no certificate: NTLM is offered"
    lines = access_lines(engine, 2)
    assert lines[0].split(" ")[7:] == ["bob"]
    assert lines[1].split(" ")[4] == "401"


def test_a_port_that_never_asks_for_a_certificate_refuses_and_warns(
    engine: EngineProcess, pki: dict[str, Any], payload: Path, tmp_path: Path
) -> None:
    port, group = secure_group(engine, pki, payload, ["ClientCertificate"], mode="Ignore")
    warning = engine.call("urlgroup.get", urlGroup=group)["authenticationWarning"]
    assert f"port {port}" in warning and "Ignore" in warning
    assert curl(port, pki, tmp_path / "out.bin", "upn")[0] == 403
    assert access_lines(engine, 1)[0].endswith(" - refused:no-client-certificate")
    assert "Ignore" in engine.output()
    engine.call(
        "sslcert.set",
        port=port,
        certificatePath=str(pki["server"][2]),
        keyPath=str(pki["server"][3]),
        clientCertificate="Accept",
        trustedCaPath=str(pki["ca"]),
    )
    assert engine.call("urlgroup.get", urlGroup=group)["authenticationWarning"] is None
    assert curl(port, pki, tmp_path / "out.bin", "upn")[0] == 200


def test_client_certificate_on_a_plain_http_group_is_refused_naming_the_field(
    engine: EngineProcess, payload: Path
) -> None:
    group = f"http://+:{free_port()}/Plain/"
    with pytest.raises(RpcError) as info:
        engine.call("urlgroup.create", urlGroup=group, authentication=["NTLM", "ClientCertificate"])
    assert info.value.data["name"] == "E_INVALIDARG"
    assert "authentication[1]" in info.value.message and "https" in info.value.message
    assert engine.call("urlgroup.list") == []
    engine.call("urlgroup.create", urlGroup=group)
    with pytest.raises(RpcError) as info:
        engine.call("urlgroup.set", urlGroup=group, authentication=["ClientCertificate"])
    assert info.value.data["name"] == "E_INVALIDARG" and "authentication[0]" in info.value.message
    assert engine.call("urlgroup.get", urlGroup=group)["authentication"] == []
    yaml = f"version: 1\nurlGroups:\n- urlGroup: {group}\n  authentication: [ClientCertificate]\n"
    with pytest.raises(RpcError) as info:
        engine.call("config.import", yaml=yaml)
    assert info.value.data["name"] == "E_INVALIDARG"
    assert "urlGroups[0].authentication[0]" in info.value.message


# --- bcs.auth.clientcert and bcs.auth.schemes, without a listener --------------------------------


def openssl_client_cert(base: Path, subject: str, san: str) -> str:
    """A self-signed client certificate made by the openssl command line (a second producer)."""
    key, cert = base / "o.key", base / "o.crt"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "2",
            "-subj",
            subject,
            "-addext",
            f"subjectAltName={san}",
            "-addext",
            "extendedKeyUsage=clientAuth",
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )
    return cert.read_text()


def test_the_upn_is_read_from_an_openssl_made_certificate_and_its_der_form(tmp_path: Path) -> None:
    # openssl's UTF8: takes its argument as Latin-1, so non-ASCII UPNs come from make_cert below.
    pem = openssl_client_cert(
        tmp_path,
        "/CN=Alice Liddell/O=Example",
        "DNS:x,otherName:1.3.6.1.4.1.311.20.2.3;UTF8:alice@example.com",
    )
    assert clientcert.principal_of(pem).name == "alice@example.com"
    der = subprocess.run(
        ["openssl", "x509", "-outform", "DER"], input=pem.encode(), capture_output=True, check=True
    ).stdout
    principal = clientcert.principal_of(der)
    assert (principal.name, principal.scheme, principal.authenticated) == (
        "alice@example.com",
        "ClientCertificate",
        True,
    )
    assert clientcert.principal_of(openssl_client_cert(tmp_path, "/CN=Alice Liddell", "DNS:x")).name == (
        "Alice Liddell"
    )


def test_a_non_ascii_upn_and_one_longer_than_127_bytes_are_read(tmp_path: Path) -> None:
    ca = make_cert(tmp_path, "ca", None, ca=True)
    for upn in ("zoë.ßmith@example.com", "u" * 200 + "@example.com"):
        cert = make_cert(tmp_path, "c", (ca[0], ca[1]), client=True, upn=upn)
        assert clientcert.principal_of(cert[2].read_text()).name == upn


@pytest.mark.parametrize(
    ("subject", "san", "reason"),
    [
        ("/CN=a", "otherName:1.3.6.1.4.1.311.20.2.3;IA5STRING:a@example.com", "client-certificate-bad-upn"),
        ("/O=Example", "DNS:x", "client-certificate-without-name"),
        ("/CN=a/CN=b", "DNS:x", "client-certificate-ambiguous-name"),
    ],
)
def test_a_certificate_without_one_clear_name_is_refused(
    tmp_path: Path, subject: str, san: str, reason: str
) -> None:
    with pytest.raises(clientcert.CertificateRefused) as info:
        clientcert.principal_of(openssl_client_cert(tmp_path, subject, san))
    assert info.value.reason == reason


def test_validity_and_purpose_are_checked_per_request(pki: dict[str, Any]) -> None:
    pem = pki["cn"][2].read_text()
    later = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=31)
    with pytest.raises(clientcert.CertificateRefused) as info:
        clientcert.principal_of(pem, now=later)  # a keep-alive connection outliving its certificate
    assert (info.value.reason, info.value.name) == ("client-certificate-expired", "bob")
    with pytest.raises(clientcert.CertificateRefused) as info:
        clientcert.principal_of(pki["server_only"][2].read_text())
    assert info.value.reason == "client-certificate-not-for-client-authentication"
    with pytest.raises(clientcert.CertificateRefused) as info:
        clientcert.principal_of("not a certificate")
    assert info.value.reason == "client-certificate-unreadable"


def test_schemes_count_only_a_certificate_the_tls_layer_verified(pki: dict[str, Any]) -> None:
    def authenticate(environ: dict[str, Any], schemes: list[str]) -> Any:
        return Authenticator(NegotiateAcceptor()).authenticate(environ, schemes)[0]

    pem = pki["upn"][2].read_text()
    assert authenticate({}, []).authenticated is False
    assert authenticate(
        {"SSL_CLIENT_VERIFY": "SUCCESS", "SSL_CLIENT_CERT": pem}, ["ClientCertificate"]
    ).name == ("alice@example.com")
    for environ in (
        {"SSL_CLIENT_VERIFY": "NONE", "SSL_CLIENT_CERT": pem},
        {"HTTP_SSL_CLIENT_VERIFY": "SUCCESS"},
    ):
        with pytest.raises(Refused) as info:
            authenticate(environ, ["ClientCertificate"])
        assert info.value.reason == "no-client-certificate"
    # Without a certificate, a group that also lists a handshake scheme invites it (401)
    with pytest.raises(Challenge) as challenge:
        authenticate({"bcs.connection": object()}, ["ClientCertificate", "Negotiate", "NTLM"])
    assert challenge.value.values == ["Negotiate", "NTLM"]
