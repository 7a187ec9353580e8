"""A JSON-RPC client for the management pipe (used by the ``bcs`` CLI and by the tests)."""

from __future__ import annotations

import itertools
import json
import socket
import sys
from typing import Any

from bcs.errors import BcsError, error_from_hresult, parse_hresult
from bcs.rpc.transport import pipe_path, resolve_pipe_name

__all__ = ["EngineNotRunningError", "RpcClient", "RpcError"]


class RpcError(BcsError):
    """An error answered by the engine; carries the JSON-RPC code and ``error.data``."""

    def __init__(self, code: int, message: str, data: dict[str, Any] | None) -> None:
        self.rpc_code = code
        self.data = data or {}
        super().__init__(message, noun="Rpc", target=self.data.get("target"))
        try:
            template = error_from_hresult(parse_hresult(str(self.data.get("hresult", "0x80004005"))))
        except ValueError:
            template = error_from_hresult(0x80004005)
        self.hresult_value = template.code
        self.error_name = str(self.data.get("name", template.code_name))

    @property
    def code(self) -> int:
        return self.hresult_value

    @property
    def code_name(self) -> str:
        return self.error_name


class EngineNotRunningError(BcsError):
    """No engine answers on the pipe."""

    hresult = 0x80070002
    name = "ERROR_FILE_NOT_FOUND"
    category = "ResourceUnavailable"
    reason = "EngineNotRunning"


class RpcClient:
    """One connection to the engine; many calls over it, one at a time."""

    def __init__(self, pipe_name: str | None = None, timeout: float | None = 60.0) -> None:
        self.pipe_name = resolve_pipe_name(pipe_name)
        self.path = pipe_path(self.pipe_name)
        self._ids = itertools.count(1)
        self._timeout = timeout
        self._sock: Any = None
        self._buf = b""

    def __enter__(self) -> RpcClient:
        if self._sock is None:
            self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def connect(self) -> None:
        """Connect to the pipe.

        Raises:
            EngineNotRunningError: with a message that says how to start the engine.
        """
        try:
            if sys.platform == "win32":
                self._sock = open(self.path, "r+b", buffering=0)  # noqa: SIM115 - closed by close()
            else:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                try:
                    sock.settimeout(self._timeout)
                    sock.connect(self.path)
                except BaseException:
                    sock.close()
                    raise
                self._sock = sock
        except (FileNotFoundError, ConnectionRefusedError) as exc:
            raise EngineNotRunningError(
                f"no engine is running on pipe '{self.pipe_name}' ({self.path}): {exc.strerror}. "
                "Start one with `bcs serve` (or Start-BcsServer)."
            ) from None

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def send_line(self, data: bytes) -> None:
        if sys.platform == "win32":
            self._sock.write(data)
        else:
            self._sock.sendall(data)

    def read_line(self) -> bytes:
        while b"\n" not in self._buf:
            chunk = self._sock.read(65536) if sys.platform == "win32" else self._sock.recv(65536)
            if not chunk:
                raise ConnectionError("the engine closed the connection")
            self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\n")
        return line

    def request(self, message: Any) -> Any:
        """Send one raw JSON-RPC message (or batch) and return the decoded answer."""
        if self._sock is None:
            self.connect()
        self.send_line(json.dumps(message).encode("utf-8") + b"\n")
        return json.loads(self.read_line())

    def call(self, method: str, params: dict[str, Any] | None = None, **kwparams: Any) -> Any:
        """Call a method and return its result.

        Raises:
            RpcError: the engine answered with an error.
        """
        request_id = next(self._ids)
        merged = {**(params or {}), **kwparams}
        answer = self.request({"jsonrpc": "2.0", "id": request_id, "method": method, "params": merged})
        if "error" in answer:
            err = answer["error"]
            raise RpcError(err.get("code", 0), err.get("message", ""), err.get("data"))
        return answer.get("result")
