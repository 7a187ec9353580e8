"""The authentication of one request: its URL group's schemes tried in order -> a ``Principal``.

Owns ``Authenticator`` (one per engine: what the file host's app calls with the request environ and
the group's ``authentication`` list), ``Refused`` (what it raises for 403 + E_ACCESSDENIED, the
app logs ``refused:<reason>``), ``Challenge`` (what it raises for 401 + ``WWW-Authenticate``) and
``ENFORCED``, the schemes this engine enforces (``bcs.config.AUTH_SCHEMES`` lists those a group
may name).

Rules, in order:
* no scheme: anonymous (``ANONYMOUS``);
* ``ClientCertificate``: a verified client certificate proves who is asking;
* ``Basic`` (``bcs.auth.basic``, https only): the user name and password of the request;
* ``Negotiate`` / ``NTLM`` (``bcs.auth.negotiate``, bound to the connection): an ``Authorization``
  of a scheme the group lists steps the connection's handshake (a leg in progress is answered
  401 with the acceptor's token, ``Challenge``); without ``Authorization``, a connection that has
  authenticated with one of the group's schemes is who it proved; anything else is answered 401
  with one ``WWW-Authenticate`` per scheme, in the group's order (``Challenge``), the reason of
  refused credentials in the access log;
* else credentials that were refused refuse the request with their reason (403);
* else the reason of the missing credentials (``no-client-certificate``).

Client certificates: only what the TLS layer verified counts, ``SSL_CLIENT_VERIFY == SUCCESS``
with the certificate in ``SSL_CLIENT_CERT`` (the https listener sets both after the handshake;
WSGI servers put request headers under ``HTTP_*``, so a client cannot forge them). The
certificate's own checks are ``bcs.auth.clientcert``'s.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from bcs.auth import basic, clientcert
from bcs.auth.negotiate import SCHEMES as HANDSHAKE_SCHEMES
from bcs.auth.negotiate import Authenticated, Continue, NegotiateAcceptor, parse_authorization
from bcs.auth.principal import ANONYMOUS, Principal

__all__ = ["ENFORCED", "Authenticator", "Challenge", "Refused", "enforced", "sddl_enforced"]

log = logging.getLogger("bcs.auth")

Environ = Mapping[str, Any]


class Refused(Exception):
    """A request that proves no identity the group accepts (403).

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


class Challenge(Exception):
    """Answer 401 with these ``WWW-Authenticate`` values (a handshake leg, or an invitation).

    Attributes:
        values: one header value each, in order.
        reason: for the access log (``refused:<reason>`` when credentials were refused), else "".
    """

    def __init__(self, values: list[str], reason: str = "") -> None:
        super().__init__(reason or "authentication required")
        self.values = values
        self.reason = reason


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


# The schemes that handshake over the connection, as groups spell them (Negotiate, NTLM).
_HANDSHAKE = frozenset(spelled for spelled, _ in HANDSHAKE_SCHEMES.values())
# The schemes a 401 offers (one WWW-Authenticate each, in the group's order).
_CHALLENGED = frozenset({*_HANDSHAKE, basic.SCHEME})
ENFORCED = frozenset({clientcert.SCHEME, *_CHALLENGED})

# Why a request without credentials is refused, by the group's first scheme listed here.
_MISSING = {clientcert.SCHEME: ("no-client-certificate", "this URL group requires a client certificate")}
_NO_CREDENTIALS = ("no-credentials", "this URL group requires authentication")


def enforced(schemes: Sequence[str]) -> bool:
    """Whether every scheme of a group's ``authentication`` list is enforced by this engine."""
    return all(scheme in ENFORCED for scheme in schemes)


def sddl_enforced(schemes: Sequence[str], resolves: bool) -> bool:
    """Whether a URL's SDDL in a group with ``schemes`` can be checked: its callers' SIDs must be known.

    Anonymous callers (a group without schemes) hold fixed SIDs; authenticated ones need a SID
    source (``resolves``: a directory or a principals map), else their requests get 403.
    """
    return resolves or not schemes


class Authenticator:
    """The authentication step of every request of the engine (thread-safe; one per engine)."""

    def __init__(self, acceptor: NegotiateAcceptor) -> None:
        self.acceptor = acceptor
        self.basic = basic.BasicVerifier(acceptor)

    def authenticate(self, environ: Environ, schemes: Sequence[str]) -> tuple[Principal, str | None]:
        """Who is asking, by the first of ``schemes`` the request proves.

        Returns:
            (the principal, a last ``WWW-Authenticate`` value to send with the answer, or None).

        Raises:
            Challenge: answer 401 (a handshake goes on, or credentials are missing or refused).
            Refused: answer 403 (see the module rules).
        """
        if not schemes:
            return ANONYMOUS, None
        refused: Refused | None = None
        if clientcert.SCHEME in schemes:
            try:
                principal = _client_certificate(environ)
            except Refused as exc:
                refused = exc
            else:
                if principal is not None:
                    return principal, None
        challenged = [scheme for scheme in schemes if scheme in _CHALLENGED]
        if challenged:
            return self._challenged(environ, challenged)
        if refused is not None:
            raise refused
        if not enforced(schemes):
            raise Refused(
                "authentication-not-enforced",
                f"this URL group requires {'/'.join(schemes)} authentication, which this engine "
                "cannot enforce yet; it refuses the request instead of serving it without that protection",
            )
        reason, message = next((_MISSING[s] for s in schemes if s in _MISSING), _NO_CREDENTIALS)
        raise Refused(reason, message)

    def _challenged(self, environ: Environ, schemes: list[str]) -> tuple[Principal, str | None]:
        """Negotiate / NTLM on the request's connection, or Basic (``schemes``: those the group lists)."""
        connection = environ.get("bcs.connection")
        header = environ.get("HTTP_AUTHORIZATION")
        reason = "no-credentials"
        if header:
            scheme, token = parse_authorization(header)
            spelled = HANDSHAKE_SCHEMES.get(scheme.lower())
            if scheme.lower() == "basic" and basic.SCHEME in schemes:
                if environ.get("wsgi.url_scheme") != "https":
                    raise Refused("basic-over-http", "Basic authentication needs https")
                checked = self.basic.verify(token)
                if isinstance(checked, Principal):
                    return checked, None
                log.debug("Basic credentials refused: %s (%s)", checked.reason, checked.detail)
                reason = checked.reason
            elif spelled is not None and spelled[0] in schemes and connection is not None:
                result = self.acceptor.step(connection, scheme, token)
                if isinstance(result, Continue):
                    raise Challenge([result.header])
                if isinstance(result, Authenticated):
                    return result.principal, result.header
                log.debug("%s credentials refused: %s (%s)", spelled[0], result.reason, result.detail)
                reason = result.reason
            else:
                reason = "scheme-not-offered"
        elif connection is not None:
            principal = self.acceptor.principal_of(connection)
            if principal is not None and principal.scheme in schemes:
                return principal, None
        offers = [basic.CHALLENGE if scheme == basic.SCHEME else scheme for scheme in schemes]
        raise Challenge(offers, "" if reason == "no-credentials" else reason)
