"""The authentication of one request: its URL group's schemes tried in order -> a ``Principal``.

Owns ``authenticate`` (what the file host's app calls with the request environ and the group's
``authentication`` list), ``Refused`` (what it raises instead; the app answers 403 +
E_ACCESSDENIED and logs ``refused:<reason>``) and ``AUTHENTICATORS``, one entry per scheme this
engine enforces. A scheme plugs in by adding its entry: a function of the environ that returns a
``Principal`` when the request proves one, None when it carries no credentials of that scheme,
and raises ``Refused`` when it carries bad ones.

Rules, in order:
* no scheme: anonymous (``ANONYMOUS``);
* the first scheme whose authenticator returns a principal wins: a group listing
  ``ClientCertificate`` and ``NTLM`` serves a request with a valid certificate;
* else credentials that were refused refuse the request with their reason;
* else, when the group lists a scheme this engine cannot enforce yet (``Negotiate``, ``NTLM``):
  ``authentication-not-enforced``, fail closed as before that scheme lands;
* else the reason of the missing credentials (``no-client-certificate``).

Client certificates: only what the TLS layer verified counts, ``SSL_CLIENT_VERIFY == SUCCESS``
with the certificate in ``SSL_CLIENT_CERT`` (the https listener sets both after the handshake;
WSGI servers put request headers under ``HTTP_*``, so a client cannot forge them). The
certificate's own checks are ``bcs.auth.clientcert``'s.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from bcs.auth import clientcert
from bcs.auth.principal import ANONYMOUS, Principal

__all__ = ["AUTHENTICATORS", "Refused", "authenticate", "enforced"]

Environ = Mapping[str, Any]


class Refused(Exception):
    """A request that proves no identity the group accepts.

    Attributes:
        reason: the access-log note after ``refused:``; never sent to the client.
        message: what the 403 body says (nothing about users or files).
        name: who the credentials named, for the access log, when they were read; else "".
    """

    def __init__(self, reason: str, message: str, name: str = "") -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.name = name


def _client_certificate(environ: Environ) -> Principal | None:
    if environ.get("SSL_CLIENT_VERIFY") != "SUCCESS":
        return None
    pem = environ.get("SSL_CLIENT_CERT")
    if not isinstance(pem, str) or not pem:
        return None
    try:
        return clientcert.principal_of(pem)
    except clientcert.CertificateRefused as exc:
        raise Refused(exc.reason, exc.message, exc.name) from None


# scheme -> authenticator; a scheme of bcs.config.AUTH_SCHEMES missing here is not enforced yet.
AUTHENTICATORS: dict[str, Callable[[Environ], Principal | None]] = {
    clientcert.SCHEME: _client_certificate,
}

# Why a request without credentials is refused, by the group's first scheme listed here.
_MISSING = {clientcert.SCHEME: ("no-client-certificate", "this URL group requires a client certificate")}
_NO_CREDENTIALS = ("no-credentials", "this URL group requires authentication")


def enforced(schemes: Sequence[str]) -> bool:
    """Whether every scheme of a group's ``authentication`` list is enforced by this engine."""
    return all(scheme in AUTHENTICATORS for scheme in schemes)


def authenticate(environ: Environ, schemes: Sequence[str]) -> Principal:
    """Who is asking, by the first of ``schemes`` the request proves.

    Raises:
        Refused: no scheme gives a principal (see the module rules).
    """
    if not schemes:
        return ANONYMOUS
    refused: Refused | None = None
    for scheme in schemes:
        authenticator = AUTHENTICATORS.get(scheme)
        if authenticator is None:
            continue
        try:
            principal = authenticator(environ)
        except Refused as exc:
            refused = refused or exc
            continue
        if principal is not None:
            return principal
    if refused is not None:
        raise refused
    if not enforced(schemes):
        raise Refused(
            "authentication-not-enforced",
            f"this URL group requires {'/'.join(schemes)} authentication, which this engine cannot "
            "enforce yet; it refuses the request instead of serving it without that protection",
        )
    reason, message = next((_MISSING[s] for s in schemes if s in _MISSING), _NO_CREDENTIALS)
    raise Refused(reason, message)
