"""JSON-RPC 2.0 over newline-delimited UTF-8 lines: parse, validate, dispatch, answer.

One request (or batch) per line; the answer is one line. Errors never close the connection:
a malformed line gets a parse error with ``id: null`` and the next line is read as usual.

Error codes: -32700 parse error, -32600 invalid request, -32601 method not found, -32602 invalid
params, -32603 internal error, -32000 a BITS error from the service (``error.data`` carries the
HRESULT, name, PowerShell category and errorId; see ``bcs.errors``). Every error has ``data``.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from bcs import tunables
from bcs.errors import BcsError, FailError, InvalidArgumentError, NotImplError
from bcs.rpc.registry import CallContext, MethodRegistry, ParamError

__all__ = [
    "INTERNAL_ERROR",
    "INVALID_PARAMS",
    "INVALID_REQUEST",
    "METHOD_NOT_FOUND",
    "PARSE_ERROR",
    "SERVER_ERROR",
    "Dispatcher",
    "encode",
    "error_response",
]

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
SERVER_ERROR = -32000

log = logging.getLogger("bcs.rpc")


def encode(message: Any) -> bytes:
    """One JSON line, UTF-8, no BOM, ``\\n``-terminated."""
    return json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"


def error_response(request_id: Any, code: int, error: BcsError) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "error": {"code": code, "message": error.message, "data": error.to_data()},
    }


def _rpc_error(reason: str, message: str, cls: type[BcsError] = InvalidArgumentError) -> BcsError:
    err = cls(message, noun="Rpc")
    err.reason = reason  # type: ignore[misc]
    return err


class Dispatcher:
    """Turns request lines into response lines using a method registry."""

    def __init__(self, registry: MethodRegistry) -> None:
        self.registry = registry

    def handle_line(self, line: bytes, ctx: CallContext) -> bytes | None:
        """Answer one line; None when it held only notifications."""
        try:
            text = line.decode("utf-8")
            if text.startswith("\ufeff"):  # a BOM written by a careless client: tolerate it
                text = text[1:]
            message = json.loads(text)
        except (UnicodeDecodeError, ValueError) as exc:
            return encode(error_response(None, PARSE_ERROR, _rpc_error("ParseError", f"Parse error: {exc}")))
        if isinstance(message, list):
            if not message:
                return encode(self._invalid(None, "empty batch"))
            if len(message) > tunables.RPC_MAX_BATCH:
                return encode(
                    self._invalid(None, f"batch of {len(message)} calls exceeds {tunables.RPC_MAX_BATCH}")
                )
            answers = [a for a in (self.handle_message(m, ctx) for m in message) if a is not None]
            return encode(answers) if answers else None
        answer = self.handle_message(message, ctx)
        return None if answer is None else encode(answer)

    def _invalid(self, request_id: Any, why: str) -> dict[str, Any]:
        return error_response(
            request_id, INVALID_REQUEST, _rpc_error("InvalidRequest", f"Invalid request: {why}")
        )

    def handle_message(self, message: Any, ctx: CallContext) -> dict[str, Any] | None:
        """Answer one request object; None for a valid notification."""
        if not isinstance(message, dict):
            return self._invalid(None, "a request must be a JSON object")
        request_id = message.get("id")
        if not isinstance(request_id, (str, int, type(None))) or isinstance(request_id, bool):
            return self._invalid(None, "id must be a string, a number or null")
        if message.get("jsonrpc") != "2.0":
            return self._invalid(request_id, 'the member "jsonrpc" must be exactly "2.0"')
        name = message.get("method")
        if not isinstance(name, str):
            return self._invalid(request_id, 'the member "method" must be a string')
        extra = set(message) - {"jsonrpc", "id", "method", "params"}
        if extra:
            return self._invalid(request_id, f"unknown member {sorted(extra)[0]!r}")
        is_notification = "id" not in message
        answer = self._call(name, message.get("params"), ctx, request_id)
        return None if is_notification else answer

    def _call(self, name: str, params: Any, ctx: CallContext, request_id: Any) -> dict[str, Any]:
        method = self.registry.get(name)
        if method is None:
            err = _rpc_error("MethodNotFound", f"Method not found: {name}", NotImplError)
            return error_response(request_id, METHOD_NOT_FOUND, err)
        started = time.monotonic()
        try:
            kwargs = method.bind(params)
        except ParamError as exc:
            exc.noun = "Rpc"
            exc.reason = "InvalidParams"  # type: ignore[misc]
            log.info("%s rejected: %s", name, exc.message)
            return error_response(request_id, INVALID_PARAMS, exc)
        try:
            result = method.handler(ctx, **kwargs)
        except BcsError as exc:
            log.info("%s failed: %s %s", name, exc.header_value(), exc.message)
            return error_response(request_id, SERVER_ERROR, exc)
        except Exception:
            log.exception("%s: internal error", name)
            err = FailError(f"Internal error in {name}; see the engine log for details.", noun="Server")
            return error_response(request_id, INTERNAL_ERROR, err)
        log.debug("%s done in %.3f s", name, time.monotonic() - started)
        return {"jsonrpc": "2.0", "id": request_id, "result": result}
