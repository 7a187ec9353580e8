"""The ``bcs`` argument parser, generated from the method registry, and the custom command forms.

Subcommands are generated from the method registry (``urlgroup.create`` -> ``bcs urlgroup create
--url-group ...``), so the CLI and the cmdlets share one contract. A few commands have a custom
form (``bcs config export/import`` read and write files, ``bcs job wait`` draws a progress bar,
``bcs auth set`` takes flat options and reads the bind password from standard input);
they register with ``command``. Short aliases: ``bcs status``, ``bcs stop``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bcs import __version__
from bcs.casing import kebab_case as kebab
from bcs.methods import load_registry
from bcs.rpc.client import RpcClient
from bcs.rpc.registry import Method, Param

__all__ = [
    "ALIASES",
    "CUSTOM",
    "PATH_PARAMS",
    "CustomCommand",
    "absolute_paths",
    "add_param",
    "build_parser",
    "command",
    "kebab",
    "params_from_args",
]

ALIASES = {"status": ("server", "status"), "stop": ("server", "stop"), "describe": ("rpc", "describe")}


@dataclass
class CustomCommand:
    """A subcommand whose arguments or output differ from the generated form."""

    method: str  # the RPC method it stands for ("config.export")
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[RpcClient, argparse.Namespace], Any]  # returns the result to print (or None)


CUSTOM: dict[str, CustomCommand] = {}


def command(method: str, add_arguments: Callable[[argparse.ArgumentParser], None]) -> Callable[..., Any]:
    """Register a custom form for the subcommand of ``method``."""

    def decorate(
        run: Callable[[RpcClient, argparse.Namespace], Any],
    ) -> Callable[[RpcClient, argparse.Namespace], Any]:
        CUSTOM[method] = CustomCommand(method, add_arguments, run)
        return run

    return decorate


def verb_name(method: Method) -> tuple[str, str]:
    noun, _, verb = method.name.partition(".")
    return noun, kebab(verb)


# --- parsing of generated options --------------------------------------------------------------------


def _object_value(text: str, param: Param) -> Any:
    """An object given as JSON, or as ``key=value,key=value``."""
    if text.lstrip().startswith(("{", "[")):
        try:
            return json.loads(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"--{kebab(param.name)}: invalid JSON: {exc}") from None
    out: dict[str, Any] = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        if not sep:
            raise argparse.ArgumentTypeError(
                f"--{kebab(param.name)}: expected key=value pairs or JSON, got {part!r}"
            )
        out[key.strip()] = value
    return out


def add_param(parser: argparse.ArgumentParser, param: Param) -> None:
    flag = f"--{kebab(param.name)}"
    kw: dict[str, Any] = {"dest": param.name, "help": param.doc, "default": None}
    if param.secret and param.type == "string":
        kw["help"] += f" {STDIN_SECRET!r} reads it from standard input (kept out of the process list)."
    if param.type == "boolean":
        parser.add_argument(flag, action=argparse.BooleanOptionalAction, **kw)
        return
    if param.required:
        kw["required"] = True
    if param.type == "integer":
        kw["type"] = int
    elif param.type == "number":
        kw["type"] = float
    elif param.type == "object":
        kw["type"] = lambda text, p=param: _object_value(text, p)
    elif param.type == "array":
        kw["action"] = "append"
        kw["metavar"] = "VALUE"
        kw["help"] += " (repeat the option for more)"
        if param.fields is not None:
            kw["type"] = lambda text, p=param: _object_value(text, p)
        elif param.items == "integer":
            kw["type"] = int
    if param.enum:
        kw["choices"] = param.enum
    parser.add_argument(flag, **kw)


# Parameters naming local files: the engine needs absolute paths, the user types relative ones.
# (sslcert.set's clientCertificate is a mode, not a file: parameters with an enum are never paths.)
PATH_PARAMS = frozenset(
    {
        "localPath",
        "sourcePath",
        "caBundle",
        "clientCertificate",
        "certificatePath",
        "keyPath",
        "trustedCaPath",
        "keytabPath",
        "ntlmUserFile",
        "caPath",
        "replyFileName",
    }
)
STDIN_SECRET = "-"  # a secret option's value that means: read the first line of standard input


def absolute_paths(value: Any, name: str = "") -> Any:
    """Resolve relative local paths (top-level or inside objects) against the caller's directory."""
    if name in PATH_PARAMS and isinstance(value, str) and value:
        return os.path.abspath(os.path.expanduser(value))
    if isinstance(value, list):
        return [absolute_paths(v, name) for v in value]
    if isinstance(value, dict):
        return {k: absolute_paths(v, k) for k, v in value.items()}
    return value


def params_from_args(method: Method, args: argparse.Namespace) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for p in method.params:
        value = getattr(args, p.name, None)
        if value is None:
            continue
        if p.type == "array" and value and all(isinstance(v, list) for v in value):
            value = [item for chunk in value for item in chunk]  # --files '[{...},{...}]'
        if p.secret and value == STDIN_SECRET:
            value = sys.stdin.readline().rstrip("\r\n")
        params[p.name] = value if p.enum else absolute_paths(value, p.name)
    return params


# --- the parser ------------------------------------------------------------------------------------------


def _common_options() -> argparse.ArgumentParser:
    """Options accepted after the subcommand too (``bcs serve --pipe-name X``, ``bcs status --json``).

    SUPPRESS defaults keep a value given before the subcommand from being reset."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--pipe-name", default=argparse.SUPPRESS, help="management pipe name")
    common.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="print results as JSON"
    )
    return common


def _add_serve(sub: Any, common: argparse.ArgumentParser) -> None:
    serve = sub.add_parser("serve", help="run the engine in the foreground", parents=[common])
    serve.add_argument(
        "--state-dir", type=Path, help="state directory (default: BCS_STATE_DIR or the platform's)"
    )
    serve.add_argument(
        "--config", type=Path, help="config file to load and keep (default: STATE_DIR/config.yaml)"
    )
    serve.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    serve.add_argument(
        "--no-demo",
        action="store_true",
        help="on a first start (no config file yet) begin with an empty configuration, "
        "not the demo URL group http://+:8080/Demo/",
    )
    serve.add_argument(
        "--detach",
        action="store_true",
        help="run the engine in the background in a session of its own, wait until it answers, "
        "print one JSON line ({status} or {error}) and exit",
    )
    serve.add_argument(
        "--log-dir",
        type=Path,
        help="with --detach: where engine-<pipe>.out/.err go (default: the state directory)",
    )
    serve.add_argument(
        "--timeout",
        type=float,
        default=30.0,
        help="with --detach: seconds to wait for the engine (default 30)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bcs", description="BITS Compact Server engine and client.")
    parser.add_argument("--version", action="version", version=f"bcs {__version__}")
    parser.add_argument(
        "--pipe-name", help="management pipe name (default: BCS_PIPE_NAME or BitsCompactServer)"
    )
    parser.add_argument("--json", action="store_true", help="print results as JSON")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    common = _common_options()
    _add_serve(sub, common)
    from bcs.cli.service import add_service_parser

    add_service_parser(sub, common)
    nouns: dict[str, Any] = {}
    for method in load_registry():
        noun, verb = verb_name(method)
        if noun not in nouns:
            noun_parser = sub.add_parser(noun, help=f"{noun} commands")
            nouns[noun] = noun_parser.add_subparsers(dest="verb", metavar="VERB", required=True)
        p = nouns[noun].add_parser(verb, help=method.summary, description=method.summary, parents=[common])
        p.set_defaults(method=method.name)
        custom = CUSTOM.get(method.name)
        if custom is not None:
            custom.add_arguments(p)
        else:
            for param in method.params:
                add_param(p, param)
    for alias, (noun, verb) in ALIASES.items():
        if load_registry().get(f"{noun}.{verb}") is not None:
            p = sub.add_parser(alias, help=f"same as `bcs {noun} {verb}`", parents=[common])
            p.set_defaults(method=f"{noun}.{verb}")
            custom = CUSTOM.get(f"{noun}.{verb}")
            if custom is not None:
                custom.add_arguments(p)
    return parser
