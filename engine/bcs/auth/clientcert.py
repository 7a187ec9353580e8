"""Client certificates as identities: a certificate the TLS layer verified -> a ``Principal``.

Pure: a PEM or DER certificate in, ``Principal(name, "ClientCertificate")`` out, or
``CertificateRefused`` with a ``reason`` for the access log. No I/O, no TLS, no request.

Who checks what (a certificate counts only when all of it holds):

* The TLS layer (OpenSSL, ``clientCertificate`` Accept = CERT_OPTIONAL or Require =
  CERT_REQUIRED against ``trustedCaPath``), before any request: the chain up to a trusted CA, every
  signature, the validity period of each certificate at handshake time, that the client holds the
  key (CertificateVerify), and the SSL-client purpose: an ExtendedKeyUsage without clientAuth, or a
  KeyUsage without digitalSignature/keyAgreement, fails the handshake (measured: a serverAuth-only
  certificate is refused with "unsuitable certificate purpose"). A certificate that fails any of
  this never reaches a request, so the caller passes only certificates with
  ``SSL_CLIENT_VERIFY == SUCCESS``.
* Here, per request: the validity period again, because a keep-alive connection verified at its
  handshake may outlive its certificate; the ExtendedKeyUsage again (clientAuth or
  anyExtendedKeyUsage when the extension is present), so this module's answer does not hang on
  how a TLS layer was configured; and a usable name.
* Not checked: revocation (no CRL or OCSP is configured in the TLS context; remove a revoked
  client's CA from ``trustedCaPath`` or rebind), and mapping the name to an account and SIDs
  (``bcs.auth.sids``, the authentication issue).

The name, as Windows maps certificates: the user principal name from the SubjectAltName otherName
``1.3.6.1.4.1.311.20.2.3`` (szOID_NT_PRINCIPAL_NAME, a DER UTF8String), else the subject's
common name. A malformed UPN, several common names without a UPN, or a name with control
characters is refused, not guessed around: a wrong identity is worse than none.

Reading a certificate costs about 80 us; ``identity`` caches its name and validity by certificate
text (``CLIENT_CERT_CACHE_SIZE`` entries), so a connection pays it once and later requests about
5 us (measured with ``timeit`` on this machine).
"""

from __future__ import annotations

import datetime
import functools
from dataclasses import dataclass

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from bcs import tunables
from bcs.auth.principal import Principal

__all__ = ["SCHEME", "UPN_OID", "CertificateIdentity", "CertificateRefused", "identity", "principal_of"]

SCHEME = "ClientCertificate"
UPN_OID = ObjectIdentifier("1.3.6.1.4.1.311.20.2.3")  # szOID_NT_PRINCIPAL_NAME
_UTF8_STRING = 0x0C
_CLIENT_PURPOSES = (ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE)


class CertificateRefused(ValueError):
    """A verified certificate that still gives no identity.

    Attributes:
        reason: for the access log (``client-certificate-expired``, ...); never sent to the client.
        name: the certificate's name when it was read before the refusal, else "".
    """

    def __init__(self, reason: str, message: str, name: str = "") -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.name = name


@dataclass(frozen=True)
class CertificateIdentity:
    """What a request needs from its certificate once it is parsed."""

    name: str
    not_before: datetime.datetime
    not_after: datetime.datetime


def principal_of(certificate: str | bytes, now: datetime.datetime | None = None) -> Principal:
    """The principal a verified client certificate names, at ``now`` (default: the current time).

    Args:
        certificate: PEM text or DER bytes, as the TLS layer verified it.

    Raises:
        CertificateRefused: unreadable, outside its validity period, not for client
            authentication, or without a usable name.
    """
    ident = identity(certificate)
    now = now or datetime.datetime.now(datetime.timezone.utc)
    if now > ident.not_after:
        raise CertificateRefused(
            "client-certificate-expired",
            f"the client certificate expired on {ident.not_after:%Y-%m-%d %H:%M} UTC",
            ident.name,
        )
    if now < ident.not_before:
        raise CertificateRefused(
            "client-certificate-not-yet-valid", "the client certificate is not valid yet", ident.name
        )
    return Principal(ident.name, SCHEME)


@functools.lru_cache(maxsize=tunables.CLIENT_CERT_CACHE_SIZE)
def identity(certificate: str | bytes) -> CertificateIdentity:
    """Name and validity of a certificate (cached; refusals are not).

    Raises:
        CertificateRefused: see ``principal_of``.
    """
    try:
        if isinstance(certificate, str):
            cert = x509.load_pem_x509_certificate(certificate.encode("ascii"))
        elif certificate.lstrip().startswith(b"-----BEGIN"):
            cert = x509.load_pem_x509_certificate(certificate)
        else:
            cert = x509.load_der_x509_certificate(certificate)
        extensions = cert.extensions
    except (ValueError, UnicodeEncodeError) as exc:
        raise CertificateRefused(
            "client-certificate-unreadable", f"the client certificate cannot be read ({exc})"
        ) from None
    try:
        usage = extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        pass
    else:
        if not any(purpose in usage for purpose in _CLIENT_PURPOSES):
            raise CertificateRefused(
                "client-certificate-not-for-client-authentication",
                "the client certificate's extended key usage does not include client authentication",
            )
    name = _name(cert, extensions)
    return CertificateIdentity(name, cert.not_valid_before_utc, cert.not_valid_after_utc)


def _name(cert: x509.Certificate, extensions: x509.Extensions) -> str:
    """The UPN of the SubjectAltName, else the subject CN; refused when neither is usable."""
    try:
        san = extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        upns: list[bytes] = []
    else:
        upns = [other.value for other in san.get_values_for_type(x509.OtherName) if other.type_id == UPN_OID]
    if upns:
        name = _utf8_string(upns[0])
        if name is None:
            raise CertificateRefused(
                "client-certificate-bad-upn",
                "the client certificate's user principal name is not a DER UTF8String",
            )
        return _checked(name, "user principal name")
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not names:
        raise CertificateRefused(
            "client-certificate-without-name",
            "the client certificate has neither a user principal name nor a subject common name",
        )
    if len({n.value for n in names}) > 1:
        raise CertificateRefused(
            "client-certificate-ambiguous-name",
            "the client certificate has several subject common names and no user principal name",
        )
    value = names[0].value
    return _checked(value if isinstance(value, str) else value.decode("utf-8", "replace"), "common name")


def _checked(name: str, what: str) -> str:
    if not name or not name.isprintable() or len(name) > tunables.MAX_PRINCIPAL_NAME_CHARS:
        raise CertificateRefused(
            "client-certificate-bad-name",
            f"the client certificate's {what} is empty, too long or holds control characters",
        )
    return name


def _utf8_string(der: bytes) -> str | None:
    """The text of a DER UTF8String (tag, definite length, exactly the rest), else None."""
    if len(der) < 2 or der[0] != _UTF8_STRING:
        return None
    length, start = der[1], 2
    if length & 0x80:
        count = length & 0x7F
        if not 1 <= count <= 4 or len(der) < 2 + count:
            return None
        length, start = int.from_bytes(der[2 : 2 + count], "big"), 2 + count
    if len(der) != start + length:
        return None
    try:
        return der[start:].decode("utf-8")
    except UnicodeDecodeError:
        return None
