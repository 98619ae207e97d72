"""SkySend client library: end-to-end-encrypted uploads, downloads and notes.

::

    from skysend_http.client import Client

    with Client("https://send.example.com") as client:
        upload = client.upload(["a.pdf", "b.png"], expire_sec=3600, password="pw")
        print(upload.url, upload.owner_token)
        result = client.download(upload.url, "out/", password="pw")
        note = client.create_note("hello", max_views=1)
        print(client.view_note(note.url).content)

:class:`Client` is the blocking facade of :class:`AsyncClient`; both have the same methods.
Everything is encrypted and decrypted locally with :mod:`skysend_core.crypto`; errors are
described in :mod:`skysend_http.client.errors`. See docs/user/library.md.
"""

from skysend_core.crypto import CodeBlock, PasswordEntry, SshKeyNote
from skysend_http.client.async_client import AsyncClient
from skysend_http.client.downloads import PreparedDownload
from skysend_http.client.errors import (
    AuthError,
    BadRequestError,
    ConflictError,
    ForbiddenError,
    GoneError,
    IntegrityError,
    InvalidLinkError,
    InvalidResponseError,
    NotFoundError,
    PasswordRequiredError,
    RateLimitedError,
    ServerError,
    SkySendClientError,
    TooLargeError,
    TransportError,
    WebSocketUploadError,
    WrongPasswordError,
)
from skysend_http.client.models import (
    DownloadResult,
    Health,
    NoteInfo,
    NoteResult,
    NoteView,
    OwnerScheme,
    ProgressCallback,
    ProgressEvent,
    Quota,
    ServerConfig,
    TransportChoice,
    UploadInfo,
    UploadResult,
)
from skysend_http.client.options import NoteContent, note_plaintext
from skysend_http.client.sync_client import Client

__all__ = [
    "AsyncClient",
    "AuthError",
    "BadRequestError",
    "Client",
    "CodeBlock",
    "ConflictError",
    "DownloadResult",
    "ForbiddenError",
    "GoneError",
    "Health",
    "IntegrityError",
    "InvalidLinkError",
    "InvalidResponseError",
    "NotFoundError",
    "NoteContent",
    "NoteInfo",
    "NoteResult",
    "NoteView",
    "OwnerScheme",
    "PasswordEntry",
    "PasswordRequiredError",
    "PreparedDownload",
    "ProgressCallback",
    "ProgressEvent",
    "Quota",
    "RateLimitedError",
    "ServerConfig",
    "ServerError",
    "SkySendClientError",
    "SshKeyNote",
    "TooLargeError",
    "TransportChoice",
    "TransportError",
    "UploadInfo",
    "UploadResult",
    "WebSocketUploadError",
    "WrongPasswordError",
    "note_plaintext",
]
