"""Name casing in one place: camelCase (the wire, config.yaml, jobs.db), snake_case (Python names),
kebab-case (``bcs`` options)."""

from __future__ import annotations

import re

__all__ = ["camel_case", "kebab_case", "snake_case"]

_UPPER = re.compile(r"(?<=[a-z0-9])([A-Z])")


def snake_case(name: str) -> str:
    """``urlGroup`` -> ``url_group``."""
    return _UPPER.sub(r"_\1", name).lower()


def camel_case(name: str) -> str:
    """``url_group`` -> ``urlGroup``."""
    head, *rest = name.split("_")
    return head + "".join(word[:1].upper() + word[1:] for word in rest)


def kebab_case(name: str) -> str:
    """``urlGroup`` -> ``url-group``."""
    return _UPPER.sub(r"-\1", name).lower()
