"""File round trips through a live server: every transport, passwords, archives, failures."""

from __future__ import annotations

import os
import zipfile
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from skysend_core.crypto import (
    ENCRYPTED_RECORD_SIZE,
    NONCE_LENGTH,
    ArchiveMetadata,
    ItemKeys,
    SingleFileMetadata,
    b64url_encode,
    build_share_url,
    derive_owner_token,
    encrypt_metadata,
    encrypt_payload,
    parse_share_url,
)
from skysend_http.client import (
    AsyncClient,
    AuthError,
    Client,
    GoneError,
    IntegrityError,
    InvalidLinkError,
    NotFoundError,
    PasswordRequiredError,
    ProgressEvent,
    RateLimitedError,
    WrongPasswordError,
)
from tests.client.live import Live, leftovers, listing, random_file, read, same_content
from tests.support.s3 import S3Server

MIB = 1024 * 1024
SIZE = 17 * MIB + 12345  # two HTTP chunks, many WebSocket frames, a short last record


@pytest.fixture
def source(tmp_path: Path) -> Path:
    return random_file(tmp_path / "source.bin", SIZE)


@pytest.mark.parametrize("transport", ["ws", "chunked", "single"])
async def test_round_trip_for_every_transport(
    live: Live, source: Path, tmp_path: Path, transport: str
) -> None:
    events: list[ProgressEvent] = []
    async with AsyncClient(live.url) as client:
        result = await client.upload(source, transport=transport, progress=events.append)  # type: ignore[arg-type]
        assert result.transport == transport
        assert result.encrypted_size == (await client.info(result.id)).size
        downloaded = await client.download(result.url, tmp_path / "out", progress=events.append)

    assert same_content(downloaded.path, source)
    assert downloaded.name == "source.bin"
    assert downloaded.metadata == SingleFileMetadata("source.bin", SIZE, "application/octet-stream")
    uploading = [e for e in events if e.phase == "uploading"]
    assert uploading[-1].done == uploading[-1].total == result.encrypted_size
    downloading = [e for e in events if e.phase == "downloading"]
    assert downloading[-1].done == result.encrypted_size
    assert leftovers(tmp_path) == []


async def test_auto_uses_the_websocket_when_offered(live: Live, source: Path) -> None:
    async with AsyncClient(live.url) as client:
        result = await client.upload(source)
    assert (result.transport, result.fallback_reason) == ("ws", None)


async def test_auto_uses_chunks_when_the_server_has_no_websocket(
    start_live: Callable[..., Live], source: Path
) -> None:
    live = start_live(FILE_UPLOAD_WS="false")
    async with AsyncClient(live.url) as client:
        result = await client.upload(source)
    assert (result.transport, result.fallback_reason) == ("chunked", None)


class AdvertiseWebSocket(httpx.AsyncBaseTransport):
    """Passes requests to the network but claims ``fileUploadWs: true`` in ``/api/config``."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if request.url.path != "/api/config":
            return response
        await response.aread()
        config = {**response.json(), "fileUploadWs": True}
        return httpx.Response(200, json=config)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_a_failing_websocket_falls_back_to_http_chunks(
    start_live: Callable[..., Live], source: Path, tmp_path: Path
) -> None:
    live = start_live(FILE_UPLOAD_WS="false")  # the upgrade answers 404
    events: list[ProgressEvent] = []
    async with AsyncClient(live.url, transport=AdvertiseWebSocket()) as client:
        result = await client.upload(source, progress=events.append)
        downloaded = await client.download(result.url, tmp_path / "out")
    assert result.transport == "chunked"
    assert result.fallback_reason is not None
    assert "404" in result.fallback_reason
    assert [e.detail for e in events if e.phase == "fallback"] == [result.fallback_reason]
    assert same_content(downloaded.path, source)


async def test_password_protected_upload(live: Live, source: Path, tmp_path: Path) -> None:
    async with AsyncClient(live.url) as client:
        result = await client.upload(source, password="correct horse ü", max_downloads=2)
        info = await client.info(result.id)
        assert info.has_password
        assert info.password_algo == "argon2id-v2"

        with pytest.raises(PasswordRequiredError):
            await client.download(result.url, tmp_path / "a")
        with pytest.raises(WrongPasswordError) as wrong:
            await client.download(result.url, tmp_path / "b", password="wrong")
        assert wrong.value.status == 401
        assert (await client.info(result.id)).download_count == 0  # nothing consumed

        asked: list[bool] = []

        def ask() -> str:
            asked.append(True)
            return "correct horse ü"

        downloaded = await client.download(result.url, tmp_path / "c", password=ask)
    assert asked == [True]
    assert same_content(downloaded.path, source)
    assert listing(tmp_path) == ["c", "server-0", "source.bin"]


async def test_several_files_become_one_zip_archive(live: Live, tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    files = [
        random_file(tmp_path / "one.bin", 3 * MIB + 7),
        random_file(tmp_path / "sub" / "one.bin", 1000),
        random_file(tmp_path / "clip.mp4", 200_000),
    ]
    out = tmp_path / "out"
    out.mkdir()
    events: list[ProgressEvent] = []
    async with AsyncClient(live.url) as client:
        result = await client.upload(files, password="pw", progress=events.append)
        assert (await client.info(result.id)).file_count == 3
        downloaded = await client.download(result.url, out, password="pw")

    assert result.file_names == ("one.bin", "one (2).bin", "clip.mp4")
    assert result.total_size == sum(f.stat().st_size for f in files)
    assert downloaded.path == out / "archive.zip"
    assert downloaded.file_count == 3
    assert isinstance(downloaded.metadata, ArchiveMetadata)
    with zipfile.ZipFile(downloaded.path) as archive:
        assert archive.namelist() == ["one.bin", "one (2).bin", "clip.mp4"]
        for name, original in zip(archive.namelist(), files, strict=True):
            assert archive.read(name) == read(original)
    packing = [e for e in events if e.phase == "packing"]
    assert packing[-1].done == packing[-1].total == result.total_size
    assert not [name for name in listing(tmp_path) if name.startswith("skysend-")]


def _flip_byte(path: Path, offset: int) -> None:
    with path.open("r+b") as blob:
        blob.seek(offset)
        value = blob.read(1)[0]
        blob.seek(offset)
        blob.write(bytes([value ^ 0x01]))


@pytest.mark.parametrize(
    "damage",
    ["flip-middle", "flip-last-tag", "truncate-at-record", "truncate-mid-record", "append"],
)
async def test_damaged_ciphertext_is_refused_and_leaves_no_file(
    live: Live, source: Path, tmp_path: Path, damage: str
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    async with AsyncClient(live.url) as client:
        result = await client.upload(source, transport="chunked")
        blob = live.blob(result.id)
        size = blob.stat().st_size
        if damage == "flip-middle":
            _flip_byte(blob, size // 2)
        elif damage == "flip-last-tag":
            _flip_byte(blob, size - 1)
        elif damage == "truncate-at-record":  # the cut no tag can notice: only the length does
            with blob.open("r+b") as f:
                f.truncate(NONCE_LENGTH + 10 * ENCRYPTED_RECORD_SIZE)
        elif damage == "truncate-mid-record":
            with blob.open("r+b") as f:
                f.truncate(size - 100)
        else:
            with blob.open("ab") as f:
                f.write(b"\x00" * 50)
        with pytest.raises(IntegrityError):
            await client.download(result.url, out)
    assert listing(out) == []


async def test_a_wrong_link_secret_fails_on_the_metadata(live: Live, source: Path) -> None:
    async with AsyncClient(live.url) as client:
        result = await client.upload(source, transport="single")
        share = parse_share_url(result.url)
        forged = result.url.split("#")[0] + "#" + b64url_encode(bytes(32))
        with pytest.raises(IntegrityError):
            await client.prepare_download(forged)
        assert (await client.info(share.item_id)).download_count == 0


async def test_a_wrong_link_without_metadata_is_refused_by_the_server(
    live: Live, tmp_path: Path
) -> None:
    """No metadata to decrypt: the server's refusal of the key is what reveals the wrong
    link, and it is reported as such, not as a plain 401."""
    keys = ItemKeys.derive(os.urandom(32), os.urandom(32))
    stream = encrypt_payload(keys.file_key, b"payload")
    headers = {
        "X-Auth-Token": keys.auth_token_b64u,
        "X-Owner-Token": keys.owner_token_b64u,
        "X-Salt": keys.salt_b64u,
        "X-Max-Downloads": "1",
        "X-Expire-Sec": "3600",
        "X-Content-Length": str(len(stream)),
    }
    async with httpx.AsyncClient(base_url=live.url) as http:
        upload_id = (await http.post("/api/upload", content=stream, headers=headers)).json()["id"]
    forged = build_share_url(live.url, "file", upload_id, os.urandom(32))
    async with AsyncClient(live.url) as client:
        with pytest.raises(InvalidLinkError):
            await client.download(forged, tmp_path / "new" / "deep" / "out")
        assert (await client.info(upload_id)).download_count == 0
    assert not (tmp_path / "new").exists()  # the refusal came after the folders were made


async def test_download_limit_and_gone(live: Live, source: Path, tmp_path: Path) -> None:
    async with AsyncClient(live.url) as client:
        result = await client.upload(source, max_downloads=1)
        assert await client.exists(result.id)
        await client.download(result.url, tmp_path / "first")
        assert not await client.exists(result.id)
        with pytest.raises(GoneError, match="Download limit reached"):
            await client.download(result.url, tmp_path / "second")


async def test_owner_token_is_independent_of_the_link(live: Live, source: Path) -> None:
    async with AsyncClient(live.url) as client:
        result = await client.upload(source, transport="single")
        share = parse_share_url(result.url)
        info = await client.info(result.id)
        from_link = b64url_encode(derive_owner_token(share.secret, info.salt))
        assert result.owner_scheme == "independent"
        assert result.owner_secret
        assert from_link != result.owner_token

        with pytest.raises(AuthError):  # a link holder cannot delete
            await client.delete(result.url, from_link)
        assert await client.delete(result.url, result.owner_token) == "file"
        with pytest.raises(NotFoundError):
            await client.info(result.id)


async def test_link_owner_scheme_matches_the_reference(live: Live, source: Path) -> None:
    async with AsyncClient(live.url) as client:
        result = await client.upload(source, transport="single", owner="link", password="pw")
        share = parse_share_url(result.url)
        info = await client.info(result.id)
        assert result.owner_secret is None
        # The reference derives it from the *effective* (protected) secret in the link.
        assert result.owner_token == b64url_encode(derive_owner_token(share.secret, info.salt))
        await client.delete_upload(result.id, result.owner_token)


async def test_options_are_checked_before_anything_is_sent(live: Live, source: Path) -> None:
    async with AsyncClient(live.url) as client:
        with pytest.raises(ValueError, match=r"Invalid expiry\. Options: 300s, 3600s"):
            await client.upload(source, expire_sec=42)
        with pytest.raises(ValueError, match=r"Invalid download count\. Options: 1, 2"):
            await client.upload(source, max_downloads=7)
        with pytest.raises(ValueError, match="Password cannot be empty"):
            await client.upload(source, password="")
        with pytest.raises(FileNotFoundError, match="File not found"):
            await client.upload(source.with_name("missing"))
        with pytest.raises(ValueError, match="Not a file"):
            await client.upload(source.parent)


async def test_size_limit_is_checked_locally(start_live: Callable[..., Live], source: Path) -> None:
    live = start_live(FILE_MAX_SIZE="1MB")
    async with AsyncClient(live.url) as client:
        with pytest.raises(ValueError, match=r"File too large \(17\.0 MB\)\. Max: 1\.00 MB"):
            await client.upload(source)


async def test_system_endpoints(live: Live) -> None:
    async with AsyncClient(live.url + "/") as client:
        assert client.base_url == live.url
        health = await client.health()
        config = await client.config()
    assert health.status == "ok"
    assert config.file_upload_ws is True
    assert 1 in config.file_download_options


async def test_quota_endpoint(start_live: Callable[..., Live]) -> None:
    live = start_live(FILE_UPLOAD_QUOTA_BYTES="100MB")
    async with AsyncClient(live.url) as client:
        quota = await client.quota()
    assert quota.enabled is True
    assert (quota.limit, quota.used, quota.remaining) == (100 * MIB, 0, 100 * MIB)


def test_sync_client_round_trip(live: Live, source: Path, tmp_path: Path) -> None:
    with Client(live.url) as client:
        result = client.upload(source, transport="chunked", expire_sec=3600)
        downloaded = client.download(result.url, tmp_path)
    assert downloaded.path == tmp_path / "source.bin"
    assert same_content(downloaded.path, source)


async def test_sync_client_works_inside_a_running_loop(live: Live) -> None:
    with Client(live.url) as client:  # its loop runs in its own thread
        assert client.health().status == "ok"


@pytest.mark.parametrize("transport", ["ws", "chunked", "single"])
async def test_object_storage_downloads_follow_the_presigned_url(
    start_live: Callable[..., Live],
    s3_server: S3Server,
    source: Path,
    tmp_path: Path,
    transport: str,
) -> None:
    """A server on S3 answers the download with a presigned URL; the client fetches it
    from the bucket without SkySend's headers."""
    bucket = s3_server.new_bucket()
    live = start_live(**s3_server.env(bucket.name, S3_PART_SIZE="5MB"))
    recording = Recorder()
    async with AsyncClient(live.url, transport=recording) as client:
        result = await client.upload(source, transport=transport)  # type: ignore[arg-type]
        assert result.transport == transport
        assert bucket.objects() == [f"{result.id}.bin"]
        downloaded = await client.download(result.url, tmp_path / "out")
    assert same_content(downloaded.path, source)
    (presigned,) = [r for r in recording.requests if str(r.url).startswith(s3_server.endpoint)]
    assert presigned.url.path == f"/{bucket.name}/{result.id}.bin"
    assert "X-Amz-Signature" in str(presigned.url)
    assert "x-auth-token" not in presigned.headers


async def test_password_lockout_is_a_rate_limit_with_retry_after(
    start_live: Callable[..., Live], tmp_path: Path
) -> None:
    live = start_live(PASSWORD_MAX_ATTEMPTS="2")
    small = random_file(tmp_path / "s.bin", 100)
    async with AsyncClient(live.url) as client:
        result = await client.upload(small, password="right")
        for _ in range(2):
            with pytest.raises(WrongPasswordError):
                await client.prepare_download(result.url, password="wrong")
        with pytest.raises(RateLimitedError) as locked:
            await client.prepare_download(result.url, password="right")
    assert locked.value.message == "Too many failed attempts. Try again later."
    assert locked.value.retry_after is not None
    assert locked.value.retry_after > 0


class Recorder(httpx.AsyncBaseTransport):
    """The real network, with a note of every request the client sends."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.requests: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_session_token_is_sent_on_creation_requests(live: Live, source: Path) -> None:
    recorder = Recorder()
    async with AsyncClient(live.url, transport=recorder, session_token="jwt") as client:
        await client.upload(source, transport="chunked")
        await client.create_note("n")
    bearer = {r.url.path for r in recorder.requests if r.headers.get("authorization")}
    assert bearer == {"/api/upload/init", "/api/note"}
    assert all(r.headers.get("authorization") == "Bearer jwt" for r in recorder.requests
               if r.url.path in bearer)  # fmt: skip


async def test_downloads_uploads_made_elsewhere_with_a_legacy_16_byte_salt(
    live: Live, tmp_path: Path
) -> None:
    """An upload as an older client made it (16-byte salt, link-derived owner token, sent by
    hand over the documented API) downloads and verifies like any other."""
    secret, salt = os.urandom(32), os.urandom(16)
    keys = ItemKeys.derive(secret, salt)
    plaintext = os.urandom(100_000)
    stream = encrypt_payload(keys.file_key, plaintext)
    headers = {
        "X-Auth-Token": keys.auth_token_b64u,
        "X-Owner-Token": keys.owner_token_b64u,
        "X-Salt": keys.salt_b64u,
        "X-Max-Downloads": "1",
        "X-Expire-Sec": "3600",
        "X-Content-Length": str(len(stream)),
    }
    meta = encrypt_metadata(keys.meta_key, SingleFileMetadata("old.txt", len(plaintext)))
    async with httpx.AsyncClient(base_url=live.url) as http:
        created = await http.post("/api/upload", content=stream, headers=headers)
        upload_id = created.json()["id"]
        await http.post(
            f"/api/meta/{upload_id}",
            json={"encryptedMeta": meta.encrypted_meta_b64, "nonce": meta.nonce_b64},
            headers={"X-Owner-Token": keys.owner_token_b64u},
        )
    url = build_share_url(live.url, "file", upload_id, secret)
    async with AsyncClient(live.url) as client:
        downloaded = await client.download(url, tmp_path)
    assert downloaded.path == tmp_path / "old.txt"
    assert read(downloaded.path) == plaintext
