"""``bcs service install --systemd``: the unit's rules, ``systemd-analyze verify``, and its command run.

systemd is not PID 1 on our machines (nor in CI containers), so a unit cannot be started here.
What is real: ``systemd-analyze verify`` (systemd 252 parses and checks the unit offline), and the
unit's ExecStart run as written, with its restrictions approximated by the kernel features they
are made of: a mount namespace where / is read-only except ReadWritePaths (ProtectSystem=strict),
``setpriv`` for NoNewPrivileges and the capability sets. Seccomp (SystemCallFilter), the other
Protect* settings and User= switching by systemd itself are not exercised.
"""

from __future__ import annotations

import os
import pwd
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from bcs import systemdunit
from bcs.cli.main import main
from bcs.rpc.client import RpcClient
from bcs.systemdunit import UnitOptions, render_unit, unit_options

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="systemd units are Linux")

SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
needs_analyze = pytest.mark.skipif(
    SYSTEMD_ANALYZE is None,
    reason="systemd-analyze is missing (scripts/install installs the systemd package)",
)


def parse_unit(text: str) -> dict[str, dict[str, list[str]]]:
    """Sections -> key -> values (a key may repeat), comments and blank lines dropped."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        key, _, value = line.partition("=")
        current.setdefault(key, []).append(value)
    return sections


def service(text: str) -> dict[str, str]:
    """The [Service] settings (the last value of each key)."""
    return {k: v[-1] for k, v in parse_unit(text)["Service"].items()}


def exec_words(value: str) -> list[str]:
    """An ExecStart value split as systemd does for what render_unit writes ($$, %%, "...")."""
    return [w.replace("$$", "$").replace("%%", "%") for w in shlex.split(value)]


def path_words(value: str) -> list[str]:
    return [w.replace("%%", "%") for w in shlex.split(value)]


def verify(unit: Path) -> list[str]:
    """``systemd-analyze verify``: the lines it says about this unit (it exits 0 on mere warnings)."""
    assert SYSTEMD_ANALYZE is not None
    done = subprocess.run(
        [SYSTEMD_ANALYZE, "verify", "--man=no", str(unit)], capture_output=True, text=True, timeout=60
    )
    said = [
        line for line in (done.stdout + done.stderr).splitlines() if unit.name in line or unit.stem in line
    ]
    if done.returncode != 0:
        said.append(f"exit code {done.returncode}: {done.stderr.strip()}")
    return said


def write_config(state: Path, *groups: str, upload_dir: Path | None = None) -> None:
    state.mkdir(parents=True, exist_ok=True)
    lines = ["version: 1", "urlGroups:"]
    for group in groups:
        lines.append(f"- urlGroup: {group}")
        if upload_dir is not None:
            lines += [
                "  uploadEnabled: true",
                "  urls:",
                "  - urlSuffix: in",
                f"    sourcePath: {upload_dir}",
            ]
    if not groups:
        lines[-1] = "urlGroups: []"
    (state / "config.yaml").write_text("\n".join(lines) + "\n")


def options_for(state: Path, **kw: object) -> UnitOptions:
    return unit_options(python=systemdunit.python_executable(), state_dir=state, **kw)  # type: ignore[arg-type]


# --- the unit's rules ------------------------------------------------------------------------------------


def test_unit_runs_this_interpreter_in_the_foreground_with_the_state_dir(tmp_path: Path) -> None:
    state = tmp_path / "state"
    write_config(state, "http://127.0.0.1:8080/A/")
    text = render_unit(options_for(state, pipe_name="bcs-unit", no_demo=True))
    settings = service(text)
    assert text.startswith(systemdunit.MARKER)
    assert settings["Type"] == "simple"
    assert exec_words(settings["ExecStart"]) == [
        os.path.abspath(sys.executable),  # a venv's python as it is, not the file it links to
        "-m",
        "bcs",
        "--pipe-name",
        "bcs-unit",
        "serve",
        "--state-dir",
        str(state),
        "--no-demo",
    ]
    assert "--detach" not in settings["ExecStart"]
    assert parse_unit(text)["Install"]["WantedBy"] == ["multi-user.target"]


def test_unit_is_hardened_with_the_state_dir_and_the_socket_dir_writable(tmp_path: Path) -> None:
    state = tmp_path / "state"
    write_config(state)
    settings = service(render_unit(options_for(state)))
    assert settings["ProtectSystem"] == "strict"
    assert path_words(settings["ReadWritePaths"]) == [str(state), "/tmp"]
    assert settings["NoNewPrivileges"] == "yes"
    assert settings["Restart"] == "on-failure"
    # The management socket /tmp/CoreFxPipe_<name> must be where clients look: no private /tmp.
    assert settings["PrivateTmp"] == "no"
    for key in ("PrivateDevices", "ProtectKernelTunables", "ProtectControlGroups", "RestrictSUIDSGID"):
        assert settings[key] == "yes", key
    assert settings["UMask"] == "0077"


def test_an_absolute_pipe_path_gets_a_private_tmp_and_its_own_directory_writable(tmp_path: Path) -> None:
    state = tmp_path / "state"
    write_config(state)
    settings = service(render_unit(options_for(state, pipe_name="/srv/bcs/pipe")))
    assert settings["PrivateTmp"] == "yes"
    assert path_words(settings["ReadWritePaths"]) == [str(state), "/srv/bcs"]
    assert "RuntimeDirectory" not in settings
    # /run is emptied at boot: systemd makes the directory at each start (and it is writable).
    settings = service(render_unit(options_for(state, pipe_name="/run/bcs/pipe")))
    assert (settings["PrivateTmp"], settings["RuntimeDirectory"]) == ("yes", "bcs")
    assert path_words(settings["ReadWritePaths"]) == [str(state)]


def test_no_capability_unless_a_port_below_1024_is_configured(tmp_path: Path) -> None:
    state = tmp_path / "state"
    write_config(state, "http://127.0.0.1:8080/A/", "https://+:8443/B/")
    settings = service(render_unit(options_for(state)))
    assert settings["CapabilityBoundingSet"] == ""  # empty: root loses its capabilities too
    assert settings["AmbientCapabilities"] == ""

    write_config(state, "http://127.0.0.1:8080/A/", "http://+:80/Low/")
    text = render_unit(options_for(state))
    settings = service(text)
    assert settings["CapabilityBoundingSet"] == "CAP_NET_BIND_SERVICE"
    assert settings["AmbientCapabilities"] == "CAP_NET_BIND_SERVICE"
    assert "# Listens on port 80 (below 1024)" in text


def test_without_a_config_the_demo_port_8080_needs_no_capability(tmp_path: Path) -> None:
    options = options_for(tmp_path / "new")
    assert options.ports == {8080}
    assert service(render_unit(options))["CapabilityBoundingSet"] == ""
    assert options_for(tmp_path / "new", no_demo=True).ports == set()


def test_the_metrics_port_counts_when_the_configuration_has_one(tmp_path: Path) -> None:
    state = tmp_path / "state"
    write_config(state, "http://127.0.0.1:8080/A/")
    config = systemdunit.read_config(state)
    assert config is not None
    object.__setattr__(config.server, "metrics_port", 443)  # server.set metricsPort (issue 16)
    assert systemdunit.configured_ports(config) == {8080, 443}


def test_upload_directories_and_job_destinations_are_writable(tmp_path: Path) -> None:
    state, uploads, downloads = tmp_path / "state", tmp_path / "uploads", tmp_path / "downloads"
    uploads.mkdir()
    downloads.mkdir()
    write_config(state, "http://127.0.0.1:8080/Up/", upload_dir=uploads)
    settings = service(render_unit(options_for(state, read_write_paths=[str(downloads)])))
    # An upload directory that disappears later must not stop the service: "-" prefix.
    assert path_words(settings["ReadWritePaths"]) == [str(state), "/tmp", str(downloads), f"-{uploads}"]


def test_protect_home_is_yes_unless_the_engine_uses_files_under_a_home(tmp_path: Path) -> None:
    state = tmp_path / "state"
    write_config(state)
    outside = UnitOptions(python="/usr/bin/python3", state_dir=Path("/var/lib/bits-compact-server"))
    if systemdunit._under_home(str(Path(systemdunit.__file__).resolve())):
        pytest.skip("this checkout is under a home directory")
    assert service(render_unit(outside))["ProtectHome"] == "yes"
    for home in ("/home/alice/bcs", "/root/bcs", "/run/user/1000/bcs"):
        inside = UnitOptions(python="/usr/bin/python3", state_dir=Path(home))
        text = render_unit(inside)
        assert service(text)["ProtectHome"] == "read-only", home
        assert f"# The engine uses {home}:" in text
    hosted = UnitOptions(
        python="/usr/bin/python3", state_dir=Path("/var/lib/x"), read_paths=["/home/alice/share/a.iso"]
    )
    assert service(render_unit(hosted))["ProtectHome"] == "read-only"


def test_user_and_a_checkout_on_pythonpath_are_named(tmp_path: Path) -> None:
    options = UnitOptions(
        python="/usr/bin/python3", state_dir=tmp_path / "s", user="bcs", pythonpath="/srv/bcs/engine"
    )
    settings = service(render_unit(options))
    assert settings["User"] == "bcs"
    assert settings["Environment"] == "PYTHONPATH=/srv/bcs/engine"


def test_engine_pythonpath_names_this_package_only_when_the_interpreter_would_import_another() -> None:
    here = str(Path(systemdunit.__file__).resolve().parent.parent)
    probe = subprocess.run(
        [sys.executable, "-I", "-c", "import bcs, os; print(os.path.realpath(bcs.__file__))"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    same = probe.returncode == 0 and probe.stdout.strip().startswith(here + os.sep)
    assert systemdunit.engine_pythonpath(sys.executable) == (None if same else here)
    base = getattr(sys, "_base_executable", "")
    bare = subprocess.run([base, "-I", "-c", "import bcs"], capture_output=True, timeout=60) if base else None
    if bare is not None and bare.returncode != 0:
        assert systemdunit.engine_pythonpath(base) == here


@pytest.mark.parametrize(
    "bad",
    [
        {"user": "bad user"},
        {"read_write_paths": ["relative/dir"]},
        {"pipe_name": "bad\nname"},
    ],
)
def test_bad_values_are_refused_before_anything_is_written(tmp_path: Path, bad: dict[str, object]) -> None:
    with pytest.raises(systemdunit.ServiceInstallError):
        render_unit(options_for(tmp_path / "state", **bad))


def test_a_config_that_does_not_load_is_refused_with_its_line(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / "config.yaml").write_text(
        "version: 1\nurlGroups:\n- urlGroup: http://+:8080/A/\n  connectionLimit: x\n"
    )
    with pytest.raises(systemdunit.ServiceInstallError, match=r"line 4.*connectionLimit"):
        options_for(state)


# --- systemd-analyze verify --------------------------------------------------------------------------------


@needs_analyze
@pytest.mark.parametrize(
    "variant",
    ["default", "user", "low-port", "absolute-pipe", "run-pipe", "spaces-percent-dollar", "uploads", "home"],
)
def test_systemd_analyze_verify_accepts_the_unit(tmp_path: Path, variant: str) -> None:
    state = tmp_path / "state"
    kw: dict[str, object] = {}
    if variant == "user":
        kw["user"] = "bcs"  # (systemd warns about nobody: "special user ... not safe")
    if variant == "absolute-pipe":
        kw["pipe_name"] = str(tmp_path / "run" / "bcs.sock")
    if variant == "run-pipe":
        kw["pipe_name"] = "/run/bcs/bcs.sock"
    if variant == "spaces-percent-dollar":
        state = tmp_path / "state with space 100% $HOME"
        kw["pipe_name"] = "pipe with space"
    if variant == "low-port":
        write_config(state, "http://127.0.0.1:80/Low/")
    elif variant == "uploads":
        (tmp_path / "up load").mkdir()
        write_config(state, "http://127.0.0.1:8080/Up/", upload_dir=tmp_path / "up load")
    else:
        write_config(state)
    options = options_for(state, **kw)
    if variant == "home":
        options.read_paths.append("/home/alice/share")
    unit = tmp_path / "bcs-verify.service"
    unit.write_text(render_unit(options))
    assert verify(unit) == []
    words = exec_words(service(unit.read_text())["ExecStart"])
    assert words[words.index("--state-dir") + 1] == str(state)


@needs_analyze
def test_verify_reports_a_broken_unit_so_the_check_above_means_something(tmp_path: Path) -> None:
    write_config(tmp_path / "state")
    text = render_unit(options_for(tmp_path / "state"))
    for broken in (
        text.replace("ProtectSystem=strict", "ProtectSystem=bogus"),
        text.replace(f"ExecStart={os.path.abspath(sys.executable)}", "ExecStart=/nonexistent/python"),
        text.replace("ReadWritePaths=/", "ReadWritePaths=relative/"),
    ):
        unit = tmp_path / "bcs-broken.service"
        unit.write_text(broken)
        assert verify(unit) != []


# --- the unit's command, run with its restrictions approximated -------------------------------------------


def _can_sandbox() -> bool:
    if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("setpriv"):
        return False
    done = subprocess.run(["unshare", "--mount", "true"], capture_output=True, timeout=30)
    return done.returncode == 0


needs_sandbox = pytest.mark.skipif(
    sys.platform != "linux" or not _can_sandbox(), reason="needs root with unshare --mount and setpriv"
)

# / read-only except the ReadWritePaths (each bound onto itself first), then the command.
_MOUNT_SCRIPT = (
    'n=$1; shift; i=0; while [ "$i" -lt "$n" ]; do mount --bind "$1" "$1" || exit 97; shift; i=$((i+1)); done; '
    'mount -o remount,bind,ro / || exit 98; exec "$@"'
)


def sandboxed(unit_text: str, *, user: str | None = None) -> list[str]:
    """The unit's ExecStart as a command line under ProtectSystem=strict, NoNewPrivileges and its capabilities."""
    settings = service(unit_text)
    writable = [p for p in path_words(settings["ReadWritePaths"]) if not p.startswith("-")]
    caps = [c.lower().removeprefix("cap_") for c in settings["CapabilityBoundingSet"].split()]
    bounding = ",".join(["-all", *(f"+{c}" for c in caps)])
    priv = ["setpriv", "--no-new-privs", f"--bounding-set={bounding}"]
    ambient = settings["AmbientCapabilities"].split()
    if user is not None:
        entry = pwd.getpwnam(user)
        priv += [f"--reuid={entry.pw_uid}", f"--regid={entry.pw_gid}", "--clear-groups"]
        inh = ",".join(["-all", *(f"+{c.lower().removeprefix('cap_')}" for c in ambient)])
        priv += [f"--inh-caps={inh}", f"--ambient-caps={inh}"]
    else:
        priv.append("--inh-caps=-all")
    env = ["env", "-i", "PATH=/usr/bin:/bin"]
    if "Environment" in settings:
        env += path_words(settings["Environment"])
    return [
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        _MOUNT_SCRIPT,
        "sh",
        str(len(writable)),
        *writable,
        *priv,
        "--",
        *env,
        *exec_words(settings["ExecStart"]),
    ]


@pytest.fixture
def pipe_name() -> Iterator[str]:
    yield f"bcs-unit-{uuid.uuid4().hex[:10]}"


def wait_status(pipe: str, proc: subprocess.Popen[bytes], timeout: float = 30) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the engine exited with {proc.returncode}")
        try:
            with RpcClient(pipe, timeout=5) as client:
                status: dict[str, object] = client.call("server.status")
                return status
        except Exception:
            time.sleep(0.1)
    raise AssertionError("the engine did not answer")


def stop(proc: subprocess.Popen[bytes]) -> int:
    """SIGTERM, as systemctl stop sends it; the exit code."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


@needs_sandbox
def test_exec_start_runs_the_engine_under_a_read_only_root_and_sigterm_stops_it_with_exit_0(
    tmp_path: Path, pipe_name: str
) -> None:
    state = tmp_path / "state"
    write_config(state, "http://127.0.0.1:8080/A/")
    text = render_unit(options_for(state, pipe_name=pipe_name, no_demo=True))
    log = open(tmp_path / "engine.out", "wb")  # noqa: SIM115 - owned by the subprocess
    proc = subprocess.Popen(sandboxed(text), stdout=log, stderr=subprocess.STDOUT)
    log.close()
    try:
        status = wait_status(pipe_name, proc)
        assert status["stateDir"] == str(state)
        assert status["pipeName"] == pipe_name
        with RpcClient(pipe_name, timeout=10) as client:  # it writes its state: config.yaml by rename
            client.call("server.set", {"maxUrlGroups": 30})
    finally:
        code = stop(proc)
    # Exit 0 on SIGTERM: Restart=on-failure leaves a stopped engine stopped.
    assert code == 0, (tmp_path / "engine.out").read_text(errors="replace")
    assert "maxUrlGroups: 30" in (state / "config.yaml").read_text()


def _free_low_port() -> int:
    for port in range(1023, 900, -1):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    pytest.skip("no free port below 1024")


@needs_sandbox
def test_a_low_port_listens_with_the_units_capability_and_fails_without_it(
    tmp_path: Path, pipe_name: str
) -> None:
    port = _free_low_port()
    state = tmp_path / "state"
    write_config(state, f"http://127.0.0.1:{port}/Low/")
    with_cap = render_unit(options_for(state, pipe_name=pipe_name))
    assert service(with_cap)["CapabilityBoundingSet"] == "CAP_NET_BIND_SERVICE"
    without = with_cap.replace("CapabilityBoundingSet=CAP_NET_BIND_SERVICE", "CapabilityBoundingSet=")
    for text, listens in ((with_cap, True), (without, False)):
        proc = subprocess.Popen(sandboxed(text), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            status = wait_status(pipe_name, proc)
            failed = status["services"]["host"]["failedListeners"]  # type: ignore[index]
            assert ([f["port"] for f in failed] == []) is listens, failed
            if not listens:
                assert (
                    "permission" in str(failed[0]["error"]).lower()
                    or "denied" in str(failed[0]["error"]).lower()
                )
            else:
                with socket.create_connection(("127.0.0.1", port), timeout=5):
                    pass
        finally:
            assert stop(proc) == 0


@needs_sandbox
def test_a_user_unit_binds_its_low_port_through_the_ambient_capability(tmp_path: Path) -> None:
    probe = subprocess.run(
        [
            *("setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--inh-caps=-all"),
            *("--bounding-set=-all", "--", "env", sys.executable, "-c", "pass"),
        ],
        capture_output=True,
        timeout=30,
    )
    if probe.returncode != 0:
        pytest.skip(f"user nobody cannot run {sys.executable} (its directories are closed to other users)")
    port = _free_low_port()
    state = tmp_path / "state"
    write_config(state, f"http://127.0.0.1:{port}/Low/")
    os.chmod(tmp_path, 0o755)
    shutil.chown(state, "nobody")
    text = render_unit(options_for(state, user="nobody", pipe_name=f"bcs-unit-{uuid.uuid4().hex[:8]}"))
    proc = subprocess.Popen(
        sandboxed(text, user="nobody"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=5):
                    break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline
                time.sleep(0.1)
    finally:
        assert stop(proc) == 0


# --- install and uninstall ------------------------------------------------------------------------------


def run_bcs(*args: str) -> int:
    return main(list(args))


def test_print_shows_the_unit_and_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    units = tmp_path / "units"
    code = run_bcs(
        "service",
        "install",
        "--systemd",
        "--print",
        "--state-dir",
        str(tmp_path / "s"),
        "--unit-dir",
        str(units),
    )
    out = capsys.readouterr().out
    assert code == 0
    assert out.startswith(systemdunit.MARKER) and "ExecStart=" in out
    assert not units.exists() and not (tmp_path / "s").exists()


def test_install_writes_the_unit_and_the_state_dir_and_says_systemd_is_not_running(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(systemdunit, "SYSTEMD_BOOTED_DIR", tmp_path / "no-systemd")
    units, state = tmp_path / "units", tmp_path / "state"
    code = run_bcs(
        "service",
        "install",
        "--state-dir",
        str(state),
        "--unit-dir",
        str(units),
        "--name",
        "bcs-test",
        "--user",
        "daemon",
    )
    out = capsys.readouterr()
    assert code == 0, out.err
    unit = units / "bcs-test.service"
    assert stat.S_IMODE(unit.stat().st_mode) == 0o644
    assert service(unit.read_text())["User"] == "daemon"
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    assert state.stat().st_uid == pwd.getpwnam("daemon").pw_uid
    assert f"wrote {unit}" in out.out
    assert "systemd is not running here" in out.out and "not enabled" in out.out
    if SYSTEMD_ANALYZE is not None:
        assert verify(unit) == []

    assert run_bcs("service", "uninstall", "--unit-dir", str(units), "--name", "bcs-test") == 0
    out = capsys.readouterr()
    assert not unit.exists()
    assert f"removed {unit}" in out.out and "systemd is not running here" in out.out
    assert state.is_dir(), "uninstall keeps the state directory (configuration, jobs)"


def test_install_and_uninstall_reload_enable_and_disable_when_systemd_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A recording systemctl stands in for the real one: systemd cannot run as PID 1 here.
    booted = tmp_path / "run-systemd-system"
    booted.mkdir()
    monkeypatch.setattr(systemdunit, "SYSTEMD_BOOTED_DIR", booted)
    bin_dir, calls = tmp_path / "bin", tmp_path / "systemctl.calls"
    bin_dir.mkdir()
    fake = bin_dir / "systemctl"
    fake.write_text(f'#!/bin/sh\necho "$*" >> {shlex.quote(str(calls))}\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    units = tmp_path / "units"
    assert run_bcs("service", "install", "--state-dir", str(tmp_path / "s"), "--unit-dir", str(units)) == 0
    assert calls.read_text().splitlines() == ["daemon-reload", "enable bcs.service"]
    assert "systemctl start bcs.service" in capsys.readouterr().out
    assert run_bcs("service", "uninstall", "--unit-dir", str(units)) == 0
    assert calls.read_text().splitlines()[2:] == ["disable --now bcs.service", "daemon-reload"]
    assert not (units / "bcs.service").exists()


def test_install_and_uninstall_leave_a_unit_bcs_did_not_write_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    units = tmp_path / "units"
    units.mkdir()
    foreign = units / "bcs.service"
    foreign.write_text("[Service]\nExecStart=/bin/true\n")
    assert run_bcs("service", "install", "--state-dir", str(tmp_path / "s"), "--unit-dir", str(units)) == 1
    assert run_bcs("service", "uninstall", "--unit-dir", str(units)) == 1
    err = capsys.readouterr().err
    assert "was not written by bcs" in err
    assert foreign.read_text() == "[Service]\nExecStart=/bin/true\n"


def test_uninstall_without_a_unit_exits_1_and_bad_usage_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_bcs("service", "uninstall", "--unit-dir", str(tmp_path)) == 1
    assert "nothing to uninstall" in capsys.readouterr().err
    assert run_bcs("service", "install", "--account", "x", "--unit-dir", str(tmp_path)) == 2
    if sys.platform != "win32":
        assert run_bcs("service", "install", "--windows", "--print") == 2
        assert "needs Windows" in capsys.readouterr().err


def test_install_refuses_a_missing_user_and_a_missing_read_write_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    units = tmp_path / "units"
    assert (
        run_bcs(
            "service",
            "install",
            "--state-dir",
            str(tmp_path / "s"),
            "--unit-dir",
            str(units),
            "--user",
            "no-such-user-bcs",
        )
        == 1
    )
    assert "does not exist" in capsys.readouterr().err
    code = run_bcs(
        "service",
        "install",
        "--state-dir",
        str(tmp_path / "s"),
        "--unit-dir",
        str(units),
        "--read-write-path",
        str(tmp_path / "missing"),
    )
    assert code == 1
    assert "is not a directory" in capsys.readouterr().err
    code = run_bcs(
        *("--pipe-name", str(tmp_path / "no-dir" / "bcs.sock"), "service", "install"),
        *("--state-dir", str(tmp_path / "s"), "--unit-dir", str(units)),
    )
    assert code == 1
    assert "the pipe's directory" in capsys.readouterr().err
    assert not (units / "bcs.service").exists()


def test_install_warns_when_the_user_cannot_reach_the_interpreter(tmp_path: Path) -> None:
    closed = tmp_path / "closed"
    (closed / "bin").mkdir(parents=True)
    closed.chmod(0o700)
    options = UnitOptions(python=str(closed / "bin" / "python"), state_dir=tmp_path / "state", user="nobody")
    warnings = systemdunit._prepare_state_dir(options)
    # The first closed directory on the way is named (pytest's own base may already be one).
    blocked = [w.split("cannot enter ")[1].split(",")[0] for w in warnings if "nobody cannot enter" in w]
    assert blocked and Path(blocked[0]) in [closed, *closed.parents], warnings
