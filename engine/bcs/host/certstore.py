"""Certificates and their private keys from the certificate store (.NET ``X509Store``), by thumbprint.

A binding ``thumbprint`` + ``storeLocation`` + ``storeName`` is read here through pythonnet
(``bcs.dotnet`` loads the runtime on first use). The certificate is found with
``Certificates.Find(FindByThumbprint)`` in a store opened read-only; with its private key it is
exported as PKCS#12 under a random password that never leaves the process, which is the one export
both .NET Framework (Windows) and .NET 8 offer. ``bcs.host.tls`` opens that PKCS#12 in memory.

The chain is sent as HTTP.SYS sends it: .NET ``X509Chain`` builds it from the stores (on Windows the
intermediate store ``CA`` and the others Windows searches; on Linux the engine user's
``CurrentUser\\CA`` and ``My``), without revocation checks or downloads, and every certificate
between the leaf and a self-signed root goes out after the leaf (the root never does: clients
have their own). A chain that does not reach a root still sends what it found.

On Windows the stores are the system's (LocalMachine\\My is where ``Import-PfxCertificate`` puts a
server certificate); the key must have been imported exportable, as OpenSSL cannot use a key that
stays inside CNG. On Linux and macOS .NET keeps CurrentUser stores under
``~/.dotnet/corefx/cryptography/x509stores/`` of the engine's user and refuses LocalMachine\\My.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from bcs.dotnet import load_dotnet
from bcs.errors import CRYPT_E_NOT_FOUND, ERROR_NOT_SUPPORTED, NTE_BAD_KEY_STATE, NTE_NO_KEY, BcsError

__all__ = ["StoreCertificate", "read_store_certificate"]

# .NET Framework keeps X509Store in System.dll; .NET 8 in System.Security.Cryptography.
_ASSEMBLIES = ("System", "System.Security.Cryptography", "System.Security.Cryptography.X509Certificates")


@dataclass(frozen=True)
class StoreCertificate:
    """A certificate read from a store: its DER bytes and, when asked for, a PKCS#12 with its key."""

    der: bytes
    pkcs12: bytes | None = None
    password: bytes | None = None  # of ``pkcs12``: random, made for this export only
    chain: tuple[bytes, ...] = ()  # DER of the intermediates, leaf's issuer first, no self-signed root


def _message(exc: Any) -> str:
    """A .NET exception's own message (str() of it carries the whole stack trace)."""
    inner = getattr(exc, "InnerException", None)
    text = str(getattr(inner or exc, "Message", "") or exc)
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__


def _type_names(exc: Any) -> str:
    """The .NET type names of an exception and its inner one."""
    names = [type(exc).__name__]
    inner = getattr(exc, "InnerException", None)
    if inner is not None:
        names.append(str(inner.GetType().Name))
    return " ".join(names)


def read_store_certificate(thumbprint: str, location: str, name: str, with_key: bool) -> StoreCertificate:
    """The certificate ``thumbprint`` of store ``location``\\``name`` (and its key when ``with_key``).

    Raises:
        BcsError: ERROR_NOT_SUPPORTED (no pythonnet or .NET; a store this platform does not have),
            CRYPT_E_NOT_FOUND (no such store or certificate), NTE_NO_KEY (no private key),
            NTE_BAD_KEY_STATE (the key cannot be exported).
    """
    where = f"Cert:\\{location}\\{name}"
    system = load_dotnet("a certificate from the certificate store", _ASSEMBLIES, noun="SslCertificate")
    x509 = system.Security.Cryptography.X509Certificates
    flags = x509.OpenFlags.ReadOnly | x509.OpenFlags.OpenExistingOnly
    store = x509.X509Store(name, getattr(x509.StoreLocation, location))
    try:
        try:
            store.Open(flags)
        except Exception as exc:
            if "PlatformNotSupported" in _type_names(exc):
                raise BcsError(
                    ERROR_NOT_SUPPORTED,
                    f"{where} is not available on this platform ({_message(exc)}); on Linux and macOS "
                    "import the certificate into CurrentUser\\My of the engine's user",
                    noun="SslCertificate",
                    target=where,
                ) from None
            raise BcsError(
                CRYPT_E_NOT_FOUND,
                f"{where} cannot be opened ({_message(exc)})",
                noun="SslCertificate",
                target=where,
            ) from None
        found = store.Certificates.Find(x509.X509FindType.FindByThumbprint, thumbprint, False)
        if found.Count == 0:
            raise BcsError(
                CRYPT_E_NOT_FOUND,
                f"no certificate with thumbprint {thumbprint} in {where}",
                noun="SslCertificate",
                target=thumbprint,
            )
        try:
            return _read(found[0], thumbprint, where, with_key, x509)
        finally:
            for cert in found:
                cert.Dispose()  # key handles go now, not whenever .NET collects
    finally:
        store.Close()


def _intermediates(cert: Any, x509: Any) -> tuple[bytes, ...]:
    """The certificates between ``cert`` and its root, as the stores give them (see the module doc)."""
    chain = x509.X509Chain()
    try:
        policy = chain.ChainPolicy
        policy.RevocationMode = x509.X509RevocationMode.NoCheck
        policy.VerificationFlags = x509.X509VerificationFlags.AllFlags  # elements even of an untrusted chain
        if hasattr(policy, "DisableCertificateDownloads"):  # .NET Core 3+: no AIA fetches from the engine
            policy.DisableCertificateDownloads = True
        chain.Build(cert)
        found = []
        for index, element in enumerate(chain.ChainElements):
            link = element.Certificate
            if index == 0 or str(link.Subject) == str(link.Issuer):
                continue  # the leaf itself; a self-signed root
            found.append(bytes(link.RawData))
        return tuple(found)
    except Exception:  # a chain is a courtesy to clients: the leaf is served without it
        return ()
    finally:
        if hasattr(chain, "Dispose"):
            chain.Dispose()


def _read(cert: Any, thumbprint: str, where: str, with_key: bool, x509: Any) -> StoreCertificate:
    der = bytes(cert.RawData)
    chain = _intermediates(cert, x509)
    if not with_key:
        return StoreCertificate(der, chain=chain)
    if not cert.HasPrivateKey:
        raise BcsError(
            NTE_NO_KEY,
            f"certificate {thumbprint} in {where} has no private key; import it with its key (a PFX)",
            noun="SslCertificate",
            target=thumbprint,
        )
    password = os.urandom(24).hex()
    try:
        exported = cert.Export(x509.X509ContentType.Pkcs12, password)
    except Exception as exc:
        raise BcsError(
            NTE_BAD_KEY_STATE,
            f"the private key of certificate {thumbprint} in {where} cannot be exported "
            f"({_message(exc)}); OpenSSL serves only keys it can read: import the PFX again "
            "with the key marked exportable (Import-PfxCertificate -Exportable)",
            noun="SslCertificate",
            target=thumbprint,
        ) from None
    return StoreCertificate(der, bytes(exported), password.encode("ascii"), chain)
