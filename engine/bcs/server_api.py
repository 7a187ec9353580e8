"""RPC methods of the engine itself: status, stop, configuration export/import, the contract."""

from __future__ import annotations

import os
import threading
from typing import Any

from bcs.config import ACCESS_LOG_FORMATS, Config, dump_yaml, load_yaml
from bcs.errors import InvalidArgumentError
from bcs.rpc.registry import REGISTRY, CallContext, Param, rpc_method

__all__: list[str] = []


@rpc_method(
    "server.status",
    "Report the engine's version, process, pipe, state directory and the status of its services.",
    result="Server",
    read_only=True,
    cmdlet="Get-BcsServer",
)
def server_status(ctx: CallContext) -> dict[str, Any]:
    status: dict[str, Any] = ctx.engine.status()
    return status


@rpc_method(
    "server.stop",
    "Stop the engine cleanly: the answer is sent first, then listeners, jobs and the pipe stop.",
    result="object {stopping: true, pid}",
    cmdlet="Stop-BcsServer",
)
def server_stop(ctx: CallContext) -> dict[str, Any]:
    # A short delay lets this answer leave before the pipe's connections are closed.
    threading.Timer(0.2, ctx.engine.request_stop).start()
    return {"stopping": True, "pid": os.getpid()}


def _export(ctx: CallContext) -> dict[str, Any]:
    config = ctx.engine.config.current
    return {"yaml": dump_yaml(config), "path": str(ctx.engine.config_path), "config": config.to_dict()}


@rpc_method(
    "config.export",
    "Return the engine's configuration as config.yaml text (and as an object); secrets such as a "
    "key password appear only as set or not (keyPasswordSet).",
    result="object {yaml, path, config}",
    read_only=True,
    cmdlet="Export-BcsConfiguration",
)
def config_export(ctx: CallContext) -> dict[str, Any]:
    return _export(ctx)


@rpc_method(
    "config.import",
    "Replace the whole configuration with the given config.yaml text; validated (as url.create: sources "
    "must exist and be readable), applied live, persisted. A secret is given in clear (keyPassword) or "
    "kept from the current configuration (keyPasswordSet: true, as config.export writes it).",
    params=[Param("yaml", "string", "The configuration, as config.yaml text.", required=True)],
    result="object {yaml, path, config}",
    cmdlet="Import-BcsConfiguration",
)
def config_import(ctx: CallContext, yaml: str) -> dict[str, Any]:
    new = load_yaml(yaml)
    # An exported configuration says only that a secret is set: it keeps the engine's current one.
    missing = new.fill_secrets(ctx.engine.config.current.secrets().get)
    if missing:
        raise InvalidArgumentError(
            f"the YAML marks {', '.join(missing)} as set (keyPasswordSet: true) but this engine has no "
            "such secret; give the value itself (keyPassword: ...)",
            noun="Configuration",
        )
    new.check_sources()  # as url.create does; the engine start deliberately does not
    new.check_authentication()  # as urlgroup.create/set do
    ctx.engine.config.replace(new)
    return _export(ctx)


@rpc_method(
    "rpc.describe",
    "Return the method registry: every method with its typed parameters, result and cmdlet.",
    result="object {protocol, version, methods[]}",
    read_only=True,
    cmdlet="",
)
def rpc_describe(ctx: CallContext) -> dict[str, Any]:
    return REGISTRY.describe()


@rpc_method(
    "server.set",
    "Change server-wide settings of the file host and the BITS client; applied live and persisted.",
    params=[
        Param(
            "maxUrlGroups",
            "integer",
            "Most URL groups the server accepts (default 25, as the original).",
            minimum=1,
            maximum=100_000,
        ),
        Param(
            "bandwidthLimit",
            "integer",
            "Bytes/s for all URL groups together; 0 = unlimited, else >= 1024.",
            minimum=0,
        ),
        Param("accessLog", "boolean", "Write one access-log line per HTTP request."),
        Param(
            "accessLogFormat",
            "string",
            "Access-log lines as space-separated text or one JSON object each.",
            enum=ACCESS_LOG_FORMATS,
        ),
        Param(
            "metricsPort",
            "integer",
            "Port of the Prometheus endpoint /metrics; 0 = off (default). Not a URL group's port.",
            minimum=0,
            maximum=65535,
        ),
        Param(
            "metricsAddress",
            "string",
            "IP address /metrics listens on (default 127.0.0.1; 0.0.0.0 or :: for every address).",
            max_length=64,
        ),
        Param(
            "backgroundJobSlots",
            "integer",
            "Background-priority jobs transferring at once.",
            minimum=1,
            maximum=1000,
        ),
        Param(
            "jobBandwidthLimit",
            "integer",
            "Bytes/s for all BITS client jobs together; 0 = unlimited, else >= 1024.",
            minimum=0,
        ),
    ],
    result="Server",
    cmdlet="Set-BcsServer",
)
def server_set(
    ctx: CallContext,
    max_url_groups: int | None,
    bandwidth_limit: int | None,
    access_log: bool | None,
    access_log_format: str | None,
    metrics_port: int | None,
    metrics_address: str | None,
    background_job_slots: int | None,
    job_bandwidth_limit: int | None,
) -> dict[str, Any]:
    def change(config: Config) -> None:
        if max_url_groups is not None:
            config.server.max_url_groups = max_url_groups
        if bandwidth_limit is not None:
            config.server.bandwidth_limit = bandwidth_limit
        if access_log is not None:
            config.server.access_log = access_log
        if access_log_format is not None:
            config.server.access_log_format = access_log_format
        if metrics_port is not None:
            config.server.metrics_port = metrics_port
        if metrics_address is not None:
            config.server.metrics_address = metrics_address
        if background_job_slots is not None:
            config.client.background_slots = background_job_slots
        if job_bandwidth_limit is not None:
            config.client.bandwidth_limit = job_bandwidth_limit

    ctx.engine.config.update(change)
    status: dict[str, Any] = ctx.engine.status()
    return status
