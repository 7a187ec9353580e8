"""The HTTP session of one job: keep-alive, redirects per policy, proxies, TLS, credentials.

Built on urllib3 (already a dependency): its pools give keep-alive and connection reuse, its
ProxyManager speaks to HTTP proxies (absolute URIs and CONNECT tunnels), and it wraps ``ssl`` for
CA bundles, hostname checks and client certificates. Hand-written connection handling would have
to redo all of that; ``http.client`` alone has no pooling and no proxy selection.

Each job has its own session with at most one connection per origin (``maxsize=1``): the files of
a job are transferred strictly in order, so one keep-alive connection is all a job needs, and the
multi-leg NTLM/Negotiate handshakes need the legs on the same connection.

Redirects are followed by hand, because BITS' policy (``securityFlags`` & 0x0700) decides: follow
silently (0x0000), follow and report the final URL (0x0100), or refuse (0x0200); HTTPS -> HTTP
only with 0x0800.
"""

from __future__ import annotations

import base64
import fnmatch
import ipaddress
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urljoin, urlsplit

import urllib3
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    MaxRetryError,
    NameResolutionError,
    NewConnectionError,
    ProtocolError,
    ProxyError,
    ReadTimeoutError,
    SSLError,
)

from bcs import __version__, tunables
from bcs.client.settings import Credential, JobSettings, parse_proxy
from bcs.errors import (
    ERROR_WINHTTP_CANNOT_CONNECT,
    ERROR_WINHTTP_CONNECTION_ERROR,
    ERROR_WINHTTP_INVALID_SERVER_RESPONSE,
    ERROR_WINHTTP_NAME_NOT_RESOLVED,
    ERROR_WINHTTP_REDIRECT_FAILED,
    ERROR_WINHTTP_SECURE_FAILURE,
    ERROR_WINHTTP_TIMEOUT,
    BcsError,
    error_from_hresult,
)

__all__ = ["HttpSession", "transport_error"]

USER_AGENT = f"Microsoft BITS/7.8 (bcs {__version__})"

# securityFlags bits (bits-protocol.md 1.4)
IGNORE_CERT_CN_INVALID = 0x2
IGNORE_CERT_DATE_INVALID = 0x4
IGNORE_UNKNOWN_CA = 0x8
IGNORE_CERT_WRONG_USAGE = 0x10
REDIRECT_POLICY_MASK = 0x0700
REDIRECT_ALLOW_REPORT = 0x0100
REDIRECT_DISALLOW = 0x0200
ALLOW_HTTPS_TO_HTTP = 0x0800

_REDIRECTS = (301, 302, 303, 307, 308)


def _bypassed(host: str, bypass: list[str]) -> bool:
    for pattern in bypass:
        p = pattern.strip().lower()
        if not p:
            continue
        if p == "<local>":
            if "." not in host:
                return True
            continue
        if fnmatch.fnmatch(host.lower(), p):
            return True
        try:
            if ipaddress.ip_address(host) in ipaddress.ip_network(p, strict=False):
                return True
        except ValueError:
            pass
    return False


def transport_error(exc: BaseException) -> BcsError:
    """The BITS error for a urllib3/socket failure (context GENERAL_TRANSPORT)."""
    if isinstance(exc, MaxRetryError) and exc.reason is not None:
        exc = exc.reason
    if isinstance(exc, ProtocolError) and exc.args and isinstance(exc.args[-1], BaseException):
        inner = exc.args[-1]
        if isinstance(inner, (ConnectionRefusedError,)):
            return BcsError(ERROR_WINHTTP_CANNOT_CONNECT, f"cannot connect: {inner}", noun="Job")
    if isinstance(exc, NameResolutionError):
        return BcsError(
            ERROR_WINHTTP_NAME_NOT_RESOLVED, f"the server name could not be resolved: {exc}", noun="Job"
        )
    if isinstance(exc, (ConnectTimeoutError, ReadTimeoutError, TimeoutError)) and not isinstance(
        exc, NewConnectionError
    ):
        return BcsError(ERROR_WINHTTP_TIMEOUT, f"the operation timed out: {exc}", noun="Job")
    if isinstance(exc, (NewConnectionError, ProxyError, ConnectionRefusedError)):
        return BcsError(
            ERROR_WINHTTP_CANNOT_CONNECT,
            f"a connection with the server could not be established: {exc}",
            noun="Job",
        )
    if isinstance(exc, SSLError):
        return BcsError(ERROR_WINHTTP_SECURE_FAILURE, f"TLS failure: {exc}", noun="Job")
    if isinstance(exc, (ProtocolError, ConnectionError)):
        return BcsError(
            ERROR_WINHTTP_CONNECTION_ERROR, f"the connection was terminated abnormally: {exc}", noun="Job"
        )
    if isinstance(exc, HTTPError):
        return BcsError(ERROR_WINHTTP_INVALID_SERVER_RESPONSE, f"invalid server response: {exc}", noun="Job")
    return BcsError(ERROR_WINHTTP_CONNECTION_ERROR, f"transport failure: {exc}", noun="Job")


class _Auth:
    """Server authentication state: which scheme worked, per origin, and the live handshake."""

    def __init__(self, credentials: list[Credential]) -> None:
        self.server = {c.scheme.lower(): c for c in credentials if c.target == "Server"}
        self.basic_origins: set[str] = set()

    def preemptive(self, origin: str) -> str | None:
        cred = self.server.get("basic")
        if cred is not None and origin in self.basic_origins:
            return _basic(cred)
        return None

    def choose(self, challenges: list[str]) -> tuple[str, Credential] | None:
        offered = {c.split(" ", 1)[0].strip().lower() for c in challenges}
        for scheme in ("negotiate", "ntlm", "basic"):
            if scheme in offered and scheme in self.server:
                return scheme, self.server[scheme]
        # Negotiate credentials can answer an NTLM-only server and the other way round.
        for have, alt in (("negotiate", "ntlm"), ("ntlm", "negotiate")):
            if alt in offered and have in self.server:
                return alt, self.server[have]
        return None


def _basic(cred: Credential) -> str:
    raw = f"{cred.user_name}:{cred.password}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


def _challenges(resp: urllib3.BaseHTTPResponse, header: str) -> list[str]:
    values = resp.headers.getlist(header) if hasattr(resp.headers, "getlist") else []
    out: list[str] = []
    for v in values:
        out.extend(part.strip() for part in v.split(",") if part.strip())
    return out


class HttpSession:
    """Requests for one job; ``close`` releases every connection."""

    def __init__(self, settings: JobSettings, credentials: list[Credential]) -> None:
        self.settings = settings
        self.flags: int = settings.security_flags
        self.auth = _Auth(credentials)
        proxy_basic = next((c for c in credentials if c.target == "Proxy" and c.scheme == "Basic"), None)
        self._proxy_headers = (
            urllib3.make_headers(proxy_basic_auth=f"{proxy_basic.user_name}:{proxy_basic.password}")
            if proxy_basic
            else None
        )
        self._pool_kw = self._tls_options()
        self._managers: dict[str | None, urllib3.PoolManager] = {}
        self.timeout = urllib3.Timeout(
            connect=tunables.CLIENT_CONNECT_TIMEOUT, read=tunables.CLIENT_READ_TIMEOUT
        )

    def _tls_options(self) -> dict[str, Any]:
        kw: dict[str, Any] = {"maxsize": 1, "block": False, "retries": False}
        if self.flags & (IGNORE_UNKNOWN_CA | IGNORE_CERT_DATE_INVALID | IGNORE_CERT_WRONG_USAGE):
            kw["cert_reqs"] = "CERT_NONE"
            kw["assert_hostname"] = False
            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
        else:
            kw["cert_reqs"] = "CERT_REQUIRED"
            if self.flags & IGNORE_CERT_CN_INVALID:
                kw["assert_hostname"] = False
        ca = self.settings.ca_bundle
        if ca:
            kw["ca_certs"] = ca
        cert = self.settings.client_certificate
        if cert:
            kw["cert_file"] = cert
        return kw

    def proxy_for(self, url: str) -> str | None:
        """The proxy URL for ``url`` under the job's proxy usage, or None for a direct connection."""
        usage = self.settings.proxy_usage
        parts = urlsplit(url)
        host = parts.hostname or ""
        if usage == "NoProxy":
            return None
        if usage == "Override":
            if _bypassed(host, list(self.settings.proxy_bypass)):
                return None
            entries = list(self.settings.proxy_list)
            scheme_entries = [e for e in entries if e.strip().lower().startswith(parts.scheme + "=")]
            plain = [e for e in entries if "=" not in e.split("://", 1)[0]]
            chosen = next(iter(scheme_entries or plain), None)
            return parse_proxy(chosen) if chosen else None
        # SystemDefault / AutoDetect: the environment (http_proxy, https_proxy, no_proxy) or,
        # on Windows, the registry settings that urllib reads. No WPAD discovery.
        proxies = urllib.request.getproxies()
        proxy = proxies.get(parts.scheme)
        if not proxy or urllib.request.proxy_bypass(host):
            return None
        return parse_proxy(proxy)

    def _manager(self, url: str) -> urllib3.PoolManager:
        proxy = self.proxy_for(url)
        manager = self._managers.get(proxy)
        if manager is None:
            if proxy is None:
                manager = urllib3.PoolManager(num_pools=4, **self._pool_kw)
            else:
                manager = urllib3.ProxyManager(
                    proxy, num_pools=4, proxy_headers=self._proxy_headers, **self._pool_kw
                )
            self._managers[proxy] = manager
        return manager

    def close(self) -> None:
        for manager in self._managers.values():
            manager.clear()
        self._managers.clear()

    def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        on_response: Callable[[urllib3.BaseHTTPResponse], None] = lambda r: None,
        *,
        body: Any = None,
        follow_redirects: bool = True,
        timeout: urllib3.Timeout | None = None,
    ) -> tuple[urllib3.BaseHTTPResponse, str]:
        """Send a request, following redirects and running authentication; returns (response, final URL).

        The response body is not read (``preload_content=False``); the caller reads and releases
        it. ``on_response`` sees every response as it arrives (so an aborting caller can shut it).

        Args:
            body: the request body (bytes or an iterable of chunks, sent once). A request with a
                body is not sent again: its 401 is returned as it is, and the caller runs the
                handshake with a body-less request on the same connection first (a BITS upload
                sends Ping for that, bits-protocol.md 2.1).
            follow_redirects: False returns 3xx as they are (BITS_POST: the redirect policy is a
                download's, bits-protocol.md 1.4).
            timeout: instead of the job's connect/read timeouts.

        Raises:
            BcsError: transport failures (GENERAL_TRANSPORT errors) and refused redirects.
        """
        current = url
        redirects = 0
        auth_header: str | None = None
        auth_rounds = 0
        spnego_ctx: Any = None
        spnego_scheme = ""
        while True:
            origin = _origin(current)
            hdrs = {
                "User-Agent": USER_AGENT,
                "Accept": "*/*",
                "Accept-Encoding": "identity",
                **headers,
            }
            pre = auth_header or self.auth.preemptive(origin)
            if pre:
                hdrs["Authorization"] = pre
            try:
                resp = self._manager(current).request(
                    method,
                    current,
                    body=body,
                    headers=hdrs,
                    redirect=False,
                    retries=False,
                    preload_content=False,
                    decode_content=False,
                    timeout=timeout or self.timeout,
                )
            except (HTTPError, OSError) as exc:
                raise transport_error(exc) from None
            on_response(resp)
            status = resp.status
            if follow_redirects and status in _REDIRECTS and resp.headers.get("Location"):
                target = urljoin(current, resp.headers["Location"])
                release_response(resp)
                redirects += 1
                self._check_redirect(current, target, status, redirects)
                current = target
                auth_header, auth_rounds, spnego_ctx = None, 0, None
                continue
            if status == 401 and auth_rounds < 3 and body is None:
                challenges = _challenges(resp, "WWW-Authenticate")
                if spnego_ctx is not None:
                    token = _token_from(challenges, spnego_scheme)
                    if token is None or spnego_ctx.complete:
                        return resp, current  # rejected: the caller reports 401
                    out = spnego_ctx.step(token)
                    release_response(resp)
                    auth_header = f"{_scheme_name(spnego_scheme)} {base64.b64encode(out).decode('ascii')}"
                    auth_rounds += 1
                    continue
                chosen = self.auth.choose(challenges)
                if chosen is None:
                    return resp, current
                scheme, cred = chosen
                release_response(resp)
                auth_rounds += 1
                if scheme == "basic":
                    auth_header = _basic(cred)
                    self.auth.basic_origins.add(origin)
                    continue
                spnego_ctx, spnego_scheme = _spnego_client(cred, current, scheme), scheme
                out = spnego_ctx.step()
                auth_header = f"{_scheme_name(scheme)} {base64.b64encode(out).decode('ascii')}"
                continue
            return resp, current

    def _check_redirect(self, source: str, target: str, status: int, count: int) -> None:
        policy = self.flags & REDIRECT_POLICY_MASK
        if policy == REDIRECT_DISALLOW:
            # bits-protocol.md 1.4: HRESULT_FROM_WIN32(HTTP_STATUS_xxx), fatal.
            raise error_from_hresult(
                0x80070000 | status,
                f"the server redirected to {target} and the job's security flags disallow redirects",
                noun="Job",
            )
        if urlsplit(target).scheme not in ("http", "https"):
            raise BcsError(
                ERROR_WINHTTP_REDIRECT_FAILED, f"redirect to a non-HTTP URL refused: {target}", noun="Job"
            )
        if (
            urlsplit(source).scheme == "https"
            and urlsplit(target).scheme == "http"
            and not self.flags & ALLOW_HTTPS_TO_HTTP
        ):
            raise BcsError(
                ERROR_WINHTTP_REDIRECT_FAILED, f"redirect from HTTPS to HTTP refused: {target}", noun="Job"
            )
        if count > tunables.CLIENT_MAX_REDIRECTS:
            raise BcsError(
                ERROR_WINHTTP_REDIRECT_FAILED,
                f"too many redirects (more than {tunables.CLIENT_MAX_REDIRECTS})",
                noun="Job",
            )

    @property
    def reports_redirects(self) -> bool:
        return self.flags & REDIRECT_POLICY_MASK == REDIRECT_ALLOW_REPORT


def _origin(url: str) -> str:
    p = urlsplit(url)
    return f"{p.scheme}://{p.netloc}".lower()


def release_response(resp: urllib3.BaseHTTPResponse, body_read: bool = False) -> None:
    """Give the connection back for reuse: at once when the body was read to the end, after reading
    a small unread body (<= 64 KiB) to its end; otherwise close it."""
    try:
        if body_read:
            resp.release_conn()
            return
        length = resp.length_remaining
        if length is not None and length <= 65536:
            resp.drain_conn()
            resp.release_conn()
            return
    except (HTTPError, OSError):
        pass
    resp.close()
    resp.release_conn()


def _scheme_name(scheme: str) -> str:
    return {"negotiate": "Negotiate", "ntlm": "NTLM"}[scheme]


def _token_from(challenges: list[str], scheme: str) -> bytes | None:
    for c in challenges:
        name, _, data = c.partition(" ")
        if name.lower() == scheme and data.strip():
            try:
                return base64.b64decode(data.strip())
            except ValueError:
                return None
    return None


def _spnego_client(cred: Credential, url: str, scheme: str) -> Any:
    import spnego

    host = urlsplit(url).hostname or ""
    return spnego.client(
        cred.user_name or None,
        cred.password or None,
        hostname=host,
        service="HTTP",
        protocol="negotiate" if scheme == "negotiate" else "ntlm",
    )
