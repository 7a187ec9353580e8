"""The ``bcs`` command line: ``bcs serve`` and one subcommand per RPC method.

Subcommands are generated from the method registry (``urlgroup.create`` -> ``bcs urlgroup create
--url-group ...``), so the CLI and the cmdlets share one contract. A few commands have a custom
form (``bcs config export/import`` read and write files, ``bcs job wait`` draws a progress bar);
they register with ``command``. Short aliases: ``bcs status``, ``bcs stop``.

Exit codes: 0 success, 1 the engine answered with an error, 2 bad usage, 3 no engine running.
Errors go to stderr with their HRESULT; ``--json`` prints results as JSON.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bcs import __version__
from bcs.errors import BcsError, OperationTimeoutError
from bcs.methods import load_registry
from bcs.rpc.client import EngineNotRunningError, RpcClient, RpcError
from bcs.rpc.registry import Method, Param

__all__ = ["CustomCommand", "command", "main"]

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_NOT_RUNNING = 0, 1, 2, 3
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


def kebab(name: str) -> str:
    return "".join(f"-{c.lower()}" if c.isupper() else c for c in name)


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


def _add_param(parser: argparse.ArgumentParser, param: Param) -> None:
    flag = f"--{kebab(param.name)}"
    kw: dict[str, Any] = {"dest": param.name, "help": param.doc, "default": None}
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
PATH_PARAMS = frozenset({"localPath", "sourcePath", "caBundle", "clientCertificate"})


def absolute_paths(value: Any, name: str = "") -> Any:
    """Resolve relative local paths (top-level or inside objects) against the caller's directory."""
    if name in PATH_PARAMS and isinstance(value, str) and value:
        return os.path.abspath(os.path.expanduser(value))
    if isinstance(value, list):
        return [absolute_paths(v, name) for v in value]
    if isinstance(value, dict):
        return {k: absolute_paths(v, k) for k, v in value.items()}
    return value


def _params_from_args(method: Method, args: argparse.Namespace) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for p in method.params:
        value = getattr(args, p.name, None)
        if value is None:
            continue
        if p.type == "array" and value and all(isinstance(v, list) for v in value):
            value = [item for chunk in value for item in chunk]  # --files '[{...},{...}]'
        params[p.name] = absolute_paths(value, p.name)
    return params


# --- output ----------------------------------------------------------------------------------------


def _scalar(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def render(result: Any) -> str:
    """Human form: a mapping as aligned lines, a list of mappings as a table."""
    if result is None:
        return ""
    if isinstance(result, dict):
        width = max((len(k) for k in result), default=0)
        return "\n".join(f"{k.ljust(width)} : {_scalar(v)}" for k, v in result.items())
    if isinstance(result, list):
        if not result:
            return "(none)"
        if all(isinstance(r, dict) for r in result):
            columns = [k for k, v in result[0].items() if not isinstance(v, (dict, list))][:7]
            rows = [[_scalar(r.get(c))[:60] for c in columns] for r in result]
            widths = [max(len(c), *(len(row[i]) for row in rows)) for i, c in enumerate(columns)]
            lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
            lines.append("  ".join("-" * w for w in widths))
            lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in rows]
            return "\n".join(line.rstrip() for line in lines)
        return "\n".join(_scalar(r) for r in result)
    return _scalar(result)


# --- custom forms of this module ---------------------------------------------------------------------


def _export_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--output", "-o", help="write config.yaml text to this file (default: standard output)"
    )


@command("config.export", _export_args)
def _config_export(client: RpcClient, args: argparse.Namespace) -> Any:
    result = client.call("config.export")
    if args.json:
        return result
    if args.output:
        Path(args.output).write_text(result["yaml"], encoding="utf-8")
        return None
    sys.stdout.write(result["yaml"])
    return None


def _import_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="config.yaml file to import ('-' for standard input)")


@command("config.import", _import_args)
def _config_import(client: RpcClient, args: argparse.Namespace) -> Any:
    text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text(encoding="utf-8")
    result = client.call("config.import", yaml=text)
    return result if args.json else {"imported": args.file, "urlGroups": len(result["config"]["urlGroups"])}


def _stop_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--timeout",
        type=float,
        default=30.0,
        help="seconds to wait for the engine process to exit (default 30)",
    )


@command("server.stop", _stop_args)
def _server_stop(client: RpcClient, args: argparse.Namespace) -> Any:
    """Stop the engine and return once its process has exited (listeners, jobs.db, locks closed)."""
    from bcs.detach import wait_for_exit

    result = client.call("server.stop")
    pid = result.get("pid")
    if isinstance(pid, int) and not wait_for_exit(pid, args.timeout):
        raise OperationTimeoutError(
            f"the engine (process {pid}) still runs {args.timeout:g} s after server.stop", target=pid
        )
    return result


# --- parser ------------------------------------------------------------------------------------------


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
                _add_param(p, param)
    for alias, (noun, verb) in ALIASES.items():
        if load_registry().get(f"{noun}.{verb}") is not None:
            p = sub.add_parser(alias, help=f"same as `bcs {noun} {verb}`", parents=[common])
            p.set_defaults(method=f"{noun}.{verb}")
            custom = CUSTOM.get(f"{noun}.{verb}")
            if custom is not None:
                custom.add_arguments(p)
    return parser


def _load_commands() -> None:
    """Import the modules that register custom command forms."""
    import bcs.client.commands  # noqa: F401


def main(argv: Sequence[str] | None = None) -> int:
    _load_commands()
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "serve":
        return _serve(args)
    method = load_registry().get(args.method)
    assert method is not None
    try:
        with RpcClient(args.pipe_name) as client:
            custom = CUSTOM.get(method.name)
            if custom is not None:
                result = custom.run(client, args)
            else:
                result = client.call(method.name, _params_from_args(method, args))
    except EngineNotRunningError as exc:
        print(f"bcs: {exc.message}", file=sys.stderr)
        return EXIT_NOT_RUNNING
    except BcsError as exc:
        detail = f" ({exc.code_name} {exc.header_value()})" if isinstance(exc, RpcError) else ""
        print(f"bcs: {exc.message}{detail}", file=sys.stderr)
        return EXIT_ERROR
    except (OSError, ValueError) as exc:
        print(f"bcs: {exc}", file=sys.stderr)
        return EXIT_ERROR
    if result is not None:
        print(json.dumps(result, indent=2, ensure_ascii=False) if args.json else render(result))
    return EXIT_OK


def _serve(args: argparse.Namespace) -> int:
    from bcs.engine import EngineOptions, default_state_dir, run_engine
    from bcs.rpc.transport import resolve_pipe_name

    if args.detach:
        from bcs.detach import start_detached

        pipe_name = resolve_pipe_name(args.pipe_name)
        state_dir = (args.state_dir or default_state_dir()).absolute()
        command = [
            sys.executable,
            "-m",
            "bcs",
            "--pipe-name",
            pipe_name,
            "serve",
            "--state-dir",
            str(state_dir),
        ]
        command += ["--log-level", args.log_level]
        if args.config is not None:
            command += ["--config", str(args.config.absolute())]
        if args.no_demo:
            command.append("--no-demo")
        code, line = start_detached(command, pipe_name, (args.log_dir or state_dir).absolute(), args.timeout)
        print(line, flush=True)
        return code

    logging.basicConfig(
        level=getattr(logging, args.log_level),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    options = EngineOptions(
        state_dir=args.state_dir or default_state_dir(),
        pipe_name=args.pipe_name,
        config_path=args.config,
        demo=not args.no_demo,
    )
    return run_engine(options)
