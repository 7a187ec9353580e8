"""Principal names to SIDs: Active Directory through LDAP (``tokenGroups``), or a local map; a TTL cache.

An authenticator proves a name; ``SidResolver.resolve`` turns it into the SIDs an access check
compares (``Principal.with_sids``): the user's SID, every group it belongs to, nested groups
included, then the well-known SIDs of a network logon.

Names, as authenticators give them, compared case-insensitively (Windows compares account names so):
* ``DOMAIN\\user`` (NTLM, Negotiate, Basic): DOMAIN must be the directory's NetBIOS name or its DNS
  name (``BCS\\alice``, ``bcs.test\\alice``); the user is found by ``sAMAccountName``.
* ``user@realm`` (a Kerberos client principal, or the UPN of a client certificate): found by
  ``userPrincipalName``; when the realm is the domain's DNS name (``alice@BCS.TEST``) also by
  ``sAMAccountName``, which is what a Kerberos client principal carries. An exact UPN wins; two
  accounts answering one name are refused.
* ``user`` alone: ``sAMAccountName`` in the directory's domain.
A domain or realm of another domain is refused (one domain per engine; no trusts are followed).

Active Directory (``ldap`` settings): one connection, LDAPS (``ldaps://dc:636``) or StartTLS
(``ldap://dc:389``; plain LDAP is never used), simple bind as a service account, the DC's
certificate verified against ``caPath`` (or the system's CAs) with its host name: verification
cannot be turned off. Per name not cached: a subtree search under ``baseDn`` for the account
(``objectSid``, ``userAccountControl``) and a BASE search of its DN for ``tokenGroups``, the
directory's own transitive expansion of group membership (the primary group included). A disabled
account (``userAccountControl`` bit 0x2) is refused. Once per connection the rootDSE, the domain
object and its crossRef give the domain's DN, SID, NetBIOS and DNS names. The connection is shared
by all threads under a lock and re-opened once when an operation finds it broken (DCs drop idle
connections).

Cache: answers (refusals too) are kept ``cacheSeconds``. A name read again after
``SID_REFRESH_AT`` of that time is re-read by a background thread, so a name in use never makes a
request wait for LDAP; a name not used for ``cacheSeconds`` expires. At most ``SID_CACHE_ENTRIES``
names are kept (least recently used dropped). A refresh that finds the account disabled or gone
replaces the entry with the refusal.

Failure policy (fail closed): when the directory cannot be asked (DC down, hung past the
timeouts, TLS verification fails, the service account's bind is refused) and the name has no fresh
entry, ``resolve`` raises ``DirectoryUnavailableError`` and the file host answers **503 with
Retry-After** (``LDAP_RETRY_SECONDS``). An entry past its TTL is never used, not even for a grace
period: a disabled or removed account must lose access within ``cacheSeconds``, and the refresh
ahead of expiry already hides short outages for names in use. 503 rather than 403 because the
request is not denied, it is undecided: BITS clients treat 503 as transient (the job retries after
its retry delay) and 403 as fatal (the job stops in ERROR until someone intervenes), and the
administrator's log says "directory unavailable", not "access denied". Either way nothing is
served. After a failure, lookups fail at once for ``LDAP_RETRY_SECONDS`` instead of each waiting
for a dead DC; the next one after that tries again.

Refusals (``AccessDeniedError``, 403 at the host): the account is disabled, unknown, ambiguous, or
its name is malformed.

Local map (``principals``, for sites without AD): entries ``{name, sid, groups}``; ``name`` is
``DOMAIN\\user``, ``user@dns.domain`` or ``user``. A UPN and a ``DOMAIN\\user`` name are the same
principal when the realm's first DNS label is the NetBIOS domain (``alice@bcs.test``,
``alice@BCS`` and ``BCS\\alice``; the AD default names a domain so), matched case-insensitively; a
bare ``user`` matches only a bare entry. The map is consulted first; names not in it go to LDAP when
it is configured, and are refused when it is not. With neither a map nor LDAP, an authenticated
principal holds only the well-known SIDs (Everyone, Authenticated Users, Network).

Domain SID (for the SDDL aliases DA, DU, DC, ...): the domain object's ``objectSid`` from LDAP; for
the local map, the domain part (``S-1-5-21-a-b-c``) its user SIDs share, or None when they do not
all share one. With no domain SID such an alias names nobody; the access check must refuse an SDDL
that needs it rather than skip its deny ACEs.

ldap3 is imported on first use (warnings of its pyasn1 use silenced), so importing this module for
the SID syntax checks costs nothing.
"""

from __future__ import annotations

import contextlib
import math
import re
import ssl
import threading
import time
import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Protocol
from urllib.parse import urlsplit

from bcs import tunables
from bcs.auth.principal import Principal
from bcs.errors import AccessDeniedError, DirectoryUnavailableError, InvalidArgumentError, shown

__all__ = [
    "UF_ACCOUNTDISABLE",
    "AccountName",
    "LdapSettings",
    "PrincipalSettings",
    "SidResolver",
    "check_sid",
    "domain_of",
    "parse_account_name",
    "parse_ldap_url",
    "sid_from_bytes",
]

UF_ACCOUNTDISABLE = 0x2  # userAccountControl: the account is disabled ([MS-ADTS] 2.2.16)
_SID_TEXT = re.compile(r"[Ss]-1-([0-9]{1,15})((?:-[0-9]{1,10}){1,15})")
_DOMAIN_SID = re.compile(r"(S-1-5-21(?:-[0-9]{1,10}){3})-[0-9]{1,10}")


# --- SIDs ------------------------------------------------------------------------------------------
def check_sid(text: str) -> str:
    """``text`` as a canonical SID string (``S-1-5-21-...``).

    Raises:
        InvalidArgumentError: not a SID in the ``S-1-<authority>-<sub>...`` form (1 to 15
            sub-authorities of 32 bits, a 48-bit authority).
    """
    match = _SID_TEXT.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise InvalidArgumentError(
            f"{shown(text)} is not a SID (S-1-5-21-...)", noun="Principal", target=text
        )
    authority = int(match.group(1))
    subs = [int(s) for s in match.group(2)[1:].split("-")]
    if authority >= 1 << 48 or any(s >= 1 << 32 for s in subs):
        raise InvalidArgumentError(
            f"{shown(text)} is not a SID (a part is too large)", noun="Principal", target=text
        )
    return "S-1-" + "-".join(str(v) for v in (authority, *subs))


def sid_from_bytes(data: bytes) -> str:
    """The string form of a binary SID ([MS-DTYP] 2.4.2.2), as LDAP returns ``objectSid``/``tokenGroups``.

    Raises:
        ValueError: not a well-formed SID.
    """
    if len(data) < 8 or data[0] != 1:
        raise ValueError("not a revision 1 SID")
    count = data[1]
    if count > 15 or len(data) != 8 + 4 * count:
        raise ValueError("SID length does not match its sub-authority count")
    authority = int.from_bytes(data[2:8], "big")
    subs = [int.from_bytes(data[8 + 4 * i : 12 + 4 * i], "little") for i in range(count)]
    return "S-1-" + "-".join(str(v) for v in (authority, *subs))


def domain_of(sid: str) -> str | None:
    """The domain SID of an account SID ``S-1-5-21-a-b-c-RID``, or None for other SIDs."""
    match = _DOMAIN_SID.fullmatch(sid)
    return match.group(1) if match else None


# --- names -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AccountName:
    """A principal name split as Windows reads it; ``domain`` is "" for a bare name."""

    user: str
    domain: str  # NetBIOS or DNS domain (``DOMAIN\\user``) or the realm (``user@realm``)
    upn: bool  # the ``user@realm`` form

    @property
    def label(self) -> str:
        """The domain's first DNS label, case-folded: how the local map compares domains."""
        return self.domain.split(".", 1)[0].casefold()

    @property
    def key(self) -> tuple[str, str, bool]:
        """The cache key: the name as given, case-folded."""
        return (self.user.casefold(), self.domain.casefold(), self.upn)

    @property
    def map_key(self) -> tuple[str, str]:
        """The local map's key: user and domain label, so ``alice@bcs.test`` is ``BCS\\alice``."""
        return (self.user.casefold(), self.label)


def parse_account_name(name: str) -> AccountName:
    """Split ``DOMAIN\\user``, ``user@realm`` or ``user``.

    Raises:
        InvalidArgumentError: empty parts, control characters, or longer than MAX_PRINCIPAL_NAME.
    """

    def bad(why: str) -> InvalidArgumentError:
        return InvalidArgumentError(f"principal name {shown(name)}: {why}", noun="Principal", target=name)

    if not isinstance(name, str) or not name:
        raise bad("it is empty")
    if len(name) > tunables.MAX_PRINCIPAL_NAME:
        raise bad(f"longer than {tunables.MAX_PRINCIPAL_NAME} characters")
    if any(ord(c) < 0x20 or c == "\x7f" for c in name):
        raise bad("control characters are not allowed")
    if "\\" in name:
        domain, _, user = name.partition("\\")
        if "\\" in user or not user:
            raise bad("expected DOMAIN\\user")
        return AccountName(user, domain, upn=False)
    if "@" in name:
        user, _, realm = name.rpartition("@")
        if not user or not realm:
            raise bad("expected user@realm")
        return AccountName(user, realm, upn=True)
    return AccountName(name, "", upn=False)


# --- settings (bcs.config's AuthConfig satisfies these; auth does not import config) ------------------
class LdapSettings(Protocol):
    @property
    def url(self) -> str: ...
    @property
    def bind_user(self) -> str: ...
    @property
    def base_dn(self) -> str: ...
    @property
    def ca_path(self) -> str: ...
    @property
    def cache_seconds(self) -> int: ...


class PrincipalSettings(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def sid(self) -> str: ...
    @property
    def groups(self) -> Sequence[str]: ...


def parse_ldap_url(url: str) -> tuple[str, int, bool]:
    """``ldaps://host[:port]`` or ``ldap://host[:port]`` (StartTLS) -> (host, port, use_ssl).

    Raises:
        InvalidArgumentError: another scheme, no host, a path, query or credentials.
    """

    def bad(why: str) -> InvalidArgumentError:
        return InvalidArgumentError(f"LDAP URL {shown(url)}: {why}", noun="Auth", target=url)

    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise bad(str(exc)) from None
    if parts.scheme.lower() not in ("ldap", "ldaps"):
        raise bad("must start with ldaps:// (LDAPS) or ldap:// (StartTLS is then required)")
    if not parts.hostname:
        raise bad("names no host")
    if parts.username is not None or parts.password is not None:
        raise bad("credentials belong in bindUser and bindPassword")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise bad("the base DN goes in baseDn, not in the URL")
    use_ssl = parts.scheme.lower() == "ldaps"
    return parts.hostname, port or (636 if use_ssl else 389), use_ssl


# --- the directory -----------------------------------------------------------------------------------
_ldap3_module: ModuleType | None = None


def _ldap3() -> ModuleType:
    """ldap3, imported once; its pyasn1 use warns of deprecations at import, which are not ours."""
    global _ldap3_module
    if _ldap3_module is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import ldap3
            import ldap3.utils.conv  # escape_filter_chars

            _ldap3_module = ldap3
    return _ldap3_module


class _Unavailable(Exception):
    """The directory could not be asked (message safe to log: never the password)."""


class _Refused(Exception):
    """The directory answered: this name gets no SIDs. ``reason`` is the errorId's last part."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class _DomainInfo:
    dn: str
    sid: str
    netbios: str
    dns: str


class _Directory:
    """One bound LDAP connection to a DC and the lookups on it. Not thread safe: the resolver locks."""

    def __init__(
        self, settings: LdapSettings, password: str, connect_timeout: float, receive_timeout: float
    ) -> None:
        self.host, self.port, self.use_ssl = parse_ldap_url(settings.url)
        self.bind_user = settings.bind_user
        self._password = password
        self.base_dn = settings.base_dn
        self.ca_path = settings.ca_path
        self.connect_timeout = connect_timeout
        # ldap3 sets SO_RCVTIMEO with struct.pack("LL", seconds, 0): whole seconds only.
        self.receive_timeout = max(1, math.ceil(receive_timeout))
        self.conn: Any = None
        self.domain: _DomainInfo | None = None
        self.operations = 0  # LDAP requests sent (StartTLS, bind, searches): the round trips
        self.connects = 0

    # connection -------------------------------------------------------------------------------------
    def _tls(self) -> Any:
        ldap3 = _ldap3()
        try:
            context = ssl.create_default_context(cafile=self.ca_path or None)
        except (OSError, ssl.SSLError) as exc:
            raise _Unavailable(f"caPath {self.ca_path}: cannot load the CA bundle ({exc})") from None
        context.minimum_version = ssl.TLSVersion.TLSv1_2

        class VerifiedTls(ldap3.Tls):  # type: ignore[misc, name-defined]
            """ldap3's Tls with Python's own verification: chain and host name, in the handshake.

            ldap3 2.9 turns ``check_hostname`` off and checks names itself with ``ssl.match_hostname``,
            deprecated and gone in Python 3.12.
            """

            def wrap_socket(self, connection: Any, do_handshake: bool = False) -> None:
                connection.socket = context.wrap_socket(
                    connection.socket,
                    server_side=False,
                    do_handshake_on_connect=do_handshake,
                    server_hostname=connection.server.host,
                )

        return VerifiedTls(validate=ssl.CERT_REQUIRED)

    def connect(self) -> None:
        """Open, secure (LDAPS or StartTLS) and bind; read the domain's facts once."""
        self.close()
        ldap3 = _ldap3()
        server = ldap3.Server(
            self.host,
            port=self.port,
            use_ssl=self.use_ssl,
            tls=self._tls(),
            get_info=ldap3.NONE,  # no schema download: its round trips buy nothing here
            connect_timeout=self.connect_timeout,
        )
        conn = ldap3.Connection(
            server,
            user=self.bind_user,
            password=self._password,
            authentication=ldap3.SIMPLE,
            client_strategy=ldap3.SYNC,
            read_only=True,
            auto_referrals=False,
            raise_exceptions=False,
            receive_timeout=self.receive_timeout,
        )
        where = f"{'ldaps' if self.use_ssl else 'ldap'}://{self.host}:{self.port}"
        try:
            conn.open()
            if not self.use_ssl:
                self.operations += 1
                conn.start_tls()
            self.operations += 1
            if not conn.bind():
                result = conn.result or {}
                raise _Unavailable(
                    f"{where}: bind as {self.bind_user!r} refused ({result.get('description')}: "
                    f"{str(result.get('message', '')).strip()[:200]})"
                )
        except _Unavailable:
            _close_quietly(conn)
            raise
        except Exception as exc:  # whatever the library raises, the directory was not asked
            _close_quietly(conn)
            raise _Unavailable(f"{where}: {_ldap_error_text(exc)}") from None
        self.conn = conn
        self.connects += 1
        if self.domain is None:
            self.domain = self._read_domain()

    def close(self) -> None:
        if self.conn is not None:
            _close_quietly(self.conn)
            self.conn = None

    def _search(self, base: str, flt: str, attributes: list[str], base_scope: bool = False) -> list[Any]:
        """Entries found (``searchResEntry`` only); raises _Unavailable on errors other than no match."""
        ldap3 = _ldap3()
        self.operations += 1
        self.conn.search(
            base,
            flt,
            search_scope=ldap3.BASE if base_scope else ldap3.SUBTREE,
            attributes=attributes,
            size_limit=0 if base_scope else 2,  # two are enough to see an ambiguous name
            time_limit=max(1, int(self.receive_timeout)),
        )
        result = self.conn.result or {}
        code = result.get("result", 0)
        if code not in (0, 4, 32):  # success, sizeLimitExceeded (ambiguous), noSuchObject
            raise _Unavailable(
                f"search of {base!r} failed: {result.get('description')} {str(result.get('message', '')).strip()[:200]}"
            )
        if code == 32 and not base_scope:
            raise _Unavailable(f"baseDn {base!r} does not exist in the directory")
        return [e for e in (self.conn.response or []) if e.get("type") == "searchResEntry"]

    def _read_domain(self) -> _DomainInfo:
        root = self._search(
            "", "(objectClass=*)", ["defaultNamingContext", "configurationNamingContext"], True
        )
        if not root:
            raise _Unavailable("the rootDSE names no default naming context")
        attrs = root[0]["raw_attributes"]
        dn = _text(attrs.get("defaultNamingContext"))
        config_dn = _text(attrs.get("configurationNamingContext"))
        domain = self._search(dn, "(objectClass=*)", ["objectSid"], True)
        raw_sid = (domain[0]["raw_attributes"].get("objectSid") or [b""])[0] if domain else b""
        try:
            sid = sid_from_bytes(raw_sid)
        except ValueError:
            raise _Unavailable(f"the domain object {dn!r} has no valid objectSid") from None
        escape = _ldap3().utils.conv.escape_filter_chars
        crossref = self._search(
            f"CN=Partitions,{config_dn}",
            f"(&(objectClass=crossRef)(nCName={escape(dn)}))",
            ["nETBIOSName", "dnsRoot"],
        )
        netbios = dns = ""
        if crossref:
            netbios = _text(crossref[0]["raw_attributes"].get("nETBIOSName"))
            dns = _text(crossref[0]["raw_attributes"].get("dnsRoot"))
        if not dns:  # DC=corp,DC=example,DC=com -> corp.example.com
            dns = ".".join(p.split("=", 1)[1] for p in dn.split(",") if p.strip().lower().startswith("dc="))
        return _DomainInfo(dn=dn, sid=sid, netbios=netbios, dns=dns)

    # lookups ----------------------------------------------------------------------------------------
    def lookup(self, account: AccountName, name: str) -> tuple[str, ...]:
        """The account's SID and its groups' SIDs (transitive).

        Raises:
            _Refused: unknown, ambiguous or disabled account.
            _Unavailable: the directory cannot be asked.
            ldap3 exceptions: the connection broke (the caller reconnects once).
        """
        assert self.domain is not None
        escape = _ldap3().utils.conv.escape_filter_chars
        domain = self.domain
        user = account.user
        in_domain = account.domain.casefold() in (domain.netbios.casefold(), domain.dns.casefold(), "")
        if account.upn:
            clauses = f"(userPrincipalName={escape(user + '@' + account.domain)})"
            if account.domain.casefold() == domain.dns.casefold():
                clauses = f"(|{clauses}(sAMAccountName={escape(user)}))"
        elif in_domain:
            clauses = f"(sAMAccountName={escape(user)})"
        else:
            raise _Refused(
                "UnknownPrincipal", f"{shown(name)}: domain {account.domain!r} is not {domain.netbios}"
            )
        entries = self._search(
            self.base_dn or domain.dn,
            f"(&(objectClass=user){clauses})",
            ["objectSid", "userAccountControl", "userPrincipalName", "sAMAccountName"],
        )
        if account.upn and len(entries) > 1:  # an explicit UPN wins over an implicit one
            exact = [
                e
                for e in entries
                if _text(e["raw_attributes"].get("userPrincipalName")).casefold() == name.casefold()
            ]
            entries = exact or entries
        if not entries:
            raise _Refused("UnknownPrincipal", f"{shown(name)} is not an account of {domain.netbios}")
        if len(entries) > 1:
            raise _Refused("AmbiguousPrincipal", f"{shown(name)} names more than one account")
        entry = entries[0]
        try:
            control = int(_text(entry["raw_attributes"].get("userAccountControl")) or "0")
            user_sid = sid_from_bytes((entry["raw_attributes"].get("objectSid") or [b""])[0])
        except ValueError:
            raise _Refused(
                "UnknownPrincipal", f"{shown(name)}: the directory returned a malformed account"
            ) from None
        if control & UF_ACCOUNTDISABLE:
            raise _Refused("AccountDisabled", f"{shown(name)}: the account is disabled")
        found = self._search(entry["dn"], "(objectClass=*)", ["tokenGroups"], base_scope=True)
        if not found:  # removed between the two searches
            raise _Refused("UnknownPrincipal", f"{shown(name)} is not an account of {domain.netbios}")
        groups: list[str] = []
        for raw in found[0]["raw_attributes"].get("tokenGroups") or []:
            try:
                groups.append(sid_from_bytes(raw))
            except ValueError:
                raise _Refused(
                    "UnknownPrincipal", f"{shown(name)}: the directory returned a malformed group SID"
                ) from None
        return (user_sid, *groups)


def _text(values: Any) -> str:
    """The first value of a raw LDAP attribute as text ("" when absent)."""
    if not values:
        return ""
    value = values[0]
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _close_quietly(conn: Any) -> None:
    with contextlib.suppress(Exception):  # a broken connection is being dropped anyway
        conn.unbind()
    # unbind() leaves the socket open when sending fails or the connection never finished opening.
    sock = getattr(conn, "socket", None)
    if sock is not None:
        with contextlib.suppress(Exception):
            sock.close()


def _ldap_error_text(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text[: tunables.SHOWN_VALUE_CHARS]


# --- the resolver ------------------------------------------------------------------------------------
@dataclass
class _Entry:
    sids: tuple[str, ...] | None  # None: refused
    refusal: tuple[str, str] | None  # (reason, message)
    fetched: float
    used: float


class SidResolver:
    """Names to SIDs for the access check: local map, then LDAP with a TTL cache (module docstring).

    Args:
        ldap: the directory settings, or None for no directory.
        principals: the local map.
        bind_password: the service account's password (kept out of the settings on purpose: it
            lives in the state directory's secret file, never in config.yaml).
        connect_timeout, receive_timeout, retry_seconds: default to the tunables (BCS_TEST_ overrides).
        max_entries: names cached at most.
    """

    def __init__(
        self,
        ldap: LdapSettings | None = None,
        principals: Sequence[PrincipalSettings] = (),
        *,
        bind_password: str = "",
        connect_timeout: float | None = None,
        receive_timeout: float | None = None,
        retry_seconds: float | None = None,
        max_entries: int = tunables.SID_CACHE_ENTRIES,
    ) -> None:
        self._map: dict[tuple[str, str], tuple[str, ...]] = {}
        user_domains: set[str | None] = set()
        for entry in principals:
            self._map[parse_account_name(entry.name).map_key] = (
                check_sid(entry.sid),
                *(check_sid(g) for g in entry.groups),
            )
            user_domains.add(domain_of(check_sid(entry.sid)))
        self._map_domain_sid = next(iter(user_domains)) if len(user_domains) == 1 else None
        self._ttl = float(ldap.cache_seconds) if ldap is not None else 0.0
        self._directory = (
            _Directory(
                ldap,
                bind_password,
                connect_timeout
                if connect_timeout is not None
                else tunables.tuned("LDAP_CONNECT_TIMEOUT", tunables.LDAP_CONNECT_TIMEOUT),
                receive_timeout
                if receive_timeout is not None
                else tunables.tuned("LDAP_RECEIVE_TIMEOUT", tunables.LDAP_RECEIVE_TIMEOUT),
            )
            if ldap is not None and ldap.url
            else None
        )
        self._retry_seconds = (
            retry_seconds
            if retry_seconds is not None
            else tunables.tuned("LDAP_RETRY_SECONDS", tunables.LDAP_RETRY_SECONDS)
        )
        self._max_entries = max_entries
        self._cache: OrderedDict[tuple[str, str, bool], _Entry] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._ldap_lock = threading.Lock()  # the one connection: one operation at a time
        self._down_until = 0.0
        self._down_reason = ""
        self._stop = threading.Event()
        self._refresher: threading.Thread | None = None
        self.refreshes = 0  # background re-reads done
        self.misses = 0  # requests that had to ask the directory

    # public ------------------------------------------------------------------------------------------
    @property
    def has_directory(self) -> bool:
        """Whether names go to an Active Directory, the authority on which accounts exist and are enabled."""
        return self._directory is not None

    @property
    def ldap_operations(self) -> int:
        """LDAP requests sent so far (StartTLS, bind, searches): each one a round trip to the DC."""
        return self._directory.operations if self._directory is not None else 0

    @property
    def ldap_connects(self) -> int:
        return self._directory.connects if self._directory is not None else 0

    def resolve(self, principal: Principal) -> Principal:
        """``principal`` holding its SIDs.

        Raises:
            AccessDeniedError: the name is malformed, unknown, ambiguous or a disabled account.
            DirectoryUnavailableError: the directory cannot be asked and no fresh answer is cached.
        """
        if not principal.authenticated:
            return principal.with_sids(())
        try:
            account = parse_account_name(principal.name)
        except InvalidArgumentError as exc:
            raise AccessDeniedError(
                exc.message, reason="InvalidPrincipal", noun="Principal", target=principal.name
            ) from None
        mapped = self._map.get(account.map_key)
        if mapped is not None:
            return principal.with_sids(mapped)
        if self._directory is None:
            if self._map:
                raise AccessDeniedError(
                    f"{shown(principal.name)} is not in the principals map",
                    reason="UnknownPrincipal",
                    noun="Principal",
                    target=principal.name,
                )
            return principal.with_sids(())
        entry = self._cached(account.key, touch=True)
        if entry is None:
            entry = self._fetch(account, principal.name)
        if entry.sids is None:
            assert entry.refusal is not None
            raise AccessDeniedError(
                entry.refusal[1], reason=entry.refusal[0], noun="Principal", target=principal.name
            )
        return principal.with_sids(entry.sids)

    def domain_sid(self) -> str | None:
        """The domain's SID (for DA, DU, ...): from LDAP when configured, else derived from the map.

        Raises:
            DirectoryUnavailableError: LDAP is configured and has never been reached.
        """
        if self._directory is None:
            return self._map_domain_sid
        if self._directory.domain is None:
            with self._locked_directory():
                if self._directory.domain is None:
                    self._call(lambda: None)
        assert self._directory.domain is not None
        return self._directory.domain.sid

    def close(self) -> None:
        """Stop the refresher and drop the connection."""
        self._stop.set()
        if self._refresher is not None:
            self._refresher.join(tunables.THREAD_JOIN_TIMEOUT)
        if self._directory is not None:
            with self._ldap_lock:
                self._directory.close()

    def __enter__(self) -> SidResolver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # cache -------------------------------------------------------------------------------------------
    def _cached(self, key: tuple[str, str, bool], touch: bool) -> _Entry | None:
        now = time.monotonic()
        with self._cache_lock:
            entry = self._cache.get(key)
            if entry is None:
                return None
            if now - entry.fetched >= self._ttl:
                del self._cache[key]  # expired: never served, whatever happens next
                return None
            if touch:
                entry.used = now
                self._cache.move_to_end(key)
            return entry

    def _store(self, key: tuple[str, str, bool], entry: _Entry) -> None:
        with self._cache_lock:
            self._cache[key] = entry
            self._cache.move_to_end(key)
            while len(self._cache) > self._max_entries:
                self._cache.popitem(last=False)
        if self._refresher is None and not self._stop.is_set():
            with self._cache_lock:
                if self._refresher is None:
                    self._refresher = threading.Thread(
                        target=self._refresh_loop, name="bcs-sid-refresh", daemon=True
                    )
                    self._refresher.start()

    # LDAP --------------------------------------------------------------------------------------------
    def _unavailable(self, message: str) -> DirectoryUnavailableError:
        retry = max(1, int(self._down_until - time.monotonic() + 0.999))
        return DirectoryUnavailableError(f"directory unavailable: {message}", retry_after=retry)

    @contextlib.contextmanager
    def _locked_directory(self) -> Iterator[None]:
        """The LDAP lock, waited for no longer than one lookup can take (else: unavailable)."""
        directory = self._directory
        assert directory is not None
        budget = directory.connect_timeout + 4 * directory.receive_timeout
        if not self._ldap_lock.acquire(timeout=budget):
            raise DirectoryUnavailableError(
                "directory unavailable: lookups are queued behind a slow one",
                retry_after=max(1, int(self._retry_seconds)),
            )
        try:
            yield
        finally:
            self._ldap_lock.release()

    def _call(self, operation: Callable[[], tuple[str, ...] | None]) -> tuple[str, ...] | None:
        """Run ``operation`` on a bound connection; reconnect once if the connection broke.

        Caller holds the LDAP lock.

        Raises:
            DirectoryUnavailableError: the DC cannot be reached or answered with an error.
            _Refused: the directory refused the name.
        """
        directory = self._directory
        assert directory is not None
        now = time.monotonic()
        if now < self._down_until:
            raise self._unavailable(self._down_reason)
        try:
            for attempt in (1, 2):
                started = time.monotonic()
                try:
                    if directory.conn is None:
                        directory.connect()
                    return operation()
                except (_Refused, _Unavailable):
                    raise
                except Exception as exc:  # any library failure: the connection is broken
                    directory.close()
                    # A connection the DC dropped (restart, idle timeout) fails at once: open a new
                    # one. One that timed out means a hung DC: a second wait would not help.
                    if attempt == 2 or time.monotonic() - started >= directory.receive_timeout:
                        raise _Unavailable(_ldap_error_text(exc)) from None
            raise AssertionError("unreachable")
        except _Unavailable as exc:
            directory.close()
            self._down_until = time.monotonic() + self._retry_seconds
            self._down_reason = str(exc)
            raise self._unavailable(str(exc)) from None

    def _fetch(self, account: AccountName, name: str) -> _Entry:
        """Ask the directory (one caller per name at a time) and cache the answer."""
        directory = self._directory
        assert directory is not None
        with self._locked_directory():
            entry = self._cached(account.key, touch=True)  # another request may just have fetched it
            if entry is not None:
                return entry
            self.misses += 1
            entry = self._ask(account, name)
        self._store(account.key, entry)
        return entry

    def _ask(self, account: AccountName, name: str) -> _Entry:
        directory = self._directory
        assert directory is not None
        try:
            sids = self._call(lambda: directory.lookup(account, name))
            assert sids is not None
            now = time.monotonic()
            return _Entry(sids, None, now, now)
        except _Refused as exc:
            now = time.monotonic()
            return _Entry(None, (exc.reason, exc.message), now, now)

    def _refresh_loop(self) -> None:
        interval = max(0.05, min(30.0, self._ttl / 8))
        while not self._stop.wait(interval):
            now = time.monotonic()
            with self._cache_lock:
                due = [
                    key
                    for key, e in self._cache.items()
                    if e.sids is not None
                    and e.used > e.fetched
                    and now - e.fetched >= self._ttl * tunables.SID_REFRESH_AT
                ]
            for key in due:
                if self._stop.is_set():
                    return
                account = AccountName(key[0], key[1], key[2])
                name = f"{key[0]}@{key[1]}" if key[2] else (f"{key[1]}\\{key[0]}" if key[1] else key[0])
                try:
                    with self._locked_directory():
                        entry = self._ask(account, name)
                except DirectoryUnavailableError:
                    continue  # the entry stays until its TTL, then requests meet the outage themselves
                with self._cache_lock:
                    old = self._cache.get(key)
                    if old is None:
                        continue
                    entry.used = old.used
                    self._cache[key] = entry
                self.refreshes += 1
