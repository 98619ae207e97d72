"""The asynchronous client: every endpoint, plus the end-to-end upload/download/note flows.

Encryption happens here, on the caller's machine; the server only ever sees ciphertext,
salts and tokens (crypto.md). See :class:`AsyncClient`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Self

import httpx

from skysend_core.crypto import (
    EncryptedMetadata,
    ItemKeys,
    Metadata,
    NoteContentType,
    ShareKind,
    ShareUrl,
    SingleFileMetadata,
    build_share_url,
    decrypt_metadata,
    encrypt_metadata,
    encrypted_size,
    parse_share_url,
)
from skysend_http.client import notes, options
from skysend_http.client._http import (
    ProgressCounter,
    api_url,
    raise_for_status,
    request,
    request_json,
    translate_transport_errors,
)
from skysend_http.client.archive import payload_source
from skysend_http.client.downloads import PreparedDownload, save_download
from skysend_http.client.errors import (
    AuthError,
    WrongPasswordError,
)
from skysend_http.client.login import browser_login
from skysend_http.client.models import (
    DownloadResult,
    Health,
    NoteInfo,
    NoteResult,
    NoteView,
    OwnerScheme,
    PasswordSource,
    Phase,
    ProgressCallback,
    ProgressEvent,
    Quota,
    ServerConfig,
    TransportChoice,
    UploadInfo,
    UploadResult,
)
from skysend_http.client.options import NoteContent, StrPath
from skysend_http.client.ownership import owner_credentials
from skysend_http.client.payload import EncryptedFile
from skysend_http.client.shares import normalize_server, open_keys, share_of
from skysend_http.client.transports import Connection, send_payload
from skysend_http.client.uploads import UploadParams, bearer

DEFAULT_TIMEOUT = httpx.Timeout(30.0)
CONFIG_TTL = 60.0
USER_AGENT = "skysend-python"


class AsyncClient:
    """Talks to one SkySend server (``base_url``); share URLs of other servers work too.

    ``transport`` is any ``httpx.AsyncBaseTransport`` (tests pass ``httpx.ASGITransport``);
    the WebSocket upload always opens a real connection and falls back to HTTP chunks when
    that is impossible. ``session_token`` is the OIDC session JWT sent as
    ``Authorization: Bearer`` on guarded creation requests. ``websocket=False`` never tries
    the WebSocket transport. Use as an async context manager, or call :meth:`aclose`.
    """

    def __init__(
        self,
        base_url: str,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        session_token: str | None = None,
        websocket: bool = True,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        verify: bool | str = True,
        user_agent: str = USER_AGENT,
    ) -> None:
        self.base_url = normalize_server(base_url)
        self.session_token = session_token
        self.websocket = websocket
        self._user_agent = user_agent
        self._http = httpx.AsyncClient(
            transport=transport,
            timeout=timeout,
            verify=verify,
            headers={"User-Agent": user_agent},
            follow_redirects=False,
        )
        self._configs: dict[str, tuple[float, ServerConfig]] = {}

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # --- system -----------------------------------------------------------------------

    async def login(
        self,
        *,
        open_browser: Callable[[str], object] | None = None,
        on_url: Callable[[str], None] | None = None,
    ) -> str:
        """Obtain a session token with the browser (``cli_callback`` flow, oidc.md §9) and
        use it from now on; returns it so that it can be stored."""
        self.session_token = await browser_login(
            self.base_url, open_browser=open_browser, on_url=on_url
        )
        return self.session_token

    async def config(self, *, refresh: bool = False, server: str | None = None) -> ServerConfig:
        """``GET /api/config`` (cached for a minute unless ``refresh``)."""
        server = self._server(server)
        cached = self._configs.get(server)
        if cached and not refresh and time.monotonic() - cached[0] < CONFIG_TTL:
            return cached[1]
        data = await request_json(self._http, "GET", api_url(server, "config"))
        config = ServerConfig.from_json(data)
        self._configs[server] = (time.monotonic(), config)
        return config

    async def health(self) -> Health:
        """``GET /api/health``."""
        data = await request_json(self._http, "GET", api_url(self.base_url, "health"))
        return Health.from_json(data)

    async def quota(self) -> Quota:
        """``GET /api/quota``: the upload quota of the calling IP."""
        data = await request_json(self._http, "GET", api_url(self.base_url, "quota"))
        return Quota.from_json(data)

    # --- files: single endpoints ----------------------------------------------------------

    async def info(self, upload_id: str, *, server: str | None = None) -> UploadInfo:
        """``GET /api/info/:id`` (no side effects)."""
        url = api_url(self._server(server), "info", upload_id)
        return UploadInfo.from_json(await request_json(self._http, "GET", url))

    async def exists(self, upload_id: str, *, server: str | None = None) -> bool:
        """``GET /api/exists/:id``: false for unknown, expired and exhausted uploads."""
        url = api_url(self._server(server), "exists", upload_id)
        with translate_transport_errors():
            response = await self._http.get(url)
        if response.status_code in (404, 410):
            return False
        await raise_for_status(response)
        return True

    async def set_metadata(
        self,
        upload_id: str,
        owner_token: str,
        metadata: EncryptedMetadata,
        *,
        server: str | None = None,
    ) -> None:
        """``POST /api/meta/:id`` (once per upload)."""
        await request(
            self._http,
            "POST",
            api_url(self._server(server), "meta", upload_id),
            headers={"X-Owner-Token": owner_token},
            json={"encryptedMeta": metadata.encrypted_meta_b64, "nonce": metadata.nonce_b64},
        )

    async def check_password(
        self, upload_id: str, auth_token: str, *, server: str | None = None
    ) -> None:
        """``POST /api/password/:id``; raises :class:`WrongPasswordError` on 401."""
        await self._password_request(
            api_url(self._server(server), "password", upload_id), auth_token
        )

    async def delete_upload(
        self, upload_id: str, owner_token: str, *, server: str | None = None
    ) -> None:
        """``DELETE /api/upload/:id``."""
        url = api_url(self._server(server), "upload", upload_id)
        await request(self._http, "DELETE", url, headers={"X-Owner-Token": owner_token})

    async def delete(self, share_url: str, owner_token: str) -> ShareKind:
        """Delete the upload or note a share URL points to; returns its kind."""
        share = parse_share_url(share_url)
        if share.kind == "note":
            await self.delete_note(share.item_id, owner_token, server=share.server)
        else:
            await self.delete_upload(share.item_id, owner_token, server=share.server)
        return share.kind

    # --- files: upload -----------------------------------------------------------------

    async def upload(
        self,
        files: StrPath | Sequence[StrPath],
        *,
        expire_sec: int | None = None,
        max_downloads: int | None = None,
        password: str | None = None,
        transport: TransportChoice = "auto",
        owner: OwnerScheme = "independent",
        progress: ProgressCallback | None = None,
        temp_dir: str | None = None,
    ) -> UploadResult:
        """Encrypt and upload one file, or several files as one ZIP archive.

        ``transport="auto"`` uses the WebSocket when the server offers it and falls back to
        HTTP chunks (re-encrypting from the source) if that fails; ``"ws"``, ``"chunked"``
        and ``"single"`` force one transport. ``owner="independent"`` (default) derives the
        owner token from a random owner secret returned in the result instead of from the
        share-URL secret, so the link alone cannot delete the upload (see
        :mod:`.ownership`). Defaults for expiry and downloads come from the server.
        """
        config = await self.config()
        paths = options.check_files(files, config)
        expire_sec, max_downloads = options.file_options(config, expire_sec, max_downloads)
        password = options.check_password(password, config.force_file_password)
        source, metadata, temporary = await payload_source(paths, progress, temp_dir)
        try:
            size = source.stat().st_size
            options.check_payload_size(size, encrypted_size(size), config)
            _emit(progress, "encrypting")
            keys = await asyncio.to_thread(ItemKeys.generate, password)
            owner_secret, owner_token = owner_credentials(keys, owner)
            params = UploadParams(
                auth_token=keys.auth_token_b64u,
                owner_token=owner_token,
                salt=keys.salt_b64u,
                max_downloads=max_downloads,
                expire_sec=expire_sec,
                file_count=len(paths),
                content_length=encrypted_size(size),
                password_salt=keys.password_salt_b64u,
            )
            upload_id, used, reason = await send_payload(
                self._connection(),
                config,
                params,
                EncryptedFile(source, size, keys.file_key),
                transport,
                progress,
            )
        finally:
            if temporary:
                source.unlink(missing_ok=True)
        await self.set_metadata(upload_id, owner_token, encrypt_metadata(keys.meta_key, metadata))
        now = datetime.now(UTC)
        return UploadResult(
            id=upload_id,
            url=build_share_url(self.base_url, "file", upload_id, keys.effective_secret),
            owner_token=owner_token,
            owner_secret=owner_secret,
            owner_scheme=owner,
            size=size,
            encrypted_size=encrypted_size(size),
            file_count=len(paths),
            file_names=_file_names(metadata),
            total_size=_total_size(metadata),
            expire_sec=expire_sec,
            max_downloads=max_downloads,
            has_password=keys.has_password,
            transport=used,
            created_at=now,
            expires_at=now + timedelta(seconds=expire_sec),
            fallback_reason=reason,
        )

    # --- files: download ---------------------------------------------------------------

    async def prepare_download(
        self,
        share_url: str | ShareUrl,
        *,
        password: PasswordSource | None = None,
        info: UploadInfo | None = None,
    ) -> PreparedDownload:
        """Read the info, derive the keys, verify the password and decrypt the metadata.

        Consumes nothing: a wrong password raises :class:`WrongPasswordError` before any
        download is counted. ``password`` may be a callable, asked only if needed; ``info``
        saves the request when the caller already fetched it.
        """
        share = share_of(share_url, "file")
        if info is None or info.id != share.item_id:
            info = await self.info(share.item_id, server=share.server)
        keys = await open_keys(
            share, info.salt, info.has_password, info.password_algo, info.password_salt, password
        )
        if info.has_password:
            await self.check_password(share.item_id, keys.auth_token_b64u, server=share.server)
        metadata: Metadata | None = None
        if info.encrypted_meta is not None and info.meta_nonce is not None:
            metadata = decrypt_metadata(keys.meta_key, info.encrypted_meta, info.meta_nonce)
        return PreparedDownload(share=share, info=info, keys=keys, metadata=metadata)

    async def save(
        self,
        prepared: PreparedDownload,
        dest: StrPath | None = None,
        *,
        progress: ProgressCallback | None = None,
    ) -> DownloadResult:
        """Download (one download is counted) and decrypt to ``dest``.

        ``dest`` is a file path or an existing directory (saved under
        :attr:`PreparedDownload.name`); default: the current directory. Raises
        :class:`IntegrityError`, leaving no file behind, if the data fails verification.
        """
        counter = ProgressCounter(progress, "downloading", prepared.info.size)
        return await save_download(self._http, prepared, dest, counter)

    async def download(
        self,
        share_url: str,
        dest: StrPath | None = None,
        *,
        password: PasswordSource | None = None,
        progress: ProgressCallback | None = None,
    ) -> DownloadResult:
        """:meth:`prepare_download`, then :meth:`save`."""
        prepared = await self.prepare_download(share_url, password=password)
        return await self.save(prepared, dest, progress=progress)

    # --- notes ----------------------------------------------------------------------------

    async def create_note(
        self,
        content: NoteContent,
        *,
        content_type: NoteContentType | None = None,
        expire_sec: int | None = None,
        max_views: int | None = None,
        password: str | None = None,
        owner: OwnerScheme = "independent",
    ) -> NoteResult:
        """Encrypt and store a note (``max_views=0``: unlimited).

        ``content`` is the plaintext, or structured entries (``PasswordEntry`` items,
        ``CodeBlock`` items, an ``SshKeyNote``) written in the formats the web app renders.
        """
        kind, text = options.note_plaintext(content, content_type)
        config = await self.config()
        expire_sec, max_views = options.note_options(config, expire_sec, max_views)
        options.check_note_size(text, config)
        password = options.check_password(password, config.force_note_password)
        keys = await asyncio.to_thread(ItemKeys.generate, password)
        owner_pair = owner_credentials(keys, owner)
        note_id, expires_at = await notes.post_note(
            self._http,
            self.base_url,
            keys=keys,
            owner_token=owner_pair[1],
            text=text,
            content_type=kind,
            expire_sec=expire_sec,
            max_views=max_views,
            headers=bearer(self.session_token),
        )
        return notes.note_result(
            self.base_url, note_id, expires_at, keys, owner_pair, owner, kind, expire_sec, max_views
        )

    async def note_info(self, note_id: str, *, server: str | None = None) -> NoteInfo:
        """``GET /api/note/:id`` (no side effects)."""
        url = api_url(self._server(server), "note", note_id)
        return NoteInfo.from_json(await request_json(self._http, "GET", url))

    async def check_note_password(
        self, note_id: str, auth_token: str, *, server: str | None = None
    ) -> None:
        """``POST /api/note/:id/password``; raises :class:`WrongPasswordError` on 401."""
        url = api_url(self._server(server), "note", note_id, "password")
        await self._password_request(url, auth_token)

    async def view_note(
        self, share_url: str | ShareUrl, *, password: PasswordSource | None = None
    ) -> NoteView:
        """Open a note: check the password (a wrong one consumes nothing), then consume one
        view and decrypt. Burn-after-reading notes are gone afterwards."""
        share = share_of(share_url, "note")
        info = await self.note_info(share.item_id, server=share.server)
        keys = await open_keys(
            share, info.salt, info.has_password, info.password_algo, info.password_salt, password
        )
        if info.has_password:
            await self.check_note_password(share.item_id, keys.auth_token_b64u, server=share.server)
        return await notes.consume_view(self._http, share, info, keys)

    async def delete_note(
        self, note_id: str, owner_token: str, *, server: str | None = None
    ) -> None:
        """``DELETE /api/note/:id``."""
        url = api_url(self._server(server), "note", note_id)
        await request(self._http, "DELETE", url, headers={"X-Owner-Token": owner_token})

    # --- shared ----------------------------------------------------------------------------

    def _connection(self) -> Connection:
        return Connection(
            http=self._http,
            server=self.base_url,
            session_token=self.session_token,
            websocket=self.websocket,
            user_agent=self._user_agent,
        )

    def _server(self, server: str | None) -> str:
        return self.base_url if server is None else normalize_server(server)

    async def _password_request(self, url: str, auth_token: str) -> None:
        try:
            await request(self._http, "POST", url, json={"authToken": auth_token})
        except AuthError as exc:
            raise WrongPasswordError(exc.status, exc.message, body=exc.body) from None


def _emit(progress: ProgressCallback | None, phase: Phase, *, detail: str | None = None) -> None:
    if progress is not None:
        progress(ProgressEvent(phase, 0, 0, detail))


def _file_names(metadata: Metadata) -> tuple[str, ...]:
    if isinstance(metadata, SingleFileMetadata):
        return (metadata.name,)
    return tuple(entry.name for entry in metadata.files)


def _total_size(metadata: Metadata) -> int:
    if isinstance(metadata, SingleFileMetadata):
        return metadata.size
    return metadata.total_size
