"""RPC methods of the file host: ``urlgroup.*`` and ``url.*``, the URL groups and the URLs they publish.

Owns their parameter declarations and the JSON they answer with; settings are checked by the
rules of ``bcs.config`` (named by group here), and every change goes through the config store
(``ConfigStore.update``), which the ``FileHost`` follows live.
"""

from __future__ import annotations

import os
from typing import Any

from bcs import tunables
from bcs.auth.schemes import enforced, sddl_enforced
from bcs.auth.sddl import parse_sddl
from bcs.config import (
    NOTIFICATION_TYPES,
    Config,
    UrlConfig,
    UrlGroupConfig,
    authentication_warning,
    check_source_path,
    check_url_suffix,
    group_setting_problem,
    tls_only_scheme_problem,
)
from bcs.errors import ERROR_ALREADY_EXISTS, BcsError, InvalidArgumentError, NotFoundError, config_path_text
from bcs.host.routing import COUNTER_NAMES
from bcs.rpc.registry import CallContext, Param, rpc_method
from bcs.urlprefix import UrlPrefix, parse_prefix

__all__: list[str] = []

URL_GROUP = Param(
    "urlGroup",
    "string",
    "The URL group prefix, scheme://host:port/name/ (e.g. http://+:8080/Demo/).",
    required=True,
)
_SETTINGS = (
    Param(
        "connectionLimit",
        "integer",
        "Simultaneous transfers served for the group; 0 = unlimited (default 3).",
        minimum=0,
    ),
    Param(
        "bandwidthLimit",
        "integer",
        "Bytes/s shared by all transfers of the group; 0 = unlimited, else >= 1024.",
        minimum=0,
    ),
    Param("authentication", "array", "Authentication schemes required by the group.", items="string"),
    Param("uploadEnabled", "boolean", "Accept BITS uploads (BITS_POST) on the group's URLs."),
    Param("directoryListing", "boolean", "List the files of directory URLs."),
    Param("allowOverwrites", "boolean", "An upload may replace an existing file (default false: 403)."),
    Param(
        "maxUploadSize",
        "integer",
        "Largest file accepted by an upload, in bytes; 0 = no limit but the disk (default 0).",
        minimum=0,
    ),
    Param(
        "sessionTimeout",
        "integer",
        "Seconds an upload session may go without progress before it is deleted (default 1209600, 14 days).",
        minimum=1,
        maximum=tunables.MAX_UPLOAD_SESSION_TIMEOUT,
    ),
    Param(
        "maxSessionsPerUser",
        "integer",
        "Active upload sessions of one user in the group; 0 = unlimited (default 50). Anonymous "
        "clients count as one user.",
        minimum=0,
    ),
    Param(
        "hostId",
        "string",
        "Host name or address the client sends the rest of an upload session to (BITS-Host-Id); "
        "empty = none.",
        max_length=tunables.MAX_HOST_ID_CHARS,
    ),
    Param(
        "hostIdFallbackTimeout",
        "integer",
        "Seconds without progress before the client returns to the original host (default 86400).",
        minimum=0,
        maximum=0xFFFFFFFF,
    ),
    Param(
        "notificationUrl",
        "string",
        "Absolute http:// URL of the server application told of each upload (upload-reply); empty = none.",
        max_length=tunables.MAX_NOTIFICATION_URL_CHARS,
    ),
    Param(
        "notificationType",
        "string",
        "How the server application gets an upload: None (the file is placed), ByReference (its "
        "path) or ByValue (its bytes).",
        enum=NOTIFICATION_TYPES,
    ),
)


def _host(ctx: CallContext) -> Any:
    return ctx.engine.services["host"]


def _not_found(url_group: str) -> NotFoundError:
    return NotFoundError(f"URL group {url_group} does not exist", noun="UrlGroup", target=url_group)


def _find(config: Config, prefix: UrlPrefix) -> UrlGroupConfig:
    """The group of ``prefix`` in ``config``; NotFoundError when there is none."""
    group = config.find_group(prefix.key)
    if group is None:
        raise _not_found(str(prefix))
    return group


def _check_settings(prefix: UrlPrefix, group: UrlGroupConfig) -> None:
    """The group rules of ``bcs.config`` with a message that names the group, not its index."""
    problem = group_setting_problem(group) or tls_only_scheme_problem(group)
    if problem is not None:
        setting = config_path_text(problem[0])
        raise InvalidArgumentError(f"{prefix}: {setting} {problem[1]}", noun="UrlGroup", target=str(prefix))


def _apply_settings(group: UrlGroupConfig, settings: dict[str, Any]) -> None:
    for key, value in settings.items():
        if value is not None:
            setattr(group, key, list(value) if isinstance(value, list) else value)


def _url_dict(prefix: UrlPrefix, url: UrlConfig, group: UrlGroupConfig, host: Any) -> dict[str, Any]:
    is_dir = os.path.isdir(url.source_path)
    resolves = host.resolves
    out = {
        "urlGroup": str(prefix),
        "urlSuffix": url.url_suffix,
        "url": f"{prefix}{url.url_suffix}{'/' if is_dir else ''}",
        "sourcePath": url.source_path,
        "sddl": url.sddl,
        "isDirectory": is_dir,
        # False: a scheme of the group, or the SDDL, cannot be enforced, so the URL answers 403
        "enforced": enforced(group.authentication)
        and (not url.sddl or sddl_enforced(group.authentication, resolves)),
        "sha256": url.sha256,
    }
    if url.sha256 and not is_dir:  # a directory's files are pinned one by one, at their first request
        out.update(host.state.digests.describe(url.source_path))
    return out


def _group_dict(ctx: CallContext, group: UrlGroupConfig, with_urls: bool) -> dict[str, Any]:
    prefix = parse_prefix(group.url_group)
    host = _host(ctx)
    out: dict[str, Any] = {
        "urlGroup": str(prefix),
        "scheme": prefix.scheme,
        "host": prefix.host,
        "port": prefix.port,
        "name": prefix.segment,
        "connectionLimit": group.connection_limit,
        "bandwidthLimit": group.bandwidth_limit,
        "authentication": list(group.authentication),
        "uploadEnabled": group.upload_enabled,
        "directoryListing": group.directory_listing,
        "allowOverwrites": group.allow_overwrites,
        "maxUploadSize": group.max_upload_size,
        "sessionTimeout": group.session_timeout,
        "maxSessionsPerUser": group.max_sessions_per_user,
        "hostId": group.host_id,
        "hostIdFallbackTimeout": group.host_id_fallback_timeout,
        "notificationUrl": group.notification_url,
        "notificationType": group.notification_type,
        "urlCount": len(group.urls),
        "listening": host.is_listening(prefix.port),
        "listenError": host.listen_error(prefix.port),
        # False: a scheme or a URL's SDDL cannot be enforced (those requests get 403)
        "enforced": enforced(group.authentication)
        and (sddl_enforced(group.authentication, host.resolves) or not any(url.sddl for url in group.urls)),
        # Set: ClientCertificate cannot be satisfied as the port is bound (every request gets 403)
        "authenticationWarning": authentication_warning(ctx.engine.config.current, group),
    }
    runtime = host.runtime(prefix.key)
    counters = runtime.snapshot() if runtime is not None else {}
    for key in COUNTER_NAMES:
        out[key] = counters.get(key, 0)
    if with_urls:
        out["urls"] = [_url_dict(prefix, url, group, host) for url in group.urls]
    return out


def _check_suffix(prefix: UrlPrefix, suffix: str) -> str:
    """Normalise a URL suffix; the rules are config's, shared with config.import and the start."""
    return check_url_suffix(suffix, prefix.path)


def _check_source(source: str) -> str:
    """The absolute, normalised source path; it must exist and be readable now (see config)."""
    return check_source_path(source)


@rpc_method(
    "urlgroup.create",
    "Create a URL group and start listening on its port.",
    params=[URL_GROUP, *_SETTINGS],
    result="UrlGroup",
    cmdlet="New-BcsUrlGroup",
)
def urlgroup_create(ctx: CallContext, url_group: str, **settings: Any) -> dict[str, Any]:
    prefix = parse_prefix(url_group)
    candidate = UrlGroupConfig(url_group=str(prefix))
    _apply_settings(candidate, settings)
    _check_settings(prefix, candidate)

    def change(config: Config) -> None:
        if config.find_group(prefix.key) is not None:
            raise BcsError(
                ERROR_ALREADY_EXISTS,
                f"URL group {prefix} already exists",
                noun="UrlGroup",
                target=str(prefix),
            )
        if len(config.url_groups) >= config.server.max_url_groups:
            raise InvalidArgumentError(
                f"the server already has {len(config.url_groups)} URL groups, its maximum "
                "(server.maxUrlGroups; raise it with `bcs server set --max-url-groups N`)",
                noun="UrlGroup",
                target=str(prefix),
            )
        group = UrlGroupConfig(url_group=str(prefix))
        _apply_settings(group, settings)
        config.url_groups.append(group)

    config = ctx.engine.config.update(change)
    return _group_dict(ctx, _find(config, prefix), with_urls=True)


@rpc_method(
    "urlgroup.list",
    "List every URL group with its settings and counters.",
    result="UrlGroup[]",
    read_only=True,
    cmdlet="Get-BcsUrlGroup",
)
def urlgroup_list(ctx: CallContext) -> list[dict[str, Any]]:
    config = ctx.engine.config.current
    return [_group_dict(ctx, group, with_urls=False) for group in config.url_groups]


@rpc_method(
    "urlgroup.get",
    "Get one URL group with its settings, URLs and counters.",
    params=[URL_GROUP],
    result="UrlGroup",
    read_only=True,
    cmdlet="Get-BcsUrlGroup",
)
def urlgroup_get(ctx: CallContext, url_group: str) -> dict[str, Any]:
    prefix = parse_prefix(url_group)
    return _group_dict(ctx, _find(ctx.engine.config.current, prefix), with_urls=True)


@rpc_method(
    "urlgroup.set",
    "Change settings of a URL group; takes effect at once, also for running transfers.",
    params=[URL_GROUP, *_SETTINGS],
    result="UrlGroup",
    cmdlet="Set-BcsUrlGroup",
)
def urlgroup_set(ctx: CallContext, url_group: str, **settings: Any) -> dict[str, Any]:
    prefix = parse_prefix(url_group)

    def change(config: Config) -> None:
        group = _find(config, prefix)
        _apply_settings(group, settings)
        _check_settings(prefix, group)

    config = ctx.engine.config.update(change)
    return _group_dict(ctx, _find(config, prefix), with_urls=True)


@rpc_method(
    "urlgroup.delete",
    "Delete a URL group and its URLs; its port closes when no group uses it.",
    params=[URL_GROUP],
    result="null",
    cmdlet="Remove-BcsUrlGroup",
)
def urlgroup_delete(ctx: CallContext, url_group: str) -> None:
    prefix = parse_prefix(url_group)

    def change(config: Config) -> None:
        group = _find(config, prefix)
        config.url_groups.remove(group)

    ctx.engine.config.update(change)


@rpc_method(
    "url.create",
    "Publish a file or a directory as URL group prefix + suffix.",
    params=[
        URL_GROUP,
        Param(
            "urlSuffix",
            "string",
            "The URL path below the group prefix (e.g. hello.txt or files/).",
            required=True,
        ),
        Param(
            "sourcePath",
            "string",
            "Absolute path of the file or directory to publish; must exist and be readable.",
            required=True,
        ),
        Param(
            "sddl",
            "string",
            "SDDL string authorising access to the URL; empty = anyone the group authenticates.",
            default="",
        ),
        Param(
            "sha256",
            "boolean",
            "Pin the SHA-256 of the file (or of each file below a directory) and serve it as Repr-Digest; "
            "a file whose content changes is refused (409) until the URL is published again.",
            default=False,
        ),
    ],
    result="Url",
    cmdlet="Add-BcsUrl",
)
def url_create(
    ctx: CallContext, url_group: str, url_suffix: str, source_path: str, sddl: str, sha256: bool
) -> dict[str, Any]:
    prefix = parse_prefix(url_group)
    suffix = _check_suffix(prefix, url_suffix)
    if sddl:
        parse_sddl(sddl)  # E_INVALIDARG naming the position of the first error
    _find(ctx.engine.config.current, prefix)  # a missing group is reported before a bad source
    source = _check_source(source_path)
    url = UrlConfig(url_suffix=suffix, source_path=source, sddl=sddl, sha256=sha256)

    def change(config: Config) -> None:
        group = _find(config, prefix)
        if any(u.url_suffix.lower() == suffix.lower() for u in group.urls):
            raise BcsError(
                ERROR_ALREADY_EXISTS,
                f"URL {prefix}{suffix} already exists",
                noun="Url",
                target=f"{prefix}{suffix}",
            )
        group.urls.append(url)

    config = ctx.engine.config.update(change)
    host = _host(ctx)
    digests = host.state.digests
    digests.forget(source)  # published anew: what was pinned below it before does not count
    if sha256 and not os.path.isdir(source):
        digests.watch(source)
        digests.wait(source, tunables.DIGEST_CREATE_WAIT)  # a small file is served from the first request
    return _url_dict(prefix, url, _find(config, prefix), host)


@rpc_method(
    "url.list", "List the URLs of a URL group.", params=[URL_GROUP], result="Url[]", cmdlet="Get-BcsUrl"
)
def url_list(ctx: CallContext, url_group: str) -> list[dict[str, Any]]:
    prefix = parse_prefix(url_group)
    group = _find(ctx.engine.config.current, prefix)
    return [_url_dict(prefix, url, group, _host(ctx)) for url in group.urls]


@rpc_method(
    "url.delete",
    "Unpublish a URL; transfers already running finish.",
    params=[URL_GROUP, Param("urlSuffix", "string", "The URL path below the group prefix.", required=True)],
    result="null",
    cmdlet="Remove-BcsUrl",
)
def url_delete(ctx: CallContext, url_group: str, url_suffix: str) -> None:
    prefix = parse_prefix(url_group)
    suffix = url_suffix.strip("/").lower()

    def change(config: Config) -> None:
        group = _find(config, prefix)
        for url in group.urls:
            if url.url_suffix.lower() == suffix:
                group.urls.remove(url)
                return
        raise NotFoundError(
            f"URL {prefix}{url_suffix.strip('/')} does not exist", noun="Url", target=f"{prefix}{url_suffix}"
        )

    old = ctx.engine.config.current
    ctx.engine.config.update(change)
    gone = {u.source_path for g in old.url_groups for u in g.urls if u.sha256} - {
        u.source_path for g in ctx.engine.config.current.url_groups for u in g.urls if u.sha256
    }
    for source in gone:  # no URL pins it any more
        _host(ctx).state.digests.forget(source)
