"""Human formatting shared by the library's messages and the CLI (clients.md §1.4)."""

from __future__ import annotations

_UNITS = ("B", "KB", "MB", "GB", "TB")


def format_bytes(count: float) -> str:
    """``0 B``, else powers of 1024 with 0 (≥ 100), 1 (≥ 10) or 2 decimals: ``1.50 MB``."""
    if count == 0:
        return "0 B"
    value = float(count)
    unit = 0
    while abs(value) >= 1024 and unit < len(_UNITS) - 1:
        value /= 1024
        unit += 1
    decimals = 0 if abs(value) >= 100 else 1 if abs(value) >= 10 else 2
    return f"{value:.{decimals}f} {_UNITS[unit]}"


def js_number(value: float) -> str:
    """A number as JavaScript prints it: ``1`` rather than ``1.0``, ``1.5`` as is."""
    if float(value).is_integer():
        return str(int(value))
    return repr(float(value))


def format_expiry(seconds: int) -> str:
    """``<n> seconds|minutes|hours|days`` with fractions printed as JavaScript numbers."""
    if seconds < 60:
        return f"{js_number(seconds)} seconds"
    if seconds < 3600:
        return f"{js_number(seconds / 60)} minutes"
    if seconds < 86400:
        return f"{js_number(seconds / 3600)} hours"
    return f"{js_number(seconds / 86400)} days"


def format_options(options: tuple[int, ...], suffix: str = "") -> str:
    return ", ".join(f"{option}{suffix}" for option in options)
