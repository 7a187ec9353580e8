"""The current configuration and config.yaml: every change validated, applied live, written durably.

``config.yaml`` in the state directory is the one persistent copy. Every change goes through
``ConfigStore.update``: the new model is validated, applied to the running services (a listener
that fails rolls the others back), then written atomically (temp file, fsync, rename, fsync of the
directory) before the caller is answered. A ``kill -9`` at any point leaves the old or the new file.

A file that does not load (YAML syntax, unknown key, wrong type, invalid value) stops the engine
with a message naming the file, the line and the setting; the file is never overwritten by a
failed load.

Secrets (a key password) are never written to config.yaml, only whether one is set; their values
go to ``secrets.json`` (``bcs.config.secrets``): new values before config.yaml is replaced, and the
values config.yaml no longer refers to are dropped after it, so a crash between the two writes
leaves every secret the surviving config.yaml refers to. (One case remains: a crash between the
two writes of a *changed* value under the same name leaves the old config.yaml with the new
password; that binding then refuses to serve, reported with the reason, until it is set again.)
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bcs.config.model import Config, ConfigError
from bcs.config.secrets import SecretStore
from bcs.config.yamlio import dump_yaml, load_yaml
from bcs.durable import write_atomic

__all__ = ["ConfigStore", "Listener"]

log = logging.getLogger("bcs.config")


Listener = Callable[[Config, Config], None]


class ConfigStore:
    """The current configuration and its file; all changes are serialised by one lock."""

    def __init__(self, path: Path, secrets_path: Path | None = None) -> None:
        self.path = path
        self.secrets = SecretStore(secrets_path or path.parent / "secrets.json")
        self._lock = threading.RLock()
        self._current = Config()
        self._listeners: list[Listener] = []

    @property
    def current(self) -> Config:
        """A snapshot; never mutate it (use ``update``)."""
        return self._current

    def load(self, default: Callable[[], Config] | None = None) -> Config:
        """Load the file; when it does not exist, persist ``default()`` (or an empty config).

        Raises:
            ConfigError: the file does not load; it is left untouched.
        """
        with self._lock:
            # Temporary files of writes a crash interrupted: never the config itself, safe to drop.
            for written in (self.path, self.secrets.path):
                for stale in written.parent.glob(f".{written.name}.*.tmp"):
                    with contextlib.suppress(OSError):
                        stale.unlink()
            self.secrets.load()
            try:
                text = self.path.read_text(encoding="utf-8")
            except FileNotFoundError:
                self._current = default() if default else Config()
                self._current.validate()
                self._write(self._current)
                return self._current
            except UnicodeDecodeError as exc:
                raise ConfigError(f"{self.path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
            try:
                config = load_yaml(text)
            except ConfigError as exc:
                raise ConfigError(f"{self.path}: {exc.message}", exc.path) from None
            for name in config.fill_secrets(self.secrets.get):
                # Not fatal: what needs it refuses to serve, with the reason (fail closed).
                log.error("%s: secret %s is not in %s; set it again", self.path, name, self.secrets.path)
            self._current = config
            return self._current

    def subscribe(self, listener: Listener) -> None:
        """Call ``listener(old, new)`` on every change, before it is persisted; raising vetoes it."""
        self._listeners.append(listener)

    def update(self, change: Callable[[Config], Any]) -> Config:
        """Apply ``change`` to a copy, validate, apply to listeners, persist, publish.

        Raises:
            ConfigError: the result does not validate (nothing changes).
            BcsError: a listener refused the change (nothing changes).
        """
        with self._lock:
            old = self._current
            new = old.copy()
            change(new)
            new.validate()
            self._apply(old, new)
            try:
                self._write(new)
            except BaseException:
                self._apply(new, old)
                raise
            self._current = new
            return new

    def replace(self, new: Config) -> Config:
        return self.update(lambda cfg: _assign(cfg, new))

    def _apply(self, old: Config, new: Config) -> None:
        done: list[Listener] = []
        try:
            for listener in self._listeners:
                listener(old, new)
                done.append(listener)
        except BaseException:
            for listener in reversed(done):
                # Rolling back is best effort: the original error is the one to report.
                with contextlib.suppress(Exception):
                    listener(new, old)
            raise

    def _write(self, config: Config) -> None:
        secrets = config.secrets()
        before = self.secrets.values()
        self.secrets.put(secrets)  # first: the new config.yaml must find its secrets
        try:
            write_atomic(self.path, dump_yaml(config).encode("utf-8"))
        except BaseException:
            with contextlib.suppress(Exception):  # the error to report is the one above
                self.secrets.replace(before)
            raise
        self.secrets.retain(secrets)


def _assign(target: Config, source: Config) -> None:
    for f in dataclasses.fields(Config):
        setattr(target, f.name, copy.deepcopy(getattr(source, f.name)))
