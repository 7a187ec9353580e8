"""The server side of ``Negotiate`` and ``NTLM``: pyspnego acceptors, one handshake per client connection.

Owns ``NegotiateAcceptor`` (the handshakes and authenticated connections of the whole engine),
its three answers ``Continue`` / ``Authenticated`` / ``Refused``, ``parse_authorization`` and the
checks of the two files it reads (``check_keytab``, ``check_ntlm_user_file``).

Connections, not requests. NTLM (bare, or inside SPNEGO) authenticates the TCP connection: its
three messages must travel on one connection, and once they have, clients send the following
requests on it without ``Authorization`` (curl, Windows BITS and browsers do; so does IIS's
side). So everything here is keyed by an opaque connection id that the listener puts in the WSGI
environ (``environ["bcs.connection"]``, any hashable object) and dropped by ``forget`` when the
listener closes the connection. If the id has a ``closed`` attribute, nothing is kept for it once
that is true: a handshake that ends in a worker thread after its connection closed is not stored
(the listener sets ``closed`` before it calls ``forget``).

The rules of ``step`` (one request carrying ``Authorization: <scheme> <token>``):

* Credentials on a connection end what it had: its principal and any half-done handshake. A new
  ``Authorization`` on an authenticated connection starts over (curl's Kerberos sends one on
  every request: each is a new one-leg handshake).
* A token that opens a handshake (an NTLM NEGOTIATE message, or a GSS initial token, 0x60: SPNEGO's
  NegTokenInit or a bare Kerberos AP-REQ) gets a new acceptor. Any other token continues the
  connection's pending handshake of the same scheme, begun at most ``NEGOTIATE_HANDSHAKE_TIMEOUT``
  ago; without one it is refused (an NTLM AUTHENTICATE message replayed on a new connection).
* Nothing a client sends raises: bad base64, an over-long or truncated token, a wrong password, an
  unknown user all end in ``Refused``, which the host answers with 401 and fresh challenges.
* Under ``Negotiate``, SPNEGO with Kerberos or NTLM inside and a bare NTLM token (what Windows
  sends when it has no Kerberos ticket) are accepted; the answer uses the scheme of the request.
  Known limit (pyspnego 0.12): when a client opens SPNEGO with a Kerberos token and this engine has
  no usable keytab, pyspnego feeds that token to NTLM instead of asking the client to switch (RFC
  4178 allows that), so the handshake is refused; a client without a ticket sends NTLM at once.

Bounded memory: at most ``NEGOTIATE_MAX_PENDING`` half-done handshakes (the oldest is dropped to
make room) and each expires after ``NEGOTIATE_HANDSHAKE_TIMEOUT``; an authenticated connection
holds one ``Principal`` until it closes. Thread-safe: the listeners' worker threads call
``step``, ``principal_of`` and ``forget`` concurrently; a handshake is stepped outside the lock
(one connection's requests never run at once: HTTP/1.1 answers them in order).

Names (``Principal.name``), as Windows shows them:

* NTLM: ``DOMAIN\\user`` in the case of the user file's entry: pyspnego echoes what the client
  typed (``bcs\\ALICE``), the file is the account database. On Windows SSPI gives the account's
  own name. A user typed without a domain stays a bare name (or a UPN, ``user@REALM``).
* Kerberos: the client principal as the KDC names it, ``user@REALM`` (the UPN form). An MIT
  ticket has no NetBIOS domain, and a realm's NetBIOS name cannot be derived from it in general
  (CORP.EXAMPLE.COM may be EXAMPLE), so the UPN is kept unless ``realm_domains`` maps the realm
  (``{"BCS.TEST": "BCS"}`` gives ``BCS\\alice``). The SID resolver maps a UPN to its account.
* NTLM through winbind (``ntlm_backend="Winbind"``, Linux): the name winbindd gives,
  ``DOMAIN\\user`` as the domain spells it.

NTLM backends on Linux (``ntlm_backend``): ``UserFile`` (pyspnego checks ``NTLM_USER_FILE``) or
``Winbind`` (``bcs.auth.winbind``: each NTLM handshake, bare or inside SPNEGO, is checked by an
``ntlm_auth`` process of its own that asks winbindd, so domain accounts of a joined machine work;
the process lives while its handshake is pending and is killed when the handshake completes,
fails, expires, is evicted, or its connection closes). Kerberos inside SPNEGO stays pyspnego's.

Configuration (once per engine; process-wide): on Linux pyspnego's acceptors take no credential
argument. Kerberos reads its keys from the default keytab, ``KRB5_KTNAME``; NTLM checks the
``DOMAIN:USER:PASSWORD`` file named by ``NTLM_USER_FILE``; both from the process environment.
``configure`` sets them when they change (engine start, ``auth.set``), never per request:
``setenv`` is not safe against a concurrent ``getenv`` inside C libraries, and a per-request
change would race between handshakes. ``None`` leaves a variable as the process has it. On Windows
SSPI checks the machine's and the domain's accounts, and neither file is used.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Any

from bcs import tunables
from bcs.auth.principal import Principal
from bcs.auth.winbind import WinbindContext, WinbindRejected, WinbindUnavailable
from bcs.errors import ERROR_FILE_NOT_FOUND, AccessDeniedError, BcsError, InvalidArgumentError

__all__ = [
    "SCHEMES",
    "Authenticated",
    "Continue",
    "NegotiateAcceptor",
    "Refused",
    "Result",
    "check_keytab",
    "check_ntlm_user_file",
    "parse_authorization",
]

log = logging.getLogger("bcs.auth")

# HTTP scheme (lower case) -> (its spelling in headers, pyspnego protocol)
SCHEMES: Mapping[str, tuple[str, str]] = {"negotiate": ("Negotiate", "negotiate"), "ntlm": ("NTLM", "ntlm")}
_NTLM_SIGNATURE = b"NTLMSSP\x00"
_NTLM_NEGOTIATE = b"\x01\x00\x00\x00"  # MessageType 1, little-endian ([MS-NLMP] 2.2.1.1)
_KERBEROS_OID = "1.2.840.113554.1.2.2"
_NTLM_OID = "1.3.6.1.4.1.311.2.2.10"


@dataclass(frozen=True)
class Continue:
    """The handshake goes on: answer 401 with this one ``WWW-Authenticate`` value (and nothing else)."""

    header: str


@dataclass(frozen=True)
class Authenticated:
    """The handshake is done; the connection is authenticated as ``principal`` until it closes.

    Attributes:
        principal: who (``sids`` empty: the SID resolver fills them in).
        protocol: ``"kerberos"`` or ``"ntlm"``, what ran under the scheme.
        header: a last ``WWW-Authenticate`` value to send with the response (Kerberos' mutual
            authentication, SPNEGO's final message), or None.
    """

    principal: Principal
    protocol: str
    header: str | None = None


@dataclass(frozen=True)
class Refused:
    """The credentials are not accepted: answer 401 with fresh challenges.

    Attributes:
        reason: for the access log: ``malformed-token`` (bad base64, empty, too long),
            ``no-handshake`` (a token that continues a handshake this connection has not begun,
            e.g. a replayed NTLM AUTHENTICATE message), ``handshake-expired``, ``scheme-changed``,
            ``rejected`` (the acceptor refused the token: wrong password, unknown user, bad ticket,
            a malformed message), ``unavailable`` (no keytab or user file to check it against),
            ``unsupported-scheme``.
        detail: what pyspnego or GSSAPI said, for the engine log (never a secret).
    """

    reason: str
    detail: str = ""


Result = Continue | Authenticated | Refused


def parse_authorization(value: str) -> tuple[str, str]:
    """``(scheme, token)`` of an ``Authorization`` value, the scheme as written ("" when empty)."""
    scheme, _, token = value.strip().partition(" ")
    return scheme, token.strip()


def _decode(token: str, limit: int) -> bytes | None:
    if not token or len(token) > limit:
        return None
    try:
        data = base64.b64decode(token, validate=True)
    except (binascii.Error, ValueError):
        return None
    return data or None


def _opens_handshake(data: bytes) -> bool:
    """True for a token that begins a handshake (NTLM NEGOTIATE, or a GSS InitialContextToken)."""
    if data.startswith(_NTLM_SIGNATURE):
        return data[8:12] == _NTLM_NEGOTIATE
    return data[:1] == b"\x60"


class _Pending:
    """A half-done handshake of one connection."""

    __slots__ = ("context", "scheme", "started")

    def __init__(self, context: Any, scheme: str, started: float) -> None:
        self.context = context
        self.scheme = scheme
        self.started = started


class NtlmUserFile:
    """The names in an NTLM user file, to show a principal as the file spells it.

    pyspnego matches user and domain case-insensitively (``str.upper``) against lines
    ``DOMAIN:USER:PASSWORD`` or smbpasswd's ``[DOMAIN\\]USER:UID:LM:NT:FLAGS:LCT``; this reads the
    same lines for their names only (passwords are not kept), again when the file changes.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._names: dict[tuple[str, str], str] = {}

    def canonical(self, domain: str, user: str) -> str | None:
        """``DOMAIN\\user`` (or ``user``) as the file's entry spells it; None when there is none."""
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        with self._lock:
            if stamp != self._stamp:
                try:
                    self._names = _read_names(self.path)
                except OSError:
                    return None
                self._stamp = stamp
            return self._names.get((domain.upper(), user.upper()))


def _read_names(path: str) -> dict[tuple[str, str], str]:
    names: dict[tuple[str, str], str] = {}
    with open(path, "rb") as fh:
        text = fh.read().decode("utf-8", errors="replace")
    for line in text.splitlines():
        fields = line.split(":")
        if len(fields) == 3:
            domain, user = fields[0], fields[1]
        elif len(fields) == 6:
            domain, sep, user = fields[0].partition("\\")
            if not sep:
                domain, user = "", fields[0]
        else:
            continue
        names.setdefault((domain.upper(), user.upper()), f"{domain}\\{user}" if domain else user)
    return names


class NegotiateAcceptor:
    """The NTLM and Negotiate handshakes of every connection of the engine, and their outcome.

    One per engine (``configure`` sets process-wide state). See the module docstring for the rules.
    """

    def __init__(
        self,
        *,
        keytab_path: str | None = None,
        ntlm_user_file: str | None = None,
        realm_domains: Mapping[str, str] | None = None,
        ntlm_backend: str = "UserFile",
        max_pending: int = tunables.NEGOTIATE_MAX_PENDING,
        handshake_timeout: float = tunables.NEGOTIATE_HANDSHAKE_TIMEOUT,
        max_token: int = tunables.NEGOTIATE_MAX_TOKEN,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_pending = max_pending
        self.handshake_timeout = handshake_timeout
        self.max_token = max_token
        self._clock = clock
        self._lock = threading.Lock()
        self._pending: OrderedDict[Hashable, _Pending] = OrderedDict()  # oldest first
        self._principals: dict[Hashable, Principal] = {}
        self._users: NtlmUserFile | None = None
        self._realm_domains: dict[str, str] = {}
        self._warned: set[str] = set()
        self._winbind = False
        self.evicted = 0  # pending handshakes dropped to make room
        self.expired = 0  # pending handshakes dropped after the timeout
        self.configure(
            keytab_path=keytab_path,
            ntlm_user_file=ntlm_user_file,
            realm_domains=realm_domains,
            ntlm_backend=ntlm_backend,
        )

    # --- configuration ---
    def configure(
        self,
        *,
        keytab_path: str | None,
        ntlm_user_file: str | None,
        realm_domains: Mapping[str, str] | None = None,
        ntlm_backend: str = "UserFile",
    ) -> None:
        """Use ``keytab_path`` for Kerberos and ``ntlm_user_file`` for NTLM from the next handshake on.

        Sets ``KRB5_KTNAME`` and ``NTLM_USER_FILE`` where they differ (not on Windows); None leaves
        a variable alone. Files that are missing or unusable are not refused here (see
        ``check_keytab`` / ``check_ntlm_user_file``): the handshakes that need them are refused.

        Args:
            keytab_path: the service's keytab (``HTTP/<host name>`` keys).
            ntlm_user_file: pyspnego's ``DOMAIN:USER:PASSWORD`` file.
            realm_domains: Kerberos realm -> NetBIOS domain, to name Kerberos users ``DOMAIN\\user``.
            ntlm_backend: ``UserFile`` or ``Winbind`` (Samba's ``ntlm_auth``; ignored on Windows).
        """
        if sys.platform != "win32":
            if keytab_path is not None:
                _set_env("KRB5_KTNAME", "FILE:" + os.path.abspath(keytab_path))
            if ntlm_user_file is not None:
                _set_env("NTLM_USER_FILE", os.path.abspath(ntlm_user_file))
        path = os.environ.get("NTLM_USER_FILE") if sys.platform != "win32" else None
        self._users = NtlmUserFile(path) if path else None
        self._realm_domains = {realm.upper(): domain for realm, domain in (realm_domains or {}).items()}
        self._winbind = ntlm_backend == "Winbind" and sys.platform != "win32"
        self._warned.clear()

    # --- the three calls of the host ---
    def step(self, connection: Hashable, scheme: str, token: str) -> Result:
        """One leg of the handshake of ``connection``, with the token of its ``Authorization`` header.

        Args:
            connection: ``environ["bcs.connection"]``.
            scheme: the scheme of the header, any case (``Negotiate`` or ``NTLM``).
            token: the base64 text after the scheme.
        """
        spelled = SCHEMES.get(scheme.lower())
        now = self._clock()
        with self._lock:
            self._principals.pop(connection, None)
            pending = self._pending.pop(connection, None)
            dropped = self._expire(now)
        _close(*dropped)
        if spelled is None:
            _close(pending)
            return Refused("unsupported-scheme", f"scheme {scheme[:40]!r}")
        name, protocol = spelled
        data = _decode(token, self.max_token)
        if data is None:
            _close(pending)
            return Refused("malformed-token", f"{len(token)} characters that are not one base64 token")
        if _opens_handshake(data):
            _close(pending)
            context, started = self._new_context(protocol, data)
            if context is None:
                return Refused("unavailable", f"no {protocol} acceptor (see the engine log)")
        elif pending is None:
            return Refused("no-handshake", "a token that continues a handshake this connection did not begin")
        elif pending.scheme != name:
            _close(pending)
            return Refused("scheme-changed", f"{name} token in a {pending.scheme} handshake")
        elif now - pending.started > self.handshake_timeout:
            _close(pending)
            with self._lock:
                self.expired += 1
            return Refused("handshake-expired", f"begun {now - pending.started:.0f} s ago")
        else:
            context, started = pending.context, pending.started
        try:
            out = context.step(data)
            complete = bool(context.complete)
            if complete:
                protocol_used = str(context.negotiated_protocol or protocol)
                principal = Principal(self._name(str(context.client_principal or ""), protocol_used), name)
        except WinbindRejected as exc:
            return Refused("rejected", f"ntlm_auth: {exc}")
        except WinbindUnavailable as exc:
            self._warn_once("winbind", f"NTLM through winbind is not available: {exc}")
            return Refused("unavailable", str(exc))
        except Exception as exc:  # pyspnego and GSSAPI raise many kinds on bad input: never ours to crash on
            _close_context(context)
            kind = type(exc).__name__
            # BadMechanismError: no acceptor for what the client offers (no keytab for a Kerberos token).
            reason = "unavailable" if kind == "BadMechanismError" else "rejected"
            return Refused(reason, f"{kind}: {str(exc)[:300]}")
        header = f"{name} {base64.b64encode(out).decode('ascii')}" if out else None
        if complete:
            if not principal.name:
                return Refused("rejected", "the handshake ended without a client name")
            self._keep(connection, self._principals, principal)
            return Authenticated(principal, protocol_used, header)
        if header is None:
            _close_context(context)
            return Refused("rejected", "the acceptor had nothing to answer")
        self._keep(connection, self._pending, _Pending(context, name, started))
        return Continue(header)

    def check_password(self, user: str, password: str) -> Principal | Refused:
        """Whether ``password`` is ``user``'s (``DOMAIN\\user``), by an NTLM handshake run in-process.

        What Basic authentication needs: the password checked against the same accounts NTLM
        uses (the user file on Linux, SSPI's accounts on Windows), with no second password store.
        The principal's scheme is ``Basic``.
        """
        server: Any = None
        try:
            import spnego

            client = spnego.client(username=user, password=password, service="HTTP", protocol="ntlm")
            server = (
                WinbindContext(spnego=False)
                if self._winbind
                else spnego.server(service="HTTP", protocol="ntlm")
            )
            token = client.step()
            while not server.complete:
                token = server.step(token)
                if server.complete:
                    break
                token = client.step(token)
            raw = str(server.client_principal or "")
        except WinbindRejected as exc:
            return Refused("rejected", f"ntlm_auth: {exc}")
        except WinbindUnavailable as exc:
            self._warn_once("winbind", f"NTLM through winbind is not available: {exc}")
            return Refused("unavailable", str(exc))
        except Exception as exc:  # a wrong password, an unknown user, no user file: refused, never raised
            _close_context(server)
            kind = type(exc).__name__
            return Refused(
                "rejected" if "Credential" not in kind else "unavailable", f"{kind}: {str(exc)[:300]}"
            )
        if not raw:
            return Refused("rejected", "the handshake ended without a client name")
        return Principal(self._name(raw, "ntlm"), "Basic")

    def principal_of(self, connection: Hashable) -> Principal | None:
        """Who ``connection`` authenticated as (a request without ``Authorization``), or None."""
        return self._principals.get(connection)

    def forget(self, connection: Hashable) -> None:
        """``connection`` has closed: drop its handshake or principal."""
        with self._lock:
            pending = self._pending.pop(connection, None)
            self._principals.pop(connection, None)
        _close(pending)

    def status(self) -> dict[str, int]:
        """Counters for ``server.status`` and tests."""
        with self._lock:
            return {
                "pendingHandshakes": len(self._pending),
                "authenticatedConnections": len(self._principals),
                "evictedHandshakes": self.evicted,
                "expiredHandshakes": self.expired,
            }

    # --- inside ---
    def _keep(self, connection: Hashable, table: dict[Hashable, Any], value: Any) -> None:
        """Store ``value`` for ``connection`` unless the connection has closed meanwhile."""
        evicted: list[_Pending] = []
        with self._lock:
            if table is self._pending:
                while len(self._pending) >= self.max_pending:  # the oldest makes room
                    evicted.append(self._pending.popitem(last=False)[1])
                    self.evicted += 1
            table[connection] = value
        _close(*evicted)
        if getattr(connection, "closed", False):  # closed after we looked: forget may have run before
            with self._lock:
                gone = table.pop(connection, None)
            if table is self._pending:
                _close(gone)

    def _expire(self, now: float) -> list[_Pending]:
        """Drop the oldest pending handshakes past the timeout (called with the lock held).

        Returns them, for the caller to ``_close`` once the lock is released.
        """
        pending = self._pending
        limit = now - self.handshake_timeout
        dropped: list[_Pending] = []
        while pending:
            connection, first = next(iter(pending.items()))
            if first.started >= limit:
                break
            dropped.append(pending.pop(connection))
            self.expired += 1
        return dropped

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.warning("%s", message)

    def _new_context(self, protocol: str, data: bytes) -> tuple[Any, float]:
        """A fresh acceptor for the opening token ``data``, or None when it cannot be made (logged once
        per configuration): ``ntlm_auth`` for NTLM under the Winbind backend, else pyspnego's."""
        if self._winbind:
            bare = data.startswith(_NTLM_SIGNATURE)
            if bare or (protocol == "negotiate" and _spnego_prefers_ntlm(data)):
                try:
                    return WinbindContext(spnego=not bare), self._clock()
                except WinbindUnavailable as exc:
                    self._warn_once("winbind", f"NTLM through winbind is not available: {exc}")
                    return None, 0.0
        try:
            import spnego

            return spnego.server(service="HTTP", protocol=protocol), self._clock()
        except Exception as exc:
            if protocol not in self._warned:
                self._warned.add(protocol)
                log.warning(
                    "%s authentication is not available: %s (NTLM needs an ntlmUserFile, Kerberos a keytab)",
                    protocol,
                    exc,
                )
            return None, 0.0

    def _name(self, raw: str, protocol: str) -> str:
        """``raw`` (pyspnego's client principal) as Windows would show it (see the module docstring)."""
        if protocol == "ntlm":
            domain, sep, user = raw.partition("\\")
            if not sep:
                domain, user = "", raw
            users = self._users
            if users is not None:
                found = users.canonical(domain, user)
                if found:
                    return found
            return f"{domain.upper()}\\{user}" if domain else user
        user, at, realm = raw.rpartition("@")
        netbios = self._realm_domains.get(realm.upper()) if at else None
        return f"{netbios}\\{user}" if netbios else raw


def _spnego_prefers_ntlm(data: bytes) -> bool:
    """True for a SPNEGO NegTokenInit whose first mechanism is NTLM (False for Kerberos, or unreadable)."""
    try:
        from spnego._spnego import NegTokenInit, unpack_token  # pyspnego's own SPNEGO parser

        token = unpack_token(data)
    except Exception:  # not SPNEGO (a bare Kerberos AP-REQ), or malformed: pyspnego decides
        return False
    return isinstance(token, NegTokenInit) and bool(token.mech_types) and token.mech_types[0] == _NTLM_OID


def _close_context(context: Any) -> None:
    """Kill the ``ntlm_auth`` of a winbind handshake (a pyspnego context needs nothing)."""
    if isinstance(context, WinbindContext):
        context.close()


def _close(*pendings: _Pending | None) -> None:
    """End the helper processes of dropped handshakes (pyspnego contexts need nothing)."""
    for pending in pendings:
        if pending is not None:
            _close_context(pending.context)


_env_lock = threading.Lock()


def _set_env(name: str, value: str) -> None:
    with _env_lock:
        if os.environ.get(name) != value:
            os.environ[name] = value


# --- checks for auth.set: clear errors before a file is accepted ---
def _readable(path: str, what: str) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except FileNotFoundError:
        raise BcsError(
            ERROR_FILE_NOT_FOUND, f"{what} {path} does not exist", noun="Auth", target=path
        ) from None
    except PermissionError:
        raise AccessDeniedError(
            f"{what} {path} cannot be read by the engine", noun="Auth", target=path
        ) from None
    except OSError as exc:
        raise InvalidArgumentError(
            f"{what} {path}: {exc.strerror or exc}", noun="Auth", target=path
        ) from None


def check_keytab(path: str) -> None:
    """Refuse a keytab that cannot serve as the acceptor's keys (missing, unreadable, empty, not a keytab).

    Raises:
        BcsError: ERROR_FILE_NOT_FOUND, E_ACCESSDENIED or E_INVALIDARG, naming the file.
    """
    _readable(path, "keytab")
    try:
        import gssapi
        import gssapi.raw
    except ImportError:
        raise InvalidArgumentError(
            "Kerberos needs the Python gssapi package (pip install pyspnego[kerberos])",
            noun="Auth",
            target=path,
        ) from None
    try:
        gssapi.raw.acquire_cred_from(
            {b"keytab": ("FILE:" + os.path.abspath(path)).encode()},
            usage="accept",
            mechs=[gssapi.OID.from_int_seq(_KERBEROS_OID)],
        )
    except gssapi.raw.GSSError as exc:
        raise InvalidArgumentError(
            f"keytab {path} holds no usable key ({exc.gen_message()})", noun="Auth", target=path
        ) from None


def check_ntlm_user_file(path: str) -> None:
    """Refuse an NTLM user file that pyspnego would misread (line numbers only: never a password).

    Raises:
        BcsError: ERROR_FILE_NOT_FOUND, E_ACCESSDENIED or E_INVALIDARG, naming the file and line.
    """
    data = _readable(path, "ntlmUserFile")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidArgumentError(
            f"ntlmUserFile {path} is not UTF-8 text", noun="Auth", target=path
        ) from None
    users = 0
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        fields = line.split(":")
        if len(fields) == 3 and fields[1]:
            users += 1
            continue
        if len(fields) == 6 and fields[0] and all(_is_hash(f) for f in fields[2:4]):
            users += 1
            continue
        raise InvalidArgumentError(
            f"ntlmUserFile {path} line {number} is not DOMAIN:USER:PASSWORD "
            "(a password cannot contain ':' in this format) nor an smbpasswd line",
            noun="Auth",
            target=path,
        )
    if not users:
        raise InvalidArgumentError(f"ntlmUserFile {path} names no user", noun="Auth", target=path)


def _is_hash(text: str) -> bool:
    return len(text) == 32 and all(c in "0123456789abcdefABCDEF" for c in text)
