"""What ``bcs`` prints: results as aligned lines or tables, and a progress bar for waits."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["render"]


def _scalar(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def render(result: Any) -> str:
    """Human form: a mapping as aligned lines, a list of mappings as a table."""
    if result is None:
        return ""
    if isinstance(result, dict):
        width = max((len(k) for k in result), default=0)
        return "\n".join(f"{k.ljust(width)} : {_scalar(v)}" for k, v in result.items())
    if isinstance(result, list):
        if not result:
            return "(none)"
        if all(isinstance(r, dict) for r in result):
            columns = [k for k, v in result[0].items() if not isinstance(v, (dict, list))][:7]
            rows = [[_scalar(r.get(c))[:60] for c in columns] for r in result]
            widths = [max(len(c), *(len(row[i]) for row in rows)) for i, c in enumerate(columns)]
            lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
            lines.append("  ".join("-" * w for w in widths))
            lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in rows]
            return "\n".join(line.rstrip() for line in lines)
        return "\n".join(_scalar(r) for r in result)
    return _scalar(result)
