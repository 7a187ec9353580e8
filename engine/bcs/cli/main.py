"""The ``bcs`` command line: ``bcs serve`` and one subcommand per RPC method (see ``parser``).

Exit codes: 0 success, 1 the engine answered with an error, 2 bad usage, 3 no engine running.
Errors go to stderr with their HRESULT; ``--json`` prints results as JSON.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence

from bcs.cli import auth as _auth_commands  # noqa: F401 - registers its command forms
from bcs.cli import config as _config_commands  # noqa: F401 - registers its command forms
from bcs.cli import jobs as _job_commands  # noqa: F401 - registers its command forms
from bcs.cli.parser import CUSTOM, build_parser, params_from_args
from bcs.cli.render import render
from bcs.errors import BcsError, EngineNotRunningError, RpcError
from bcs.methods import load_registry
from bcs.rpc.client import RpcClient

__all__ = ["main"]

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_NOT_RUNNING = 0, 1, 2, 3


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "serve":
        return _serve(args)
    if args.command == "service":
        from bcs.cli.service import run_service

        return run_service(args)
    method = load_registry().get(args.method)
    assert method is not None
    try:
        with RpcClient(args.pipe_name) as client:
            custom = CUSTOM.get(method.name)
            if custom is not None:
                result = custom.run(client, args)
            else:
                result = client.call(method.name, params_from_args(method, args))
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
    from bcs.client.service import JobService
    from bcs.engine import EngineOptions, default_state_dir, run_engine
    from bcs.host.service import FileHost
    from bcs.metrics import MetricsService
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
    return run_engine(options, (FileHost, JobService, MetricsService))
