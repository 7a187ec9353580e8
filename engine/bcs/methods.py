"""Loads every module that declares RPC methods, so the registry is complete wherever it is used.

The engine dispatches from it, the CLI builds its subcommands from it, the tests and the
PowerShell contract checks read it through ``rpc.describe``.
"""

from __future__ import annotations

from bcs.rpc.registry import REGISTRY, MethodRegistry

__all__ = ["load_registry"]


def load_registry() -> MethodRegistry:
    import bcs.client.api
    import bcs.host.api
    import bcs.host.authapi
    import bcs.host.sslapi
    import bcs.host.upload.api
    import bcs.server_api  # noqa: F401

    return REGISTRY
