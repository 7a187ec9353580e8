"""RPC methods of the file host: URL groups and the URLs they publish.

Contract declared by the foundation; the handlers are implemented by the file-host work (issue 3).
"""

from __future__ import annotations

from typing import Any

from bcs.config import AUTH_SCHEMES
from bcs.errors import NotImplError
from bcs.rpc.registry import CallContext, Param, rpc_method

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
)
AUTH_DOC = f"one of {', '.join(AUTH_SCHEMES)}"


def _todo(name: str) -> NotImplError:
    return NotImplError(f"{name} is not implemented yet", noun="UrlGroup")


@rpc_method(
    "urlgroup.create",
    "Create a URL group and start listening on its port.",
    params=[URL_GROUP, *_SETTINGS],
    result="UrlGroup",
    cmdlet="New-BcsUrlGroup",
)
def urlgroup_create(ctx: CallContext, url_group: str, **settings: Any) -> dict[str, Any]:
    raise _todo("urlgroup.create")


@rpc_method(
    "urlgroup.list",
    "List every URL group with its settings and counters.",
    result="UrlGroup[]",
    cmdlet="Get-BcsUrlGroup",
)
def urlgroup_list(ctx: CallContext) -> list[dict[str, Any]]:
    raise _todo("urlgroup.list")


@rpc_method(
    "urlgroup.get",
    "Get one URL group with its settings, URLs and counters.",
    params=[URL_GROUP],
    result="UrlGroup",
    cmdlet="Get-BcsUrlGroup",
)
def urlgroup_get(ctx: CallContext, url_group: str) -> dict[str, Any]:
    raise _todo("urlgroup.get")


@rpc_method(
    "urlgroup.set",
    "Change settings of a URL group; takes effect at once, also for running transfers.",
    params=[URL_GROUP, *_SETTINGS],
    result="UrlGroup",
    cmdlet="Set-BcsUrlGroup",
)
def urlgroup_set(ctx: CallContext, url_group: str, **settings: Any) -> dict[str, Any]:
    raise _todo("urlgroup.set")


@rpc_method(
    "urlgroup.delete",
    "Delete a URL group and its URLs; its port closes when no group uses it.",
    params=[URL_GROUP],
    result="null",
    cmdlet="Remove-BcsUrlGroup",
)
def urlgroup_delete(ctx: CallContext, url_group: str) -> None:
    raise _todo("urlgroup.delete")


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
    ],
    result="Url",
    cmdlet="Add-BcsUrl",
)
def url_create(
    ctx: CallContext, url_group: str, url_suffix: str, source_path: str, sddl: str
) -> dict[str, Any]:
    raise _todo("url.create")


@rpc_method(
    "url.list", "List the URLs of a URL group.", params=[URL_GROUP], result="Url[]", cmdlet="Get-BcsUrl"
)
def url_list(ctx: CallContext, url_group: str) -> list[dict[str, Any]]:
    raise _todo("url.list")


@rpc_method(
    "url.delete",
    "Unpublish a URL; transfers already running finish.",
    params=[URL_GROUP, Param("urlSuffix", "string", "The URL path below the group prefix.", required=True)],
    result="null",
    cmdlet="Remove-BcsUrl",
)
def url_delete(ctx: CallContext, url_group: str, url_suffix: str) -> None:
    raise _todo("url.delete")
