"""How ``skysend-cli`` writes sizes, times and tables (clients.md §3.1).

Not the client CLI's formats: there sizes have 0-2 decimals and expiries are words
(``1.50 MB``, ``1 days``); here sizes always have one decimal and times are compact
(``15.2 MB``, ``2d 3h``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, TextIO

_UNITS = ("B", "KB", "MB", "GB", "TB")
_DAY, _HOUR, _MINUTE = 86400, 3600, 60


def size(n: int) -> str:
    """``0 B``, ``512 B``, ``1.5 KB``, ``15.2 MB`` (powers of 1024, at most TB)."""
    if n < 1024:
        return f"{n} B"
    value, unit = float(n), 0
    while value >= 1024 and unit < len(_UNITS) - 1:
        value /= 1024
        unit += 1
    return f"{value:.1f} {_UNITS[unit]}"


def remaining(expires_at_s: int, now_ms: int) -> str:
    """Time left: ``expired``, ``45s``, ``12m``, ``5h 3m``, ``6d 4h``."""
    left_ms = expires_at_s * 1000 - now_ms
    if left_ms <= 0:
        return "expired"
    seconds = left_ms // 1000
    if seconds < _MINUTE:
        return f"{seconds}s"
    if seconds < _HOUR:
        return f"{seconds // _MINUTE}m"
    if seconds < _DAY:
        return f"{seconds // _HOUR}h {seconds % _HOUR // _MINUTE}m"
    return f"{seconds // _DAY}d {seconds % _DAY // _HOUR}h"


def utc(timestamp_s: int) -> str:
    """``YYYY-MM-DD HH:MM:SS`` in UTC."""
    return datetime.fromtimestamp(timestamp_s, UTC).strftime("%Y-%m-%d %H:%M:%S")


def iso(timestamp_s: int) -> str:
    """ISO 8601 in UTC as JavaScript writes it: ``2025-01-31T12:00:00.000Z``."""
    return datetime.fromtimestamp(timestamp_s, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def duration(seconds: int) -> str:
    """A configured duration in its largest whole unit: ``5m``, ``1h``, ``7d``, ``90s``."""
    for unit, letter in ((_DAY, "d"), (_HOUR, "h"), (_MINUTE, "m")):
        if seconds and seconds % unit == 0:
            return f"{seconds // unit}{letter}"
    return f"{seconds}s"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Left-aligned columns padded to the widest cell, two spaces apart, a dashed line
    under the header."""
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True))

    return [line(header).rstrip(), line(["-" * w for w in widths])] + [
        line(row).rstrip() for row in rows
    ]


def print_json(data: Any, out: TextIO) -> None:
    """JSON output, indented by two spaces."""
    out.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
