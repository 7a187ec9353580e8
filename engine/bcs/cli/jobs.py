"""Custom ``bcs job ...`` command forms: ``job create`` with ``--remote-url/--local-path`` pairs,
``job wait`` with a progress bar on stderr, and a compact ``job list`` table.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from bcs.cli.parser import absolute_paths, add_param, command, params_from_args
from bcs.errors import InvalidArgumentError, error_from_hresult, parse_hresult
from bcs.methods import load_registry
from bcs.rpc.client import RpcClient

__all__: list[str] = []

DONE_STATES = ("Transferred", "Error", "Acknowledged", "Cancelled")
POLL = 25.0  # seconds per job.wait call (below the CLI's RPC timeout)


def _generated(method: str) -> Any:
    found = load_registry().get(method)
    assert found is not None, method
    return found


# ``--type`` as typed on a command line: the BITS names in any case, or kebab-case.
TRANSFER_TYPES = {
    "download": "Download",
    "upload": "Upload",
    "upload-reply": "UploadReply",
    "uploadreply": "UploadReply",
}


def _transfer_type(text: str) -> str:
    try:
        return TRANSFER_TYPES[text.strip().lower()]
    except KeyError:
        raise argparse.ArgumentTypeError(
            f"invalid transfer type {text!r}: download, upload or upload-reply"
        ) from None


def _create_args(parser: argparse.ArgumentParser) -> None:
    for param in _generated("job.create").params:
        if param.name == "type":
            parser.add_argument(
                "--type",
                dest="type",
                type=_transfer_type,
                default=None,
                metavar="{download,upload,upload-reply}",
                help="Transfer type. Uploads: --local-path is the file to upload and --remote-url "
                "the URL it goes to (one file).",
            )
            continue
        add_param(parser, param)
    parser.add_argument(
        "--remote-url", action="append", default=[], help="URL of a file (repeat; pairs with --local-path)"
    )
    parser.add_argument(
        "--local-path",
        action="append",
        default=[],
        help="destination of a file (repeat; pairs with --remote-url)",
    )
    parser.add_argument("--wait", action="store_true", help="wait for the job and show progress on stderr")
    parser.add_argument(
        "--complete", action="store_true", help="with --wait: complete the job once transferred"
    )


@command("job.create", _create_args)
def _job_create(client: RpcClient, args: argparse.Namespace) -> Any:
    params = params_from_args(_generated("job.create"), args)
    if len(args.remote_url) != len(args.local_path):
        raise InvalidArgumentError("--remote-url and --local-path must come in pairs", noun="Job")
    files = list(params.get("files") or [])
    pairs = zip(args.remote_url, args.local_path, strict=True)
    files += [{"remoteUrl": u, "localPath": absolute_paths(p, "localPath")} for u, p in pairs]
    if files:
        params["files"] = files
    job = client.call("job.create", params)
    if not args.wait:
        return job
    return _wait(client, job["jobId"], None, args.complete, progress=True)


def _wait_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--job-id", required=True, help="the job's GUID")
    parser.add_argument("--timeout", type=float, help="give up after this many seconds (default: no limit)")
    parser.add_argument("--complete", action="store_true", help="complete the job once it is Transferred")
    parser.add_argument("--no-progress", action="store_true", help="do not draw the progress bar")


@command("job.wait", _wait_args)
def _job_wait(client: RpcClient, args: argparse.Namespace) -> Any:
    return _wait(client, args.job_id, args.timeout, args.complete, progress=not args.no_progress)


def _wait(client: RpcClient, job_id: str, timeout: float | None, complete: bool, progress: bool) -> Any:
    """Long-poll until the job is Transferred/Error/final; raise the job's error when it failed."""
    deadline = None if timeout is None else time.monotonic() + timeout
    # job.wait with changeCount 0 answers at once, also for a job that has just left the queue
    job = client.call("job.wait", jobId=job_id, changeCount=0, timeout=0)
    bar = ProgressBar() if progress else None
    while True:
        if bar is not None:
            bar.draw(job)
        if job["jobState"] in DONE_STATES:
            break
        wait = POLL if deadline is None else min(POLL, deadline - time.monotonic())
        if wait <= 0:
            break
        job = client.call("job.wait", jobId=job_id, changeCount=job["changeCount"], timeout=wait)
    if bar is not None:
        bar.end()
    if job["jobState"] == "Error" and job.get("errorCode"):
        raise error_from_hresult(
            parse_hresult(job["errorCode"]), f"job {job_id} failed: {job['errorDescription']}", noun="Job"
        )
    if complete and job["jobState"] == "Transferred":
        job = client.call("job.complete", jobId=job_id)
    return job


class ProgressBar:
    """One line on stderr, redrawn in place: state, percentage, bytes, rate."""

    WIDTH = 30

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.first_bytes: int | None = None
        self.drawn = False

    def draw(self, job: dict[str, Any]) -> None:
        done, total = job["bytesTransferred"], job["bytesTotal"]
        if self.first_bytes is None:
            self.first_bytes = done
        elapsed = max(time.monotonic() - self.started, 1e-6)
        rate = (done - self.first_bytes) / elapsed
        if total > 0:
            filled = int(self.WIDTH * done / total)
            bar = "#" * filled + "-" * (self.WIDTH - filled)
            pct = f"{100 * done / total:5.1f}%"
        else:
            bar, pct = "?" * self.WIDTH, "  ?  "
        line = (
            f"\r{job['jobState']:<14} [{bar}] {pct} {_size(done)}/{_size(total) if total >= 0 else '?'}"
            f" {_size(int(rate))}/s files {job['filesTransferred']}/{job['filesTotal']}"
        )
        if job.get("errorCode"):
            line += f" {job['errorName']} {job['errorCode']}"
        sys.stderr.write(line + "\x1b[K")
        sys.stderr.flush()
        self.drawn = True

    def end(self) -> None:
        if self.drawn:
            sys.stderr.write("\n")
            sys.stderr.flush()


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


def _list_args(parser: argparse.ArgumentParser) -> None:
    for param in _generated("job.list").params:
        add_param(parser, param)


LIST_COLUMNS = ("jobId", "displayName", "jobState", "priority", "owner", "bytesTransferred", "bytesTotal")


@command("job.list", _list_args)
def _job_list(client: RpcClient, args: argparse.Namespace) -> Any:
    jobs = client.call("job.list", params_from_args(_generated("job.list"), args))
    if args.json:
        return jobs
    return [{k: j[k] for k in LIST_COLUMNS} for j in jobs]
