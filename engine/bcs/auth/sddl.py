"""SDDL security descriptors of published URLs: a pure parser, no access checks.

Grammar ([MS-DTYP] 2.5.1, the subset that authorises a URL)::

    sddl   = *(owner / group / dacl / sacl)       ; each at most once, D: required
    owner  = "O:" sid          group = "G:" sid
    dacl   = "D:" *acl-flag *ace                  ; "D:" with no ACE denies everyone
    sacl   = "S:" *acl-flag *ace                  ; parsed, not used for authorisation
    ace    = "(" type ";" *flag ";" rights ";" [guid] ";" [guid] ";" sid [";" attribute] ")"
    rights = 1*two-letter-right / "0x" 1*8HEXDIG / 1*DIGIT
    sid    = two-letter alias (BA, AU, WD, ...) / "S-1-" authority 1*("-" subauthority)

A string that does not parse is refused with E_INVALIDARG naming the 1-based character position,
so ``url.create`` can say exactly where an administrator's SDDL goes wrong. Conditional and
resource-attribute ACEs (XA, XD, ZA, RA, ...) are refused: nothing here could evaluate them, and an
authorisation rule that cannot be evaluated must not be accepted (fail closed).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bcs.errors import InvalidArgumentError

__all__ = ["Ace", "SecurityDescriptor", "parse_sddl", "sddl_error"]

# Access rights by their SDDL abbreviation ([MS-DTYP] 2.5.1.1; winnt.h masks).
RIGHTS: dict[str, int] = {
    "GA": 0x10000000,
    "GR": 0x80000000,
    "GW": 0x40000000,
    "GX": 0x20000000,
    "RC": 0x00020000,
    "SD": 0x00010000,
    "WD": 0x00040000,
    "WO": 0x00080000,
    "RP": 0x00000010,
    "WP": 0x00000020,
    "CC": 0x00000001,
    "DC": 0x00000002,
    "LC": 0x00000004,
    "SW": 0x00000008,
    "LO": 0x00000080,
    "DT": 0x00000040,
    "CR": 0x00000100,
    "FA": 0x001F01FF,
    "FR": 0x00120089,
    "FW": 0x00120116,
    "FX": 0x001200A0,
    "KA": 0x000F003F,
    "KR": 0x00020019,
    "KW": 0x00020006,
    "KX": 0x00020019,
    "NR": 0x00000001,
    "NW": 0x00000002,
    "NX": 0x00000004,
}
# ACE types that carry an allow/deny/audit decision without conditions or object GUIDs semantics.
ACE_TYPES = frozenset({"A", "D", "OA", "OD", "AU", "AL", "OU", "OL", "ML", "SP"})
# Conditional, resource-attribute and callback ACEs: refused, nothing here could evaluate them.
_UNSUPPORTED_ACE_TYPES = frozenset({"XA", "XD", "XU", "ZA", "RA", "CA", "CD"})
ACE_FLAGS = frozenset({"CI", "OI", "NP", "IO", "ID", "SA", "FA", "TP", "CR"})
ACL_FLAGS = ("NO_ACCESS_CONTROL", "AI", "AR", "P")  # longest first: "P" is a prefix of nothing else
# Well-known SID aliases ([MS-DTYP] 2.5.1.1).
SID_ALIASES = frozenset(
    [
        "AA",
        "AC",
        "AN",
        "AO",
        "AP",
        "AS",
        "AU",
        "BA",
        "BG",
        "BO",
        "BU",
        "CA",
        "CD",
        "CG",
        "CN",
        "CO",
        "CY",
        "DA",
        "DC",
        "DD",
        "DG",
        "DU",
        "EA",
        "ED",
        "EK",
        "ER",
        "ES",
        "HA",
        "HI",
        "IS",
        "IU",
        "KA",
        "LA",
        "LG",
        "LS",
        "LU",
        "LW",
        "ME",
        "MP",
        "MU",
        "NO",
        "NS",
        "NU",
        "OW",
        "PA",
        "PO",
        "PS",
        "PU",
        "RA",
        "RC",
        "RD",
        "RE",
        "RM",
        "RO",
        "RS",
        "RU",
        "SA",
        "SI",
        "SO",
        "SS",
        "SU",
        "SY",
        "UD",
        "WD",
        "WR",
    ]
)
_SID = re.compile(r"S-1-(?:[0-9]{1,13}|0[xX][0-9A-Fa-f]{12})(?:-[0-9]{1,10})+")
_GUID = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}")
MAX_SDDL_LENGTH = 65536  # characters; a longer string is refused before parsing


def sddl_error(text: str, position: int, why: str) -> InvalidArgumentError:
    """E_INVALIDARG naming the 1-based character ``position`` (0-based here) of ``text``."""
    near = text[position : position + 12]
    where = f"at character {position + 1}" + (f" (near {near!r})" if near else " (at the end)")
    return InvalidArgumentError(f"invalid SDDL {where}: {why}", noun="Url", target=text[:200])


@dataclass(frozen=True)
class Ace:
    """One access control entry: type, flags, access mask and the SID string it names."""

    type: str  # "A" allow, "D" deny, ...
    flags: frozenset[str]
    mask: int
    sid: str  # an alias ("BA") or "S-1-..." as written


@dataclass(frozen=True)
class SecurityDescriptor:
    """A parsed SDDL string; ``dacl`` None is a NULL DACL (D:NO_ACCESS_CONTROL: everyone)."""

    owner: str | None
    group: str | None
    dacl: tuple[Ace, ...] | None
    dacl_flags: frozenset[str]
    sacl: tuple[Ace, ...]


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, why: str, at: int | None = None) -> InvalidArgumentError:
        return sddl_error(self.text, self.pos if at is None else at, why)

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def peek(self, n: int = 1) -> str:
        return self.text[self.pos : self.pos + n]

    def expect(self, literal: str) -> None:
        if self.peek(len(literal)) != literal:
            raise self.fail(f"expected {literal!r}")
        self.pos += len(literal)

    def sid(self) -> str:
        match = _SID.match(self.text, self.pos)
        if match is not None:
            self.pos = match.end()
            return match.group(0)
        alias = self.peek(2)
        if len(alias) == 2 and alias in SID_ALIASES:
            self.pos += 2
            return alias
        raise self.fail("expected a SID (S-1-...) or a two-letter alias such as BA, AU or WD")

    def until(self, stops: str) -> tuple[int, str]:
        start = self.pos
        while not self.at_end() and self.text[self.pos] not in stops:
            self.pos += 1
        return start, self.text[start : self.pos]

    def acl(self) -> tuple[frozenset[str], list[Ace] | None]:
        flags: set[str] = set()
        null = False
        while not self.at_end() and self.peek() not in "(":
            for flag in ACL_FLAGS:
                if self.text.startswith(flag, self.pos):
                    self.pos += len(flag)
                    flags.add(flag)
                    null = null or flag == "NO_ACCESS_CONTROL"
                    break
            else:
                break
        aces: list[Ace] = []
        while self.peek() == "(":
            aces.append(self.ace())
        if null and aces:
            raise self.fail("NO_ACCESS_CONTROL (a NULL DACL) cannot have ACEs")
        return frozenset(flags), (None if null else aces)

    def ace(self) -> Ace:
        self.expect("(")
        start, ace_type = self.until(";)")
        if ace_type in _UNSUPPORTED_ACE_TYPES:
            raise self.fail(f"ACE type {ace_type!r} (conditional or attribute ACE) is not supported", start)
        if ace_type not in ACE_TYPES:
            raise self.fail(f"unknown ACE type {ace_type!r} (A, D, OA, OD, AU, AL, ...)", start)
        self.expect(";")
        start, text = self.until(";)")
        flags = set()
        for i in range(0, len(text), 2):
            flag = text[i : i + 2]
            if flag not in ACE_FLAGS:
                raise self.fail(f"unknown ACE flag {flag!r} (CI, OI, NP, IO, ID, SA, FA)", start + i)
            flags.add(flag)
        self.expect(";")
        mask = self.rights()
        self.expect(";")
        for _ in range(2):  # object type GUID, inherited object type GUID
            start, guid = self.until(";)")
            if guid and not _GUID.fullmatch(guid):
                raise self.fail("expected an empty field or a GUID", start)
            self.expect(";")
        sid = self.sid()
        if self.peek() == ";":
            raise self.fail("resource attributes are not supported")
        self.expect(")")
        return Ace(ace_type, frozenset(flags), mask, sid)

    def rights(self) -> int:
        start, text = self.until(";)")
        if not text:
            raise self.fail("expected access rights (e.g. GA, GR, FA or 0x1F01FF)", start)
        if text[:2].lower() == "0x":
            if not re.fullmatch(r"0[xX][0-9A-Fa-f]{1,8}", text):
                raise self.fail("expected a hexadecimal access mask of at most 8 digits", start)
            return int(text, 16)
        if text.isdigit() and text.isascii():
            value = int(text[:11])
            if len(text) > 10 or value > 0xFFFFFFFF:
                raise self.fail("access mask is larger than 32 bits", start)
            return value
        mask = 0
        for i in range(0, len(text), 2):
            right = text[i : i + 2]
            if right not in RIGHTS:
                raise self.fail(f"unknown access right {right!r}", start + i)
            mask |= RIGHTS[right]
        return mask


def parse_sddl(text: str) -> SecurityDescriptor:
    """Parse an SDDL string that has a DACL (``D:``).

    Raises:
        InvalidArgumentError: the string does not parse, has no DACL, or repeats a component.
    """
    if len(text) > MAX_SDDL_LENGTH:
        raise sddl_error(text, MAX_SDDL_LENGTH, f"longer than {MAX_SDDL_LENGTH} characters")
    p = _Parser(text)
    seen: dict[str, object] = {}
    owner = group = None
    dacl: list[Ace] | None = []
    dacl_flags: frozenset[str] = frozenset()
    sacl: list[Ace] | None = []
    while not p.at_end():
        start = p.pos
        tag = p.peek(2)
        if tag not in ("O:", "G:", "D:", "S:"):
            raise p.fail("expected O:, G:, D: or S:")
        if tag in seen:
            raise p.fail(f"{tag} appears twice", start)
        seen[tag] = True
        p.pos += 2
        if tag == "O:":
            owner = p.sid()
        elif tag == "G:":
            group = p.sid()
        elif tag == "D:":
            dacl_flags, dacl = p.acl()
        else:
            _, sacl = p.acl()
    if "D:" not in seen:
        raise sddl_error(text, 0, "a URL's SDDL must have a DACL (D:...), e.g. D:(A;;GA;;;BA)")
    return SecurityDescriptor(
        owner=owner,
        group=group,
        dacl=None if dacl is None else tuple(dacl),
        dacl_flags=dacl_flags,
        sacl=tuple(sacl or ()),
    )
