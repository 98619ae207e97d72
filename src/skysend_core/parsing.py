"""Value syntaxes shared by the configuration and the HTTP layer (config.md §1.1).

The reference server is written in JavaScript; these functions reproduce the JavaScript
behaviour the spec relies on (``parseInt(v, 10)``, ``String.prototype.trim``, ``new URL(v)``)
so that the same inputs are accepted and rejected. All of them are pure string functions.
"""

from __future__ import annotations

import encodings.idna
import ipaddress
import re
from decimal import Decimal

import attrs

__all__ = [
    "AbsoluteUrl",
    "is_absolute_url",
    "js_trim",
    "parse_absolute_url",
    "parse_byte_size",
    "parse_byte_size_or_int",
    "parse_default_on_bool",
    "parse_int_list",
    "parse_js_int",
    "parse_strict_bool",
    "parse_string_list",
]

# ECMAScript WhiteSpace and LineTerminator code points: what `trim()` and `parseInt()`
# skip. Python's str.isspace() differs (it includes U+001C-U+001F and U+0085, and
# excludes U+FEFF), so the set is spelled out.
JS_WHITESPACE = (
    "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
)
_JS_SPACE_CLASS = "[" + re.escape(JS_WHITESPACE) + "]*"
_BYTE_SIZE = re.compile(
    r"([0-9]+)(?:\.([0-9]+))?" + _JS_SPACE_CLASS + r"(B|KB|MB|GB)",
    re.IGNORECASE | re.ASCII,  # ASCII: no Kelvin sign for "K" under IGNORECASE
)
_BYTE_UNITS = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3}
_ASCII_DIGITS = frozenset("0123456789")


def js_trim(value: str) -> str:
    """``String.prototype.trim``: strip ECMAScript whitespace from both ends."""
    return value.strip(JS_WHITESPACE)


def _digits_to_int(digits: str) -> int:
    # int() refuses decimal strings above 4300 digits; Decimal converts exactly.
    return int(digits) if len(digits) <= 4000 else int(Decimal(digits))


def parse_js_int(value: str) -> int | None:
    """``parseInt(value, 10)``: leading whitespace, optional sign, ASCII digits up to the
    first other character. ``None`` where JavaScript yields ``NaN`` (no digits).

    The result is exact (JavaScript would round above 2**53); callers range-check it.
    """
    text = value.lstrip(JS_WHITESPACE)
    sign = 1
    if text[:1] in ("+", "-"):
        sign = -1 if text[0] == "-" else 1
        text = text[1:]
    end = 0
    while end < len(text) and text[end] in _ASCII_DIGITS:
        end += 1
    if end == 0:
        return None
    return sign * _digits_to_int(text[:end])


def parse_byte_size(value: str) -> int:
    """A byte size such as ``2GB``, ``1.5 gb`` or ``512KB`` (binary units B, KB, MB, GB),
    floored to whole bytes. A bare number is not a byte size.

    The arithmetic is exact decimal arithmetic (``0.5B`` is 0, ``1.5GB`` is 1610612736).
    Raises ``ValueError`` for anything else.
    """
    match = _BYTE_SIZE.fullmatch(js_trim(value))
    if match is None:
        raise ValueError(f"invalid byte size: {value!r}")
    whole, fraction, unit = match.group(1), match.group(2) or "", match.group(3)
    multiplier = _BYTE_UNITS[unit.upper()]
    scale: int = 10 ** len(fraction)
    return _digits_to_int(whole + fraction) * multiplier // scale


def parse_byte_size_or_int(value: str) -> int:
    """Only digits (after trimming) is a number of bytes; anything else must be a byte
    size (config.md §1.1 "byte size or integer"). Raises ``ValueError``."""
    trimmed = js_trim(value)
    if trimmed and all(c in _ASCII_DIGITS for c in trimmed):
        return _digits_to_int(trimmed)
    return parse_byte_size(value)


def parse_strict_bool(value: str) -> bool:
    """Exactly ``true`` is true; anything else (``TRUE``, ``1``, ``yes``) is false."""
    return value == "true"


def parse_default_on_bool(value: str) -> bool:
    """Case-insensitive ``false`` is false; anything else is true."""
    return value.lower() != "false"


def parse_int_list(value: str, *, minimum: int = 1) -> tuple[int, ...]:
    """Comma-separated integers, each trimmed and parsed like :func:`parse_js_int` and at
    least ``minimum``. Order and duplicates are kept; an empty element is invalid.
    Raises ``ValueError``."""
    result: list[int] = []
    for element in value.split(","):
        number = parse_js_int(js_trim(element))
        if number is None or number < minimum:
            raise ValueError(f"invalid list element: {element!r}")
        result.append(number)
    return tuple(result)


def parse_string_list(value: str) -> tuple[str, ...]:
    """Comma-separated strings, trimmed; empty elements (``a,,b``, a trailing comma) are
    dropped because an empty entry can never be meant."""
    return tuple(s for s in (js_trim(e) for e in value.split(",")) if s)


# --- Absolute URLs -------------------------------------------------------------------
#
# A pragmatic subset of the WHATWG URL parser: it decides whether `new URL(value)` would
# succeed and extracts scheme, host and port. Paths, queries and fragments never make a
# URL invalid, so they are not parsed.

_C0_AND_SPACE = "".join(chr(c) for c in range(0x21))
_DROP_TAB_NEWLINE = str.maketrans("", "", "\t\n\r")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*", re.ASCII)
_DEFAULT_PORTS: dict[str, int | None] = {
    "ftp": 21,
    "file": None,
    "http": 80,
    "https": 443,
    "ws": 80,
    "wss": 443,
}
_FORBIDDEN_HOST = frozenset("\x00\t\n\r #/:<>?@[\\]^|")
_FORBIDDEN_DOMAIN = _FORBIDDEN_HOST | frozenset(chr(c) for c in range(0x20)) | {"%", "\x7f"}
_PERCENT_BYTE = re.compile(rb"%([0-9A-Fa-f]{2})")
_WINDOWS_DRIVE = re.compile(r"[A-Za-z][:|]", re.ASCII)


@attrs.frozen
class AbsoluteUrl:
    """Scheme (lower case), serialized host and explicit non-default port of a URL."""

    scheme: str
    host: str | None  # None for URLs without an authority (``mailto:x``)
    port: int | None  # None when absent or equal to the scheme's default port

    @property
    def origin(self) -> str | None:
        """``scheme://host[:port]`` for http(s), ws(s) and ftp; ``None`` (an opaque
        origin) for every other scheme."""
        if self.scheme == "file" or self.scheme not in _DEFAULT_PORTS:
            return None
        port = "" if self.port is None else f":{self.port}"
        return f"{self.scheme}://{self.host}{port}"


def is_absolute_url(value: str) -> bool:
    """Whether a WHATWG URL parser accepts ``value`` without a base URL."""
    return parse_absolute_url(value) is not None


def parse_absolute_url(value: str) -> AbsoluteUrl | None:
    """Parse ``value`` as an absolute URL; ``None`` where ``new URL(value)`` would throw."""
    text = value.strip(_C0_AND_SPACE).translate(_DROP_TAB_NEWLINE)
    colon = text.find(":")
    if colon <= 0 or _SCHEME.fullmatch(text[:colon]) is None:
        return None
    scheme, rest = text[:colon].lower(), text[colon + 1 :]
    if scheme == "file":
        return _parse_file_url(rest)
    if scheme in _DEFAULT_PORTS:
        return _parse_authority(scheme, rest.lstrip("/\\"), special=True)
    if rest.startswith("//"):
        return _parse_authority(scheme, rest[2:], special=False)
    return AbsoluteUrl(scheme=scheme, host=None, port=None)


def _authority_end(rest: str, delimiters: str) -> int:
    return min((i for i in (rest.find(d) for d in delimiters) if i >= 0), default=len(rest))


def _parse_file_url(rest: str) -> AbsoluteUrl | None:
    if rest[:1] not in ("/", "\\") or rest[1:2] not in ("/", "\\"):
        return AbsoluteUrl(scheme="file", host="", port=None)
    after = rest[2:]
    buffer = after[: _authority_end(after, "/\\?#")]
    if not buffer or _WINDOWS_DRIVE.fullmatch(buffer):
        return AbsoluteUrl(scheme="file", host="", port=None)
    host = _parse_host(buffer, opaque=False)
    if host is None:
        return None
    return AbsoluteUrl(scheme="file", host="" if host == "localhost" else host, port=None)


def _parse_authority(scheme: str, rest: str, *, special: bool) -> AbsoluteUrl | None:
    authority = rest[: _authority_end(rest, "/?#\\" if special else "/?#")]
    at = authority.rfind("@")
    host_port = authority[at + 1 :] if at >= 0 else authority
    if at >= 0 and not host_port:
        return None
    host_text, port_text = _split_host_port(host_port)
    if (port_text is not None or special) and not host_text:
        return None
    port: int | None = None
    if port_text:
        if not (port_text.isascii() and port_text.isdigit()):
            return None
        port = _digits_to_int(port_text)
        if port > 65535:
            return None
        if port == _DEFAULT_PORTS.get(scheme):
            port = None
    host = _parse_host(host_text, opaque=not special) if host_text else ""
    if host is None:
        return None
    return AbsoluteUrl(scheme=scheme, host=host, port=port)


def _split_host_port(host_port: str) -> tuple[str, str | None]:
    inside_brackets = False
    for index, char in enumerate(host_port):
        if char == "[":
            inside_brackets = True
        elif char == "]":
            inside_brackets = False
        elif char == ":" and not inside_brackets:
            return host_port[:index], host_port[index + 1 :]
    return host_port, None


def _parse_host(text: str, *, opaque: bool) -> str | None:
    if text.startswith("["):
        if not text.endswith("]"):
            return None
        address = _parse_ipv6(text[1:-1])
        return None if address is None else f"[{address}]"
    if opaque:
        return None if any(c in _FORBIDDEN_HOST for c in text) else text
    decoded = _PERCENT_BYTE.sub(
        lambda m: bytes([int(m.group(1), 16)]), text.encode("utf-8", "surrogatepass")
    ).decode("utf-8", "replace")
    domain = _domain_to_ascii(decoded)
    if not domain or any(c in _FORBIDDEN_DOMAIN for c in domain):
        return None
    if _ends_in_number(domain):
        return _parse_ipv4(domain)
    return domain


def _domain_to_ascii(domain: str) -> str | None:
    # Approximates UTS #46 (non-strict) with the stdlib's IDNA 2003 codec.
    labels: list[str] = []
    for label in re.split("[.\u3002\uff0e\uff61]", domain):
        if label.isascii():
            label = label.lower()
            if label.startswith("xn--"):
                try:
                    label[4:].encode("ascii").decode("punycode")
                except UnicodeError:
                    return None
            labels.append(label)
            continue
        try:
            labels.append(encodings.idna.ToASCII(label).decode("ascii"))
        except UnicodeError:
            return None
    return ".".join(labels)


def _ipv4_number(part: str) -> int | None:
    radix = 10
    if part[:2] in ("0x", "0X"):
        part, radix = part[2:], 16
    elif len(part) > 1 and part[0] == "0":
        part, radix = part[1:], 8
    if not part:
        return 0
    digits = "0123456789abcdefABCDEF"[: 22 if radix == 16 else radix]
    if not all(c in digits for c in part):
        return None
    return _digits_to_int(part) if radix == 10 else int(part, radix)


def _ipv4_parts(domain: str) -> list[str]:
    parts = domain.split(".")
    if parts[-1] == "" and len(parts) > 1:
        parts.pop()
    return parts


def _ends_in_number(domain: str) -> bool:
    last = _ipv4_parts(domain)[-1]
    if last and all(c in _ASCII_DIGITS for c in last):
        return True
    return bool(last) and _ipv4_number(last) is not None


def _parse_ipv4(domain: str) -> str | None:
    parts = _ipv4_parts(domain)
    if len(parts) > 4 or any(not p for p in parts):
        return None
    numbers = [_ipv4_number(p) for p in parts]
    valid = [n for n in numbers if n is not None]
    if len(valid) != len(numbers) or any(n > 255 for n in valid[:-1]):
        return None
    if valid[-1] >= 256 ** (5 - len(valid)):
        return None
    address = valid[-1] + sum(n * 256 ** (3 - i) for i, n in enumerate(valid[:-1]))
    return ".".join(str((address >> shift) & 0xFF) for shift in (24, 16, 8, 0))


def _parse_ipv6(text: str) -> str | None:
    if "%" in text or not text.isascii():
        return None  # zone identifiers are not part of URL syntax
    try:
        packed = ipaddress.IPv6Address(text).packed
    except ValueError:
        return None
    pieces = [int.from_bytes(packed[i : i + 2], "big") for i in range(0, 16, 2)]
    # WHATWG serialization: compress the first longest run of two or more zero pieces.
    best_start, best_len, run_start = -1, 1, -1
    for index, piece in enumerate([*pieces, 1]):
        if piece == 0 and run_start < 0:
            run_start = index
        elif piece != 0 and run_start >= 0:
            if index - run_start > best_len:
                best_start, best_len = run_start, index - run_start
            run_start = -1
    if best_start < 0:
        return ":".join(f"{p:x}" for p in pieces)
    head = ":".join(f"{p:x}" for p in pieces[:best_start])
    tail = ":".join(f"{p:x}" for p in pieces[best_start + best_len :])
    return f"{head}::{tail}"
