"""The storage commands of ``skysend-cli``: ``list``, ``delete``, ``stats``, ``cleanup``
(clients.md §3.1-3.4). Each takes the :class:`~skysend_core.admin.Admin` facade and writes
to ``out``; the facade decides, these functions only print.
"""

from __future__ import annotations

from typing import Any, TextIO

from skysend_core.admin import Admin, Inventory
from skysend_core.notes_model import NoteSummary
from skysend_core.uploads_model import UploadSummary
from skysend_http.admin_cli import formats

# -- list ------------------------------------------------------------------------------


async def list_items(admin: Admin, out: TextIO, *, everything: bool, as_json: bool) -> None:
    inventory = await admin.inventory(everything=everything)
    if as_json:
        formats.print_json(
            {
                "uploads": [upload_json(u) for u in inventory.uploads],
                "notes": [note_json(n) for n in inventory.notes],
            },
            out,
        )
        return
    if not inventory.uploads and not inventory.notes:
        out.write(
            "No uploads or notes found.\n"
            if everything
            else "No active uploads or notes. Use --all to include expired.\n"
        )
        return
    out.write("\n\n".join(_sections(inventory)) + "\n")


def upload_json(upload: UploadSummary) -> dict[str, Any]:
    """An upload as ``list --json`` shows it: never a token, salt or ciphertext."""
    return {
        "id": upload.id,
        "size": upload.size,
        "fileCount": upload.file_count,
        "hasPassword": upload.has_password,
        "passwordAlgo": upload.password_algo,
        "maxDownloads": upload.max_downloads,
        "downloadCount": upload.download_count,
        "expiresAt": formats.iso(upload.expires_at),
        "createdAt": formats.iso(upload.created_at),
        "storagePath": upload.storage_path,
        "type": "upload",
    }


def note_json(note: NoteSummary) -> dict[str, Any]:
    """A note as ``list --json`` shows it: never a token, salt, nonce or ciphertext."""
    return {
        "id": note.id,
        "contentType": note.content_type,
        "hasPassword": note.has_password,
        "passwordAlgo": note.password_algo,
        "maxViews": note.max_views,
        "viewCount": note.view_count,
        "expiresAt": formats.iso(note.expires_at),
        "createdAt": formats.iso(note.created_at),
        "type": "note",
    }


def _sections(inventory: Inventory) -> list[str]:
    now = inventory.now_ms
    sections = []
    if inventory.uploads:
        rows = [
            [
                u.id,
                formats.size(u.size),
                str(u.file_count),
                f"{u.download_count}/{u.max_downloads}",
                formats.remaining(u.expires_at, now),
                formats.utc(u.created_at),
            ]
            for u in inventory.uploads
        ]
        header = ["ID", "Size", "Files", "DLs", "Expires", "Created"]
        count = f"{len(rows)} upload(s)"
        sections.append("\n".join(["Uploads", *formats.table(header, rows), count]))
    if inventory.notes:
        rows = [
            [
                n.id,
                n.content_type,
                _views(n),
                formats.remaining(n.expires_at, now),
                formats.utc(n.created_at),
            ]
            for n in inventory.notes
        ]
        header = ["ID", "Type", "Views", "Expires", "Created"]
        count = f"{len(rows)} note(s)"
        sections.append("\n".join(["Notes", *formats.table(header, rows), count]))
    return sections


def _views(note: NoteSummary) -> str:
    if note.max_views == 0:
        return f"{note.view_count} / ∞"
    return f"{note.view_count}/{note.max_views}"


# -- delete ----------------------------------------------------------------------------


async def delete(admin: Admin, out: TextIO, item_id: str) -> None:
    """Raises ``InvalidRequest`` / ``NotFound`` with the texts to show."""
    deleted = await admin.delete(item_id)
    if isinstance(deleted, UploadSummary):
        out.write(f"Deleted upload {deleted.id} ({_upload_detail(deleted)})\n")
    else:
        out.write(f"Deleted note {deleted.id} ({deleted.content_type})\n")


def _upload_detail(upload: UploadSummary) -> str:
    return f"{formats.size(upload.size)}, {upload.file_count} file(s)"


# -- stats -----------------------------------------------------------------------------


async def stats(admin: Admin, out: TextIO, *, as_json: bool) -> None:
    totals = await admin.stats()
    uploads, notes = totals.uploads, totals.notes
    if as_json:
        formats.print_json(
            {
                "uploads": {
                    "total": uploads.total,
                    "active": uploads.active,
                    "expired": uploads.expired,
                    "size": uploads.size,
                    "activeSize": uploads.active_size,
                    "downloads": uploads.downloads,
                },
                "notes": {
                    "total": notes.total,
                    "active": notes.active,
                    "expired": notes.expired,
                    "views": notes.views,
                },
            },
            out,
        )
        return
    out.write(
        "Storage Overview\n"
        "================\n"
        f"Total uploads:    {uploads.total} ({formats.size(uploads.size)})\n"
        f"Active uploads:   {uploads.active} ({formats.size(uploads.active_size)})\n"
        f"Expired uploads:  {uploads.expired}\n"
        f"Total downloads:  {uploads.downloads}\n"
        "\n"
        f"Total notes:      {notes.total}\n"
        f"Active notes:     {notes.active}\n"
        f"Expired notes:    {notes.expired}\n"
        f"Total views:      {notes.views}\n"
    )


# -- cleanup ---------------------------------------------------------------------------


async def cleanup(admin: Admin, out: TextIO, *, dry_run: bool) -> None:
    if dry_run:
        _print_preview(await admin.cleanup_preview(), out)
        return
    report = await admin.clean_up()
    removed = report.uploads + report.notes
    if removed == 0:
        out.write("Nothing to clean up.\n")
        return
    out.write(f"Cleaned up {removed} item(s) ({formats.size(report.upload_bytes)} from uploads)\n")


def _print_preview(preview: Inventory, out: TextIO) -> None:
    if not preview.uploads and not preview.notes:
        out.write("Nothing to clean up.\n")
        return
    lines = []
    if preview.uploads:
        total = formats.size(preview.upload_bytes)
        lines.append(f"Would remove {len(preview.uploads)} upload(s) ({total}):")
        lines += [f"  {u.id} ({_upload_detail(u)})" for u in preview.uploads]
    if preview.notes:
        lines.append(f"Would remove {len(preview.notes)} note(s):")
        lines += [f"  {n.id} ({n.content_type})" for n in preview.notes]
    out.write("\n".join(lines) + "\n")
