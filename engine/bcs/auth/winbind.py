"""NTLM for domain accounts on Linux: Samba's ``ntlm_auth`` helper, which asks winbindd.

``auth.ntlmBackend: Winbind`` (``NegotiateAcceptor``) hands every NTLM handshake to one
``ntlm_auth`` process of its own, started when the handshake opens and killed when it ends, when
its connection closes, when it expires or is evicted (``WinbindContext.close``). The machine must
be a member of the domain (``net ads join``) with winbindd running: ``ntlm_auth`` talks to
winbindd through its compiled-in socket (``/run/samba/winbindd/pipe`` on Debian), and winbindd
checks the NTLM response with a domain controller (NETLOGON). No password is seen here.

Two line protocols of ``ntlm_auth`` (``--helper-protocol=``):

* ``squid-2.5-ntlmssp`` for bare NTLM (``NTLM`` scheme, or an NTLM token under ``Negotiate``):
  ``YR <type 1>`` -> ``TT <type 2>``; ``KK <type 3>`` -> ``AF DOMAIN\\user`` | ``NA <reason>``.
* ``gss-spnego`` for SPNEGO with NTLM inside (``Negotiate``): ``YR``/``KK <token>`` ->
  ``TT <token>`` | ``AF <token> DOMAIN\\user`` | ``NA <token> <reason>``.

Either answers ``BH <reason>`` ("broken helper") when it cannot work, winbindd unreachable above
all: that, a missing ``ntlm_auth`` and a helper that dies or stays silent are ``WinbindUnavailable``
(the handshake is refused as ``unavailable``, never a 5xx); ``NA`` is ``WinbindRejected``.

This module is Linux-only: on Windows SSPI checks domain accounts and the setting is ignored.
"""

from __future__ import annotations

import base64
import contextlib
import os
import select
import shutil
import subprocess
import threading
import time

from bcs.errors import ERROR_FILE_NOT_FOUND, BcsError

__all__ = ["HELPER", "WinbindContext", "WinbindRejected", "WinbindUnavailable", "check_helper", "helper_path"]

HELPER = "ntlm_auth"
_ANSWER_TIMEOUT = 15.0  # s for one answer of the helper (winbindd asks a DC: normally milliseconds)
_MAX_LINE = 256 * 1024


class WinbindUnavailable(Exception):
    """The helper cannot check anything: missing, winbindd unreachable, dead or silent."""


class WinbindRejected(Exception):
    """The helper refused the credentials (``NA``): wrong password, unknown or disabled account."""


def helper_path() -> str | None:
    """Where ``ntlm_auth`` is (``PATH``, then /usr/bin), or None."""
    found = shutil.which(HELPER)
    if found:
        return found
    fallback = "/usr/bin/" + HELPER
    return fallback if os.access(fallback, os.X_OK) else None


def check_helper() -> str:
    """The helper's path, for ``auth.set``: refuse ``Winbind`` where there is no ``ntlm_auth``.

    Raises:
        BcsError: ERROR_FILE_NOT_FOUND naming what to install.
    """
    path = helper_path()
    if path is None:
        raise BcsError(
            ERROR_FILE_NOT_FOUND,
            "ntlmBackend Winbind needs Samba's ntlm_auth (Debian/Ubuntu: apt-get install winbind; "
            "the machine joined with net ads join and winbindd running)",
            noun="Auth",
            target=HELPER,
        )
    return path


class WinbindContext:
    """One NTLM handshake checked by one ``ntlm_auth`` process (the interface of a pyspnego acceptor).

    Args:
        spnego: True for SPNEGO tokens (``gss-spnego``), False for bare NTLM (``squid-2.5-ntlmssp``).
    """

    def __init__(self, *, spnego: bool, answer_timeout: float = _ANSWER_TIMEOUT) -> None:
        self.spnego = spnego
        self.complete = False
        self.client_principal: str | None = None
        self.negotiated_protocol = "ntlm"
        self._timeout = answer_timeout
        self._lock = threading.Lock()
        self._legs = 0
        path = helper_path()
        if path is None:
            raise WinbindUnavailable(f"{HELPER} is not installed")
        protocol = "gss-spnego" if spnego else "squid-2.5-ntlmssp"
        try:
            self._proc: subprocess.Popen[bytes] | None = subprocess.Popen(
                [path, f"--helper-protocol={protocol}"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                close_fds=True,
            )
        except OSError as exc:
            raise WinbindUnavailable(f"cannot start {path}: {exc.strerror or exc}") from None
        self._buffer = b""

    def step(self, data: bytes) -> bytes | None:
        """Feed one client token; the token to send back (None when there is none).

        Raises:
            WinbindRejected: ``NA``; WinbindUnavailable: ``BH``, or the helper died or stayed silent.
        """
        verb = "YR" if self._legs == 0 else "KK"
        self._legs += 1
        try:
            answer = self._ask(f"{verb} {base64.b64encode(data).decode('ascii')}\n".encode("ascii"))
        except BaseException:
            self.close()
            raise
        word, _, rest = answer.partition(" ")
        if word == "TT":
            return base64.b64decode(rest.strip())
        self.close()  # every other answer ends the handshake
        if word == "AF":
            if self.spnego:
                blob, _, user = rest.partition(" ")
                out = base64.b64decode(blob) if blob and blob != "*" else None
            else:
                user, out = rest, None
            self.client_principal = user.strip()
            self.complete = True
            return out
        if word == "NA":
            reason = rest.split(" ", 1)[1] if self.spnego and " " in rest else rest
            raise WinbindRejected(reason.strip()[:200] or "refused")
        if word == "BH":
            raise WinbindUnavailable(f"{HELPER}: {rest.strip()[:200]} (is winbindd running and reachable?)")
        raise WinbindUnavailable(f"{HELPER} answered {word[:20]!r}")

    def _ask(self, line: bytes) -> str:
        proc = self._proc
        if proc is None or proc.stdin is None or proc.stdout is None:
            raise WinbindUnavailable(f"{HELPER} has ended")
        try:
            proc.stdin.write(line)
            proc.stdin.flush()
        except OSError:
            raise WinbindUnavailable(f"{HELPER} exited (status {proc.poll()})") from None
        fd = proc.stdout.fileno()
        deadline = time.monotonic() + self._timeout
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise WinbindUnavailable(f"{HELPER} did not answer within {self._timeout:g} s")
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                raise WinbindUnavailable(f"{HELPER} exited (status {proc.poll()})")
            self._buffer += chunk
            if len(self._buffer) > _MAX_LINE:
                raise WinbindUnavailable(f"{HELPER} answered an over-long line")
        answer, _, self._buffer = self._buffer.partition(b"\n")
        return answer.decode("utf-8", errors="replace").rstrip("\r")

    def close(self) -> None:
        """Kill the helper (idempotent): the handshake is over, or its connection is."""
        with self._lock:
            proc, self._proc = self._proc, None
        if proc is None:
            return
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        if proc.poll() is None:
            proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):  # SIGKILL is not ignored: quick
            proc.wait(timeout=5)
