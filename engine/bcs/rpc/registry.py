"""The method registry: the single source of truth for the management contract.

Every RPC method is declared once, with its parameters (name, type, required, doc, constraints),
its result and the cmdlet that fronts it. The dispatcher validates requests against it, the CLI
builds its subcommands from it, and ``rpc.describe`` hands it to the PowerShell contract tests.

Rules:
* Parameter names are camelCase on the wire; handlers receive them as snake_case keywords.
* Unknown parameters are an error (a drifted cmdlet must fail loudly, not be ignored).
* ``integer`` rejects booleans and floats; ``number`` accepts integers; ``null`` is accepted only
  for optional parameters and means "not given".
* An object parameter declared ``empty_removes`` also takes ``{}``, which removes what it configures
  (``auth.set``'s ``ldap: {}``): its required fields are required only when any field is given.
  ``rpc.describe`` says so (``emptyRemoves: true``) for the contract checks of the cmdlets.
* Every value a request carries, nested ones included, is checked before its declared type: strings
  (and object keys) must be valid Unicode (no lone surrogates, which could be neither stored nor
  answered), numbers finite (NaN and Infinity never compare out of range) and integers within
  ``tunables.RPC_MAX_INTEGER``. The error names the value's place, e.g. ``files[0].remoteUrl``.
* Messages quote rejected values through ``bcs.errors.shown`` (escaped, cut to a few hundred characters).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from bcs import tunables
from bcs.casing import snake_case
from bcs.errors import ParamError, shown

__all__ = [
    "REGISTRY",
    "CallContext",
    "HugeInteger",
    "Method",
    "MethodRegistry",
    "Param",
    "ParamError",
    "check_values",
    "parse_int",
    "rpc_method",
]

ParamType = Literal["string", "integer", "number", "boolean", "array", "object"]


@dataclass(frozen=True)
class Param:
    """One declared parameter of a method (or a field of an object parameter)."""

    name: str
    type: ParamType
    doc: str
    required: bool = False
    default: Any = None
    enum: tuple[str, ...] | None = None
    minimum: int | None = None
    maximum: int | None = None
    max_length: int | None = None
    items: ParamType | None = None  # element type of an array of scalars
    fields: tuple[Param, ...] | None = None  # fields of an object, or of each object of an array
    secret: bool = False  # never logged, never echoed
    empty_removes: bool = False  # an object parameter whose {} removes the setting (required fields waived)

    def __post_init__(self) -> None:
        if self.empty_removes and (self.type != "object" or self.fields is None):
            raise ValueError(f"{self.name}: only an object parameter with fields can be empty_removes")

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "type": self.type,
            "required": self.required,
            "doc": self.doc,
        }
        for key, value in (
            ("default", self.default),
            ("enum", list(self.enum) if self.enum else None),
            ("minimum", self.minimum),
            ("maximum", self.maximum),
            ("maxLength", self.max_length),
            ("items", self.items),
        ):
            if value is not None:
                out[key] = value
        if self.fields is not None:
            out["fields"] = [f.describe() for f in self.fields]
        if self.secret:
            out["secret"] = True
        if self.empty_removes:
            out["emptyRemoves"] = True
        return out

    def check(self, value: Any, where: str) -> Any:
        """Validate one value; returns it (with defaults filled in for object fields).

        Raises:
            ParamError: naming the parameter and what is wrong with it.
        """
        if not _type_ok(self.type, value):
            raise ParamError(f"parameter '{where}' must be of type {self.type}, not {_json_type(value)}")
        if self.enum is not None and value not in self.enum:
            raise ParamError(f"parameter '{where}' must be one of {', '.join(self.enum)}; got {shown(value)}")
        if self.minimum is not None and value < self.minimum:
            raise ParamError(f"parameter '{where}' must be at least {self.minimum}; got {value}")
        if self.maximum is not None and value > self.maximum:
            raise ParamError(f"parameter '{where}' must be at most {self.maximum}; got {value}")
        if self.max_length is not None and len(value) > self.max_length:
            raise ParamError(f"parameter '{where}' is longer than {self.max_length}")
        if self.type == "array":
            checked = []
            for i, item in enumerate(value):
                if self.fields is not None:
                    checked.append(_check_object(self.fields, item, f"{where}[{i}]"))
                elif self.items is not None:
                    if not _type_ok(self.items, item):
                        raise ParamError(f"parameter '{where}[{i}]' must be of type {self.items}")
                    checked.append(item)
                else:
                    checked.append(item)
            return checked
        if self.type == "object" and self.fields is not None:
            if self.empty_removes and value == {}:
                return {}
            return _check_object(self.fields, value, where)
        return value


class HugeInteger:
    """A JSON integer too long for any parameter, kept as its digit count instead of converted
    (Python refuses to convert more than 4300 digits, and nothing in the contract needs 20)."""

    def __init__(self, digits: int) -> None:
        self.digits = digits

    def __repr__(self) -> str:
        return f"<an integer of {self.digits} digits>"


def parse_int(text: str) -> int | HugeInteger:
    """``json.loads(parse_int=...)``: an integer, or a HugeInteger that ``check_values`` refuses."""
    digits = len(text.lstrip("-"))
    return int(text) if digits <= 20 else HugeInteger(digits)


def check_values(value: Any, where: str) -> None:
    """Refuse strings that are not valid Unicode, non-finite numbers and out-of-range integers,
    anywhere inside ``value`` (object keys included).

    Raises:
        ParamError: naming the place of the first bad value.
    """
    if isinstance(value, str):
        bad = _lone_surrogate(value)
        if bad is not None:
            raise ParamError(
                f"parameter '{where}' is not valid Unicode text "
                f"(lone surrogate U+{ord(value[bad]):04X} at character {bad})"
            )
    elif isinstance(value, bool) or value is None:
        pass
    elif isinstance(value, HugeInteger) or (isinstance(value, int) and abs(value) > tunables.RPC_MAX_INTEGER):
        digits = value.digits if isinstance(value, HugeInteger) else len(str(abs(value)))
        raise ParamError(
            f"parameter '{where}' is out of range (an integer of {digits} digits; "
            f"at most {tunables.RPC_MAX_INTEGER})"
        )
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ParamError(f"parameter '{where}' must be a finite number, not {value}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            check_values(item, f"{where}[{i}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            if _lone_surrogate(key) is not None:
                raise ParamError(f"parameter '{where}' has a field name that is not valid Unicode text")
            check_values(item, f"{where}.{key}")


def _lone_surrogate(text: str) -> int | None:
    """Index of the first lone surrogate in ``text``, or None (the common case costs one encode)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return exc.start
    return None


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _type_ok(expected: ParamType, value: Any) -> bool:
    actual = _json_type(value)
    return actual == expected or (expected == "number" and actual == "integer")


def _check_object(fields: tuple[Param, ...], value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ParamError(f"parameter '{where}' must be of type object, not {_json_type(value)}")
    known = {f.name for f in fields}
    extra = sorted(set(value) - known)
    if extra:
        raise ParamError(f"parameter '{where}' has unknown field {shown(extra[0])}")
    out: dict[str, Any] = {}
    for f in fields:
        sub = f"{where}.{f.name}"
        if value.get(f.name) is None:
            if f.required:
                raise ParamError(f"parameter '{sub}' is required")
            out[f.name] = f.default
        else:
            out[f.name] = f.check(value[f.name], sub)
    return out


@dataclass
class CallContext:
    """What a handler knows about the call: the engine and the calling peer."""

    engine: Any  # bcs.engine.Engine (Any: avoids an import cycle, handlers know the type)
    peer_uid: int | None = None
    peer_pid: int | None = None
    peer_name: str | None = None  # user name of the peer, where the transport knows it

    @property
    def caller(self) -> str:
        """Who called, for the audit log: ``uid 0 (root) pid 42``, ``DOMAIN\\user`` or ``unknown``."""
        if self.peer_name:
            return self.peer_name
        if self.peer_uid is None:
            return "unknown" if self.peer_pid is None else f"pid {self.peer_pid}"
        try:
            import pwd

            user = f" ({pwd.getpwuid(self.peer_uid).pw_name})"
        except (ImportError, KeyError):
            user = ""
        return f"uid {self.peer_uid}{user}" + (f" pid {self.peer_pid}" if self.peer_pid is not None else "")


Handler = Callable[..., Any]


@dataclass(frozen=True)
class Method:
    """One RPC method: the contract and the handler that implements it."""

    name: str
    summary: str
    params: tuple[Param, ...]
    result: str
    cmdlet: str
    handler: Handler = field(compare=False)
    # False for methods that change state: each call of those is audited (bcs.rpc.protocol)
    read_only: bool = False

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "summary": self.summary,
            "params": [p.describe() for p in self.params],
            "result": self.result,
            "cmdlet": self.cmdlet,
            "readOnly": self.read_only,
        }

    def bind(self, params: Any) -> dict[str, Any]:
        """Validate request params against the declaration; returns snake_case handler keywords.

        Accepts by-name (object) and by-position (array, declaration order) params.

        Raises:
            ParamError: naming the first bad parameter.
        """
        if params is None:
            params = {}
        if isinstance(params, list):
            if len(params) > len(self.params):
                raise ParamError(f"{self.name} takes at most {len(self.params)} positional parameters")
            params = {p.name: v for p, v in zip(self.params, params, strict=False)}
        if not isinstance(params, dict):
            raise ParamError("params must be an object or an array")
        declared = {p.name for p in self.params}
        unknown = sorted(set(params) - declared)
        if unknown:
            name = unknown[0]
            if name.isprintable() and len(name) <= tunables.SHOWN_VALUE_CHARS:
                raise ParamError(f"unknown parameter '{name}' for method {self.name}")
            raise ParamError(f"unknown parameter {shown(name)} for method {self.name}")
        out: dict[str, Any] = {}
        for p in self.params:
            value = params.get(p.name)
            check_values(value, p.name)
            if value is None:
                if p.required:
                    raise ParamError(f"missing required parameter '{p.name}' for method {self.name}")
                out[snake_case(p.name)] = p.default
            else:
                out[snake_case(p.name)] = p.check(value, p.name)
        return out


class MethodRegistry:
    """Methods by name, in declaration order."""

    def __init__(self) -> None:
        self._methods: dict[str, Method] = {}

    def add(self, method: Method) -> None:
        if method.name in self._methods:
            raise RuntimeError(f"RPC method {method.name} declared twice")
        self._methods[method.name] = method

    def get(self, name: str) -> Method | None:
        return self._methods.get(name)

    def __iter__(self) -> Iterator[Method]:
        return iter(self._methods.values())

    def names(self) -> list[str]:
        return list(self._methods)

    def describe(self) -> dict[str, Any]:
        from bcs import __version__

        return {
            "protocol": "jsonrpc-2.0",
            "version": __version__,
            "methods": [m.describe() for m in self._methods.values()],
        }


REGISTRY = MethodRegistry()


def rpc_method(
    name: str,
    summary: str,
    *,
    params: Iterable[Param] = (),
    result: str = "null",
    cmdlet: str,
    read_only: bool = False,
) -> Callable[[Handler], Handler]:
    """Declare a handler as the RPC method ``name`` in the global registry.

    ``read_only`` declares that the method changes nothing; every other method's calls are audited.
    """

    def decorate(func: Handler) -> Handler:
        REGISTRY.add(Method(name, summary, tuple(params), result, cmdlet, func, read_only))
        return func

    return decorate
