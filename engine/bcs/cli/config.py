"""Custom ``bcs`` forms of the engine's own methods: config export/import to files, stop that waits."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from bcs.cli.parser import command
from bcs.errors import ERROR_TIMEOUT, BcsError
from bcs.rpc.client import RpcClient

__all__: list[str] = []


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
        raise BcsError(
            ERROR_TIMEOUT,
            f"the engine (process {pid}) still runs {args.timeout:g} s after server.stop",
            target=pid,
        )
    return result
