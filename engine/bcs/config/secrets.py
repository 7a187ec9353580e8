"""Secrets the configuration needs but never holds in clear text on disk: ``secrets.json``.

config.yaml, ``config.export`` and the RPC answers only say that a secret is set
(``keyPasswordSet: true``); the value lives in this store, keyed by a stable name
(``sslcert:443:keyPassword``; ``Config.secrets`` names them). The file:

* sits in the state directory (0700, owned by the engine's user) and is itself 0600;
* is replaced atomically (``bcs.durable``): a crash leaves the old file or the new one;
* on Windows holds each value protected with DPAPI (``CryptProtectData`` with the engine account's
  key, no UI): a copy of the file is useless under another account or on another machine.
  Untested here (no Windows); the Linux path below is what the tests run.
* on Linux and macOS holds the values as they are: the file's 0600 mode in the engine's 0700
  state directory (root's, for a system engine) is the protection, as for ssh host keys.

Format: ``{"version": 1, "protection": "none" | "dpapi", "secrets": {name: value}}`` (a DPAPI value
is the base64 of the protected blob). The store keeps exactly what the configuration refers to:
``ConfigStore`` adds new values before config.yaml is replaced and drops the values it no longer
refers to after (a removed binding loses its secret).
"""

from __future__ import annotations

import base64
import json
import logging
import os
import stat
import sys
import threading
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from bcs.durable import write_atomic
from bcs.errors import ConfigError

__all__ = ["SecretStore"]

log = logging.getLogger("bcs.config")

FORMAT_VERSION = 1
PROTECTION = "dpapi" if sys.platform == "win32" else "none"
_DPAPI_DESCRIPTION = "BITS Compact Server secret"
_CRYPTPROTECT_UI_FORBIDDEN = 0x1


def _protect(value: str) -> str:
    if PROTECTION == "none":
        return value
    import win32crypt

    blob = win32crypt.CryptProtectData(
        value.encode("utf-8"), _DPAPI_DESCRIPTION, None, None, None, _CRYPTPROTECT_UI_FORBIDDEN
    )
    return base64.b64encode(bytes(blob)).decode("ascii")


def _unprotect(value: str) -> str:
    if PROTECTION == "none":
        return value
    import win32crypt

    _, data = win32crypt.CryptUnprotectData(
        base64.b64decode(value), None, None, None, _CRYPTPROTECT_UI_FORBIDDEN
    )
    return bytes(data).decode("utf-8")


class SecretStore:
    """The secrets of the configuration, by name; every change is written to the file at once."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._values: dict[str, str] = {}

    def load(self) -> None:
        """Read the file (none yet: no secrets).

        Raises:
            ConfigError: the file does not load (it is left untouched; the engine does not start).
        """
        with self._lock:
            try:
                st = os.stat(self.path)
                text = self.path.read_text(encoding="utf-8")
            except FileNotFoundError:
                self._values = {}
                return
            except (OSError, UnicodeDecodeError) as exc:
                raise ConfigError(f"{self.path}: cannot be read ({exc})") from None
            if sys.platform != "win32" and st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
                os.chmod(self.path, 0o600)
                log.warning(
                    "%s was readable by others (mode %o); made it 0600", self.path, st.st_mode & 0o777
                )
            self._values = self._parse(text)

    def _parse(self, text: str) -> dict[str, str]:
        try:
            data: Any = json.loads(text)
        except ValueError as exc:
            raise ConfigError(
                f"{self.path}: not JSON ({exc}); restore it or remove it and set the secrets again"
            ) from None
        if not isinstance(data, dict) or data.get("version") != FORMAT_VERSION:
            raise ConfigError(f"{self.path}: not a version {FORMAT_VERSION} secret store")
        if data.get("protection") != PROTECTION:
            raise ConfigError(
                f"{self.path}: its secrets are protected with {data.get('protection')!r}, which this "
                f"platform cannot read ({PROTECTION!r}); set the secrets again (sslcert.set keyPassword)"
            )
        secrets = data.get("secrets")
        if not isinstance(secrets, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in secrets.items()
        ):
            raise ConfigError(f"{self.path}: 'secrets' must map names to strings")
        values: dict[str, str] = {}
        for name, stored in secrets.items():
            try:
                values[name] = _unprotect(stored)
            except Exception as exc:  # DPAPI: another account's or machine's blob
                raise ConfigError(f"{self.path}: secret {name} cannot be unprotected ({exc})") from None
        return values

    def get(self, name: str) -> str | None:
        with self._lock:
            return self._values.get(name)

    def values(self) -> dict[str, str]:
        """A copy of every secret, by name."""
        with self._lock:
            return dict(self._values)

    def put(self, values: Mapping[str, str]) -> None:
        """Add or replace ``values`` (the other secrets stay); written before returning."""
        with self._lock:
            self._write({**self._values, **values})

    def retain(self, names: Collection[str]) -> None:
        """Drop every secret not in ``names``; written before returning."""
        with self._lock:
            self._write({k: v for k, v in self._values.items() if k in names})

    def replace(self, values: Mapping[str, str]) -> None:
        """Hold exactly ``values``; written before returning."""
        with self._lock:
            self._write(dict(values))

    def _write(self, values: dict[str, str]) -> None:
        if values == self._values:
            return  # nothing changed: no write (most config changes touch no secret)
        document = {
            "version": FORMAT_VERSION,
            "protection": PROTECTION,
            "secrets": {name: _protect(value) for name, value in sorted(values.items())},
        }
        # write_atomic's temporary file is created 0600 (mkstemp), so the file never exists wider.
        write_atomic(self.path, (json.dumps(document, indent=2) + "\n").encode("utf-8"))
        self._values = values
