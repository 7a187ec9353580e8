"""JSON-RPC 2.0 over newline-delimited UTF-8 lines: parse, validate, dispatch, answer.

One request (or batch) per line; the answer is one line. Errors never close the connection:
a malformed line gets a parse error with ``id: null`` and the next line is read as usual.

Error codes: -32700 parse error, -32600 invalid request, -32601 method not found, -32602 invalid
params, -32603 internal error, -32000 a BITS error from the service (``error.data`` carries the
HRESULT, name, PowerShell category and errorId; see ``bcs.errors``). Every error has ``data``.

Nothing a line holds can break the connection: nesting deeper than ``tunables.RPC_MAX_DEPTH`` is
an invalid request (never a RecursionError), an answer that cannot be encoded (a lone surrogate,
say) becomes a -32603 without detail, and any other failure of a line is a logged -32603 too.
Rejections are logged through ``RejectionLog``: values cut short, bursts of one kind summarised.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from bcs import tunables
from bcs.errors import (
    E_FAIL,
    E_INVALIDARG,
    E_NOTIMPL,
    BcsError,
    Code,
    ParamError,
    shown,
)
from bcs.rpc.registry import CallContext, MethodRegistry, parse_int

__all__ = [
    "INTERNAL_ERROR",
    "INVALID_PARAMS",
    "INVALID_REQUEST",
    "METHOD_NOT_FOUND",
    "PARSE_ERROR",
    "SERVER_ERROR",
    "Dispatcher",
    "RejectionLog",
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
audit = logging.getLogger("bcs.audit")  # the management audit trail, in the engine log


def encode(message: Any) -> bytes:
    """One JSON line, UTF-8, no BOM, ``\\n``-terminated.

    Raises:
        ValueError: the message holds a lone surrogate or a non-finite number (NaN is not JSON).
    """
    text = json.dumps(message, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return text.encode("utf-8") + b"\n"


def _plain(name: str) -> bool:
    """Whether a name can be quoted as it is (printable, short); else it is quoted with ``shown``."""
    return name.isprintable() and len(name) <= tunables.SHOWN_VALUE_CHARS


def _too_deep(message: Any, limit: int) -> bool:
    """Whether arrays/objects nest deeper than ``limit`` (iterative: no recursion on hostile input)."""
    stack: list[tuple[Any, int]] = [(message, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(value, list):
            stack.extend((item, depth + 1) for item in value if isinstance(item, (list, dict)))
        elif isinstance(value, dict):
            stack.extend((item, depth + 1) for item in value.values() if isinstance(item, (list, dict)))
    return False


class RejectionLog:
    """Log lines of refused calls, cut to ``tunables.RPC_LOG_LINE_CHARS`` and at most ``per_window``
    lines of one kind (method + outcome) per ``window`` seconds; the rest is counted and reported in
    one "suppressed K similar lines" line when the window ends. A flood of bad requests therefore
    costs a few KB of log a minute instead of rotating the earlier log away."""

    def __init__(
        self,
        logger: logging.Logger,
        per_window: int = tunables.RPC_LOG_BURST,
        window: float = tunables.RPC_LOG_WINDOW,
        clock: Callable[[], float] = time.monotonic,
        timers: bool = True,
    ) -> None:
        self._log = logger
        self._per_window = per_window
        self._window = window
        self._clock = clock
        self._timers = timers  # a timer reports what was suppressed when no later line does
        self._lock = threading.Lock()
        self._kinds: dict[str, list[float]] = {}  # kind -> [window start, lines logged, lines suppressed]

    def log(self, level: int, kind: str, fmt: str, *args: Any, exc_info: bool = False) -> None:
        now = self._clock()
        with self._lock:
            state = self._kinds.get(kind)
            if state is None or now - state[0] >= self._window:
                if state is not None:
                    self._summarise(kind, state)
                state = self._kinds[kind] = [now, 0, 0]
            if state[1] >= self._per_window:
                state[2] += 1
                if state[2] == 1 and self._timers:
                    timer = threading.Timer(state[0] + self._window - now, self._flush, (kind, state))
                    timer.daemon = True
                    timer.start()
                return
            state[1] += 1
        message = fmt % args if args else fmt
        if len(message) > tunables.RPC_LOG_LINE_CHARS:
            message = f"{message[: tunables.RPC_LOG_LINE_CHARS]}... ({len(message)} characters)"
        self._log.log(level, "%s", message, exc_info=exc_info)

    def _flush(self, kind: str, state: list[float]) -> None:
        with self._lock:
            if self._kinds.get(kind) is state:
                self._summarise(kind, state)
                del self._kinds[kind]

    def _summarise(self, kind: str, state: list[float]) -> None:
        if state[2]:
            self._log.warning(
                "suppressed %d similar lines (%s) in the last %d s", state[2], kind, round(self._window)
            )
            state[2] = 0


def error_response(request_id: Any, code: int, error: BcsError) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "error": {"code": code, "message": error.message, "data": error.to_data()},
    }


def _rpc_error(reason: str, message: str, kind: Code = E_INVALIDARG) -> BcsError:
    return BcsError(kind, message, reason=reason, noun="Rpc")


class Dispatcher:
    """Turns request lines into response lines using a method registry."""

    def __init__(self, registry: MethodRegistry) -> None:
        self.registry = registry
        self.rejections = RejectionLog(log)

    def handle_line(self, line: bytes, ctx: CallContext) -> bytes | None:
        """Answer one line; None when it held only notifications. Never raises."""
        try:
            return self._handle_line(line, ctx)
        except Exception:
            self.rejections.log(
                logging.ERROR, "line internal error", "request line: internal error", exc_info=True
            )
            err = BcsError(E_FAIL, "Internal error; see the engine log for details.", noun="Server")
            return encode(error_response(None, INTERNAL_ERROR, err))

    def _handle_line(self, line: bytes, ctx: CallContext) -> bytes | None:
        try:
            text = line.decode("utf-8")
            if text.startswith("\ufeff"):  # a BOM written by a careless client: tolerate it
                text = text[1:]
            message = json.loads(text, parse_int=parse_int)  # huge integers: -32602 naming the param
        except RecursionError:  # nesting beyond what the decoder's C stack allows
            return encode(self._invalid(None, f"arrays/objects nested deeper than {tunables.RPC_MAX_DEPTH}"))
        except (UnicodeDecodeError, ValueError) as exc:
            return encode(error_response(None, PARSE_ERROR, _rpc_error("ParseError", f"Parse error: {exc}")))
        # Counting brackets is cheap; only a line that could nest too deep pays for the walk.
        if line.count(b"[") + line.count(b"{") > tunables.RPC_MAX_DEPTH and _too_deep(
            message, tunables.RPC_MAX_DEPTH
        ):
            return encode(self._invalid(None, f"arrays/objects nested deeper than {tunables.RPC_MAX_DEPTH}"))
        if isinstance(message, list):
            if not message:
                return encode(self._invalid(None, "empty batch"))
            if len(message) > tunables.RPC_MAX_BATCH:
                return encode(
                    self._invalid(None, f"batch of {len(message)} calls exceeds {tunables.RPC_MAX_BATCH}")
                )
            answers = [a for a in (self.handle_message(m, ctx) for m in message) if a is not None]
            if not answers:
                return None
            return b"[" + b",".join(self._encode_answer(a) for a in answers) + b"]\n"
        answer = self.handle_message(message, ctx)
        return None if answer is None else self._encode_answer(answer) + b"\n"

    def _encode_answer(self, answer: dict[str, Any]) -> bytes:
        """``encode`` without the newline; an answer JSON/UTF-8 cannot carry becomes a -32603."""
        try:
            return encode(answer)[:-1]
        except (ValueError, TypeError, RecursionError) as exc:  # UnicodeEncodeError is a ValueError
            request_id = answer.get("id")
            self.rejections.log(
                logging.ERROR,
                "answer not encodable",
                "the answer to request id %s could not be encoded: %s",
                shown(request_id),
                shown(exc),
            )
        err = BcsError(
            E_FAIL, "Internal error: the answer could not be encoded; see the engine log.", noun="Server"
        )
        try:
            return encode(error_response(request_id, INTERNAL_ERROR, err))[:-1]
        except ValueError:  # the id itself: handle_message refuses such ids, this is belt and braces
            return encode(error_response(None, INTERNAL_ERROR, err))[:-1]

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
        try:
            json.dumps(request_id, ensure_ascii=False).encode("utf-8")  # every answer echoes it
        except ValueError:
            return self._invalid(None, "id must be valid Unicode text (no lone surrogates)")
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
            err = _rpc_error(
                "MethodNotFound", f"Method not found: {name if _plain(name) else shown(name)}", E_NOTIMPL
            )
            return error_response(request_id, METHOD_NOT_FOUND, err)
        started = time.monotonic()
        outcome = "ok"
        try:
            try:
                kwargs = method.bind(params)
            except ParamError as exc:
                exc.noun = "Rpc"
                exc.reason = "InvalidParams"
                outcome = f"rejected {exc.header_value()}"
                self.rejections.log(logging.INFO, f"{name} rejected", "%s rejected: %s", name, exc.message)
                return error_response(request_id, INVALID_PARAMS, exc)
            try:
                result = method.handler(ctx, **kwargs)
            except BcsError as exc:
                outcome = f"failed {exc.header_value()}"
                self.rejections.log(
                    logging.INFO, f"{name} failed", "%s failed: %s %s", name, exc.header_value(), exc.message
                )
                return error_response(request_id, SERVER_ERROR, exc)
            except Exception:
                outcome = "internal error"
                self.rejections.log(
                    logging.ERROR, f"{name} internal error", "%s: internal error", name, exc_info=True
                )
                err = BcsError(
                    E_FAIL, f"Internal error in {name}; see the engine log for details.", noun="Server"
                )
                return error_response(request_id, INTERNAL_ERROR, err)
            log.debug("%s done in %.3f s", name, time.monotonic() - started)
            return {"jsonrpc": "2.0", "id": request_id, "result": result}
        finally:
            if not method.read_only:
                # One line per state-changing call: who, what, how it ended (never the parameters,
                # which may hold passwords).
                audit.info("%s called %s: %s", ctx.caller, name, outcome)
