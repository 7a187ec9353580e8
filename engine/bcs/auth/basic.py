"""``Basic`` authentication (RFC 7617), over TLS only: a user name and password on every request.

Owns ``BasicVerifier``: it decodes the header, checks the password against the accounts NTLM
checks (``NegotiateAcceptor.check_password``: the user file on Linux, SSPI on Windows; one
password store, not two) and remembers a success for ``BASIC_CACHE_SECONDS``, as IIS caches a
Basic logon token, so a client that sends the header on every request costs one check per period
instead of one NTLM computation per request. The cache holds HMAC-SHA256 digests of user and
password under a key made at start and never stored, so neither is ever kept in memory or on disk
in a form that could be read back; a changed password takes effect within the period.

Plain http groups cannot list ``Basic`` (``bcs.config.tls_only_scheme_problem``); a request that
still arrives without TLS (a config.yaml written by hand) is refused before its header is read.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from bcs import tunables
from bcs.auth.negotiate import NegotiateAcceptor, Refused
from bcs.auth.principal import Principal

__all__ = ["CHALLENGE", "SCHEME", "BasicVerifier"]

SCHEME = "Basic"
CHALLENGE = 'Basic realm="BITS Compact Server", charset="UTF-8"'


class BasicVerifier:
    """Checks ``Authorization: Basic`` credentials, remembering successes for a while (thread-safe)."""

    def __init__(
        self,
        acceptor: NegotiateAcceptor,
        *,
        ttl: float = tunables.BASIC_CACHE_SECONDS,
        max_entries: int = tunables.BASIC_CACHE_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._acceptor = acceptor
        self._ttl = ttl
        self._max = max_entries
        self._clock = clock
        self._key = os.urandom(32)
        self._lock = threading.Lock()
        self._cache: OrderedDict[bytes, tuple[Principal, float]] = OrderedDict()
        self.checks = 0  # passwords checked (cache misses)

    def verify(self, token: str) -> Principal | Refused:
        """The principal of a Basic token (the base64 text after ``Basic``), or why it is refused."""
        if len(token) > tunables.NEGOTIATE_MAX_TOKEN:
            return Refused("malformed-token", f"{len(token)} characters")
        try:
            text = base64.b64decode(token.encode("ascii"), validate=True).decode("utf-8")
        except (UnicodeError, binascii.Error, ValueError):
            return Refused("malformed-token", "not base64 of UTF-8 text")
        user, colon, password = text.partition(":")
        if not colon or not user or any(ord(c) < 0x20 for c in user):
            return Refused("malformed-token", "no user name before ':'")
        digest = hmac.new(self._key, text.encode("utf-8"), hashlib.sha256).digest()
        now = self._clock()
        with self._lock:
            hit = self._cache.get(digest)
            if hit is not None and hit[1] > now:
                self._cache.move_to_end(digest)
                return hit[0]
        result = self._acceptor.check_password(user, password)
        with self._lock:
            self.checks += 1
            if isinstance(result, Principal):
                self._cache[digest] = (result, now + self._ttl)
                self._cache.move_to_end(digest)
                while len(self._cache) > self._max:
                    self._cache.popitem(last=False)
            else:
                self._cache.pop(digest, None)
        return result

    def clear(self) -> None:
        """Forget every remembered success (the accounts changed)."""
        with self._lock:
            self._cache.clear()
