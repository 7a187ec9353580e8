"""``bcs service install --windows``: the pywin32 calls and the command lines, with fake pywin32 modules.

A mock on purpose, the one kind allowed here: Windows services cannot run on our Linux machines
(no service control manager, no pywin32). The fakes record what ``bcs.winservice`` asks of
pywin32 (InstallService arguments, the service's registry options, the logon right) and the
sc.exe/icacls command lines, checked as Windows receives them (``subprocess.list2cmdline``). The
service class itself runs a real engine here: only the SCM around it is faked.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
import threading
import time
import types
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from bcs.rpc.client import RpcClient
from bcs.systemdunit import ServiceInstallError


class FakeWinError(Exception):
    """pywintypes.error: (winerror, funcname, strerror)."""

    def __init__(self, winerror: int, funcname: str = "", strerror: str = "") -> None:
        super().__init__(winerror, funcname, strerror)
        self.winerror = winerror


class FakePywin32:
    """The parts of pywin32 bcs.winservice uses, recording every call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.registry: dict[str, dict[str, Any]] = {}
        self.install_error: int | None = None
        self.running = True
        self.exists = True

    def modules(self) -> dict[str, types.ModuleType]:
        fake = self
        pywintypes = types.ModuleType("pywintypes")
        pywintypes.error = FakeWinError  # type: ignore[attr-defined]

        win32service = types.ModuleType("win32service")
        win32service.SERVICE_AUTO_START = 2  # type: ignore[attr-defined]
        win32service.SERVICE_STOP_PENDING = 3  # type: ignore[attr-defined]

        class ServiceFramework:
            def __init__(self, args: Sequence[str]) -> None:
                self.reported: list[int] = []

            def ReportServiceStatus(self, status: int) -> None:  # pywin32 names it
                self.reported.append(status)

        def install_service(**kw: Any) -> None:
            fake.calls.append(("InstallService", kw))
            if fake.install_error is not None:
                raise FakeWinError(fake.install_error, "CreateService", "failed")

        def set_option(name: str, option: str, value: Any) -> None:
            fake.calls.append(("SetServiceCustomOption", (name, option, value)))
            fake.registry.setdefault(name, {})[option] = value

        def get_option(name: str, option: str, default: Any = None) -> Any:
            return fake.registry.get(name, {}).get(option, default)

        def stop_service(name: str) -> None:
            fake.calls.append(("StopService", name))
            if not fake.exists:
                raise FakeWinError(1060, "OpenService", "The specified service does not exist.")
            if not fake.running:
                raise FakeWinError(1062, "ControlService", "The service has not been started.")

        def remove_service(name: str) -> None:
            fake.calls.append(("RemoveService", name))

        win32serviceutil = types.ModuleType("win32serviceutil")
        win32serviceutil.ServiceFramework = ServiceFramework  # type: ignore[attr-defined]
        win32serviceutil.InstallService = install_service  # type: ignore[attr-defined]
        win32serviceutil.SetServiceCustomOption = set_option  # type: ignore[attr-defined]
        win32serviceutil.GetServiceCustomOption = get_option  # type: ignore[attr-defined]
        win32serviceutil.StopService = stop_service  # type: ignore[attr-defined]
        win32serviceutil.RemoveService = remove_service  # type: ignore[attr-defined]

        win32security = types.ModuleType("win32security")
        win32security.POLICY_ALL_ACCESS = 0xF0FFF  # type: ignore[attr-defined]
        win32security.LsaOpenPolicy = lambda system, access: "policy"  # type: ignore[attr-defined]
        win32security.LookupAccountName = lambda system, name: (f"SID({name})", "DOMAIN", 1)  # type: ignore[attr-defined]
        win32security.LsaAddAccountRights = lambda policy, sid, rights: fake.calls.append(  # type: ignore[attr-defined]
            ("LsaAddAccountRights", (sid, list(rights)))
        )
        win32security.LsaClose = lambda policy: None  # type: ignore[attr-defined]

        servicemanager = types.ModuleType("servicemanager")
        servicemanager.LogInfoMsg = lambda text: fake.calls.append(("LogInfoMsg", text))  # type: ignore[attr-defined]
        servicemanager.LogErrorMsg = lambda text: fake.calls.append(("LogErrorMsg", text))  # type: ignore[attr-defined]
        return {
            "pywintypes": pywintypes,
            "win32service": win32service,
            "win32serviceutil": win32serviceutil,
            "win32security": win32security,
            "servicemanager": servicemanager,
        }

    def named(self, name: str) -> list[Any]:
        return [args for call, args in self.calls if call == name]


@pytest.fixture
def pywin32(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[FakePywin32, Any]]:
    fake = FakePywin32()
    for name, module in fake.modules().items():
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.delitem(sys.modules, "bcs.winservice", raising=False)
    winservice = importlib.import_module("bcs.winservice")
    yield fake, winservice
    sys.modules.pop("bcs.winservice", None)  # never leave the module bound to the fakes


class Recorder:
    """Stands for subprocess.run: records sc.exe/icacls command lines, answers success."""

    def __init__(self) -> None:
        self.argvs: list[list[str]] = []

    def __call__(self, argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
        self.argvs.append(list(argv))
        return subprocess.CompletedProcess(list(argv), 0, "", "")

    def command_lines(self) -> list[str]:
        return [subprocess.list2cmdline(argv) for argv in self.argvs]  # what CreateProcess gets on Windows


def test_default_install_is_an_automatic_localsystem_service_that_restarts_on_failure(
    pywin32: tuple[FakePywin32, Any], tmp_path: Path
) -> None:
    fake, winservice = pywin32
    state = tmp_path / "Bits Compact Server"
    plan = winservice.plan_service(name="BitsCompactServer", state_dir=state)
    run = Recorder()
    messages = winservice.install_service(plan, run=run)
    (install,) = fake.named("InstallService")
    assert install == {
        "pythonClassString": "bcs.winservice.BcsService",
        "serviceName": "BitsCompactServer",
        "displayName": "BITS Compact Server",
        "startType": 2,  # SERVICE_AUTO_START
        "userName": None,  # LocalSystem
        "password": None,
        "description": winservice.DESCRIPTION,
    }
    assert fake.registry["BitsCompactServer"] == {"StateDir": str(state), "NoDemo": 0, "LogLevel": "INFO"}
    assert run.command_lines() == [
        "sc.exe failure BitsCompactServer reset= 86400 actions= restart/5000/restart/5000/restart/60000",
        "sc.exe failureflag BitsCompactServer 1",
    ]
    assert fake.named("LsaAddAccountRights") == []
    assert state.is_dir()
    assert any("Start-Service -Name BitsCompactServer" in m for m in messages)


def test_a_named_service_keeps_its_pipe_and_no_demo_options(
    pywin32: tuple[FakePywin32, Any], tmp_path: Path
) -> None:
    fake, winservice = pywin32
    plan = winservice.plan_service(
        name="BcsLab", state_dir=tmp_path / "lab", pipe_name="BcsLab", no_demo=True, log_level="DEBUG"
    )
    winservice.install_service(plan, run=Recorder())
    (install,) = fake.named("InstallService")
    assert (install["serviceName"], install["displayName"]) == ("BcsLab", "BITS Compact Server (BcsLab)")
    assert fake.registry["BcsLab"] == {
        "StateDir": str(tmp_path / "lab"),
        "NoDemo": 1,
        "LogLevel": "DEBUG",
        "PipeName": "BcsLab",
    }


def test_builtin_accounts_need_no_password_and_get_modify_on_the_state_directory(
    pywin32: tuple[FakePywin32, Any], tmp_path: Path
) -> None:
    fake, winservice = pywin32
    state = tmp_path / "state dir"
    plan = winservice.plan_service(
        name="BitsCompactServer", state_dir=state, account="NT AUTHORITY\\Local Service"
    )
    run = Recorder()
    winservice.install_service(plan, run=run)
    (install,) = fake.named("InstallService")
    assert (install["userName"], install["password"]) == ("NT AUTHORITY\\LocalService", None)
    assert run.command_lines()[-1] == f'icacls "{state}" /grant "NT AUTHORITY\\LocalService:(OI)(CI)M" /T'
    assert fake.named("LsaAddAccountRights") == []


def test_a_user_account_needs_its_password_and_gets_the_service_logon_right(
    pywin32: tuple[FakePywin32, Any], tmp_path: Path
) -> None:
    fake, winservice = pywin32
    with pytest.raises(ServiceInstallError, match="--password-stdin"):
        winservice.plan_service(name="BitsCompactServer", state_dir=tmp_path, account="bcsuser")
    plan = winservice.plan_service(
        name="BitsCompactServer", state_dir=tmp_path, account="bcsuser", password="s3cret!"
    )
    assert "s3cret" not in repr(plan) and plan.shown()["installService"]["password"] == "(set)"
    run = Recorder()
    winservice.install_service(plan, run=run)
    (install,) = fake.named("InstallService")
    assert (install["userName"], install["password"]) == (".\\bcsuser", "s3cret!")  # a local account: .\name
    assert fake.named("LsaAddAccountRights") == [("SID(.\\bcsuser)", ["SeServiceLogonRight"])]
    assert run.argvs[-1] == ["icacls", str(tmp_path), "/grant", ".\\bcsuser:(OI)(CI)M", "/T"]


@pytest.mark.parametrize("account", ["CORP\\bcs-gmsa$", "NT SERVICE\\BitsCompactServer"])
def test_managed_and_virtual_accounts_need_no_password(
    pywin32: tuple[FakePywin32, Any], tmp_path: Path, account: str
) -> None:
    fake, winservice = pywin32
    plan = winservice.plan_service(name="BitsCompactServer", state_dir=tmp_path, account=account)
    winservice.install_service(plan, run=Recorder())
    (install,) = fake.named("InstallService")
    assert (install["userName"], install["password"]) == (account, None)
    assert fake.named("LsaAddAccountRights") == [(f"SID({account})", ["SeServiceLogonRight"])]


def test_an_existing_service_or_no_elevation_is_a_clear_error(
    pywin32: tuple[FakePywin32, Any], tmp_path: Path
) -> None:
    fake, winservice = pywin32
    plan = winservice.plan_service(name="BitsCompactServer", state_dir=tmp_path)
    fake.install_error = 1073
    with pytest.raises(ServiceInstallError, match=r"exists already.*bcs service uninstall --windows"):
        winservice.install_service(plan, run=Recorder())
    fake.install_error = 5
    with pytest.raises(ServiceInstallError, match="elevated"):
        winservice.install_service(plan, run=Recorder())
    assert fake.named("SetServiceCustomOption") == []


def test_uninstall_stops_a_running_service_then_removes_it(pywin32: tuple[FakePywin32, Any]) -> None:
    fake, winservice = pywin32
    assert winservice.uninstall_service("BitsCompactServer") == [
        "stopped the service BitsCompactServer",
        "removed the service BitsCompactServer",
    ]
    fake.calls.clear()
    fake.running = False
    assert winservice.uninstall_service("BitsCompactServer") == ["removed the service BitsCompactServer"]
    assert [c for c, _ in fake.calls] == ["StopService", "RemoveService"]
    fake.exists = False
    with pytest.raises(ServiceInstallError, match="no service BitsCompactServer"):
        winservice.uninstall_service("BitsCompactServer")


@pytest.mark.parametrize("bad", [{"name": "a\\b"}, {"state_dir": Path("relative")}])
def test_bad_names_and_relative_state_dirs_are_refused(
    pywin32: tuple[FakePywin32, Any], bad: dict[str, Any]
) -> None:
    _, winservice = pywin32
    kw: dict[str, Any] = {"name": "BitsCompactServer", "state_dir": Path("/abs/state"), **bad}
    with pytest.raises(ServiceInstallError):
        winservice.plan_service(**kw)


@pytest.mark.skipif(sys.platform == "win32", reason="runs the engine on the Unix socket transport")
def test_the_service_class_runs_a_real_engine_from_its_registry_options_and_stops_on_svcstop(
    pywin32: tuple[FakePywin32, Any], tmp_path: Path
) -> None:
    fake, winservice = pywin32
    pipe = f"bcs-winsvc-{uuid.uuid4().hex[:10]}"
    state = tmp_path / "state"
    plan = winservice.plan_service(name="BcsTest", state_dir=state, pipe_name=pipe, no_demo=True)
    winservice.install_service(plan, run=Recorder())
    svc = winservice.BcsService(["BcsTest"])
    runner = threading.Thread(target=svc.SvcDoRun)
    runner.start()
    try:
        status = _wait_status(pipe)
        assert (status["stateDir"], status["pipeName"], status["urlGroupCount"]) == (str(state), pipe, 0)
    finally:
        svc.SvcStop()
        runner.join(30)
    assert not runner.is_alive()
    assert svc.reported == [3]  # SERVICE_STOP_PENDING, then the framework reports it stopped
    assert [c for c, _ in fake.calls if c.startswith("Log")] == ["LogInfoMsg", "LogInfoMsg"]
    with pytest.raises(Exception):  # noqa: B017 - any failure to connect: the engine is gone
        RpcClient(pipe, timeout=1).connect()


@pytest.mark.skipif(sys.platform == "win32", reason="runs the engine on the Unix socket transport")
def test_the_service_logs_why_the_engine_cannot_start_and_fails(
    pywin32: tuple[FakePywin32, Any], tmp_path: Path
) -> None:
    fake, winservice = pywin32
    state = tmp_path / "state"
    state.mkdir()
    (state / "config.yaml").write_text("version: 1\nurlGroups: nope\n")
    plan = winservice.plan_service(
        name="BcsBad", state_dir=state, pipe_name=f"bcs-winsvc-{uuid.uuid4().hex[:10]}"
    )
    winservice.install_service(plan, run=Recorder())
    with pytest.raises(Exception, match="urlGroups"):
        winservice.BcsService(["BcsBad"]).SvcDoRun()
    (error,) = fake.named("LogErrorMsg")
    assert error.startswith("BcsBad: the engine cannot start:") and "urlGroups" in error


def _wait_status(pipe: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with RpcClient(pipe, timeout=5) as client:
                status: dict[str, Any] = client.call("server.status")
                return status
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
