"""``bcs service install|uninstall``: run the engine at boot as a systemd unit or a Windows service.

``--systemd`` (the default on Linux) writes a hardened unit (``bcs.systemdunit``); ``--windows``
(the default on Windows) installs a pywin32 service (``bcs.winservice``, imported only there).
Scheduled tasks are the cmdlets' route: ``Register-BcsScheduledTask``.

Exit codes: 0 done, 1 it could not be done (the message says why), 2 bad usage.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from bcs.systemdunit import (
    DEFAULT_UNIT_DIR,
    DEFAULT_UNIT_NAME,
    ServiceInstallError,
    engine_pythonpath,
    install_unit,
    python_executable,
    render_unit,
    uninstall_unit,
    unit_options,
)

__all__ = ["add_service_parser", "run_service"]

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2


def _add_kind(parser: argparse.ArgumentParser) -> None:
    kind = parser.add_mutually_exclusive_group()
    kind.add_argument(
        "--systemd",
        dest="kind",
        action="store_const",
        const="systemd",
        help="a systemd unit (default on Linux)",
    )
    kind.add_argument(
        "--windows",
        dest="kind",
        action="store_const",
        const="windows",
        help="a Windows service through pywin32 (default on Windows)",
    )
    parser.add_argument(
        "--name",
        help=f"unit name (default {DEFAULT_UNIT_NAME}: {DEFAULT_UNIT_NAME}.service) or Windows service name "
        "(default BitsCompactServer)",
    )
    parser.add_argument(
        "--unit-dir",
        type=Path,
        default=DEFAULT_UNIT_DIR,
        help=f"systemd: where the unit file goes (default {DEFAULT_UNIT_DIR})",
    )


def add_service_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    """``bcs service install`` and ``bcs service uninstall``."""
    service = sub.add_parser("service", help="run the engine at boot (systemd unit or Windows service)")
    verbs = service.add_subparsers(dest="verb", metavar="VERB", required=True)
    install = verbs.add_parser(
        "install",
        parents=[common],
        help="write a hardened systemd unit or install a Windows service that runs `bcs serve`",
        description="Run the engine at boot: --systemd writes a hardened unit running "
        "`python -m bcs serve` in the foreground with this interpreter; --windows installs a "
        "pywin32 service. Run it again after configuration changes that need another unit "
        "(a port below 1024, an upload directory, files under /home).",
    )
    _add_kind(install)
    install.add_argument(
        "--state-dir", type=Path, help="state directory (default: BCS_STATE_DIR or the platform's)"
    )
    install.add_argument("--user", help="systemd: the user the engine runs as (default root)")
    install.add_argument(
        "--account",
        help="Windows: the account the service runs as (default LocalSystem; "
        "NT AUTHORITY\\LocalService, NT SERVICE\\<name>, DOMAIN\\gmsa$ or DOMAIN\\user)",
    )
    install.add_argument(
        "--password-stdin",
        action="store_true",
        help="Windows: read the --account password from the first line of standard input",
    )
    install.add_argument(
        "--read-write-path",
        action="append",
        default=[],
        metavar="DIR",
        help="systemd: another directory the engine may write (BITS client job destinations); repeat for more",
    )
    install.add_argument(
        "--no-demo",
        action="store_true",
        help="on a first start begin with an empty configuration, not the demo URL group",
    )
    install.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    install.add_argument(
        "--print",
        dest="print_only",
        action="store_true",
        help="show the unit (or the Windows service plan) and change nothing",
    )
    uninstall = verbs.add_parser(
        "uninstall",
        parents=[common],
        help="stop and remove what `bcs service install` installed",
    )
    _add_kind(uninstall)


def _kind(args: argparse.Namespace) -> str:
    return str(args.kind or ("windows" if sys.platform == "win32" else "systemd"))


def run_service(args: argparse.Namespace) -> int:
    """Run ``bcs service <verb>``; messages to stdout, errors to stderr."""
    kind = _kind(args)
    try:
        if kind == "windows":
            if sys.platform != "win32":
                print(
                    "bcs service: --windows installs a Windows service and needs Windows; "
                    "on this platform use --systemd",
                    file=sys.stderr,
                )
                return EXIT_USAGE
            messages = _windows(args)
        elif args.verb == "install":
            if args.account or args.password_stdin:
                print(
                    "bcs service: --account and --password-stdin are for --windows; use --user",
                    file=sys.stderr,
                )
                return EXIT_USAGE
            messages = _install_systemd(args)
        else:
            messages = uninstall_unit(args.unit_dir, args.name or DEFAULT_UNIT_NAME)
    except ServiceInstallError as exc:
        print(f"bcs service: {exc.message}", file=sys.stderr)
        return EXIT_ERROR
    for line in messages:
        print(line)
    return EXIT_OK


def _state_dir(args: argparse.Namespace) -> Path:
    from bcs.engine import default_state_dir

    return (args.state_dir or default_state_dir()).absolute().resolve()


def _install_systemd(args: argparse.Namespace) -> list[str]:
    python = python_executable()
    options = unit_options(
        python=python,
        state_dir=_state_dir(args),
        pipe_name=getattr(args, "pipe_name", None),
        user=args.user,
        no_demo=args.no_demo,
        log_level=args.log_level,
        read_write_paths=args.read_write_path,
        pythonpath=engine_pythonpath(python),
    )
    if args.print_only:
        return [render_unit(options).rstrip("\n")]
    _, messages = install_unit(options, args.unit_dir, args.name or DEFAULT_UNIT_NAME)
    return messages


def _windows(args: argparse.Namespace) -> list[str]:  # pragma: no cover - Windows only
    from bcs import winservice

    name = args.name or winservice.DEFAULT_SERVICE_NAME
    if args.verb == "uninstall":
        return winservice.uninstall_service(name)
    if args.user or args.read_write_path:
        raise ServiceInstallError("--user and --read-write-path are for --systemd; use --account")
    password = sys.stdin.readline().rstrip("\r\n") if args.password_stdin else None
    plan = winservice.plan_service(
        name=name,
        state_dir=_state_dir(args),
        account=args.account,
        password=password,
        pipe_name=getattr(args, "pipe_name", None),
        no_demo=args.no_demo,
        log_level=args.log_level,
    )
    if args.print_only:
        return [json.dumps(plan.shown(), indent=2)]
    return winservice.install_service(plan)
