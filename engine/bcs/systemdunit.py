"""``bcs service install --systemd``: a hardened systemd unit that runs ``bcs serve`` in the foreground.

The rules of the unit (``render_unit`` writes them, ``tests/test_service_systemd.py`` checks them):

* ``ExecStart`` is the interpreter that runs ``bcs service install`` (a venv's ``bin/python`` as
  it is, not the file it links to, so the venv's packages are used) with ``-m bcs [--pipe-name N]
  serve --state-dir D``. ``Type=simple``: the engine does not speak sd_notify. When that
  interpreter would import another ``bcs`` than the one writing the unit (a checkout on
  PYTHONPATH), ``Environment=PYTHONPATH`` names this one.
* Read-only file system (``ProtectSystem=strict``) except ``ReadWritePaths=``: the state
  directory, the directory of the management socket, the directories of upload-enabled URL
  groups found in the configuration (``-`` prefix: a missing one does not stop the service) and
  the ``--read-write-path`` directories (BITS client job destinations).
* The management socket is ``$TMPDIR/CoreFxPipe_<name>``, ``/tmp`` for a service: that is where
  the cmdlets (.NET ``NamedPipeClientStream``) and ``bcs`` look. A private /tmp would hide it from
  them, so ``PrivateTmp=yes`` only when the pipe name is an absolute socket path; its directory
  is then writable, and made by systemd at each start when it is under /run
  (``RuntimeDirectory=``, since /run is emptied at boot).
* ``ProtectHome=yes``, or ``read-only`` when something the engine uses lives under /home, /root
  or /run/user (the state directory, the interpreter, the ``bcs`` package, hosted files,
  certificates, keytabs, read-write paths): ``yes`` would hide them.
* No capabilities (an empty ``CapabilityBoundingSet=`` takes root's too), except
  ``CAP_NET_BIND_SERVICE`` when the configuration listens on a port below 1024.
* ``Restart=on-failure`` (a clean stop by SIGTERM or ``bcs stop`` exits 0 and stays stopped),
  at most 5 starts in 300 s so that a broken config.yaml does not restart forever.

The unit reflects the configuration when it is written: after adding a port below 1024, an
upload directory or files under /home, run ``bcs service install`` again (it rewrites its own
unit) and ``systemctl daemon-reload``. It never overwrites or removes a unit it did not write.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from bcs import __version__
from bcs.config import Config, ConfigError, load_yaml
from bcs.rpc.transport import pipe_path
from bcs.urlprefix import parse_prefix

__all__ = [
    "MARKER",
    "SYSTEMD_BOOTED_DIR",
    "ServiceInstallError",
    "UnitOptions",
    "configured_ports",
    "engine_pythonpath",
    "install_unit",
    "python_executable",
    "read_config",
    "render_unit",
    "systemd_booted",
    "uninstall_unit",
    "unit_options",
    "unit_path",
]

# The first line of every unit this module writes: install overwrites and uninstall removes only these.
MARKER = "# Written by `bcs service install --systemd`"
# sd_booted(3): the system runs systemd when this directory exists.
SYSTEMD_BOOTED_DIR = Path("/run/systemd/system")
DEFAULT_UNIT_DIR = Path("/etc/systemd/system")
DEFAULT_UNIT_NAME = "bcs"
HOME_TREES = (PurePosixPath("/home"), PurePosixPath("/root"), PurePosixPath("/run/user"))
PRIVILEGED_PORTS = 1024  # ports below need CAP_NET_BIND_SERVICE
_UNIT_NAME = re.compile(r"[A-Za-z0-9_.:\\-]{1,200}")
_USER_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,31}\$?|[0-9]{1,10}")


class ServiceInstallError(Exception):
    """A service cannot be installed or removed; the message says why and what to do."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class UnitOptions:
    """Everything the unit depends on (``unit_options`` gathers it from the command line and config)."""

    python: str  # absolute path of the interpreter, as it is (not resolved)
    state_dir: Path
    pipe_name: str | None = None  # None: the engine's default (BitsCompactServer)
    user: str | None = None  # None: root
    no_demo: bool = False
    log_level: str = "INFO"
    pythonpath: str | None = None  # where this bcs package is, when the interpreter would not find it
    ports: set[int] = field(default_factory=set)  # TCP ports the configuration listens on
    read_write_paths: list[str] = field(default_factory=list)  # given with --read-write-path
    upload_dirs: list[str] = field(default_factory=list)  # directories of upload-enabled URL groups
    read_paths: list[str] = field(default_factory=list)  # other files the engine reads (ProtectHome)


# --- quoting (systemd.syntax(7), systemd.service(5) "Command lines") --------------------------------


def _check_text(value: str, what: str) -> None:
    if not value or any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ServiceInstallError(f"{what} {value!r} is empty or holds control characters")


def _quote(value: str, what: str, *, exec_line: bool = False) -> str:
    """One word of a unit setting: % (specifiers) doubled, $ doubled in command lines, quoted if needed."""
    _check_text(value, what)
    word = value.replace("%", "%%")
    if exec_line:
        word = word.replace("$", "$$")  # ExecStart expands $VAR and ${VAR}
    if re.search(r"[\s\"'\\;]", word):
        word = '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return word


# --- what the configuration needs --------------------------------------------------------------------


def read_config(state_dir: Path) -> Config | None:
    """The state directory's config.yaml, validated; None when there is none yet.

    Raises:
        ServiceInstallError: it exists but does not load (the engine would not start either).
    """
    path = state_dir / "config.yaml"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise ServiceInstallError(f"cannot read {path}: {exc}") from None
    try:
        return load_yaml(text)
    except ConfigError as exc:
        raise ServiceInstallError(f"{path}: {exc.message}; fix it before installing the service") from None


def configured_ports(config: Config) -> set[int]:
    """TCP ports the engine listens on with this configuration (URL groups, and metrics when set)."""
    ports = {parse_prefix(group.url_group).port for group in config.url_groups}
    if config.server.metrics_port:  # server.set metricsPort (0 = off)
        ports.add(config.server.metrics_port)
    return ports


def _upload_dirs(config: Config) -> list[str]:
    """Directories a BITS upload writes into: the directory URLs of upload-enabled groups."""
    dirs = []
    for group in config.url_groups:
        if group.upload_enabled:
            dirs += [url.source_path for url in group.urls if os.path.isdir(url.source_path)]
    return dirs


def _read_paths(config: Config) -> list[str]:
    """Files and directories the engine reads: hosted sources, certificates, keytabs, CA bundles."""
    paths = [url.source_path for group in config.url_groups for url in group.urls]
    for binding in config.ssl_certificates:
        paths += [binding.certificate_path, binding.key_path, binding.trusted_ca_path]
    auth = config.auth
    paths += [auth.keytab_path, auth.ntlm_user_file, auth.ldap.ca_path if auth.ldap else ""]
    return [p for p in paths if p]


def engine_pythonpath(python: str) -> str | None:
    """The directory holding this ``bcs`` package when ``python`` alone would import another one (or none).

    A service gets no PYTHONPATH, so a checkout run with ``PYTHONPATH=engine`` must name itself.
    """
    here = str(Path(__file__).resolve().parent.parent)
    probe = "import bcs, os; print(os.path.dirname(os.path.dirname(os.path.realpath(bcs.__file__))))"
    try:
        # -I: no PYTHON* variables and no user site, as under systemd.
        out = subprocess.run([python, "-I", "-c", probe], capture_output=True, text=True, timeout=60)
    except OSError as exc:
        raise ServiceInstallError(f"cannot run {python}: {exc}") from None
    found = out.stdout.strip() if out.returncode == 0 else ""
    return None if found and os.path.realpath(found) == os.path.realpath(here) else here


def unit_options(
    *,
    python: str,
    state_dir: Path,
    pipe_name: str | None = None,
    user: str | None = None,
    no_demo: bool = False,
    log_level: str = "INFO",
    read_write_paths: Sequence[str] = (),
    pythonpath: str | None = None,
) -> UnitOptions:
    """Gather the unit's options; ports, upload directories and read paths come from config.yaml.

    Without a config.yaml the engine's first start writes the demo group (port 8080) or, with
    ``no_demo``, an empty configuration: neither needs a port below 1024.

    Raises:
        ServiceInstallError: a bad path, user name or config.yaml.
    """
    if not os.path.isabs(python):
        raise ServiceInstallError(f"the interpreter {python!r} must be an absolute path")
    if user is not None and not _USER_NAME.fullmatch(user):
        raise ServiceInstallError(f"{user!r} is not a user name or uid")
    paths = []
    for p in read_write_paths:
        if not os.path.isabs(p):
            raise ServiceInstallError(f"--read-write-path {p!r} must be an absolute path")
        paths.append(os.path.normpath(p))
    options = UnitOptions(
        python=python,
        state_dir=state_dir,
        pipe_name=pipe_name,
        user=user,
        no_demo=no_demo,
        log_level=log_level,
        pythonpath=pythonpath,
        read_write_paths=paths,
    )
    config = read_config(state_dir)
    if config is not None:
        options.ports = configured_ports(config)
        options.upload_dirs = _upload_dirs(config)
        options.read_paths = _read_paths(config)
    elif not no_demo:
        from bcs.engine import DEMO_URL_GROUP

        options.ports = {parse_prefix(DEMO_URL_GROUP).port}
    return options


# --- the unit ------------------------------------------------------------------------------------------


def _command(options: UnitOptions) -> list[str]:
    command = [options.python, "-m", "bcs"]
    if options.pipe_name is not None:
        command += ["--pipe-name", options.pipe_name]
    command += ["serve", "--state-dir", str(options.state_dir)]
    if options.log_level != "INFO":
        command += ["--log-level", options.log_level]
    if options.no_demo:
        command.append("--no-demo")
    return command


def _socket_dir(options: UnitOptions) -> tuple[str, bool]:
    """(directory of the management socket, whether /tmp may be private)."""
    name = options.pipe_name or ""
    if name.startswith("/"):
        return os.path.dirname(pipe_path(name)) or "/", True
    # A service has no TMPDIR: its socket is /tmp/CoreFxPipe_<name>, as for a client without one.
    return "/tmp", False


def _under_home(path: str) -> bool:
    p = PurePosixPath(os.path.normpath(path))
    return any(p == tree or tree in p.parents for tree in HOME_TREES)


def _runtime_directory(socket_dir: str) -> str | None:
    """The ``RuntimeDirectory=`` for a socket directory under /run (systemd creates it at each start)."""
    p = PurePosixPath(socket_dir)
    if PurePosixPath("/run") in p.parents and not _under_home(socket_dir):
        return str(p.relative_to("/run"))
    return None


def render_unit(options: UnitOptions) -> str:
    """The unit file text (see the module docstring for its rules)."""
    socket_dir, private_tmp = _socket_dir(options)
    runtime_dir = _runtime_directory(socket_dir)
    # /run is emptied at boot: a socket directory there is created by systemd, writable by the engine.
    socket_dirs = [] if runtime_dir is not None else [socket_dir]
    writable = [str(options.state_dir), *socket_dirs, *options.read_write_paths]
    seen: set[str] = set()
    rw_words = []
    for p in writable:
        if p not in seen:
            seen.add(p)
            rw_words.append(_quote(p, "ReadWritePaths"))
    for p in options.upload_dirs:
        if p not in seen:
            seen.add(p)
            rw_words.append("-" + _quote(p, "ReadWritePaths"))  # a missing one must not stop the engine
    used = [
        *writable,
        *options.upload_dirs,
        *options.read_paths,
        options.python,
        os.path.realpath(options.python),
        str(Path(__file__).resolve().parent),
    ]
    if options.pythonpath:
        used.append(options.pythonpath)
    in_home = next((p for p in used if _under_home(p)), None)
    protect_home = "read-only" if in_home is not None else "yes"
    low = sorted(p for p in options.ports if p < PRIVILEGED_PORTS)
    capabilities = "CAP_NET_BIND_SERVICE" if low else ""
    exec_start = " ".join(_quote(word, "ExecStart", exec_line=True) for word in _command(options))

    lines = [
        f"{MARKER} (bcs {__version__}); `bcs service uninstall` removes it.",
        "# Run `bcs service install` again after configuration changes that need another unit",
        "# (a port below 1024, an upload directory, files under /home), then `systemctl daemon-reload`.",
        "[Unit]",
        "Description=BITS Compact Server engine (bcs serve)",
        "Wants=network-online.target",
        "After=network-online.target",
        "StartLimitIntervalSec=300",
        "StartLimitBurst=5",
        "",
        "[Service]",
        "# The engine runs in the foreground and does not speak sd_notify.",
        "Type=simple",
        f"ExecStart={exec_start}",
    ]
    if options.user is not None:
        lines.append(f"User={options.user}")
    if options.pythonpath:
        lines.append(f"Environment={_quote('PYTHONPATH=' + options.pythonpath, 'PYTHONPATH')}")
    lines += [
        "# SIGTERM stops the engine cleanly (exit 0): only failures restart it.",
        "Restart=on-failure",
        "RestartSec=5",
        "TimeoutStopSec=60",
        "SyslogIdentifier=bcs",
        "UMask=0077",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "# The state directory, the management socket's directory, upload directories, job destinations.",
        f"ReadWritePaths={' '.join(rw_words)}",
    ]
    if runtime_dir is not None:
        lines.append(f"RuntimeDirectory={_quote(runtime_dir, 'RuntimeDirectory')}")
    if private_tmp:
        lines.append("PrivateTmp=yes")
    else:
        lines += [
            "# The management socket is /tmp/CoreFxPipe_<name>, where the cmdlets and bcs look for it:",
            "# a private /tmp would hide it (PrivateTmp=yes needs an absolute --pipe-name).",
            "PrivateTmp=no",
        ]
    if in_home is not None:
        shown = re.sub(r"[\x00-\x1f\x7f]", "?", in_home)  # a comment line must stay one line
        lines.append(f"# The engine uses {shown}: /home, /root and /run/user stay readable, not hidden.")
    lines += [
        f"ProtectHome={protect_home}",
        "PrivateDevices=yes",
        "ProtectKernelTunables=yes",
        "ProtectKernelModules=yes",
        "ProtectKernelLogs=yes",
        "ProtectControlGroups=yes",
        "ProtectClock=yes",
        "ProtectHostname=yes",
        "RestrictSUIDSGID=yes",
        "RestrictRealtime=yes",
        "RestrictNamespaces=yes",
        "LockPersonality=yes",
        "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK",
        "SystemCallArchitectures=native",
        "SystemCallFilter=@system-service",
        "SystemCallErrorNumber=EPERM",
    ]
    if low:
        lines.append(
            f"# Listens on port {', '.join(map(str, low))} (below 1024): the one capability it needs."
        )
    else:
        lines.append("# No port below 1024 in the configuration: no capabilities at all, even as root.")
    lines += [
        f"CapabilityBoundingSet={capabilities}",
        f"AmbientCapabilities={capabilities}",
        "",
        "[Install]",
        "WantedBy=multi-user.target",
        "",
    ]
    return "\n".join(lines)


# --- install and uninstall ------------------------------------------------------------------------------

Runner = Callable[[Sequence[str]], "subprocess.CompletedProcess[str]"]


def _run(argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=120, check=False)


def systemd_booted() -> bool:
    """Whether systemd manages this system (sd_booted: a container without it says no)."""
    return SYSTEMD_BOOTED_DIR.is_dir()


def unit_path(unit_dir: Path, name: str) -> Path:
    if name.endswith(".service"):
        name = name[: -len(".service")]
    if not _UNIT_NAME.fullmatch(name):
        raise ServiceInstallError(f"{name!r} is not a unit name (letters, digits, _ . : - \\)")
    return unit_dir / f"{name}.service"


def _ours(path: Path) -> bool:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.readline().startswith(MARKER)
    except OSError:
        return False


def _systemctl(run: Runner, *args: str) -> str | None:
    """Run systemctl; the error text when it fails."""
    if shutil.which("systemctl") is None:
        return "systemctl is not installed"
    done = run(["systemctl", *args])
    if done.returncode != 0:
        return f"systemctl {' '.join(args)} failed: {(done.stderr or done.stdout).strip()}"
    return None


def _unreachable(path: str, uid: int, gid: int) -> str | None:
    """The first directory above ``path`` that ``uid`` cannot enter (owner/group/other bits only)."""
    for directory in reversed(PurePosixPath(os.path.realpath(path)).parents):
        try:
            st = os.stat(directory)
        except OSError:
            return None
        if st.st_uid == uid:
            bit = stat.S_IXUSR
        elif st.st_gid == gid:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if uid != 0 and not st.st_mode & bit:
            return str(directory)
    return None


def _prepare_state_dir(options: UnitOptions) -> list[str]:
    """Create the state directory (0700, owned by the service's user); warnings to show."""
    state_dir, user = options.state_dir, options.user
    warnings = []
    owner = None
    if user is not None:
        try:
            entry = pwd.getpwuid(int(user)) if user.isdigit() else pwd.getpwnam(user)
        except (KeyError, OverflowError):
            raise ServiceInstallError(
                f"user {user!r} does not exist; create it first (useradd --system {user})"
            ) from None
        owner = (entry.pw_uid, entry.pw_gid)
        for used in (options.python, str(Path(__file__).resolve().parent), options.pythonpath or "/"):
            blocked = _unreachable(used, *owner)
            if blocked is not None:
                warnings.append(
                    f"warning: {user} cannot enter {blocked}, so the service cannot run {used}: "
                    f"install Python and bcs where {user} can read them"
                )
    if not state_dir.exists():
        state_dir.mkdir(mode=0o700, parents=True)
        if owner is not None:
            os.chown(state_dir, *owner)
    elif owner is not None and state_dir.stat().st_uid != owner[0]:
        warnings.append(
            f"{state_dir} is owned by uid {state_dir.stat().st_uid}, not by {user}: the engine "
            f"will not be able to use it; run: chown -R {user}: {state_dir}"
        )
    return warnings


def install_unit(
    options: UnitOptions, unit_dir: Path, name: str, run: Runner = _run
) -> tuple[Path, list[str]]:
    """Write the unit (creating the state directory), then reload and enable it if systemd runs.

    Returns:
        The unit's path and the lines to tell the user.

    Raises:
        ServiceInstallError: the unit belongs to someone else, or the files cannot be written.
    """
    path = unit_path(unit_dir, name)
    if path.exists() and not _ours(path):
        raise ServiceInstallError(f"{path} exists and was not written by bcs; remove it or choose --name")
    for p in options.read_write_paths:
        if not os.path.isdir(p):
            raise ServiceInstallError(f"--read-write-path {p} is not a directory (systemd needs it to exist)")
    socket_dir, _ = _socket_dir(options)
    if _runtime_directory(socket_dir) is None and not os.path.isdir(socket_dir):
        raise ServiceInstallError(
            f"the pipe's directory {socket_dir} does not exist (systemd needs it to exist): create it, "
            "or choose a --pipe-name under /run, which systemd creates at each start"
        )
    text = render_unit(options)  # before touching anything: bad names fail here
    messages = _prepare_state_dir(options)
    try:
        unit_dir.mkdir(parents=True, exist_ok=True)
        from bcs.durable import write_atomic

        write_atomic(path, text.encode("utf-8"))
        os.chmod(path, 0o644)
    except OSError as exc:
        raise ServiceInstallError(f"cannot write {path}: {exc.strerror or exc}") from None
    unit = path.name
    messages.append(f"wrote {path}")
    if path.parent != DEFAULT_UNIT_DIR and path.parent != Path("/lib/systemd/system"):
        messages.append(f"note: systemd reads units from {DEFAULT_UNIT_DIR}, not from {path.parent}")
    if not systemd_booted():
        messages.append(
            f"systemd is not running here ({SYSTEMD_BOOTED_DIR} does not exist, as in a container): "
            f"the unit was written but not enabled; on a systemd machine run "
            f"`systemctl daemon-reload && systemctl enable --now {unit}`"
        )
        return path, messages
    for args in (("daemon-reload",), ("enable", unit)):
        error = _systemctl(run, *args)
        if error:
            raise ServiceInstallError(f"wrote {path}, but {error}")
    messages.append(f"enabled {unit}: it starts at boot; start it now with `systemctl start {unit}`")
    return path, messages


def uninstall_unit(unit_dir: Path, name: str, run: Runner = _run) -> list[str]:
    """Stop and disable the unit if systemd runs, remove its file, reload systemd.

    Raises:
        ServiceInstallError: there is no such unit, or bcs did not write it.
    """
    path = unit_path(unit_dir, name)
    if not path.exists():
        raise ServiceInstallError(f"{path} does not exist: nothing to uninstall")
    if not _ours(path):
        raise ServiceInstallError(f"{path} was not written by bcs service install; not removing it")
    unit = path.name
    messages = []
    booted = systemd_booted()
    if booted:
        error = _systemctl(run, "disable", "--now", unit)
        if error:
            messages.append(f"warning: {error}")
    try:
        path.unlink()
    except OSError as exc:
        raise ServiceInstallError(f"cannot remove {path}: {exc.strerror or exc}") from None
    messages.append(f"removed {path}")
    if booted:
        error = _systemctl(run, "daemon-reload")
        if error:
            messages.append(f"warning: {error}")
        else:
            messages.append(f"stopped and disabled {unit}")
    else:
        messages.append(
            f"systemd is not running here ({SYSTEMD_BOOTED_DIR} does not exist, as in a container): "
            "nothing to stop or disable"
        )
    return messages


def python_executable() -> str:
    """This interpreter as the unit should name it: absolute, symlinks kept (a venv stays a venv)."""
    return os.path.abspath(sys.executable)
