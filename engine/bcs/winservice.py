"""The engine as a Windows service (pywin32): ``bcs service install --windows`` and ``uninstall``.

Imported only on Windows: ``bcs.cli.service`` imports it after checking the platform, because it
needs pywin32 (win32serviceutil, win32service, win32security, servicemanager, pywintypes).

How the service runs: the service control manager starts pywin32's service host
(pythonservice.exe; ``win32serviceutil.InstallService`` copies it into this interpreter's
``sys.exec_prefix``, beside a venv's pyvenv.cfg, so the venv's packages are found), which imports
``bcs.winservice.BcsService`` (the service's ``PythonClass`` registry value). The engine's
settings are the service's custom options (registry key ``Parameters``: StateDir, PipeName,
NoDemo, LogLevel), as pywin32 keeps them; ``SvcDoRun`` reads them and runs the engine in the
service process (``Engine.run`` without signal handlers); ``SvcStop`` asks it to stop, as
``server.stop`` does, and the service ends once listeners, jobs.db and the state directory are
released. ``bcs stop`` / ``Stop-BcsServer`` end it the same way (the SCM then reports it stopped).

Install: automatic start; restart on failure (``sc.exe failure``: after 5 s, 5 s, then 60 s; the
count resets after a day; ``sc.exe failureflag 1`` counts an engine that exits with an error, such
as a bad config.yaml, as a failure too); LocalSystem unless ``--account``. Another account gets
the "Log on as a service" right (the SCM does not grant it) and Modify on the state directory
(``icacls``), and needs its password unless it is a built-in, virtual (NT SERVICE\\...) or group
managed service account (name ending in ``$``). The cmdlets trust an engine run by SYSTEM or by
their own user only: with another account, manage the engine as that account.

Cannot run here (no Windows on our machines): tests/test_service_windows.py checks the calls and
the command lines with fake pywin32 modules. Nothing here has run on Windows yet.
"""

from __future__ import annotations

import logging
import os
import subprocess
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pywintypes
import servicemanager
import win32security
import win32service
import win32serviceutil

from bcs.systemdunit import ServiceInstallError

__all__ = [
    "DEFAULT_SERVICE_NAME",
    "BcsService",
    "ServicePlan",
    "engine_options",
    "install_service",
    "plan_service",
    "uninstall_service",
]

log = logging.getLogger("bcs.winservice")

DEFAULT_SERVICE_NAME = "BitsCompactServer"
DISPLAY_NAME = "BITS Compact Server"
DESCRIPTION = (
    "BITS Compact Server engine: hosts files in URL groups and runs BITS client jobs; "
    "managed with the BitsCompactServer PowerShell module or bcs over a local named pipe."
)
CLASS_STRING = "bcs.winservice.BcsService"  # what pythonservice.exe imports (PythonClass)
# Accounts without a password (LocalSystem is None: the SCM's default).
_BUILTIN = {
    "localsystem": None,
    "nt authority\\system": None,
    "system": None,
    "localservice": "NT AUTHORITY\\LocalService",
    "nt authority\\localservice": "NT AUTHORITY\\LocalService",
    "nt authority\\local service": "NT AUTHORITY\\LocalService",
    "networkservice": "NT AUTHORITY\\NetworkService",
    "nt authority\\networkservice": "NT AUTHORITY\\NetworkService",
    "nt authority\\network service": "NT AUTHORITY\\NetworkService",
}
_ERROR_ACCESS_DENIED = 5
_ERROR_SERVICE_DOES_NOT_EXIST = 1060
_ERROR_SERVICE_NOT_ACTIVE = 1062
_ERROR_SERVICE_EXISTS = 1073
# sc.exe failure: reset the failure count after a day; restart after 5 s, 5 s, then 60 s.
FAILURE_RESET_SECONDS = 86400
FAILURE_ACTIONS = "restart/5000/restart/5000/restart/60000"


@dataclass
class ServicePlan:
    """What ``install_service`` does, computed first so that it can be shown and tested."""

    name: str
    state_dir: Path
    user_name: str | None  # None: LocalSystem
    password: str | None = field(repr=False)
    needs_logon_right: bool
    options: dict[str, str | int]  # the service's custom options (registry Parameters)
    commands: list[list[str]]  # sc.exe and icacls command lines, run after the service exists

    def install_arguments(self) -> dict[str, Any]:
        """The keyword arguments of ``win32serviceutil.InstallService``."""
        return {
            "pythonClassString": CLASS_STRING,
            "serviceName": self.name,
            "displayName": DISPLAY_NAME
            if self.name == DEFAULT_SERVICE_NAME
            else f"{DISPLAY_NAME} ({self.name})",
            "startType": win32service.SERVICE_AUTO_START,
            "userName": self.user_name,
            "password": self.password,
            "description": DESCRIPTION,
        }

    def shown(self) -> dict[str, Any]:
        """The plan as ``--print`` shows it (never the password)."""
        arguments = self.install_arguments()
        arguments["password"] = "(set)" if self.password else None
        return {"installService": arguments, "options": self.options, "commands": self.commands}


def _account(account: str | None) -> tuple[str | None, bool, bool]:
    """(SCM user name, needs a password, needs the logon right) of an account as the user typed it."""
    if account is None or account.lower() in _BUILTIN:
        return (_BUILTIN[account.lower()] if account else None), False, False
    if "\\" not in account and "@" not in account:
        account = ".\\" + account  # a local account, as the SCM wants it
    passwordless = account.endswith("$") or account.lower().startswith("nt service\\")
    return account, not passwordless, True


def plan_service(
    *,
    name: str,
    state_dir: Path,
    account: str | None = None,
    password: str | None = None,
    pipe_name: str | None = None,
    no_demo: bool = False,
    log_level: str = "INFO",
) -> ServicePlan:
    """Compute the install: arguments, custom options and the sc.exe/icacls command lines.

    Raises:
        ServiceInstallError: a bad name, or an account that needs a password without one.
    """
    if not name or any(c in name for c in '\\/"') or len(name) > 256:
        raise ServiceInstallError(f"{name!r} is not a service name")
    if not state_dir.is_absolute():
        raise ServiceInstallError(f"the state directory {state_dir} must be an absolute path")
    user_name, needs_password, logon_right = _account(account)
    if needs_password and not password:
        raise ServiceInstallError(
            f"the account {user_name} needs its password: give it on standard input with --password-stdin "
            "(or use LocalSystem, NT AUTHORITY\\LocalService, a virtual NT SERVICE\\ account or a gMSA)"
        )
    options: dict[str, str | int] = {
        "StateDir": str(state_dir),
        "NoDemo": int(no_demo),
        "LogLevel": log_level,
    }
    if pipe_name:
        options["PipeName"] = pipe_name
    commands = [
        ["sc.exe", "failure", name, "reset=", str(FAILURE_RESET_SECONDS), "actions=", FAILURE_ACTIONS],
        ["sc.exe", "failureflag", name, "1"],
    ]
    if user_name is not None:
        # (OI)(CI)M: Modify, inherited by files and folders; /T: also what the directory holds already.
        commands.append(["icacls", str(state_dir), "/grant", f"{user_name}:(OI)(CI)M", "/T"])
    return ServicePlan(
        name=name,
        state_dir=state_dir,
        user_name=user_name,
        password=password if needs_password else None,
        needs_logon_right=logon_right,
        options=options,
        commands=commands,
    )


Runner = Callable[[Sequence[str]], "subprocess.CompletedProcess[str]"]


def _run(argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=120, check=False)


def _grant_service_logon(account: str) -> None:
    """Give ``account`` SeServiceLogonRight (services.msc does it; CreateService does not)."""
    policy = win32security.LsaOpenPolicy(None, win32security.POLICY_ALL_ACCESS)
    try:
        sid = win32security.LookupAccountName(None, account)[0]
        win32security.LsaAddAccountRights(policy, sid, ["SeServiceLogonRight"])
    finally:
        win32security.LsaClose(policy)


def _winerror(exc: BaseException) -> int:
    return int(getattr(exc, "winerror", 0) or 0)


def install_service(plan: ServicePlan, run: Runner = _run) -> list[str]:
    """Create the service as planned; the lines to tell the user.

    Raises:
        ServiceInstallError: the service exists, access is denied, or a step failed.
    """
    try:
        plan.state_dir.mkdir(parents=True, exist_ok=True)
        if plan.needs_logon_right and plan.user_name is not None:
            _grant_service_logon(plan.user_name)
        win32serviceutil.InstallService(**plan.install_arguments())
    except pywintypes.error as exc:
        if _winerror(exc) == _ERROR_SERVICE_EXISTS:
            raise ServiceInstallError(
                f"the service {plan.name} exists already; remove it first with "
                f"`bcs service uninstall --windows --name {plan.name}`"
            ) from None
        if _winerror(exc) == _ERROR_ACCESS_DENIED:
            raise ServiceInstallError(
                "access denied: run bcs service install from an elevated prompt"
            ) from None
        raise ServiceInstallError(f"cannot install the service {plan.name}: {exc}") from None
    except OSError as exc:
        raise ServiceInstallError(f"cannot create {plan.state_dir}: {exc.strerror or exc}") from None
    for option, value in plan.options.items():
        win32serviceutil.SetServiceCustomOption(plan.name, option, value)
    messages = [f"installed the service {plan.name} (automatic start, state directory {plan.state_dir})"]
    for argv in plan.commands:
        done = run(argv)
        if done.returncode != 0:
            messages.append(f"warning: {' '.join(argv)} failed: {(done.stderr or done.stdout).strip()}")
    messages.append(f"start it now with `Start-Service -Name {plan.name}` (or `sc.exe start {plan.name}`)")
    return messages


def uninstall_service(name: str) -> list[str]:
    """Stop the service if it runs, then delete it (its registry options go with it).

    Raises:
        ServiceInstallError: no such service, or access denied.
    """
    messages = []
    try:
        win32serviceutil.StopService(name)
        messages.append(f"stopped the service {name}")
    except pywintypes.error as exc:
        if _winerror(exc) == _ERROR_SERVICE_DOES_NOT_EXIST:
            raise ServiceInstallError(f"there is no service {name}: nothing to uninstall") from None
        if _winerror(exc) != _ERROR_SERVICE_NOT_ACTIVE:
            raise ServiceInstallError(f"cannot stop the service {name}: {exc}") from None
    try:
        win32serviceutil.RemoveService(name)
    except pywintypes.error as exc:
        raise ServiceInstallError(f"cannot remove the service {name}: {exc}") from None
    messages.append(f"removed the service {name}")
    return messages


def engine_options(service_name: str) -> Any:
    """The EngineOptions the installed service runs with (its custom options)."""
    from bcs.engine import EngineOptions, default_state_dir

    def option(key: str, default: Any = None) -> Any:
        return win32serviceutil.GetServiceCustomOption(service_name, key, default)

    state_dir = option("StateDir") or str(default_state_dir())
    return EngineOptions(
        state_dir=Path(state_dir),
        pipe_name=str(option("PipeName") or ""),  # "": the default name
        demo=not bool(option("NoDemo", 0)),
    )


class BcsService(win32serviceutil.ServiceFramework):  # type: ignore[misc]
    """The service: runs the engine until the SCM (or server.stop) stops it."""

    _svc_name_ = DEFAULT_SERVICE_NAME
    _svc_display_name_ = DISPLAY_NAME
    _svc_description_ = DESCRIPTION

    def __init__(self, args: Sequence[str]) -> None:
        super().__init__(args)
        self.service_name = str(args[0]) if args else DEFAULT_SERVICE_NAME  # the name it is installed as
        self._engine: Any = None
        self._stop_requested = threading.Event()

    def SvcStop(self) -> None:  # pywin32 names it
        self.ReportServiceStatus(win32service.SERVICE_STOP_PENDING)
        self._stop_requested.set()
        engine = self._engine
        if engine is not None:
            engine.request_stop()

    def SvcDoRun(self) -> None:  # pywin32 names it
        from bcs.client.service import JobService
        from bcs.engine import Engine
        from bcs.errors import BcsError
        from bcs.host.service import FileHost

        level = win32serviceutil.GetServiceCustomOption(self.service_name, "LogLevel", "INFO")
        logging.getLogger().setLevel(getattr(logging, str(level), logging.INFO))
        options = engine_options(self.service_name)
        engine = Engine(options, (FileHost, JobService))
        self._engine = engine
        if self._stop_requested.is_set():
            return
        servicemanager.LogInfoMsg(
            f"{self.service_name}: engine starting (state directory {options.state_dir})"
        )
        try:
            engine.run(install_signals=False)
        except BcsError as exc:
            servicemanager.LogErrorMsg(f"{self.service_name}: the engine cannot start: {exc.message}")
            raise
        servicemanager.LogInfoMsg(f"{self.service_name}: engine stopped (pid {os.getpid()})")
