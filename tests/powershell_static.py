"""Static analysis of the PowerShell module with tree-sitter-pwsh (pwsh cannot run on our machines).

The module follows one machine-checkable shape, and these helpers read it back from the syntax tree:

* ``cmdlets/X.ps1`` defines exactly ``function X``; ``cmdlets/private/`` holds helpers (one function
  per file, named as the file) and ``ModuleSettings.ps1`` (no function, only ``$script:`` settings).
* A cmdlet builds the JSON-RPC params as a hashtable of camelCase keys, either inline
  (``-Params @{ jobId = $JobId }``) or in a variable (``$params = @{ urlGroup = $UrlGroup }`` and
  ``$params['bandwidthLimit'] = $BandwidthLimit``), and calls
  ``Invoke-BcsRpc -Cmdlet $PSCmdlet -Method 'x.y' -Params $params``.
* A private helper may add keys: ``Add-BcsJobSetting -Params $params ... @setting`` assigns
  ``$Params['minimumRetryDelay'] = $RetryInterval``; those keys are the call's, typed by the
  helper's parameters. The splat holds the caller's bound parameters named in a ``$script:`` list.
* The value of each key is a parameter (``$Name``), a switch (``$Name.IsPresent``), a cast
  (``[long]$x``), a literal, or an array built from hashtables (object fields are the hashtable keys,
  also inside private helpers that the value calls).
* An object parameter's value is a hashtable: a literal (``@{ url = $LdapUrl }``, ``@{}``) or a
  variable assigned one (``$ldap = @{ url = $LdapUrl }``) plus ``$ldap['baseDn'] = $LdapBaseDn``
  assignments. Its fields are read like the params' own keys: each is checked against the declared
  fields (name, JSON type, enum), required fields must be sent unconditionally or from a mandatory
  parameter, and ``@{}`` is allowed only where ``rpc.describe`` says ``emptyRemoves``.

Every check returns a list of problems (``file:line: message``); the tests assert it is empty for
the module and non-empty for the deliberately broken fixtures in ``tests/powershell_fixtures``.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import tree_sitter
import tree_sitter_pwsh

ROOT = Path(__file__).resolve().parent.parent
MODULE_DIRS = ("cmdlets", "examples", "pester")
MANIFEST = ROOT / "BitsCompactServer.psd1"
ROOT_MODULE = ROOT / "BitsCompactServer.psm1"

# Verbs whose cmdlets change state: SupportsShouldProcess and a $PSCmdlet.ShouldProcess call.
STATE_CHANGING_VERBS = {
    "New",
    "Set",
    "Add",
    "Remove",
    "Start",
    "Stop",
    "Suspend",
    "Resume",
    "Complete",
    "Import",
    "Register",
    "Unregister",
}
HIGH_IMPACT_VERBS = {"Remove", "Stop", "Unregister"}
# Methods that only read: every other method call must sit inside an `if ($PSCmdlet.ShouldProcess(...))`.
READ_ONLY_METHODS = re.compile(r"\.(status|get|list|describe|wait|export)$")
IDENTITY_PARAMETERS = {"JobId", "UrlGroup", "UrlSuffix", "Port", "SessionId"}
FORBIDDEN_COMMANDS = {"Write-Host"}
# Built-in aliases of Windows PowerShell 5.1 and PowerShell 7 (full names only in scripts).
_ALIAS_NAMES = """
    % ? ac asnp cat cd chdir clc clear clhy cli clp cls clv cnsn compare copy cp cpi cpp curl cvpa dbp del
    diff dir dnsn ebp echo epal epcsv epsn erase etsn exsn fc fhx fl foreach ft fw gal gbp gc gcb gci gcm
    gcs gdr ghy gi gin gjb gl gm gmo gp gps gpv group gsn gsnp gsv gtz gu gv gwmi h history icm iex ihy ii
    ipal ipcsv ipmo ipsn irm ise iwmi iwr kill lp ls man md measure mi mount move mp mv nal ndr ni nmo
    npssc nsn nv ogv oh popd ps pushd pwd r rbp rcjb rcsn rd rdr ren ri rjb rm rmdir rmo rni rnp rp rsn
    rsnp rujb rv rvpa rwmi sajb sal saps sasv sbp sc scb select set shcm si sl sleep sls sort sp spjb
    spps spsv start stz sujb sv swmi tee trcm type wget where wjb write
    """
ALIASES = set(_ALIAS_NAMES.split())
JSON_TYPES = {
    "string": "string",
    "char": "string",
    "int": "integer",
    "int32": "integer",
    "int64": "integer",
    "long": "integer",
    "uint32": "integer",
    "uint64": "integer",
    "int16": "integer",
    "uint16": "integer",
    "byte": "integer",
    "double": "number",
    "single": "number",
    "float": "number",
    "decimal": "number",
    "bool": "boolean",
    "boolean": "boolean",
    "hashtable": "object",
    "pscustomobject": "object",
    "system.collections.idictionary": "object",
}

_LANGUAGE = tree_sitter.Language(tree_sitter_pwsh.language())


def parser() -> tree_sitter.Parser:
    return tree_sitter.Parser(_LANGUAGE)


def powershell_files(root: Path = ROOT) -> list[Path]:
    """Every PowerShell file of the module (manifest, root module, cmdlets, examples, Pester tests)."""
    files = [p for p in (root / "BitsCompactServer.psd1", root / "BitsCompactServer.psm1") if p.exists()]
    for d in MODULE_DIRS:
        for ext in ("*.ps1", "*.psm1", "*.psd1"):
            files += sorted((root / d).rglob(ext))
    return files


def rel(path: Path) -> str:
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


@cache
def _parse_cached(path: Path, mtime_ns: int) -> tuple[bytes, tree_sitter.Tree]:
    source = path.read_bytes()
    return source, parser().parse(source)


def parse(path: Path) -> tuple[bytes, tree_sitter.Tree]:
    return _parse_cached(path, path.stat().st_mtime_ns)


def walk(node: tree_sitter.Node) -> Iterator[tree_sitter.Node]:
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        stack.extend(reversed(n.children))


def text(source: bytes, node: tree_sitter.Node) -> str:
    return source[node.start_byte : node.end_byte].decode("utf-8", "replace")


def line(node: tree_sitter.Node) -> int:
    return node.start_point[0] + 1


def syntax_problems(path: Path) -> list[str]:
    """ERROR and MISSING nodes, as ``file:line:column: ...``."""
    source, tree = parse(path)
    problems = []
    for n in walk(tree.root_node):
        if n.type == "ERROR" or n.is_missing:
            kind = f"missing {n.type}" if n.is_missing else "syntax error"
            snippet = text(source, n)[:40].replace("\n", "\\n")
            problems.append(f"{rel(path)}:{line(n)}:{n.start_point[1] + 1}: {kind} near {snippet!r}")
        elif n.type == "script_parameter_default" and any(
            c.type == "array_literal_expression" and _find_first(c, "cast_expression") is not None
            for c in n.children
        ):
            # `[int]$A = 1, [int]$B` is two parameters to PowerShell but one to tree-sitter-pwsh.
            problems.append(
                f"{rel(path)}:{line(n)}: a parameter after a default value must start with an attribute "
                "([Parameter()]), or tree-sitter-pwsh reads both as one parameter"
            )
    return problems


def unquote(literal: str) -> str:
    literal = literal.strip()
    if len(literal) >= 2 and literal[0] == literal[-1] and literal[0] in "'\"":
        return literal[1:-1]
    return literal


# --- functions ------------------------------------------------------------------------------------


@dataclass
class ParameterSetEntry:
    """One ``[Parameter(...)]`` attribute: how the parameter behaves in one parameter set."""

    set_name: str | None  # None: every parameter set (no ParameterSetName)
    position: int | None
    mandatory: bool
    from_pipeline: bool  # ValueFromPipeline
    by_property_name: bool  # ValueFromPipelineByPropertyName


@dataclass
class Parameter:
    name: str
    type: str | None  # the type constraint as written, lower-case, without brackets ("string[]")
    attributes: dict[str, list[str]]  # attribute name -> argument texts ("Parameter" -> ["Mandatory", ...])
    line: int
    set_entries: list[ParameterSetEntry] = field(default_factory=list)
    default: str | None = None  # the default value as written ("'Negotiate'"), None without one

    def has(self, attribute: str, argument: str) -> bool:
        args = self.attributes.get(attribute, [])
        return any(a == argument or a.replace(" ", "").startswith(f"{argument}=$true") for a in args)

    @property
    def mandatory(self) -> bool:
        return self.has("Parameter", "Mandatory")

    @property
    def validate_set(self) -> list[str] | None:
        args = self.attributes.get("ValidateSet")
        return [unquote(a) for a in args] if args is not None else None


@dataclass
class ParamKey:
    """One key of the params hashtable of an RPC call."""

    key: str
    value: str  # the value expression, as written
    node: tree_sitter.Node
    line: int
    unconditional: bool  # set in the hashtable literal itself (always sent)
    # The private helper that assigns the key (``$Params['key'] = ...`` on the hashtable the cmdlet
    # passes as ``-Params $params``); its parameters, not the cmdlet's, type the value.
    owner: Function | None = None


@dataclass
class RpcCall:
    method: str | None
    line: int
    node: tree_sitter.Node
    params_source: str | None  # "$params", "@{...}" or None
    keys: list[ParamKey] = field(default_factory=list)


@dataclass
class Function:
    name: str
    path: Path
    source: bytes
    node: tree_sitter.Node
    help: dict[str, list[str]]  # ".SYNOPSIS" -> [text], ".PARAMETER" -> [names], ".EXAMPLE" -> [texts]
    cmdlet_binding: list[str] | None
    output_types: list[str]
    parameters: list[Parameter]

    @property
    def verb(self) -> str:
        return self.name.split("-", 1)[0]

    def line_of(self, node: tree_sitter.Node) -> str:
        return f"{rel(self.path)}:{line(node)}"

    def parameter(self, name: str) -> Parameter | None:
        for p in self.parameters:
            if p.name.lower() == name.lower():
                return p
        return None

    def commands(self) -> Iterator[tuple[str, tree_sitter.Node]]:
        for n in walk(self.node):
            if n.type == "command_name":
                yield text(self.source, n), n

    def has_process_block(self) -> bool:
        return any(
            n.type == "block_name" and text(self.source, n).lower() == "process" for n in walk(self.node)
        )

    def should_process_calls(self) -> list[tree_sitter.Node]:
        return [
            n
            for n in walk(self.node)
            if n.type == "invocation_expression"
            and re.match(r"\$PSCmdlet\s*\.\s*ShouldProcess\s*\(", text(self.source, n), re.IGNORECASE)
        ]

    def rpc_calls(self, functions: dict[str, Function] | None = None) -> list[RpcCall]:
        """The Invoke-BcsRpc calls; with ``functions``, also the keys that private helpers add to
        the params hashtable passed to them (``Add-BcsJobSetting -Params $params``)."""
        return [
            self._rpc_call(n, functions)
            for n in walk(self.node)
            if n.type == "command" and self._command_name(n) == "Invoke-BcsRpc"
        ]

    def helper_keys(
        self, var: str, functions: dict[str, Function], seen: frozenset[str] = frozenset()
    ) -> list[ParamKey]:
        """Keys that private helpers called with ``-Params <var>`` assign to their -Params (and on)."""
        keys: list[ParamKey] = []
        for n in walk(self.node):
            if n.type != "command":
                continue
            helper = functions.get(self._command_name(n) or "")
            if helper is None or helper.path.parent.name != "private" or helper.name in seen:
                continue
            for arg, value in _command_arguments(self.source, n).items():
                if (
                    value.type == "command_parameter"
                    or text(self.source, value).strip().lower() != var.lower()
                ):
                    continue
                declared = helper.parameter(arg.lstrip("-"))
                if declared is None:
                    continue
                target = f"${declared.name}"
                keys += [
                    ParamKey(k.key, k.value, k.node, k.line, unconditional=False, owner=helper)
                    for k in helper._assigned_keys(target)
                ]
                keys += helper.helper_keys(target, functions, seen | {self.name, helper.name})
        return keys

    def _assigned_keys(self, var: str) -> list[ParamKey]:
        """``<var>['key'] = value`` assignments in this function (conditional keys)."""
        keys = []
        for assignment in (n for n in walk(self.node) if n.type == "assignment_expression"):
            left = assignment.child_by_field_name("left") or assignment.children[0]
            value = assignment.children[-1]
            m = re.fullmatch(r"(\$\w+)\[\s*'([^']+)'\s*\]", text(self.source, left).strip())
            if m and m.group(1).lower() == var.lower():
                keys.append(
                    ParamKey(m.group(2), text(self.source, value).strip(), value, line(assignment), False)
                )
        return keys

    # --- internals ---
    def _command_name(self, command: tree_sitter.Node) -> str | None:
        for c in command.children:
            if c.type == "command_name":
                return text(self.source, c)
        return None

    def _rpc_call(self, command: tree_sitter.Node, functions: dict[str, Function] | None = None) -> RpcCall:
        args = _command_arguments(self.source, command)
        method = args.get("-method")
        params = args.get("-params")
        call = RpcCall(
            method=unquote(text(self.source, method)) if method is not None else None,
            line=line(command),
            node=command,
            params_source=text(self.source, params) if params is not None else None,
        )
        if params is None:
            return call
        literal = _find_first(params, "hash_literal_expression")
        if literal is not None:
            call.keys = _hash_keys(self.source, literal, unconditional=True)
            return call
        var = text(self.source, params).strip()
        for assignment in (n for n in walk(self.node) if n.type == "assignment_expression"):
            left = assignment.child_by_field_name("left") or assignment.children[0]
            left_text = text(self.source, left).strip()
            value = assignment.children[-1]
            if left_text.lower() == var.lower():
                literal = _find_first(value, "hash_literal_expression")
                if literal is not None and _is_direct_hash(self.source, value):
                    call.keys += _hash_keys(self.source, literal, unconditional=True)
        call.keys += self._assigned_keys(var)
        if functions is not None:
            call.keys += self.helper_keys(var, functions)
        return call


def _find_first(node: tree_sitter.Node, node_type: str) -> tree_sitter.Node | None:
    for n in walk(node):
        if n.type == node_type:
            return n
    return None


def _is_direct_hash(source: bytes, value: tree_sitter.Node) -> bool:
    return text(source, value).strip().startswith(("@{", "[ordered]@{", "[ordered] @{"))


def _hash_keys(source: bytes, literal: tree_sitter.Node, unconditional: bool) -> list[ParamKey]:
    keys = []
    body = next((c for c in literal.children if c.type == "hash_literal_body"), None)
    if body is None:
        return keys
    for entry in body.children:
        if entry.type != "hash_entry":
            continue
        key_node = next(c for c in entry.children if c.type == "key_expression")
        value = entry.children[-1]
        keys.append(
            ParamKey(
                unquote(text(source, key_node)),
                text(source, value).strip(),
                value,
                line(entry),
                unconditional,
            )
        )
    return keys


def _command_arguments(source: bytes, command: tree_sitter.Node) -> dict[str, tree_sitter.Node]:
    """``-Name value`` pairs of a command (lower-case names)."""
    out: dict[str, tree_sitter.Node] = {}
    elements = next((c for c in command.children if c.type == "command_elements"), None)
    if elements is None:
        return out
    pending: str | None = None
    for c in elements.children:
        if c.type == "command_argument_sep":
            continue
        if c.type == "command_parameter":
            pending = text(source, c).rstrip(":").lower()
            out[pending] = c
            continue
        if pending is not None:
            out[pending] = c
            pending = None
    return out


def _attribute_parts(source: bytes, attribute: tree_sitter.Node) -> tuple[str | None, str | None, list[str]]:
    """(type constraint, attribute name, argument texts) of one attribute node."""
    type_literal = next((c for c in attribute.children if c.type == "type_literal"), None)
    if type_literal is not None:
        return text(source, type_literal)[1:-1].strip().lower(), None, []
    name_node = next((c for c in attribute.children if c.type == "attribute_name"), None)
    args_node = next((c for c in attribute.children if c.type == "attribute_arguments"), None)
    args: list[str] = []
    if args_node is not None:
        for a in args_node.children:
            if a.type != "attribute_argument":
                continue
            array = next((c for c in a.children if c.type == "array_literal_expression"), None)
            if array is not None:
                args += [text(source, c).strip() for c in array.children if c.type != ","]
            else:
                args.append(text(source, a).strip())
    return None, text(source, name_node) if name_node is not None else None, args


def _help_sections(comment: str) -> dict[str, list[str]]:
    sections: dict[str, list[str]] = {}
    current: str | None = None
    buf: list[str] = []

    def flush() -> None:
        if current is not None:
            sections.setdefault(current, []).append("\n".join(buf).strip())

    for raw in comment.strip().removeprefix("<#").removesuffix("#>").splitlines():
        m = re.match(r"\s*\.([A-Za-z]+)\s*(.*)$", raw)
        if m and m.group(1).upper() in {
            "SYNOPSIS", "DESCRIPTION", "PARAMETER", "EXAMPLE", "OUTPUTS", "INPUTS", "NOTES", "LINK",
        }:  # fmt: skip
            flush()
            current = "." + m.group(1).upper()
            buf = [m.group(2).strip()] if current != ".PARAMETER" else []
            if current == ".PARAMETER":
                sections.setdefault(".PARAMETER", []).append(m.group(2).strip())
                current = ".PARAMETER_TEXT"
            continue
        buf.append(raw.strip())
    flush()
    return sections


def functions_in(path: Path) -> list[Function]:
    source, tree = parse(path)
    out = []
    for n in walk(tree.root_node):
        if n.type != "function_statement":
            continue
        name_node = next(c for c in n.children if c.type == "function_name")
        comment = next(
            (c for c in n.children if c.type == "comment" and text(source, c).startswith("<#")), None
        )
        out.append(_function(path, source, n, text(source, name_node), comment))
    return out


def script_function(path: Path) -> Function:
    """A script (examples/*.ps1) read as a function: its top-level help and param block."""
    source, tree = parse(path)
    comment = next(
        (c for c in tree.root_node.children if c.type == "comment" and text(source, c).startswith("<#")), None
    )
    return _function(path, source, tree.root_node, path.stem, comment)


def _function(
    path: Path, source: bytes, n: tree_sitter.Node, name: str, comment: tree_sitter.Node | None
) -> Function:
    help_ = _help_sections(text(source, comment)) if comment is not None else {}
    binding: list[str] | None = None
    outputs: list[str] = []
    parameters: list[Parameter] = []
    param_block = _find_first(n, "param_block")
    if param_block is not None:
        attrs = next((c for c in param_block.children if c.type == "attribute_list"), None)
        for attribute in attrs.children if attrs is not None else []:
            _, attr_name, args = _attribute_parts(source, attribute)
            if attr_name == "CmdletBinding":
                binding = args
            elif attr_name == "OutputType":
                outputs += args
        plist = next((c for c in param_block.children if c.type == "parameter_list"), None)
        for sp in plist.children if plist is not None else []:
            if sp.type != "script_parameter":
                continue
            var = next(c for c in sp.children if c.type == "variable")
            ptype: str | None = None
            attributes: dict[str, list[str]] = {}
            alist = next((c for c in sp.children if c.type == "attribute_list"), None)
            entries: list[ParameterSetEntry] = []
            for attribute in alist.children if alist is not None else []:
                type_, attr_name, args = _attribute_parts(source, attribute)
                if type_ is not None:
                    ptype = type_
                elif attr_name is not None:
                    attributes.setdefault(attr_name, []).extend(args)
                    if attr_name.lower() == "parameter":
                        entries.append(_set_entry(args))
            if not entries:
                entries.append(_set_entry([]))  # a parameter without [Parameter()] is in every set
            default_node = next((c for c in sp.children if c.type == "script_parameter_default"), None)
            default = text(source, default_node.children[-1]).strip() if default_node is not None else None
            parameters.append(Parameter(text(source, var)[1:], ptype, attributes, line(sp), entries, default))
    return Function(name, path, source, n, help_, binding, outputs, parameters)


def _named_arguments(args: list[str]) -> dict[str, str]:
    """``Name = value`` / ``Name`` attribute arguments as lower-case name -> value text ("$true")."""
    out: dict[str, str] = {}
    for a in args:
        m = re.fullmatch(r"(\w+)\s*(?:=\s*(.+))?", a.strip(), re.DOTALL)
        if m:
            out[m.group(1).lower()] = (m.group(2) or "$true").strip()
    return out


def _set_entry(args: list[str]) -> ParameterSetEntry:
    named = _named_arguments(args)
    position = named.get("position")
    set_name = named.get("parametersetname")
    return ParameterSetEntry(
        set_name=unquote(set_name) if set_name is not None else None,
        position=int(position) if position is not None and re.fullmatch(r"\d+", position) else None,
        mandatory=named.get("mandatory", "$false").lower() == "$true",
        from_pipeline=named.get("valuefrompipeline", "$false").lower() == "$true",
        by_property_name=named.get("valuefrompipelinebypropertyname", "$false").lower() == "$true",
    )


def cmdlet_files(root: Path = ROOT) -> list[Path]:
    return sorted((root / "cmdlets").glob("*.ps1"))


def private_files(root: Path = ROOT) -> list[Path]:
    return sorted((root / "cmdlets" / "private").glob("*.ps1"))


def module_functions(root: Path = ROOT) -> dict[str, Function]:
    out: dict[str, Function] = {}
    for path in [*private_files(root), *cmdlet_files(root)]:
        for f in functions_in(path):
            out[f.name] = f
    return out


# --- structure checks -----------------------------------------------------------------------------


def layout_problems(paths: list[Path], private: bool = False) -> list[str]:
    """``X.ps1`` defines exactly ``function X`` and nothing else at the top level."""
    problems = []
    for path in paths:
        source, tree = parse(path)
        functions = functions_in(path)
        if private and not functions and path.stem == "ModuleSettings":
            for statement in tree.root_node.children[0].children if tree.root_node.children else []:
                if statement.type != "comment" and not text(source, statement).lstrip().startswith(
                    "$script:"
                ):
                    problems.append(
                        f"{rel(path)}:{line(statement)}: settings files only assign $script: variables"
                    )
            continue
        names = [f.name for f in functions]
        if names != [path.stem]:
            problems.append(f"{rel(path)}:1: must define exactly function {path.stem}, defines {names}")
        top = [
            c
            for c in (tree.root_node.children[0].children if tree.root_node.children else [])
            if c.type != "comment"
        ]
        if any(c.type != "function_statement" for c in top):
            problems.append(f"{rel(path)}:1: code outside the function")
    return problems


def help_problems(f: Function) -> list[str]:
    problems = []
    where = f"{rel(f.path)}:{line(f.node)}: {f.name}"
    for section in (".SYNOPSIS", ".DESCRIPTION", ".EXAMPLE", ".OUTPUTS"):
        if not any(t.strip() for t in f.help.get(section, [])):
            problems.append(f"{where}: help lacks {section}")
    documented = {p.lower() for p in f.help.get(".PARAMETER", [])}
    for p in f.parameters:
        if p.name.lower() not in documented:
            problems.append(f"{where}: help lacks .PARAMETER {p.name}")
    declared = {p.name.lower() for p in f.parameters}
    for d in sorted(documented - declared):
        problems.append(f"{where}: help documents .PARAMETER {d}, which is not a parameter")
    if f.cmdlet_binding is None:
        problems.append(f"{where}: lacks [CmdletBinding()]")
    if not f.output_types:
        problems.append(f"{where}: lacks [OutputType()]")
    return problems


def should_process_problems(f: Function, functions: dict[str, Function] | None = None) -> list[str]:
    """State-changing cmdlets support -WhatIf/-Confirm and call the engine only when approved.

    A private helper that changes state may do so outside ShouldProcess only if every call of
    the helper in the module sits inside one.
    """
    problems = []
    where = f"{rel(f.path)}:{line(f.node)}: {f.name}"
    binding = [a.replace(" ", "") for a in f.cmdlet_binding or []]
    supports = any(a in ("SupportsShouldProcess", "SupportsShouldProcess=$true") for a in binding)
    public = f.path.parent.name == "cmdlets"
    if public and f.verb in STATE_CHANGING_VERBS:
        if not supports:
            problems.append(
                f"{where}: state-changing verb {f.verb} needs [CmdletBinding(SupportsShouldProcess)]"
            )
        if not f.should_process_calls():
            problems.append(f"{where}: never calls $PSCmdlet.ShouldProcess(target, action)")
    if public and f.verb in HIGH_IMPACT_VERBS and "ConfirmImpact='High'" not in binding:
        problems.append(f"{where}: {f.verb} cmdlets need ConfirmImpact = 'High'")
    for call in f.rpc_calls():
        if call.method is None or READ_ONLY_METHODS.search(call.method):
            continue
        if _inside_should_process(f, call.node):
            continue
        if not public and functions is not None:
            sites = [
                (caller, node)
                for caller in functions.values()
                for name, node in caller.commands()
                if name == f.name
            ]
            unguarded = [
                caller.line_of(node) for caller, node in sites if not _inside_should_process(caller, node)
            ]
            if sites and not unguarded:
                continue
            if unguarded:
                problems.append(
                    f"{rel(f.path)}:{call.line}: {call.method} changes state; these calls of {f.name} are outside ShouldProcess: {unguarded}"
                )
                continue
        problems.append(
            f"{rel(f.path)}:{call.line}: {call.method} changes state outside if ($PSCmdlet.ShouldProcess(...))"
        )
    return problems


def _inside_should_process(f: Function, node: tree_sitter.Node) -> bool:
    n = node.parent
    while n is not None:
        if n.type in ("if_statement", "elseif_clause"):
            condition = next((c for c in n.children if c.type == "pipeline"), None)
            if condition is not None and "ShouldProcess" in text(f.source, condition):
                return True
        n = n.parent
    return False


def command_problems(f: Function) -> list[str]:
    problems = []
    for name, node in f.commands():
        if name in FORBIDDEN_COMMANDS:
            problems.append(
                f"{f.line_of(node)}: {name} is not allowed (write objects, Write-Verbose or Write-Information)"
            )
        elif name.lower() in ALIASES:
            problems.append(f"{f.line_of(node)}: alias {name!r}: use the full cmdlet name")
    return problems


def pipeline_problems(f: Function) -> list[str]:
    problems: list[str] = []
    if f.path.parent.name != "cmdlets":
        return problems
    for p in f.parameters:
        if p.name in IDENTITY_PARAMETERS and not p.has("Parameter", "ValueFromPipelineByPropertyName"):
            problems.append(
                f"{rel(f.path)}:{p.line}: {f.name} -{p.name} must bind ValueFromPipelineByPropertyName"
            )
    pipeline_bound = any(
        p.has("Parameter", "ValueFromPipelineByPropertyName") or p.has("Parameter", "ValueFromPipeline")
        for p in f.parameters
    )
    if pipeline_bound and not f.has_process_block():
        problems.append(
            f"{rel(f.path)}:{line(f.node)}: {f.name} takes pipeline input but has no process {{}} block"
        )
    return problems


# --- manifest -------------------------------------------------------------------------------------


def manifest_entries(path: Path = MANIFEST) -> dict[str, Any]:
    """Top-level and PrivateData.PSData keys of the manifest: strings, and lists of strings."""
    source, tree = parse(path)
    out: dict[str, Any] = {}
    for entry in (n for n in walk(tree.root_node) if n.type == "hash_entry"):
        key = unquote(text(source, next(c for c in entry.children if c.type == "key_expression")))
        value = entry.children[-1]
        strings = [
            unquote(text(source, s))
            for s in walk(value)
            if s.type == "string_literal" and _find_first(value, "hash_literal_expression") is None
        ]
        raw = text(source, value).strip()
        if raw.startswith("@(") or "," in raw:
            out[key] = strings
        elif strings:
            out[key] = strings[0]
        else:
            out[key] = raw
    return out


def manifest_problems(root: Path = ROOT) -> list[str]:
    problems = []
    m = manifest_entries(root / "BitsCompactServer.psd1")
    exported = m.get("FunctionsToExport")
    files = sorted(p.stem for p in cmdlet_files(root))
    if not isinstance(exported, list):
        problems.append("BitsCompactServer.psd1: FunctionsToExport must be an explicit list")
    elif sorted(exported) != files:
        problems.append(
            f"BitsCompactServer.psd1: FunctionsToExport {sorted(set(exported) ^ set(files))} differ from cmdlets/*.ps1"
        )
    expected: dict[str, Any] = {
        "RootModule": "BitsCompactServer.psm1",
        "PowerShellVersion": "5.1",
        "CompatiblePSEditions": ["Desktop", "Core"],
        "CmdletsToExport": [],
        "AliasesToExport": [],
        "VariablesToExport": [],
    }
    for key, value in expected.items():
        if m.get(key) != value:
            problems.append(f"BitsCompactServer.psd1: {key} must be {value!r}, is {m.get(key)!r}")
    for key in ("FormatsToProcess", "TypesToProcess"):
        listed = m.get(key)
        listed = [listed] if isinstance(listed, str) else listed or []
        if not listed:
            problems.append(f"BitsCompactServer.psd1: {key} is empty")
        for item in listed:
            if not (root / item).exists():
                problems.append(f"BitsCompactServer.psd1: {key} names {item}, which does not exist")
    for key in ("ModuleVersion", "GUID", "Author", "Description", "Tags"):
        if not m.get(key):
            problems.append(f"BitsCompactServer.psd1: {key} is missing")
    return problems


# --- the contract with rpc.describe ---------------------------------------------------------------


def methods_by_name(describe: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["name"]: m for m in describe["methods"]}


@dataclass
class ValueShape:
    """What JSON a params value becomes: its type, array item type, object fields, allowed values."""

    json_type: str | None
    items: str | None = None
    fields: set[str] = field(default_factory=set)
    allowed: list[str] | None = None  # ValidateSet of the parameter behind the value
    problem: str | None = None
    # An object (a hashtable): each assignment of a field, as a key (``unconditional`` when it is
    # in the hashtable literal), and the shape of each field's value.
    field_keys: list[ParamKey] = field(default_factory=list)
    field_shapes: dict[str, ValueShape] = field(default_factory=dict)
    empty: bool = False  # a literal @{} or @()


def value_shape(f: Function, key: ParamKey, functions: dict[str, Function]) -> ValueShape:
    """Infer the JSON shape of the value a cmdlet (or the private helper that assigns the key,
    ``key.owner``) assigns to a params key, from that function's parameters and locals."""
    f = key.owner or f
    value = key.value
    m = re.fullmatch(r"\$(\w+)(\.IsPresent)?", value)
    if m:
        p = f.parameter(m.group(1))
        if p is None:
            return _local_shape(f, m.group(1), key, functions)
        if m.group(2):
            if p.type != "switch":
                return ValueShape(None, problem=f"${p.name}.IsPresent on a non-switch parameter")
            return ValueShape("boolean")
        return _type_shape(p.type, p.validate_set)
    m = re.match(r"\[([\w.]+(?:\[\])?)\]\s*[$\[(]", value)
    if m:
        return _type_shape(m.group(1).lower(), None)
    if re.fullmatch(r"'[^']*'", value):
        return ValueShape("string")
    if re.fullmatch(r"-?\d+", value):
        return ValueShape("integer")
    if value.lower() in ("$true", "$false"):
        return ValueShape("boolean")
    if value.startswith("@("):
        empty = re.fullmatch(r"@\(\s*\)", value) is not None
        return ValueShape("array", fields=_object_fields(f, key.node, functions), empty=empty)
    if _is_direct_hash(f.source, key.node):
        literal = _find_first(key.node, "hash_literal_expression")
        assert literal is not None
        return _object_shape(f, _hash_keys(f.source, literal, unconditional=True), key.owner, functions)
    return ValueShape(
        None, problem=f"cannot infer the JSON type of {value!r} (use a parameter, a cast or a literal)"
    )


def _type_shape(ps_type: str | None, validate_set: list[str] | None) -> ValueShape:
    if ps_type is None:
        return ValueShape(None, problem="parameter has no type constraint")
    if ps_type == "switch":
        return ValueShape(None, problem="a [switch] serialises as {IsPresent: ...}: send $Name.IsPresent")
    if ps_type.endswith("[]"):
        inner = JSON_TYPES.get(ps_type[:-2].lower().removeprefix("system."))
        return ValueShape("array", items=inner, allowed=validate_set)
    json_type = JSON_TYPES.get(ps_type.lower().removeprefix("system."))
    if json_type is None:
        return ValueShape(None, problem=f"[{ps_type}] has no JSON form the engine accepts")
    return ValueShape(json_type, allowed=validate_set)


def _local_shape(f: Function, var: str, key: ParamKey, functions: dict[str, Function]) -> ValueShape:
    """A local variable: an object when it is assigned a hashtable literal (its fields are that
    literal's keys and the ``$var['field'] = ...`` assignments), else an array of objects."""
    fields: set[str] = set()
    literal_keys: list[ParamKey] = []
    is_object = False
    found = False
    for assignment in (n for n in walk(f.node) if n.type == "assignment_expression"):
        left = text(f.source, assignment.children[0]).strip()
        if left.lower() == f"${var}".lower():
            found = True
            value = assignment.children[-1]
            literal = _find_first(value, "hash_literal_expression")
            if literal is not None and _is_direct_hash(f.source, value):
                is_object = True
                literal_keys += _hash_keys(f.source, literal, unconditional=True)
            else:
                fields |= _object_fields(f, value, functions)
    if not found:
        return ValueShape(None, problem=f"${var} is neither a parameter nor assigned in {f.name}")
    if is_object:
        return _object_shape(f, [*literal_keys, *f._assigned_keys(f"${var}")], key.owner, functions)
    return ValueShape("array", fields=fields)


def _object_shape(
    f: Function, keys: list[ParamKey], owner: Function | None, functions: dict[str, Function]
) -> ValueShape:
    """The shape of a hashtable sent as an object whose field assignments are ``keys``."""
    field_keys = [ParamKey(k.key, k.value, k.node, k.line, k.unconditional, owner) for k in keys]
    return ValueShape(
        "object",
        fields={k.key for k in field_keys},
        field_keys=field_keys,
        field_shapes={k.key: value_shape(f, k, functions) for k in field_keys},
        empty=not field_keys,
    )


def _object_fields(f: Function, node: tree_sitter.Node, functions: dict[str, Function]) -> set[str]:
    """Keys of hashtables built in ``node``, and in the private helpers it calls."""
    fields: set[str] = set()
    for n in walk(node):
        if n.type == "hash_literal_expression":
            fields |= {k.key for k in _hash_keys(f.source, n, True)}
        elif n.type == "command_name":
            helper = functions.get(text(f.source, n))
            if helper is not None and helper.path.parent.name == "private":
                body = _find_first(helper.node, "script_block_body") or helper.node
                for h in walk(body):
                    if h.type == "hash_literal_expression":
                        fields |= {k.key for k in _hash_keys(helper.source, h, True)}
    return fields


def contract_problems(functions: dict[str, Function], describe: dict[str, Any]) -> list[str]:
    """Every RPC call names a declared method, with declared keys of compatible types and values."""
    methods = methods_by_name(describe)
    problems = []
    for f in functions.values():
        if f.name == "Invoke-BcsRpc":
            continue
        for call in f.rpc_calls(functions):
            where = f"{rel(f.path)}:{call.line}: {f.name}"
            if call.method is None:
                problems.append(f"{where}: Invoke-BcsRpc without a literal -Method")
                continue
            method = methods.get(call.method)
            if method is None:
                problems.append(f"{where}: method {call.method!r} is not in rpc.describe")
                continue
            if call.params_source is not None and not call.keys:
                problems.append(f"{where}: cannot find the keys of -Params {call.params_source}")
            declared = {p["name"]: p for p in method["params"]}
            for key in call.keys:
                owner = key.owner or f
                via = f" (via {f.name})" if key.owner is not None else ""
                kwhere = f"{rel(owner.path)}:{key.line}: {owner.name}{via} {call.method}"
                param = declared.get(key.key)
                if param is None:
                    problems.append(
                        f"{kwhere}: key {key.key!r} is not a parameter of {call.method} ({', '.join(declared)})"
                    )
                    continue
                problems += _value_problems(f, key, key.key, param, functions, kwhere, call.method)
            sent = {k.key: k for k in call.keys}
            for p in method["params"]:
                if not p["required"]:
                    continue
                key = sent.get(p["name"])
                if key is None:
                    problems.append(f"{where}: {call.method} requires {p['name']!r}, never sent")
                elif not key.unconditional:
                    source_param = re.fullmatch(r"\$(\w+)", key.value)
                    bound = (key.owner or f).parameter(source_param.group(1)) if source_param else None
                    if bound is None or not bound.mandatory:
                        problems.append(f"{where}: required {p['name']!r} is only sent conditionally")
    return problems


def _value_problems(
    f: Function,
    key: ParamKey,
    name: str,
    param: dict[str, Any],
    functions: dict[str, Function],
    kwhere: str,
    method: str,
) -> list[str]:
    """What is wrong with the value ``key`` sends for the declared parameter (or object field)
    ``param``: its JSON type, array items, allowed values and object fields. ``name`` is the place
    in the params (``ldap.cacheSeconds``)."""
    problems: list[str] = []
    shape = value_shape(f, key, functions)
    if shape.problem:
        return [f"{kwhere}: {name}: {shape.problem}"]
    compatible = shape.json_type == param["type"] or (
        shape.json_type == "integer" and param["type"] == "number"
    )
    if not compatible:
        problems.append(f"{kwhere}: {name} is sent as {shape.json_type}, declared {param['type']}")
    if param.get("items") and shape.items and shape.items != param["items"]:
        problems.append(f"{kwhere}: {name} items are {shape.items}, declared {param['items']}")
    if param.get("enum") and shape.allowed:
        extra = sorted(set(shape.allowed) - set(param["enum"]))
        if extra:
            problems.append(f"{kwhere}: ValidateSet of {name} allows {extra}, not in {param['enum']}")
    if "fields" not in param or not compatible:
        return problems
    if param["type"] == "object":
        return problems + _object_field_problems(f, name, shape, param, functions, method)
    if shape.empty:
        return problems  # @(): no objects, so no fields to check
    known = {x["name"] for x in param["fields"]}
    if not shape.fields:
        problems.append(f"{kwhere}: cannot find the fields of the objects in {name}")
    for extra_field in sorted(shape.fields - known):
        problems.append(f"{kwhere}: {name} field {extra_field!r} is not declared ({', '.join(known)})")
    for x in param["fields"]:
        if x["required"] and x["name"] not in shape.fields:
            problems.append(f"{kwhere}: {name} objects lack required field {x['name']!r}")
    return problems


def _object_field_problems(
    f: Function,
    name: str,
    shape: ValueShape,
    param: dict[str, Any],
    functions: dict[str, Function],
    method: str,
) -> list[str]:
    """The fields of a hashtable sent as the object parameter ``param``: each one declared and of
    its declared type; the required ones sent always, or from a mandatory parameter; ``@{}`` only
    where the method declares that an empty object removes the setting (``emptyRemoves``)."""
    problems: list[str] = []
    declared = {x["name"]: x for x in param["fields"]}
    for fk in shape.field_keys:
        owner = fk.owner or f
        via = f" (via {f.name})" if fk.owner is not None else ""
        fwhere = f"{rel(owner.path)}:{fk.line}: {owner.name}{via} {method}"
        decl = declared.get(fk.key)
        if decl is None:
            problems.append(f"{fwhere}: {name} field {fk.key!r} is not declared ({', '.join(declared)})")
            continue
        problems += _value_problems(f, fk, f"{name}.{fk.key}", decl, functions, fwhere, method)
    if shape.empty and param.get("emptyRemoves"):
        return problems
    by_name: dict[str, list[ParamKey]] = {}
    for fk in shape.field_keys:
        by_name.setdefault(fk.key, []).append(fk)
    first = shape.field_keys[0] if shape.field_keys else None
    for x in param["fields"]:
        if not x["required"]:
            continue
        sent = by_name.get(x["name"])
        if not sent:
            where = f"{rel(f.path)}:{first.line if first else line(f.node)}: {f.name} {method}"
            empty = " (@{} is not declared emptyRemoves)" if shape.empty else ""
            problems.append(f"{where}: {name} lacks required field {x['name']!r}{empty}")
        elif not any(k.unconditional for k in sent) and not all(_from_mandatory(f, k) for k in sent):
            where = f"{rel(f.path)}:{sent[0].line}: {f.name} {method}"
            problems.append(f"{where}: required {name}.{x['name']} is only sent conditionally")
    return problems


def _from_mandatory(f: Function, key: ParamKey) -> bool:
    """Whether ``key``'s value comes from a mandatory parameter (``$X``, ``[string]$X.UserName``)."""
    m = re.match(r"(?:\[[\w.]+(?:\[\])?\]\s*)?\$(\w+)", key.value)
    p = (key.owner or f).parameter(m.group(1)) if m else None
    return p is not None and p.mandatory


def coverage_problems(functions: dict[str, Function], describe: dict[str, Any]) -> list[str]:
    """Each method's cmdlet (rpc.describe ``cmdlet``) exists and calls that method."""
    problems = []
    for method in describe["methods"]:
        cmdlet = method["cmdlet"]
        if not cmdlet:
            continue
        f = functions.get(cmdlet)
        if f is None or f.path.parent.name != "cmdlets":
            problems.append(f"{method['name']}: its cmdlet {cmdlet} does not exist (cmdlets/{cmdlet}.ps1)")
            continue
        if method["name"] not in {c.method for c in reachable_calls(f, functions)}:
            problems.append(
                f"{method['name']}: {cmdlet} never calls Invoke-BcsRpc -Method '{method['name']}'"
            )
    return problems


def reachable_calls(f: Function, functions: dict[str, Function]) -> list[RpcCall]:
    """RPC calls of a cmdlet, including those of the private helpers it calls (and theirs)."""
    calls: list[RpcCall] = []
    seen: set[str] = set()
    pending = [f]
    while pending:
        current = pending.pop()
        if current.name in seen:
            continue
        seen.add(current.name)
        calls += current.rpc_calls(functions)
        for name, _ in current.commands():
            helper = functions.get(name)
            if helper is not None and helper.path.parent.name == "private" and helper.name != "Invoke-BcsRpc":
                pending.append(helper)
    return calls


# --- the JSON a cmdlet sends ------------------------------------------------------------------------


def sample_params(
    f: Function,
    call: RpcCall,
    method: dict[str, Any],
    functions: dict[str, Function],
    known: dict[str, Any],
    every_key: bool = True,
    only: set[str] | None = None,
) -> dict[str, Any]:
    """The params object the cmdlet's call sends, with sample values of the cmdlet's JSON types.

    ``known`` gives values for keys whose content matters (``urlGroup``, ``jobId``, paths, ``yaml``);
    other values follow the type the cmdlet sends and the declared constraints. With
    ``every_key=False`` only the keys a minimal invocation sends (hashtable literal and keys fed by
    mandatory parameters); ``only`` adds just those optional keys (the parameters a user bound).
    """
    declared = {p["name"]: p for p in method["params"]}
    out: dict[str, Any] = {}
    for key in call.keys:
        if only is not None and key.key in only:
            pass
        elif (not every_key or only is not None) and not key.unconditional:
            source = re.fullmatch(r"\$(\w+)", key.value)
            bound = (key.owner or f).parameter(source.group(1)) if source else None
            if bound is None or not bound.mandatory:
                continue
        shape = value_shape(f, key, functions)
        out[key.key] = _sample(key.key, shape, declared.get(key.key, {}), known)
    return out


@dataclass(frozen=True)
class ByType:
    """A known sample value that depends on the declared JSON type of the parameter."""

    values: dict[str, Any]


def _sample(name: str, shape: ValueShape, decl: dict[str, Any], known: dict[str, Any]) -> Any:
    if name in known:
        value = known[name]
        if isinstance(value, ByType):  # one name, two methods, two types (sha256: url.create, files[])
            return value.values[decl.get("type") or shape.json_type or "string"]
        return value
    json_type = shape.json_type
    if json_type == "object" and shape.field_keys:
        fields = {x["name"]: x for x in decl.get("fields") or []}
        return {n: _sample(n, s, fields.get(n, {}), known) for n, s in sorted(shape.field_shapes.items())}
    if json_type == "object":
        return {}
    if json_type == "array" and shape.empty:
        return []
    if json_type == "array":
        if decl.get("fields"):
            fields = {x["name"]: x for x in decl["fields"]}
            return [
                {
                    n: _sample(
                        n,
                        ValueShape(fields[n]["type"] if n in fields else "string"),
                        fields.get(n, {}),
                        known,
                    )
                    for n in sorted(shape.fields)
                }
            ]
        if shape.allowed:
            return [shape.allowed[0]]
        item = {"integer": 1, "number": 1, "boolean": True}.get(shape.items or "string", "contract")
        return [item]
    if shape.allowed:
        return shape.allowed[0]
    if decl.get("enum"):
        return decl["enum"][0]
    if json_type == "string":
        return "contract"
    if json_type in ("integer", "number"):
        for candidate in (decl.get("default"), decl.get("minimum"), 1):
            if isinstance(candidate, (int, float)) and not isinstance(candidate, bool):
                return int(candidate) if json_type == "integer" else candidate
    if json_type == "boolean":
        return False
    return None


def script_command_problems(path: Path) -> list[str]:
    """Write-Host and aliases anywhere in a script (examples, Pester tests)."""
    source, tree = parse(path)
    problems = []
    for n in walk(tree.root_node):
        if n.type != "command_name":
            continue
        name = text(source, n)
        if name in FORBIDDEN_COMMANDS:
            problems.append(f"{rel(path)}:{line(n)}: {name} is not allowed")
        elif name.lower() in ALIASES:
            problems.append(f"{rel(path)}:{line(n)}: alias {name!r}: use the full cmdlet name")
    return problems


# --- typos that only a run would show --------------------------------------------------------------

AUTOMATIC_VARIABLES = {
    "_", "psitem", "true", "false", "null", "pscmdlet", "psboundparameters", "psscriptroot", "pscommandpath",
    "this", "args", "input", "lastexitcode", "erroractionpreference", "confirmpreference", "whatifpreference",
    "verbosepreference", "pshome", "psversiontable", "myinvocation", "error", "host", "matches", "testdrive",
}  # fmt: skip


def variable_problems(f: Function, lists: dict[str, list[str]] | None = None) -> list[str]:
    """Variables read but never assigned (typos such as $parmas), parameters never used, and
    ``$PSBoundParameters.ContainsKey('X')`` naming no parameter.

    A parameter named in a ``$script:`` list of settings that the function loops over
    (``foreach ($name in $script:BcsJobSettingParameters)``) is used: it is forwarded by name
    (``forwarding_problems`` checks where to)."""
    problems = []
    parameters = {p.name.lower() for p in f.parameters}
    defined = set(parameters)
    forwarded = {name.lower() for _, names, _ in _forwarding_loops(f, lists) for name in names}
    param_block = _find_first(f.node, "param_block")
    for n in walk(f.node):
        if n.type == "foreach_statement":
            var = next((c for c in n.children if c.type == "variable"), None)
            if var is not None:
                defined.add(text(f.source, var)[1:].lower())
        elif n.type == "left_assignment_expression":
            defined |= {text(f.source, v)[1:].lower() for v in walk(n) if v.type == "variable"}
        elif n.type == "command":
            args = _command_arguments(f.source, n)
            for option in ("-errorvariable", "-outvariable", "-ev", "-ov"):
                if option in args:
                    defined.add(unquote(text(f.source, args[option])).lstrip("+").lower())
    used: set[str] = set()
    for n in walk(f.node):
        if n.type != "variable":
            continue
        if _is_inside(n, param_block) and n.parent is not None and n.parent.type == "script_parameter":
            continue  # the declaration itself
        name = text(f.source, n)[1:].strip("{}")
        if ":" in name:
            continue  # $script:, $env:, $global: and provider paths
        used.add(name.lower())
        if name.lower() not in defined and name.lower() not in AUTOMATIC_VARIABLES:
            problems.append(f"{f.line_of(n)}: {f.name}: ${name} is never assigned")
    for p in f.parameters:
        if p.name.lower() not in used | forwarded:
            problems.append(f"{rel(f.path)}:{p.line}: {f.name}: parameter -{p.name} is never used")
    for m in re.finditer(r"\$PSBoundParameters\.ContainsKey\('([^']+)'\)", text(f.source, f.node)):
        if m.group(1).lower() not in parameters:
            problems.append(
                f"{rel(f.path)}:{line(f.node)}: {f.name}: ContainsKey('{m.group(1)}') names no parameter"
            )
    return problems


def _is_inside(node: tree_sitter.Node, ancestor: tree_sitter.Node | None) -> bool:
    if ancestor is None:
        return False
    return ancestor.start_byte <= node.start_byte and node.end_byte <= ancestor.end_byte


def positional_problems(f: Function) -> list[str]:
    """Calls of named commands pass every argument by parameter name (no positional arguments)."""
    problems = []
    for n in walk(f.node):
        if n.type != "command" or not any(c.type == "command_name" for c in n.children):
            continue
        elements = next((c for c in n.children if c.type == "command_elements"), None)
        if elements is None:
            continue
        expecting_value = False
        for c in elements.children:
            if c.type in ("command_argument_sep", "comment"):
                continue
            if c.type == "command_parameter":
                expecting_value = True
                continue
            if c.type == "redirection" or re.match(r"@\w", text(f.source, c)):
                continue  # redirections and splatting (@arguments)
            if not expecting_value:
                name = next(text(f.source, x) for x in n.children if x.type == "command_name")
                problems.append(
                    f"{f.line_of(c)}: {name} gets the positional argument {text(f.source, c)[:40]!r}"
                )
            expecting_value = False
    return problems


COMMON_PARAMETERS = {
    "verbose", "debug", "erroraction", "warningaction", "informationaction", "progressaction", "errorvariable",
    "warningvariable", "informationvariable", "outvariable", "outbuffer", "pipelinevariable", "whatif", "confirm",
}  # fmt: skip


def call_problems(caller: Function, functions: dict[str, Function]) -> list[str]:
    """Calls of the module's own functions use their parameter names exactly and give the
    mandatory ones (unless the pipeline or another parameter set can supply them)."""
    problems = []
    for n in walk(caller.node):
        if n.type != "command":
            continue
        name_node = next((c for c in n.children if c.type == "command_name"), None)
        callee = functions.get(text(caller.source, name_node)) if name_node is not None else None
        if callee is None:
            continue
        args = _command_arguments(caller.source, n)
        declared = {p.name.lower(): p for p in callee.parameters}
        supports_should_process = any("SupportsShouldProcess" in a for a in callee.cmdlet_binding or [])
        for arg in args:
            bare = arg.lstrip("-").rstrip(":").lower()
            if bare in declared or bare in COMMON_PARAMETERS - (
                {"whatif", "confirm"} if not supports_should_process else set()
            ):
                continue
            problems.append(f"{caller.line_of(n)}: {callee.name} has no parameter {arg} (full names only)")
        piped = n.prev_named_sibling is not None or (
            n.parent is not None and n.parent.type == "pipeline_chain" and n.parent.children[0] != n
        )
        splatted = re.search(r"\s@\w", text(caller.source, n)) is not None
        for p in callee.parameters:
            if (
                not p.mandatory
                or splatted
                or "ParameterSetName" in " ".join(p.attributes.get("Parameter", []))
            ):
                continue
            from_pipeline = p.has("Parameter", "ValueFromPipeline") or p.has(
                "Parameter", "ValueFromPipelineByPropertyName"
            )
            if f"-{p.name.lower()}" not in args and not (from_pipeline and piped):
                problems.append(f"{caller.line_of(n)}: {callee.name} needs -{p.name}")
    return problems


# --- parameters forwarded to a private helper by splatting -----------------------------------------

SETTINGS_FILE = ROOT / "cmdlets" / "private" / "ModuleSettings.ps1"
# A helper's [switch] may receive the caller's [bool]: splatting $true/$false binds a switch
# (about_Splatting), and the helper sends $Name.IsPresent, a JSON boolean either way.
_SWITCH_ACCEPTS = {"switch", "bool", "boolean", "system.boolean"}


def settings_lists(path: Path = SETTINGS_FILE) -> dict[str, list[str]]:
    """``$script:Name = @('a', 'b', ...)`` lists of strings in a settings file (lower-case name -> items)."""
    source, tree = parse(path)
    out: dict[str, list[str]] = {}
    for n in walk(tree.root_node):
        if n.type != "assignment_expression":
            continue
        left = re.fullmatch(r"\$script:(\w+)", text(source, n.children[0]).strip(), re.IGNORECASE)
        value = text(source, n.children[-1]).strip()
        if left and re.fullmatch(r"@\(\s*(?:'[^']*'\s*,?\s*)*\)", value, re.DOTALL):
            out[left.group(1).lower()] = re.findall(r"'([^']*)'", value)
    return out


def _forwarding_loops(
    f: Function, lists: dict[str, list[str]] | None
) -> list[tuple[str, list[str], tree_sitter.Node]]:
    """(splat variable, names, loop) of each ``foreach ($n in $script:List) { ... $var[$n] = ... }``."""
    if lists is None:
        lists = settings_lists()
    out = []
    for n in walk(f.node):
        if n.type != "foreach_statement":
            continue
        pipeline = next((c for c in n.children if c.type == "pipeline"), None)
        m = (
            re.fullmatch(r"\$script:(\w+)", text(f.source, pipeline).strip(), re.IGNORECASE)
            if pipeline
            else None
        )
        if m is None or m.group(1).lower() not in lists:
            continue
        body = text(f.source, n)
        target = re.search(r"(\$\w+)\[\s*\$\w+\s*\]\s*=", body)
        if target is not None:
            out.append((target.group(1), lists[m.group(1).lower()], n))
    return out


def _validation(p: Parameter) -> dict[str, list[str]]:
    return {
        name.lower(): [a.replace(" ", "") for a in args]
        for name, args in p.attributes.items()
        if name.lower().startswith(("validate", "allow"))
    }


def forwarding_problems(
    caller: Function, functions: dict[str, Function], lists: dict[str, list[str]] | None = None
) -> list[str]:
    """A private helper called with a splat built from a ``$script:`` list of parameter names gets
    exactly its own parameters (no name both splatted and passed, none it lacks: either would stop
    the call), and each parameter it shares with the caller is declared alike: same type, default
    and validation attributes, so the helper sees what the caller's code saw."""
    problems = []
    loops = _forwarding_loops(caller, lists)
    for n in walk(caller.node):
        if n.type != "command":
            continue
        helper = functions.get(caller._command_name(n) or "")
        if helper is None or helper.path.parent.name != "private":
            continue
        elements = next((c for c in n.children if c.type == "command_elements"), None)
        splats = {
            "$" + text(caller.source, c).strip()[1:].lower()
            for c in (elements.children if elements is not None else [])
            if re.fullmatch(r"@\w+", text(caller.source, c).strip())
        }
        names = [name for var, found, _ in loops if var.lower() in splats for name in found]
        if not splats or not names:
            continue
        where = f"{caller.line_of(n)}: {caller.name} -> {helper.name}"
        explicit = {a.lstrip("-").rstrip(":").lower() for a in _command_arguments(caller.source, n)}
        declared = {p.name.lower(): p for p in helper.parameters}
        lowered = {name.lower() for name in names}
        for name in names:
            if name.lower() in explicit:
                problems.append(f"{where}: -{name} is both splatted and passed (PowerShell stops the call)")
            if name.lower() not in declared:
                problems.append(f"{where}: splats -{name}, which {helper.name} does not declare")
            if caller.parameter(name) is None:
                problems.append(f"{where}: forwards -{name}, which {caller.name} does not declare")
        for p in helper.parameters:
            if p.name.lower() not in lowered | explicit and not p.mandatory:
                problems.append(f"{where}: {helper.name} -{p.name} is neither splatted nor passed")
        for p in helper.parameters:
            mine = caller.parameter(p.name)
            if mine is None or p.name.lower() not in lowered | explicit:
                continue
            pwhere = (
                f"{rel(helper.path)}:{p.line}: {helper.name} -{p.name} vs {caller.name} ({caller.line_of(n)})"
            )
            same_type = p.type == mine.type or (p.type == "switch" and (mine.type or "") in _SWITCH_ACCEPTS)
            if not same_type:
                problems.append(f"{pwhere}: type [{p.type}] differs from the caller's [{mine.type}]")
            if p.default != mine.default:
                problems.append(f"{pwhere}: default {p.default} differs from the caller's {mine.default}")
            if _validation(p) != _validation(mine):
                problems.append(
                    f"{pwhere}: validation {_validation(p)} differs from the caller's {_validation(mine)}"
                )
    return problems


# --- parameter sets: what PowerShell's binder does with them ---------------------------------------

ALL_SETS = "__AllParameterSets"


def _default_set(f: Function) -> str | None:
    named = _named_arguments(f.cmdlet_binding or [])
    value = named.get("defaultparametersetname")
    return unquote(value) if value is not None else None


def _set_names(f: Function) -> list[str]:
    names = sorted({e.set_name for p in f.parameters for e in p.set_entries if e.set_name is not None})
    return names or [ALL_SETS]


def _element_type(ps_type: str | None) -> str:
    bare = (ps_type or "object").lower().removeprefix("system.")
    return bare.removesuffix("[]")


def _binds_without_coercion(value_type: str | None, parameter_type: str | None) -> bool:
    """Whether a value of ``value_type`` binds to ``parameter_type`` without type coercion.

    PowerShell's positional binder tries the default parameter set without coercion first; a value
    binds there when its type is the parameter's (element) type or the parameter takes any object.
    """
    target = _element_type(parameter_type)
    return target in ("object", "psobject") or target == _element_type(value_type)


def parameter_set_problems(f: Function) -> list[str]:
    """Parameter sets that make an argument bind to the wrong parameter, modelled on PowerShell's
    binder (ParameterBinderController.BindPositionalParameters and
    CmdletParameterBinderController.HandleUnboundMandatoryParameters):

    * Positions. For each position the binder tries the default parameter set first, without type
      coercion, then the other sets. Two parameters with one Position in different sets are
      ambiguous when the argument meant for the other one also fits the first (same type, or the
      first takes any object): the other parameter can never be bound by position. In one set a
      duplicate Position is an error of the function itself.
    * Pipeline. With only pipeline input, when the default set has a mandatory parameter that takes
      pipeline input by property name and no other set does (or no other set can be filled from
      the pipeline), PowerShell latches onto the default set before it sees the input: a
      ValueFromPipeline parameter of another set then never binds piped values.
    """
    problems: list[str] = []
    default = _default_set(f)
    sets = _set_names(f)

    def members(entry: ParameterSetEntry) -> set[str]:
        return set(sets) if entry.set_name is None else {entry.set_name}

    def describe(entry: ParameterSetEntry) -> str:
        return "every set" if entry.set_name is None else f"set '{entry.set_name}'"

    positional = [(p, e) for p in f.parameters for e in p.set_entries if e.position is not None]
    for i, (p1, e1) in enumerate(positional):
        for p2, e2 in positional[i + 1 :]:
            if p1 is p2 or e1.position != e2.position:
                continue
            where = f"{rel(f.path)}:{p2.line}: {f.name}"
            shared = members(e1) & members(e2)
            if shared:
                problems.append(
                    f"{where}: -{p1.name} and -{p2.name} are both at Position {e1.position} in set "
                    f"'{sorted(shared)[0]}'"
                )
                continue
            first = [(p, e) for p, e in ((p1, e1), (p2, e2)) if default in members(e)]
            if first:
                winner = first[0][0]
                loser = p2 if winner is p1 else p1
                if _binds_without_coercion(loser.type, winner.type):
                    problems.append(
                        f"{where}: -{p1.name} and -{p2.name} are both at Position {e1.position}; the "
                        f"default set '{default}' is tried first and its -{winner.name} "
                        f"[{winner.type or 'object'}] takes without coercion every value that "
                        f"-{loser.name} [{loser.type or 'object'}] would, so '{f.name} <value>' never "
                        f"binds -{loser.name}: give only one of them the position"
                    )
            elif _binds_without_coercion(p1.type, p2.type) or _binds_without_coercion(p2.type, p1.type):
                problems.append(
                    f"{where}: -{p1.name} ({describe(e1)}) and -{p2.name} ({describe(e2)}) are both "
                    f"at Position {e1.position} and neither is in the default set: a positional "
                    "argument is ambiguous"
                )

    problems += _pipeline_latch_problems(f, default, sets)
    return problems


def _pipeline_latch_problems(f: Function, default: str | None, sets: list[str]) -> list[str]:
    if default is None or len(sets) < 2 or default not in sets:
        return []

    @dataclass
    class Prompting:  # ParameterSetPromptingData of one set
        pipelineable: list[str] = field(default_factory=list)
        by_property_name: list[str] = field(default_factory=list)
        nonpipelineable: list[str] = field(default_factory=list)

    data: dict[str, Prompting] = {}
    for p in f.parameters:
        for e in p.set_entries:
            if not e.mandatory:
                continue
            key = e.set_name or ALL_SETS
            d = data.setdefault(key, Prompting())
            if e.from_pipeline or e.by_property_name:
                d.pipelineable.append(p.name)
                if e.by_property_name:
                    d.by_property_name.append(p.name)
            else:
                d.nonpipelineable.append(p.name)
    mandatory_sets = {k for k in data if k != ALL_SETS}
    if ALL_SETS in data:
        mandatory_sets = set(sets)
    if default not in mandatory_sets or len(mandatory_sets) < 2:
        return []
    others = [d for k, d in data.items() if k not in (default, ALL_SETS)]
    another_takes_pipeline = any(d.pipelineable and not d.nonpipelineable for d in others)
    another_by_property_name = any(d.by_property_name for d in others)
    mine = data.get(default, Prompting())
    reason = None
    if mine.by_property_name and not another_by_property_name:
        reason = (
            f"its mandatory -{mine.by_property_name[0]} takes pipeline input by property name and no "
            "other set has a mandatory by-property-name parameter"
        )
    elif not another_takes_pipeline:
        # Both of the binder's remaining tests (the default set takes pipeline input and no other
        # does; no other set takes pipeline input) come down to this.
        reason = "no other set can be filled from the pipeline alone"
    elif ALL_SETS in data and data[ALL_SETS].nonpipelineable:
        reason = "a parameter of every set is mandatory and does not take pipeline input"
    if reason is None:
        return []
    problems = []
    for p in f.parameters:
        for e in p.set_entries:
            if e.from_pipeline and e.set_name is not None and e.set_name != default:
                problems.append(
                    f"{rel(f.path)}:{p.line}: {f.name}: piped input alone latches onto the default set "
                    f"'{default}' ({reason}), so -{p.name} (ValueFromPipeline, set '{e.set_name}') never "
                    f"binds a piped value ('... | {f.name}' fails): make '{e.set_name}' the default set"
                )
    return problems


# --- Windows PowerShell 5.1 compatibility -----------------------------------------------------------

# What PowerShell 7 has and Windows PowerShell 5.1 does not, as the syntax tree shows it. The module
# declares PowerShellVersion 5.1 and CompatiblePSEditions Desktop and Core, so none of it may appear.
# kind: "node" (a tree-sitter-pwsh node type), "token" (an operator token), "variable", "command",
# "parameter" (command, parameter; unique abbreviations count), "argument" (parameter, value),
# "positional" (command, most positional-or-path arguments 5.1 takes), "block" (a named block),
# "replace_script_block" (a script block as the substitution of -replace), "unparsed"
# (tree-sitter-pwsh cannot parse it: the ERROR node already fails syntax_problems; the entry
# documents it). Allowed in 5.1, so not listed: `using namespace`, `[ordered]`, classes, enums,
# `.Where()`/`.ForEach()`. Not detectable here: 7-only parameters passed by splatting.
WINDOWS_POWERSHELL_51_DENYLIST: list[tuple[str, Any, str]] = [
    ("node", "null_coalesce_expression", "`a ?? b` (null-coalescing) is PowerShell 7.0+"),
    ("token", "??=", "`a ??= b` (null-coalescing assignment) is PowerShell 7.0+"),
    ("node", "ternary_expression", "`a ? b : c` (ternary) is PowerShell 7.0+: use if/else"),
    ("node", "pipeline_chain_tail", "`&&` / `||` pipeline chains are PowerShell 7.0+"),
    ("unparsed", "${a}?.b", "null-conditional member access is PowerShell 7.1+ (tree-sitter-pwsh: ERROR)"),
    ("unparsed", "${a}?[0]", "null-conditional index is PowerShell 7.1+ (tree-sitter-pwsh: ERROR)"),
    ("variable", "IsWindows", "$IsWindows is PowerShell 6+ ($null in 5.1): use Test-BcsWindows"),
    ("variable", "IsLinux", "$IsLinux is PowerShell 6+ ($null in 5.1)"),
    ("variable", "IsMacOS", "$IsMacOS is PowerShell 6+ ($null in 5.1)"),
    ("variable", "IsCoreCLR", "$IsCoreCLR is PowerShell 6+ ($null in 5.1): use $PSVersionTable.PSEdition"),
    ("block", "clean", "the clean {} block is PowerShell 7.3+"),
    ("replace_script_block", "-replace", "`-replace 'x', { ... }` (script block) is PowerShell 6.1+"),
    ("parameter", ("ConvertFrom-Json", "AsHashtable"), "ConvertFrom-Json -AsHashtable is PowerShell 6.0+"),
    ("parameter", ("ConvertFrom-Json", "Depth"), "ConvertFrom-Json -Depth is PowerShell 6.2+"),
    ("parameter", ("ConvertFrom-Json", "NoEnumerate"), "ConvertFrom-Json -NoEnumerate is PowerShell 7.0+"),
    ("parameter", ("ConvertTo-Json", "AsArray"), "ConvertTo-Json -AsArray is PowerShell 6.2+"),
    ("parameter", ("ConvertTo-Json", "EnumsAsStrings"), "ConvertTo-Json -EnumsAsStrings is PowerShell 6.2+"),
    ("parameter", ("ForEach-Object", "Parallel"), "ForEach-Object -Parallel is PowerShell 7.0+"),
    ("parameter", ("Join-Path", "AdditionalChildPath"), "Join-Path -AdditionalChildPath is PowerShell 6.0+"),
    (
        "positional",
        ("Join-Path", 2),
        "Join-Path with a third path (-AdditionalChildPath) is PowerShell 6.0+: nest Join-Path calls",
    ),
    ("parameter", ("Invoke-WebRequest", "SkipHeaderValidation"), "-SkipHeaderValidation is PowerShell 6.0+"),
    ("parameter", ("Invoke-RestMethod", "SkipHeaderValidation"), "-SkipHeaderValidation is PowerShell 6.0+"),
    ("parameter", ("Invoke-WebRequest", "SkipCertificateCheck"), "-SkipCertificateCheck is PowerShell 6.0+"),
    ("parameter", ("Invoke-RestMethod", "SkipCertificateCheck"), "-SkipCertificateCheck is PowerShell 6.0+"),
    ("parameter", ("Get-Content", "AsByteStream"), "-AsByteStream is PowerShell 6.0+ (5.1: -Encoding Byte)"),
    ("parameter", ("Set-Content", "AsByteStream"), "-AsByteStream is PowerShell 6.0+ (5.1: -Encoding Byte)"),
    ("parameter", ("Add-Content", "AsByteStream"), "-AsByteStream is PowerShell 6.0+ (5.1: -Encoding Byte)"),
    ("parameter", ("Get-Date", "AsUTC"), "Get-Date -AsUTC is PowerShell 7.1+: use [datetime]::UtcNow"),
    ("argument", ("Encoding", "utf8NoBOM"), "-Encoding utf8NoBOM is PowerShell 6.0+ (5.1: BOM)"),
    ("argument", ("Encoding", "utf8BOM"), "-Encoding utf8BOM is PowerShell 6.0+"),
    ("command", "Get-Error", "Get-Error is PowerShell 7.0+"),
    ("command", "Test-Json", "Test-Json is PowerShell 6.1+"),
    ("command", "Join-String", "Join-String is PowerShell 6.2+"),
    ("command", "Get-Uptime", "Get-Uptime is PowerShell 6.0+"),
    ("command", "Remove-Alias", "Remove-Alias is PowerShell 6.0+"),
]

# Abbreviations shorter than this are not matched (-D could be -Debug in 5.1).
_MIN_ABBREVIATION = 3


def _parameter_matches(written: str, declared: str) -> bool:
    """Whether ``-written`` (as typed, maybe abbreviated) names the parameter ``declared``."""
    w = written.lstrip("-").rstrip(":").lower()
    d = declared.lower()
    if w == d:
        return True
    if len(w) < _MIN_ABBREVIATION or not d.startswith(w):
        return False
    return not any(c.startswith(w) for c in COMMON_PARAMETERS)


def _command_elements(source: bytes, command: tree_sitter.Node) -> list[tuple[str, tree_sitter.Node]]:
    """("parameter" | "value", node) for each element of a command, in order."""
    elements = next((c for c in command.children if c.type == "command_elements"), None)
    out: list[tuple[str, tree_sitter.Node]] = []
    for c in elements.children if elements is not None else []:
        if c.type in ("command_argument_sep", "comment", "redirection"):
            continue
        out.append(("parameter" if c.type == "command_parameter" else "value", c))
    return out


def _bare_command_name(source: bytes, command: tree_sitter.Node) -> str | None:
    name = next((c for c in command.children if c.type == "command_name"), None)
    if name is None:
        return None
    return text(source, name).rsplit("\\", 1)[-1]


def windows_powershell_problems(path: Path) -> list[str]:
    """Constructs and APIs of PowerShell 6/7 that Windows PowerShell 5.1 lacks (the table above)."""
    source, tree = parse(path)
    problems = []

    def report(node: tree_sitter.Node, reason: str) -> None:
        snippet = text(source, node)[:40].replace("\n", "\\n")
        problems.append(f"{rel(path)}:{line(node)}: not in Windows PowerShell 5.1: {reason} ({snippet!r})")

    by_kind: dict[str, list[tuple[Any, str]]] = {}
    for kind, what, reason in WINDOWS_POWERSHELL_51_DENYLIST:
        by_kind.setdefault(kind, []).append((what, reason))
    for n in walk(tree.root_node):
        for what, reason in by_kind.get("node", []):
            if n.type == what:
                report(n, reason)
        for what, reason in by_kind.get("token", []):
            if n.type == what and not n.is_named:
                report(n.parent or n, reason)
        if n.type == "variable":
            name = text(source, n)[1:].strip("{}").lower()
            for what, reason in by_kind.get("variable", []):
                if name == what.lower():
                    report(n, reason)
        if n.type == "block_name":
            for what, reason in by_kind.get("block", []):
                if text(source, n).lower() == what:
                    report(n, reason)
        if n.type == "comparison_expression":
            operator = next((c for c in n.children if c.type == "comparison_operator"), None)
            right = n.children[-1]
            for _, reason in by_kind.get("replace_script_block", []):
                if (
                    operator is not None
                    and text(source, operator).lower() in ("-replace", "-ireplace", "-creplace")
                    and right.type == "array_literal_expression"
                    and any(c.type == "script_block_expression" for c in right.children[-1].children)
                ):
                    report(n, reason)
        if n.type != "command":
            continue
        command = _bare_command_name(source, n)
        if command is None:
            continue
        elements = _command_elements(source, n)
        for what, reason in by_kind.get("command", []):
            if command.lower() == what.lower():
                report(n, reason)
        for (cmd, parameter), reason in by_kind.get("parameter", []):
            if command.lower() != cmd.lower():
                continue
            for kind, node in elements:
                if kind == "parameter" and _parameter_matches(text(source, node), parameter):
                    report(node, reason)
        for (parameter, value), reason in by_kind.get("argument", []):
            for (kind, node), (next_kind, next_node) in itertools.pairwise(elements):
                if (
                    kind == "parameter"
                    and next_kind == "value"
                    and _parameter_matches(text(source, node), parameter)
                    and unquote(text(source, next_node)).lower() == value.lower()
                ):
                    report(next_node, reason)
        for (cmd, most), reason in by_kind.get("positional", []):
            if command.lower() != cmd.lower():
                continue
            # -Path and -ChildPath by name count as the first two paths; every value not taken by a
            # parameter is one more path. (Join-Path's only switch is -Resolve.)
            paths = 0
            expecting_value = False
            for kind, node in elements:
                if kind == "parameter":
                    written = text(source, node)
                    expecting_value = not _parameter_matches(written, "Resolve")
                    if _parameter_matches(written, "Path") or _parameter_matches(written, "ChildPath"):
                        paths += 1
                    continue
                if not expecting_value and not re.match(r"@\w", text(source, node)):
                    paths += 1
                expecting_value = False
            if paths > most:
                report(n, reason)
    return problems


def convert_to_json_problems(path: Path) -> list[str]:
    """Every ConvertTo-Json call gives -Depth (the default, 2, silently turns deeper objects into
    their type name) and -Compress (the engine reads one JSON line per request)."""
    source, tree = parse(path)
    problems = []
    for n in walk(tree.root_node):
        if n.type != "command" or (_bare_command_name(source, n) or "").lower() != "convertto-json":
            continue
        written = [text(source, node) for kind, node in _command_elements(source, n) if kind == "parameter"]
        for needed in ("Depth", "Compress"):
            if not any(_parameter_matches(w, needed) for w in written):
                problems.append(f"{rel(path)}:{line(n)}: ConvertTo-Json without -{needed}")
    return problems
