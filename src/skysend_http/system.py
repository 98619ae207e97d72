"""``GET /api/config`` and ``GET /api/health`` (http-api.md §2.1, §2.3)."""

from __future__ import annotations

from functools import cache
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from quart import Blueprint, Response, current_app

from skysend_core.config import Settings
from skysend_http.errors import json_response
from skysend_http.shapes import iso_ms

blueprint = Blueprint("system", __name__, url_prefix="/api")


@cache
def server_version() -> str:
    try:
        return version("skysend")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "0.0.0"


def public_config(settings: Settings) -> dict[str, Any]:
    """Both the documented field names and every field the reference clients parse."""
    s = settings
    return {
        "maxFileSize": s.file_max_size,
        "maxFilesPerUpload": s.file_max_files_per_upload,
        "expireOptions": list(s.file_expire_options_sec),
        "defaultExpire": s.file_default_expire_sec,
        "downloadOptions": list(s.file_download_options),
        "defaultDownload": s.file_default_download,
        "enabledServices": list(s.enabled_services),
        "fileMaxSize": s.file_max_size,
        "fileMaxFilesPerUpload": s.file_max_files_per_upload,
        "fileExpireOptions": list(s.file_expire_options_sec),
        "fileDefaultExpire": s.file_default_expire_sec,
        "fileDownloadOptions": list(s.file_download_options),
        "fileDefaultDownload": s.file_default_download,
        "fileUploadQuotaBytes": s.file_upload_quota_bytes,
        "fileUploadQuotaWindow": s.file_upload_quota_window,
        "fileUploadConcurrentChunks": s.file_upload_concurrent_chunks,
        "fileUploadSpeedLimit": s.file_upload_speed_limit,
        "fileUploadWs": s.file_upload_ws,
        "noteMaxSize": s.note_max_size,
        "noteExpireOptions": list(s.note_expire_options_sec),
        "noteDefaultExpire": s.note_default_expire_sec,
        "noteViewOptions": list(s.note_view_options),
        "noteDefaultViews": s.note_default_views,
        "customTitle": s.custom_title,
        "customColor": s.custom_color,
        "customLogo": s.custom_logo,
        "customPrivacy": s.custom_privacy,
        "customLegal": s.custom_legal,
        "customLinkUrl": s.custom_link_url,
        "customLinkName": s.custom_link_name,
        "customReportUrl": s.custom_report_url,
        "defaultTheme": s.default_theme,
        "defaultTab": s.default_tab,
        "forceFilePassword": s.force_file_password,
        "forceNotePassword": s.force_note_password,
        "oidcEnabled": s.oidc_enabled,
        "oidcProtectFiles": s.oidc_enabled and s.oidc_protect_files,
        "oidcProtectNotes": s.oidc_enabled and s.oidc_protect_notes,
    }


@blueprint.get("/config")
async def config() -> Response:
    return json_response(current_app.extensions["skysend"].public_config)


@blueprint.get("/health")
async def health() -> Response:
    clock = current_app.extensions["skysend"].clock
    return json_response(
        {"status": "ok", "version": server_version(), "timestamp": iso_ms(clock.now_ms())}
    )
