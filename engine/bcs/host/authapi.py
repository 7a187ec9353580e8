"""RPC methods of the authentication settings: ``auth.get`` / ``auth.set``.

What they set (``AuthConfig``, config.yaml ``auth:``): the Kerberos keytab, the NTLM user file
and the NTLM backend (``UserFile`` or ``Winbind``: Samba's ``ntlm_auth``, ``bcs.auth.winbind``)
the handshakes check (``bcs.auth.negotiate``), and where names become SIDs for SDDL checks
(``bcs.auth.sids``): an Active Directory reached over LDAPS/StartTLS, or a local principals map.

``auth.set`` changes only what it is given: ``ldap`` replaces the directory settings as a whole
(``{}`` removes the directory; without ``bindPassword`` the stored one is kept while ``url`` and
``bindUser`` stay the same), ``principals`` replaces the map. Everything is checked before anything
changes: the files exist and are readable, the settings validate, and a new directory is asked for
its domain SID (a wrong password, an untrusted certificate or an unreachable DC is refused
there, ``ERROR_DS_UNAVAILABLE``). The bind password is a secret (``secrets.json``): no answer, log
line or ``config.export`` shows it, only ``bindPasswordSet``.
"""

from __future__ import annotations

import copy
import os
import sys
from typing import Any

from bcs.auth.negotiate import check_keytab, check_ntlm_user_file
from bcs.auth.sids import SidResolver
from bcs.auth.winbind import check_helper
from bcs.config import Config
from bcs.config.model import NTLM_BACKENDS, AuthConfig, LdapConfig, PrincipalConfig, parse_setting
from bcs.errors import InvalidArgumentError, shown
from bcs.rpc.registry import CallContext, Param, rpc_method

__all__: list[str] = []

LDAP_FIELDS = (
    Param("url", "string", "ldaps://dc:636, or ldap://dc:389 upgraded with StartTLS.", required=True),
    Param(
        "bindUser",
        "string",
        "Service account of the simple bind (user@domain, DOMAIN\\user or a DN).",
        required=True,
    ),
    Param(
        "bindPassword",
        "string",
        "Its password; kept in secrets.json, never returned. Omitted: the stored one is kept.",
        secret=True,
        max_length=4096,
    ),
    Param("baseDn", "string", "Where accounts are searched; empty: the whole domain."),
    Param("caPath", "string", "PEM CA bundle the DC's certificate must chain to; empty: the system's CAs."),
    Param(
        "cacheSeconds", "integer", "How long a name's SIDs are used before they are read again.", minimum=1
    ),
)
PRINCIPAL_FIELDS = (
    Param("name", "string", "DOMAIN\\user, user@dns.domain or user.", required=True),
    Param("sid", "string", "The user's SID (S-1-5-21-...).", required=True),
    Param("groups", "array", "SIDs of every group it belongs to (nested included).", items="string"),
)


def _auth_dict(ctx: CallContext, auth: AuthConfig) -> dict[str, Any]:
    ldap = auth.ldap
    host = ctx.engine.services["host"]
    return {
        "keytabPath": auth.keytab_path,
        "ntlmUserFile": auth.ntlm_user_file,
        "ntlmBackend": auth.ntlm_backend,
        "ldap": None
        if ldap is None
        else {
            "url": ldap.url,
            "bindUser": ldap.bind_user,
            "bindPasswordSet": ldap.bind_password_set,
            "baseDn": ldap.base_dn,
            "caPath": ldap.ca_path,
            "cacheSeconds": ldap.cache_seconds,
        },
        "principals": [{"name": p.name, "sid": p.sid, "groups": list(p.groups)} for p in auth.principals],
        "resolvesSids": host.resolves,
        "handshakes": host.state.authenticator.acceptor.status(),
    }


@rpc_method(
    "auth.get",
    "Get the authentication settings (keytab, NTLM user file, directory, principals map); never the password.",
    result="AuthSettings",
    read_only=True,
    cmdlet="Get-BcsAuthentication",
)
def auth_get(ctx: CallContext) -> dict[str, Any]:
    return _auth_dict(ctx, ctx.engine.config.current.auth)


@rpc_method(
    "auth.set",
    "Change the authentication settings; what is not given stays. Checked (files, directory bind) before applied.",
    params=[
        Param(
            "keytabPath",
            "string",
            "Absolute path of the Kerberos keytab; empty: http.keytab in the state directory.",
        ),
        Param(
            "ntlmUserFile",
            "string",
            "Absolute path of the NTLM user file (DOMAIN:USER:PASSWORD lines); empty: none.",
        ),
        Param(
            "ntlmBackend",
            "string",
            "Linux: what checks NTLM: UserFile (the ntlmUserFile) or Winbind (Samba's ntlm_auth and "
            "winbindd: the accounts of the domain this machine joined).",
            enum=NTLM_BACKENDS,
        ),
        Param(
            "ldap",
            "object",
            "The Active Directory to read SIDs from; {} removes it.",
            fields=LDAP_FIELDS,
            empty_removes=True,
        ),
        Param("principals", "array", "The local principals map (replaces it).", fields=PRINCIPAL_FIELDS),
    ],
    result="AuthSettings",
    cmdlet="Set-BcsAuthentication",
)
def auth_set(
    ctx: CallContext,
    keytab_path: str | None,
    ntlm_user_file: str | None,
    ntlm_backend: str | None,
    ldap: dict[str, Any] | None,
    principals: list[dict[str, Any]] | None,
) -> dict[str, Any]:
    current = ctx.engine.config.current.auth
    new = copy.deepcopy(current)
    if keytab_path is not None:
        if keytab_path:
            check_keytab(_absolute(keytab_path, "keytabPath"))
        new.keytab_path = keytab_path
    if ntlm_user_file is not None:
        if ntlm_user_file:
            check_ntlm_user_file(_absolute(ntlm_user_file, "ntlmUserFile"))
        new.ntlm_user_file = ntlm_user_file
    if ntlm_backend is not None:
        if ntlm_backend == "Winbind" and sys.platform != "win32":
            check_helper()  # ERROR_FILE_NOT_FOUND without ntlm_auth
        new.ntlm_backend = ntlm_backend
    if ldap is not None:
        new.ldap = _ldap(ldap, current.ldap)
    if principals is not None:
        new.principals = [
            parse_setting(PrincipalConfig, _given(p), ("principals", i)) for i, p in enumerate(principals)
        ]

    def change(config: Config) -> None:
        config.auth = copy.deepcopy(new)

    trial = ctx.engine.config.current.copy()
    change(trial)
    trial.validate()  # E_INVALIDARG naming the setting, before the directory is asked
    if new.ldap is not None and new.ldap != current.ldap:
        with SidResolver(new.ldap, new.principals, bind_password=new.ldap.bind_password) as probe:
            probe.domain_sid()  # binds: a wrong password, certificate or address is refused here
    config = ctx.engine.config.update(change)
    return _auth_dict(ctx, config.auth)


def _absolute(path: str, name: str) -> str:
    if "\x00" in path or not os.path.isabs(path):
        raise InvalidArgumentError(
            f"{name} must be an absolute path, not {shown(path)}", noun="Authentication"
        )
    return path


def _given(fields: dict[str, Any]) -> dict[str, Any]:
    """The fields of an object parameter that were sent (the registry fills the others with None)."""
    return {key: value for key, value in fields.items() if value is not None}


def _ldap(given: dict[str, Any], current: LdapConfig | None) -> LdapConfig | None:
    """The directory settings ``given`` (``{}``: none), keeping the stored password when it is omitted."""
    given = _given(given)
    if not given:
        return None
    ldap: LdapConfig = parse_setting(LdapConfig, given, ("ldap",))
    if (
        "bindPassword" not in given
        and current is not None
        and (current.url, current.bind_user) == (ldap.url, ldap.bind_user)
    ):
        ldap.bind_password = current.bind_password
        ldap.bind_password_set = current.bind_password_set
    return ldap
