"""Who is asking: a principal's name, how it proved it, and the SIDs an access check compares.

Every authenticator (client certificate, NTLM, Negotiate, Basic) ends with a ``Principal``; the SID
resolver (``bcs.auth.sids``) fills in ``sids``; the access check (``bcs.auth.access``) reads only
``sids``. The RPC caller of the management pipe is a principal too (scheme ``Pipe``).

Names are shown as Windows shows them, ``DOMAIN\\user``; ``key`` is the case-folded form that
lookups and caches use (Windows compares account names case-insensitively).

Well-known SIDs are added as Windows adds them to a network logon token: every authenticated
principal also holds Everyone, Authenticated Users and Network; an unauthenticated request holds
Anonymous Logon and Network, and not Everyone (Windows' default since Server 2003,
``EveryoneIncludesAnonymous = 0``).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ANONYMOUS",
    "ANONYMOUS_LOGON",
    "AUTHENTICATED_USERS",
    "EVERYONE",
    "NETWORK",
    "Principal",
]

EVERYONE = "S-1-1-0"
NETWORK = "S-1-5-2"
ANONYMOUS_LOGON = "S-1-5-7"
AUTHENTICATED_USERS = "S-1-5-11"


@dataclass(frozen=True)
class Principal:
    """An authenticated (or anonymous) caller.

    Attributes:
        name: ``DOMAIN\\user`` (or a UPN / certificate name where no domain is known); "" when anonymous.
        scheme: how the name was proved: a scheme of ``bcs.config.AUTH_SCHEMES``, ``"Anonymous"`` or ``"Pipe"``.
        sids: the user's SID first (when known), then its groups and the well-known SIDs; what an
            access check compares. Empty until resolved.
    """

    name: str
    scheme: str
    sids: tuple[str, ...] = ()

    @property
    def authenticated(self) -> bool:
        return self.scheme != "Anonymous"

    @property
    def key(self) -> str:
        """The case-folded name, for lookups and caches."""
        return self.name.casefold()

    def with_sids(self, user_and_groups: tuple[str, ...] | list[str]) -> Principal:
        """This principal holding ``user_and_groups`` plus the well-known SIDs of its logon."""
        extra = (EVERYONE, AUTHENTICATED_USERS, NETWORK) if self.authenticated else (ANONYMOUS_LOGON, NETWORK)
        sids = list(dict.fromkeys([*user_and_groups, *extra]))
        return Principal(self.name, self.scheme, tuple(sids))


ANONYMOUS = Principal("", "Anonymous").with_sids(())
