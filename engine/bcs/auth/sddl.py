"""SDDL security descriptors of published URLs: the one parser, the rights and SID tables.

Access checks live in ``bcs.auth.access``; this module owns the grammar, the rights abbreviations,
the FILE generic mapping (``map_generic``, ``Ace.file_mask``) and the SID aliases (``resolve_sid``).

Grammar ([MS-DTYP] 2.5.1, the subset that authorises a URL)::

    sddl   = *(owner / group / dacl / sacl)       ; each at most once, D: required
    owner  = "O:" sid          group = "G:" sid
    dacl   = "D:" *acl-flag *ace                  ; "D:" with no ACE denies everyone
    sacl   = "S:" *acl-flag *ace                  ; parsed, not used for authorisation
    ace    = "(" type ";" *flag ";" rights ";" [guid] ";" [guid] ";" sid [";" attribute] ")"
    rights = 1*two-letter-right / "0x" 1*HEXDIG / "0" / %x31-39 *DIGIT   ; at most 0xFFFFFFFF
    sid    = two-letter alias (BA, AU, WD, ...) / "S-1-" authority 1*15("-" subauthority)

A string that does not parse is refused with E_INVALIDARG naming the 1-based character position,
so ``url.create`` can say exactly where an administrator's SDDL goes wrong. A decimal mask with a
leading zero is refused: Windows reads it as octal (``wcstoul`` base 0), so "010" would mean 8 there.
Literal SIDs come out canonical (``S-1-5-21-01`` -> ``S-1-5-21-1``; subauthorities at most 2**32-1,
at most 15 of them, an authority of 2**32 or more in Windows' ``0x`` form). Conditional and
resource-attribute ACEs (XA, XD, ZA, RA, ...) are refused: nothing here could evaluate them, and an
authorisation rule that cannot be evaluated must not be accepted (fail closed).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from bcs.errors import InvalidArgumentError

__all__ = [
    "FILE_ALL_ACCESS",
    "FILE_GENERIC_EXECUTE",
    "FILE_GENERIC_READ",
    "FILE_GENERIC_WRITE",
    "FILE_READ_DATA",
    "FILE_WRITE_DATA",
    "Ace",
    "SecurityDescriptor",
    "canonical_sid",
    "map_generic",
    "parse_sddl",
    "resolve_sid",
    "sddl_error",
]

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
# The FILE generic mapping (winnt.h FILE_GENERIC_*): what GR/GW/GX/GA in an ACE or a desired mask mean.
GENERIC_READ = 0x80000000
GENERIC_WRITE = 0x40000000
GENERIC_EXECUTE = 0x20000000
GENERIC_ALL = 0x10000000
FILE_READ_DATA = 0x00000001
FILE_WRITE_DATA = 0x00000002
FILE_GENERIC_READ = 0x00120089
FILE_GENERIC_WRITE = 0x00120116
FILE_GENERIC_EXECUTE = 0x001200A0
FILE_ALL_ACCESS = 0x001F01FF
_GENERIC_BITS = GENERIC_READ | GENERIC_WRITE | GENERIC_EXECUTE | GENERIC_ALL
_FILE_MAPPING = (
    (GENERIC_READ, FILE_GENERIC_READ),
    (GENERIC_WRITE, FILE_GENERIC_WRITE),
    (GENERIC_EXECUTE, FILE_GENERIC_EXECUTE),
    (GENERIC_ALL, FILE_ALL_ACCESS),
)

# SID aliases ([MS-DTYP] 2.5.1.1). Fixed ones first; every alias Samba 4.17 knows resolves alike
# (tests/test_auth_access.py compares them).
WELL_KNOWN_SIDS: dict[str, str] = {
    "AA": "S-1-5-32-579",  # Access Control Assistance Operators
    "AC": "S-1-15-2-1",  # All App Packages
    "AN": "S-1-5-7",  # Anonymous Logon
    "AO": "S-1-5-32-548",  # Account Operators
    "AS": "S-1-18-1",  # Authentication authority asserted identity
    "AU": "S-1-5-11",  # Authenticated Users
    "BA": "S-1-5-32-544",  # BUILTIN\Administrators
    "BG": "S-1-5-32-546",  # BUILTIN\Guests
    "BO": "S-1-5-32-551",  # Backup Operators
    "BU": "S-1-5-32-545",  # BUILTIN\Users
    "CD": "S-1-5-32-574",  # Certificate Service DCOM Access
    "CG": "S-1-3-1",  # Creator Group
    "CO": "S-1-3-0",  # Creator Owner
    "CY": "S-1-5-32-569",  # Cryptographic Operators
    "ED": "S-1-5-9",  # Enterprise Domain Controllers
    "ER": "S-1-5-32-573",  # Event Log Readers
    "ES": "S-1-5-32-576",  # RDS Endpoint Servers
    "HA": "S-1-5-32-578",  # Hyper-V Administrators
    "HI": "S-1-16-12288",  # High integrity level
    "IS": "S-1-5-32-568",  # IIS_IUSRS
    "IU": "S-1-5-4",  # Interactive
    "LS": "S-1-5-19",  # Local Service
    "LU": "S-1-5-32-559",  # Performance Log Users
    "LW": "S-1-16-4096",  # Low integrity level
    "ME": "S-1-16-8192",  # Medium integrity level
    "MP": "S-1-16-8448",  # Medium Plus integrity level
    "MU": "S-1-5-32-558",  # Performance Monitor Users
    "NO": "S-1-5-32-556",  # Network Configuration Operators
    "NS": "S-1-5-20",  # Network Service
    "NU": "S-1-5-2",  # Network
    "OW": "S-1-3-4",  # Owner Rights
    "PO": "S-1-5-32-550",  # Print Operators
    "PS": "S-1-5-10",  # Principal Self
    "PU": "S-1-5-32-547",  # Power Users
    "RA": "S-1-5-32-575",  # RDS Remote Access Servers
    "RC": "S-1-5-12",  # Restricted Code
    "RD": "S-1-5-32-555",  # Remote Desktop Users
    "RE": "S-1-5-32-552",  # Replicator
    "RM": "S-1-5-32-580",  # Remote Management Users
    "RU": "S-1-5-32-554",  # Pre-Windows 2000 Compatible Access
    "SI": "S-1-16-16384",  # System integrity level
    "SO": "S-1-5-32-549",  # Server Operators
    "SS": "S-1-18-2",  # Service asserted identity
    "SU": "S-1-5-6",  # Service
    "SY": "S-1-5-18",  # Local System
    "UD": "S-1-5-84-0-0-0-0-0",  # User-mode drivers
    "WD": "S-1-1-0",  # Everyone
    "WR": "S-1-5-33",  # Write Restricted Code
}
# Domain-relative aliases: the domain SID plus a RID. EA, EK, PA, RO and SA belong to the forest
# root domain; LA/LG name the account domain's Administrator/Guest (a DC's domain, as Samba reads them).
DOMAIN_RIDS: dict[str, int] = {
    "AP": 525,  # Protected Users
    "CA": 517,  # Cert Publishers
    "CN": 522,  # Cloneable Domain Controllers
    "DA": 512,  # Domain Admins
    "DC": 515,  # Domain Computers
    "DD": 516,  # Domain Controllers
    "DG": 514,  # Domain Guests
    "DU": 513,  # Domain Users
    "EA": 519,  # Enterprise Admins (forest root)
    "EK": 527,  # Enterprise Key Admins (forest root)
    "KA": 526,  # Key Admins
    "LA": 500,  # Administrator
    "LG": 501,  # Guest
    "PA": 520,  # Group Policy Creator Owners (forest root)
    "RO": 498,  # Enterprise Read-only Domain Controllers (forest root)
    "RS": 553,  # RAS and IAS Servers
    "SA": 518,  # Schema Admins (forest root)
}
ROOT_DOMAIN_ALIASES = frozenset({"EA", "EK", "PA", "RO", "SA"})
SID_ALIASES = frozenset(WELL_KNOWN_SIDS) | frozenset(DOMAIN_RIDS)
_SID = re.compile(r"S-1-(?:[0-9]{1,15}|0[xX][0-9A-Fa-f]{12})(?:-[0-9]{1,10})+")
_SID_PARTS = re.compile(r"S-1-([0-9]{1,15}|0[xX][0-9A-Fa-f]{1,12})((?:-[0-9]{1,10})+)")
_FIELD = re.compile(r"[^;)]*")
_HEX_MASK = re.compile(r"0[xX][0-9A-Fa-f]{1,64}")
_GUID = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}")
MAX_SDDL_LENGTH = 65536  # characters; a longer string is refused before parsing


@functools.lru_cache(maxsize=4096)
def canonical_sid(text: str) -> str | None:
    """``text`` as Windows prints the SID (``S-1-5-21-1-2-3``), or None if it is not a valid SID."""
    match = _SID_PARTS.fullmatch(text)
    if match is None:
        return None
    authority_text, subs = match.group(1), match.group(2)[1:].split("-")
    authority = int(authority_text, 16) if authority_text[:2] in ("0x", "0X") else int(authority_text)
    values = [int(sub) for sub in subs]
    if len(values) > 15 or authority >= 1 << 48 or any(v > 0xFFFFFFFF for v in values):
        return None
    shown = str(authority) if authority < 1 << 32 else f"0x{authority:012X}"
    return "-".join(["S", "1", shown, *map(str, values)])


def map_generic(mask: int) -> int:
    """``mask`` with GR/GW/GX/GA replaced by the FILE rights they stand for (RtlMapGenericMask)."""
    if mask & _GENERIC_BITS:
        for generic, specific in _FILE_MAPPING:
            if mask & generic:
                mask |= specific
        mask &= ~_GENERIC_BITS
    return mask


def resolve_sid(sid: str, domain_sid: str | None = None, root_domain_sid: str | None = None) -> str | None:
    """The SID an ACE's ``sid`` (alias or literal) names, or None when it needs an unknown domain.

    Domain-relative aliases (DA, DU, ...) need ``domain_sid``; the forest-root ones (EA, SA, ...)
    take ``root_domain_sid``, which defaults to ``domain_sid`` (a single-domain forest).
    """
    if sid in WELL_KNOWN_SIDS:
        return WELL_KNOWN_SIDS[sid]
    rid = DOMAIN_RIDS.get(sid)
    if rid is None:
        return canonical_sid(sid)
    domain = (root_domain_sid or domain_sid) if sid in ROOT_DOMAIN_ALIASES else domain_sid
    return None if domain is None else f"{domain}-{rid}"


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
    sid: str  # an alias ("BA") or a canonical "S-1-..."

    @property
    def file_mask(self) -> int:
        """The mask with generic rights mapped through the FILE generic mapping."""
        return map_generic(self.mask)


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
        if not self.text.startswith(literal, self.pos):
            raise self.fail(f"expected {literal!r}")
        self.pos += len(literal)

    def sid(self) -> str:
        match = _SID.match(self.text, self.pos)
        if match is not None:
            canonical = canonical_sid(match.group(0))
            if canonical is None:
                raise self.fail("SID out of range (subauthorities at most 4294967295, at most 15 of them)")
            self.pos = match.end()
            return canonical
        alias = self.peek(2)
        if len(alias) == 2 and alias in SID_ALIASES:
            self.pos += 2
            return alias
        raise self.fail("expected a SID (S-1-...) or a two-letter alias such as BA, AU or WD")

    def field(self) -> tuple[int, str]:
        """The text up to the next ';' or ')' and where it starts."""
        match = _FIELD.match(self.text, self.pos)
        assert match is not None  # the pattern matches the empty string
        start, self.pos = self.pos, match.end()
        return start, match.group()

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
        start, ace_type = self.field()
        if ace_type in _UNSUPPORTED_ACE_TYPES:
            raise self.fail(f"ACE type {ace_type!r} (conditional or attribute ACE) is not supported", start)
        if ace_type not in ACE_TYPES:
            raise self.fail(f"unknown ACE type {ace_type!r} (A, D, OA, OD, AU, AL, ...)", start)
        self.expect(";")
        start, text = self.field()
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
            start, guid = self.field()
            if guid and not _GUID.fullmatch(guid):
                raise self.fail("expected an empty field or a GUID", start)
            self.expect(";")
        sid = self.sid()
        if self.peek() == ";":
            raise self.fail("resource attributes are not supported")
        self.expect(")")
        return Ace(ace_type, frozenset(flags), mask, sid)

    def rights(self) -> int:
        start, text = self.field()
        if not text:
            raise self.fail("expected access rights (e.g. GA, GR, FA or 0x1F01FF)", start)
        if text[:2].lower() == "0x":
            if not _HEX_MASK.fullmatch(text):
                raise self.fail("expected a hexadecimal access mask (0x1F01FF)", start)
            if int(text, 16) > 0xFFFFFFFF:
                raise self.fail("access mask is larger than 32 bits", start)
            return int(text, 16)
        if text.isdigit() and text.isascii():
            if len(text) > 1 and text[0] == "0":
                raise self.fail("a mask with a leading 0 is octal to Windows: write it in hex (0x...)", start)
            if len(text) > 10 or int(text) > 0xFFFFFFFF:
                raise self.fail("access mask is larger than 32 bits", start)
            return int(text)
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
