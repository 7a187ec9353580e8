"""The custom ``bcs auth set`` form: flat options instead of ``auth.set``'s nested objects.

``--ldap-url``/``--ldap-bind-user``/... become the ``ldap`` object (replaced as a whole, as
``auth.set`` does: the URL and the account are always given; without ``--ldap-bind-password`` the
engine keeps the stored password while both stay the same); ``--remove-ldap`` sends ``ldap: {}``;
each ``--principal NAME=SID[:GROUPSID,...]`` is one entry of the principals map, which it replaces;
``--clear-principals`` sends ``principals: []``. ``bcs auth get`` is the generated form.

The bind password is never an argument (the process list shows arguments to every local user):
``--ldap-bind-password -`` reads it from standard input, or asks for it without echo on a terminal.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from bcs.cli.parser import STDIN_SECRET, absolute_paths, command
from bcs.config.model import NTLM_BACKENDS
from bcs.errors import InvalidArgumentError, shown
from bcs.rpc.client import RpcClient

__all__ = ["parse_principal"]

# option (argparse dest) -> field of auth.set's ldap object
LDAP_OPTIONS = {
    "ldap_url": "url",
    "ldap_bind_user": "bindUser",
    "ldap_base_dn": "baseDn",
    "ldap_ca_path": "caPath",
    "ldap_cache_seconds": "cacheSeconds",
}


def parse_principal(text: str) -> dict[str, Any]:
    """``NAME=SID[:GROUPSID,...]`` as an entry of the principals map (what Set-BcsAuthentication's
    ConvertTo-BcsPrincipal builds). Account names hold neither '=' nor ':' (AD refuses both in
    sAMAccountName), so the first '=' and the first ':' after it split the text; the engine checks
    the name and the SIDs.

    Raises:
        InvalidArgumentError: no name or no SID.
    """
    name, equals, rest = text.partition("=")
    sid, _, groups = rest.partition(":")
    if not equals or not name.strip() or not sid.strip():
        raise InvalidArgumentError(
            f"--principal {shown(text)} is not of the form NAME=SID[:GROUPSID,...] "
            "(such as 'CORP\\alice=S-1-5-21-1-2-3-1001:S-1-5-21-1-2-3-2001')",
            noun="Authentication",
            target=text,
        )
    return {
        "name": name.strip(),
        "sid": sid.strip(),
        "groups": [g.strip() for g in groups.split(",") if g.strip()],
    }


def _stdin_only(text: str) -> str:
    if text != STDIN_SECRET:
        # the value itself is not repeated: it may be the password
        raise argparse.ArgumentTypeError(
            f"takes only '{STDIN_SECRET}' (the password is read from standard input; "
            "on the command line every local user could read it in the process list)"
        )
    return text


def _set_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--keytab-path",
        help="Kerberos keytab of the HTTP service (absolute or relative to here); '' = http.keytab in "
        "the state directory",
    )
    parser.add_argument(
        "--ntlm-user-file",
        help="NTLM user file (DOMAIN:USER:PASSWORD lines; absolute or relative to here); '' = none",
    )
    parser.add_argument(
        "--ntlm-backend",
        choices=NTLM_BACKENDS,
        help="Linux: what checks NTLM: UserFile (the --ntlm-user-file) or Winbind (Samba's ntlm_auth: "
        "the accounts of the domain this machine joined with net ads join)",
    )
    ldap = parser.add_argument_group(
        "directory (Active Directory; replaced as a whole: give --ldap-url and --ldap-bind-user)"
    )
    ldap.add_argument("--ldap-url", help="ldaps://dc:636, or ldap://dc:389 upgraded with StartTLS")
    ldap.add_argument(
        "--ldap-bind-user", help="service account of the simple bind (user@domain, DOMAIN\\user or a DN)"
    )
    ldap.add_argument(
        "--ldap-bind-password",
        type=_stdin_only,
        metavar="-",
        help="'-': read the account's password from standard input (asked without echo on a terminal); "
        "omitted: the stored one is kept while URL and account stay the same",
    )
    ldap.add_argument("--ldap-base-dn", help="where accounts are searched; '' = the whole domain")
    ldap.add_argument("--ldap-ca-path", help="PEM CA bundle of the DC's certificate; '' = the system's CAs")
    ldap.add_argument(
        "--ldap-cache-seconds", type=int, help="how long a name's SIDs are used before they are read again"
    )
    ldap.add_argument("--remove-ldap", action="store_true", help="remove the directory and its password")
    principals = parser.add_argument_group("local principals map (sites without Active Directory)")
    principals.add_argument(
        "--principal",
        action="append",
        metavar="NAME=SID[:GROUPSID,...]",
        help="one user of the map (repeat the option for more); replaces the whole map",
    )
    principals.add_argument("--clear-principals", action="store_true", help="empty the principals map")


def _read_password() -> str:
    if sys.stdin.isatty():
        password = getpass.getpass("LDAP bind password: ")
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise InvalidArgumentError(
            "--ldap-bind-password -: no password on standard input", noun="Authentication"
        )
    return password


def set_params(args: argparse.Namespace) -> dict[str, Any]:
    """``auth.set``'s params from the flat options.

    Raises:
        InvalidArgumentError: contradicting options, an incomplete directory or a bad --principal.
    """
    params: dict[str, Any] = {}
    for option, name in (("keytab_path", "keytabPath"), ("ntlm_user_file", "ntlmUserFile")):
        value = getattr(args, option)
        if value is not None:
            params[name] = absolute_paths(value, name)
    if args.ntlm_backend is not None:
        params["ntlmBackend"] = args.ntlm_backend
    given = [option for option in (*LDAP_OPTIONS, "ldap_bind_password") if getattr(args, option) is not None]
    if args.remove_ldap and given:
        raise InvalidArgumentError(
            f"--remove-ldap removes the directory; it cannot go with --{given[0].replace('_', '-')}",
            noun="Authentication",
        )
    if args.remove_ldap:
        params["ldap"] = {}
    elif given:
        missing = [o for o in ("ldap_url", "ldap_bind_user") if getattr(args, o) is None]
        if missing:
            raise InvalidArgumentError(
                "the directory settings are replaced as a whole: give --ldap-url and --ldap-bind-user "
                f"(missing --{missing[0].replace('_', '-')})",
                noun="Authentication",
            )
        ldap: dict[str, Any] = {}
        for option, field in LDAP_OPTIONS.items():
            value = getattr(args, option)
            if value is not None:
                ldap[field] = absolute_paths(value, field)
        if args.ldap_bind_password is not None:
            ldap["bindPassword"] = _read_password()
        params["ldap"] = ldap
    if args.principal is not None and args.clear_principals:
        raise InvalidArgumentError(
            "--principal replaces the principals map and --clear-principals empties it: give one of them",
            noun="Authentication",
        )
    if args.principal is not None:
        params["principals"] = [parse_principal(text) for text in args.principal]
    if args.clear_principals:
        params["principals"] = []
    return params


@command("auth.set", _set_args)
def _auth_set(client: RpcClient, args: argparse.Namespace) -> Any:
    return client.call("auth.set", set_params(args))
