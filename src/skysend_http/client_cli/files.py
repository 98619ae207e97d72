"""``skysend upload``, ``skysend download`` and ``skysend delete`` (clients.md §1.5)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from skysend_core.crypto import parse_share_url
from skysend_http.client import UploadResult
from skysend_http.client.downloads import resolve_target
from skysend_http.client.units import format_bytes, format_expiry
from skysend_http.client_cli.common import (
    PROMPT,
    open_client,
    parse_count,
    parse_duration,
    password_arg,
    resolve_server,
    use_session,
)
from skysend_http.client_cli.local import LocalStore, history_entry, iso
from skysend_http.client_cli.output import Output
from skysend_http.client_cli.prompt import UsageError


def _check_paths(names: list[str]) -> list[Path]:
    paths = [Path(name) for name in names]
    for path in paths:
        if not path.exists():
            raise UsageError(f"File not found: {path}")
        if not path.is_file():
            raise UsageError(f"Not a file: {path}")
    return paths


def upload(args: argparse.Namespace, output: Output) -> None:
    paths = _check_paths(args.files)
    store = LocalStore()
    server = resolve_server(args.server, store)
    defaults = store.defaults()
    expires = args.expires or defaults.get("expires")
    downloads = args.downloads or defaults.get("downloads")
    with open_client(server, store, websocket=not args.no_ws) as client:
        config = client.config()
        use_session(client, store, config.oidc_protect_files, output)
        password = password_arg(args.password, "Password: ", "Password cannot be empty")
        if password is None and config.force_file_password:
            output.info("Password is required by server policy.")
            password = password_arg(PROMPT, "Password: ", "Password cannot be empty")
        progress = output.progress()
        result = client.upload(
            paths,
            expire_sec=parse_duration(str(expires)) if expires else None,
            max_downloads=parse_count(str(downloads), "download count") if downloads else None,
            password=password,
            transport=args.transport,
            owner="link" if args.owner_from_link else "independent",
            progress=progress,
        )
        progress.finish()
        output.info("Upload complete.")
    store.remember(
        "uploads",
        history_entry(
            server, result, fileNames=list(result.file_names), totalSize=result.total_size
        ),
    )
    if output.json_mode:
        output.result(_upload_json(result))
        return
    output.info()
    output.info(f"Share URL: {result.url}")
    output.info(
        f"Files: {result.file_count} | Size: {format_bytes(result.size)} | "
        f"Expires: {format_expiry(result.expire_sec)} | Downloads: {result.max_downloads} | "
        f"Avg speed: {format_bytes(progress.speed())}/s"
    )
    if result.has_password:
        output.info("Password protected: yes")


def _upload_json(result: UploadResult) -> dict[str, Any]:
    return {
        "id": result.id,
        "url": result.url,
        "ownerToken": result.owner_token,
        "size": result.size,
        "encryptedSize": result.encrypted_size,
        "fileCount": result.file_count,
        "expires": result.expire_sec,
        "maxDownloads": result.max_downloads,
        "hasPassword": result.has_password,
        "expiresAt": iso(result.expires_at),
    }


def download(args: argparse.Namespace, output: Output) -> None:
    share = parse_share_url(args.url)
    if share.kind == "note":
        raise UsageError("This URL is a note, not a file. Use 'skysend note:view' instead.")
    store = LocalStore()
    with open_client(share.server, store) as client:
        output.info("Fetching file info...")
        info = client.info(share.item_id, server=share.server)
        password = password_arg(args.password, "Password: ", "Password is required for this file")
        if info.has_password and password is None:
            password = password_arg(
                PROMPT,
                "This file is password protected. Password: ",
                "Password is required for this file",
            )
        output.info("Deriving keys...")
        prepared = client.prepare_download(share, password=password, info=info)
        target = resolve_target(args.output, prepared.name)
        output.info(f"Downloading to: {target}")
        progress = output.progress()
        result = client.save(prepared, target, progress=progress)
        progress.finish()
    output.info("Download complete.")
    if output.json_mode:
        output.result(
            {
                "id": result.id,
                "file": str(result.path),
                "size": result.size,
                "name": result.name,
                "fileCount": result.file_count,
            }
        )
        return
    output.info(
        f"Saved: {result.path} ({format_bytes(result.size)}) | "
        f"Avg speed: {format_bytes(progress.speed())}/s"
    )
    if result.file_count > 1:
        output.info(f"Archive contains {result.file_count} files")


def delete(args: argparse.Namespace, output: Output) -> None:
    share = parse_share_url(args.url)
    store = LocalStore()
    owner_token = args.owner_token
    if not owner_token:
        found = store.find(share.item_id)
        token = found[1].get("ownerToken") if found else None
        if not isinstance(token, str) or not token:
            raise UsageError(
                f"No owner token for {share.item_id} in the local history "
                f"({store.history_path}). Pass it as the second argument."
            )
        owner_token = token
    with open_client(share.server, store) as client:
        kind = client.delete(args.url, owner_token)
    if output.json_mode:
        output.result({"deleted": True, "id": share.item_id, "type": kind})
    else:
        output.info(f"Deleted {kind}: {share.item_id}")
