"""Share URLs (crypto.md §5): ``<origin>/file/<id>#<secret>`` and ``<origin>/note/<id>#<secret>``.

The fragment carries the base64url effective secret and never reaches the server. Parsing
follows the reference CLI: path ``/(file|note|d)/<id>`` with an optional trailing slash,
``d`` being a legacy alias of ``file``; the server is the URL's origin.
"""

from __future__ import annotations

import re
from typing import Literal, TypeAlias
from urllib.parse import quote, unquote, urlsplit

import attrs

from skysend_core.crypto.aead import BytesLike, check_length
from skysend_core.crypto.encoding import b64url_decode, b64url_encode
from skysend_core.crypto.keys import SECRET_LENGTH

ShareKind: TypeAlias = Literal["file", "note"]

_PATH = re.compile(r"/(file|note|d)/([^/]+)/?")


@attrs.frozen
class ShareUrl:
    """A parsed share URL. ``secret`` is the effective secret (protected if a password is set)."""

    server: str
    kind: ShareKind
    item_id: str
    secret: bytes = attrs.field(repr=False)

    @property
    def url(self) -> str:
        return build_share_url(self.server, self.kind, self.item_id, self.secret)


def build_share_url(server: str, kind: ShareKind, item_id: str, effective_secret: BytesLike) -> str:
    """``<server>/<kind>/<id>#<base64url secret>``; trailing slashes of ``server`` dropped."""
    if kind not in ("file", "note"):
        raise ValueError(f"unknown share kind: {kind!r}")
    check_length("secret", effective_secret, SECRET_LENGTH)
    base = server.rstrip("/")
    return f"{base}/{kind}/{quote(item_id, safe='')}#{b64url_encode(effective_secret)}"


@attrs.frozen
class ShareLocation:
    """Where a share URL points, without its secret: server origin, kind and id."""

    server: str
    kind: ShareKind
    item_id: str


def parse_share_location(url: str) -> ShareLocation:
    """The server, kind and id of a share URL, whether or not it carries the secret;
    :class:`ValueError` if it is not an absolute http(s) URL with a share path."""
    parts = urlsplit(url.strip())
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise ValueError("share URL must be an absolute http(s) URL")
    match = _PATH.fullmatch(parts.path)
    if match is None:
        raise ValueError("share URL path must be /file/<id> or /note/<id>")
    kind: ShareKind = "note" if match.group(1) == "note" else "file"
    item_id = unquote(match.group(2))
    if not item_id:
        raise ValueError("share URL has an empty id")
    _ = parts.port  # raises ValueError for a malformed port
    host = parts.netloc.rpartition("@")[2].lower()  # an origin carries no credentials
    return ShareLocation(server=f"{parts.scheme.lower()}://{host}", kind=kind, item_id=item_id)


def parse_share_url(url: str) -> ShareUrl:
    """Split a share URL into server origin, kind, id and secret; :class:`ValueError` if invalid."""
    location = parse_share_location(url)
    fragment = urlsplit(url.strip()).fragment
    if not fragment:
        raise ValueError("share URL has no secret (missing #fragment)")
    secret = b64url_decode(fragment)
    check_length("share URL secret", secret, SECRET_LENGTH)
    return ShareUrl(
        server=location.server, kind=location.kind, item_id=location.item_id, secret=secret
    )
