"""RPC methods of certificate bindings: ``sslcert.set/get/list/delete`` (one certificate per port).

As HTTP.SYS binds a certificate to an ``ipport``, a binding belongs to a port, and every https URL
group on that port uses it. A binding is checked before it is stored (``bcs.host.tls.load_context``)
and applied live: a new port starts listening, a rebound port serves new connections with the new
certificate, a removed binding closes its port (its groups report ``listening: false``).

Sources: PEM files (``certificatePath`` + ``keyPath``, the key maybe encrypted: ``keyPassword``),
a PKCS#12 (PFX) file (``certificatePath`` + ``keyPassword``), or the certificate store
(``thumbprint`` + ``storeLocation`` + ``storeName``, read through .NET). Bindings persist in
config.yaml; a key password goes to secrets.json (``bcs.config.secrets``) and is never answered:
the results say ``keyPasswordSet``.
"""

from __future__ import annotations

import datetime
import os
from typing import Any

from bcs.config import Config, SslCertificateConfig
from bcs.config.model import CLIENT_CERTIFICATE_MODES, STORE_LOCATIONS, ssl_binding_problem
from bcs.errors import BcsError, InvalidArgumentError, NotFoundError
from bcs.host.tls import certificate_info, load_context
from bcs.rpc.registry import CallContext, Param, rpc_method

__all__: list[str] = []

PORT = Param(
    "port", "integer", "The TCP port the certificate is bound to.", required=True, minimum=1, maximum=65535
)


def _not_found(port: int) -> NotFoundError:
    return NotFoundError(f"no certificate is bound to port {port}", noun="SslCertificate", target=port)


def _absolute(path: str, name: str) -> str:
    if "\x00" in path or not os.path.isabs(path):
        raise InvalidArgumentError(f"{name} must be an absolute path, not {path!r}", noun="SslCertificate")
    return os.path.abspath(path)


def _binding_dict(ctx: CallContext, binding: SslCertificateConfig) -> dict[str, Any]:
    out: dict[str, Any] = {
        "port": binding.port,
        "certificatePath": binding.certificate_path,
        "keyPath": binding.key_path,
        "keyPasswordSet": binding.key_password_set,
        "storeLocation": binding.store_location,
        "storeName": binding.store_name,
        "source": binding.source,
        "clientCertificate": binding.client_certificate,
        "trustedCaPath": binding.trusted_ca_path,
        "subject": None,
        "issuer": None,
        "thumbprint": None,
        "notBefore": None,
        "notAfter": None,
        "daysToExpiry": None,
        "listening": ctx.engine.services["host"].is_listening(binding.port),
    }
    try:
        info = certificate_info(binding)
    except BcsError as exc:
        out["error"] = exc.message  # the file or the store's certificate went away after it was bound
        return out
    left = info.not_after - datetime.datetime.now(datetime.timezone.utc)
    out.update(
        subject=info.subject,
        issuer=info.issuer,
        thumbprint=info.thumbprint,
        notBefore=info.not_before.strftime("%Y-%m-%dT%H:%M:%SZ"),
        notAfter=info.not_after.strftime("%Y-%m-%dT%H:%M:%SZ"),
        daysToExpiry=left.days,
    )
    return out


@rpc_method(
    "sslcert.set",
    "Bind a certificate to a port (PEM or PFX files, or the certificate store by thumbprint); "
    "https groups on it serve with it, applied live.",
    params=[
        PORT,
        Param(
            "certificatePath",
            "string",
            "Files: absolute path of the PEM certificate (a chain may follow) or of a PKCS#12 (PFX) file.",
        ),
        Param(
            "keyPath",
            "string",
            "Files: absolute path of the PEM private key; omitted, the key is read from certificatePath.",
        ),
        Param(
            "keyPassword",
            "string",
            "Files: password of an encrypted PEM key or of the PFX file; kept in secrets.json, never returned.",
            secret=True,
            max_length=4096,
        ),
        Param("thumbprint", "string", "Store: SHA-1 thumbprint of the certificate (40 hex digits)."),
        Param(
            "storeLocation",
            "string",
            "Store: CurrentUser or LocalMachine (default LocalMachine on Windows, CurrentUser elsewhere).",
            enum=STORE_LOCATIONS,
        ),
        Param("storeName", "string", "Store: the store's name (default My).", max_length=64),
        Param(
            "clientCertificate",
            "string",
            "Client certificates: Ignore, Accept (checked when sent) or Require.",
            enum=CLIENT_CERTIFICATE_MODES,
        ),
        Param("trustedCaPath", "string", "Absolute path of the PEM CA bundle client certificates chain to."),
    ],
    result="SslCertificate",
    cmdlet="Set-BcsSslCertificate",
)
def sslcert_set(
    ctx: CallContext,
    port: int,
    certificate_path: str | None,
    key_path: str | None,
    key_password: str | None,
    thumbprint: str | None,
    store_location: str | None,
    store_name: str | None,
    client_certificate: str | None,
    trusted_ca_path: str | None,
) -> dict[str, Any]:
    # The whole binding is replaced, as netsh http add sslcert does: what is not given is the default.
    binding = SslCertificateConfig(
        port=port,
        certificate_path=_absolute(certificate_path, "certificatePath") if certificate_path else "",
        key_path=_absolute(key_path, "keyPath") if key_path else "",
        key_password=key_password or "",
        thumbprint=thumbprint or "",
        store_location=store_location or "",
        store_name=store_name or "",
        client_certificate=client_certificate or "Ignore",
        trusted_ca_path=_absolute(trusted_ca_path, "trustedCaPath") if trusted_ca_path else "",
    )
    problem = ssl_binding_problem(binding)  # one source, a well-formed thumbprint, the store defaults
    if problem is not None:
        raise InvalidArgumentError(f"{problem[0]}: {problem[1]}", noun="SslCertificate", target=port)
    load_context(binding)  # every file, password, store entry and the key's match, before anything changes

    def change(config: Config) -> None:
        config.ssl_certificates = [b for b in config.ssl_certificates if b.port != port] + [binding]
        config.ssl_certificates.sort(key=lambda b: b.port)

    ctx.engine.config.update(change)
    return _binding_dict(ctx, binding)


@rpc_method(
    "sslcert.get",
    "Get the certificate bound to a port.",
    params=[PORT],
    result="SslCertificate",
    read_only=True,
    cmdlet="Get-BcsSslCertificate",
)
def sslcert_get(ctx: CallContext, port: int) -> dict[str, Any]:
    binding = ctx.engine.config.current.ssl_binding(port)
    if binding is None:
        raise _not_found(port)
    return _binding_dict(ctx, binding)


@rpc_method(
    "sslcert.list",
    "List the certificate bindings.",
    result="SslCertificate[]",
    read_only=True,
    cmdlet="Get-BcsSslCertificate",
)
def sslcert_list(ctx: CallContext) -> list[dict[str, Any]]:
    return [_binding_dict(ctx, b) for b in ctx.engine.config.current.ssl_certificates]


@rpc_method(
    "sslcert.delete",
    "Remove the certificate of a port; its https groups stop listening until one is bound again.",
    params=[PORT],
    result="null",
    cmdlet="Remove-BcsSslCertificate",
)
def sslcert_delete(ctx: CallContext, port: int) -> None:
    def change(config: Config) -> None:
        if config.ssl_binding(port) is None:
            raise _not_found(port)
        config.ssl_certificates = [b for b in config.ssl_certificates if b.port != port]

    ctx.engine.config.update(change)
