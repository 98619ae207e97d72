"""Server configuration from environment variables (config.md, oidc.md §1).

``Settings.from_env(env)`` is the only way in. It takes the environment as a mapping (the
caller passes ``os.environ``) and

1. treats empty values as unset (§1),
2. parses every variable with its syntax from §1.1 (:mod:`skysend_core.parsing`) and applies
   its own validation; all problems found in this pass are reported together,
3. then applies the cross-field rules of §9 in their order, reporting the first failure
   (later rules assume the earlier ones hold).

Failures raise :class:`ConfigError`; non-fatal findings end up in ``Settings.warnings``.
The value parsers are re-exported here because the HTTP layer reuses them for headers.
"""

from __future__ import annotations

import base64
import os
import re
import secrets
from collections.abc import Callable, Mapping

import attrs

from skysend_core.parsing import (
    is_absolute_url,
    js_trim,
    parse_byte_size,
    parse_byte_size_or_int,
    parse_default_on_bool,
    parse_int_list,
    parse_js_int,
    parse_strict_bool,
)

__all__ = [
    "OIDC_PROVIDERS",
    "SERVICES",
    "STORAGE_BACKENDS",
    "TABS",
    "THEMES",
    "ConfigError",
    "Settings",
    "generate_session_secret",
    "parse_byte_size",
    "parse_js_int",
]

SERVICES = ("file", "note")
THEMES = ("dark", "light", "system")
TABS = ("file", "text", "password", "code", "sshkey")
STORAGE_BACKENDS = ("filesystem", "s3")
OIDC_PROVIDERS = ("generic", "pocketid", "authentik", "keycloak")

_MIB = 1024**2
_GIB = 1024**3
_HEX_COLOR = re.compile(r"#?[0-9a-fA-F]{6}")
_MIN_SESSION_SECRET = 32


class ConfigError(Exception):
    """Invalid configuration: the process must not start.

    ``str(err)`` is the text for the operator, one line per problem, each naming the
    variable; ``messages`` holds the individual lines.
    """

    def __init__(self, *messages: str) -> None:
        super().__init__("\n".join(messages))
        self.messages: tuple[str, ...] = messages


def generate_session_secret() -> str:
    """A random ``OIDC_SESSION_SECRET`` (48 random bytes, base64) for when none is set.

    The server calls this once and shares the result with all workers (oidc.md §1).
    """
    return base64.b64encode(secrets.token_bytes(48)).decode("ascii")


@attrs.frozen(kw_only=True)
class Settings:
    """Validated configuration; field names are the variable names in lower case.

    Values are already converted: byte sizes and durations are ints (units as in the spec:
    ``rate_limit_window`` and ``password_lockout_ms`` in milliseconds, other durations in
    seconds), lists are tuples, unset optional strings are ``None``. ``base_url`` has its
    trailing slashes removed, ``custom_color`` carries a leading ``#``,
    ``oidc_redirect_uri`` defaults to ``<base_url>/auth/callback``.
    ``oidc_session_secret`` is ``None`` when unset: the server generates one
    (:func:`generate_session_secret`). ``warnings`` are non-fatal findings to log once at
    startup.
    """

    port: int
    host: str
    base_url: str
    cors_origins: tuple[str, ...]
    trust_proxy: bool
    data_dir: str
    uploads_dir: str
    web_dir: str | None

    file_max_size: int
    file_max_files_per_upload: int
    file_expire_options_sec: tuple[int, ...]
    file_default_expire_sec: int
    file_download_options: tuple[int, ...]
    file_default_download: int
    file_upload_quota_bytes: int
    file_upload_quota_window: int
    file_upload_concurrent_chunks: int
    file_upload_speed_limit: int
    file_upload_ws: bool
    file_upload_ws_max_buffer: int

    note_max_size: int
    note_expire_options_sec: tuple[int, ...]
    note_default_expire_sec: int
    note_view_options: tuple[int, ...]
    note_default_views: int

    enabled_services: tuple[str, ...]
    cleanup_interval: int
    rate_limit_window: int
    rate_limit_max: int
    password_max_attempts: int
    password_lockout_ms: int

    custom_title: str
    custom_color: str | None
    custom_logo: str | None
    custom_privacy: str | None
    custom_legal: str | None
    custom_link_url: str | None
    custom_link_name: str | None
    custom_report_url: str | None
    default_theme: str
    default_tab: str
    force_file_password: bool
    force_note_password: bool

    storage_backend: str
    s3_bucket: str | None
    s3_region: str | None
    s3_endpoint: str | None
    s3_access_key: str | None
    s3_secret_key: str | None = attrs.field(repr=False)
    s3_force_path_style: bool
    s3_presigned_expiry: int
    s3_part_size: int
    s3_concurrency: int

    oidc_provider: str
    oidc_issuer: str | None
    oidc_client_id: str | None
    oidc_client_secret: str | None = attrs.field(repr=False)
    oidc_redirect_uri: str
    oidc_scopes: str
    oidc_protect_files: bool
    oidc_protect_notes: bool
    oidc_session_secret: str | None = attrs.field(repr=False)
    oidc_session_duration: int

    warnings: tuple[str, ...] = ()

    @property
    def file_enabled(self) -> bool:
        return "file" in self.enabled_services

    @property
    def note_enabled(self) -> bool:
        return "note" in self.enabled_services

    @property
    def oidc_enabled(self) -> bool:
        """OIDC is on when issuer, client id and client secret are all set (oidc.md §1)."""
        return None not in (self.oidc_issuer, self.oidc_client_id, self.oidc_client_secret)

    @property
    def db_path(self) -> str:
        return os.path.join(self.data_dir, "db", "skysend.db")

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Load and validate the configuration; raise :class:`ConfigError` if invalid."""
        e = _Env(env)
        port = e.integer("PORT", 3000, maximum=65535)
        host = e.string("HOST", "0.0.0.0")  # noqa: S104 - binding all interfaces is the spec default
        base_url = _base_url(e)
        data_dir = e.string("DATA_DIR", "./data")
        settings = cls(
            port=port,
            host=host,
            base_url=base_url,
            cors_origins=_string_list(e.get("CORS_ORIGINS")),
            trust_proxy=e.strict_bool("TRUST_PROXY"),
            data_dir=data_dir,
            uploads_dir=e.string("UPLOADS_DIR", os.path.join(data_dir, "uploads")),
            web_dir=e.optional("WEB_DIR"),
            file_max_size=e.byte_size("FILE_MAX_SIZE", 2 * _GIB, minimum=1),
            file_max_files_per_upload=e.integer("FILE_MAX_FILES_PER_UPLOAD", 32),
            file_expire_options_sec=e.int_list(
                "FILE_EXPIRE_OPTIONS_SEC", (300, 3600, 86400, 604800), minimum=1
            ),
            file_default_expire_sec=e.integer("FILE_DEFAULT_EXPIRE_SEC", 86400),
            file_download_options=e.int_list(
                "FILE_DOWNLOAD_OPTIONS", (1, 2, 3, 4, 5, 10, 20, 50, 100), minimum=1
            ),
            file_default_download=e.integer("FILE_DEFAULT_DOWNLOAD", 1),
            file_upload_quota_bytes=e.byte_size("FILE_UPLOAD_QUOTA_BYTES", 0, or_integer=True),
            file_upload_quota_window=e.integer("FILE_UPLOAD_QUOTA_WINDOW", 86400),
            file_upload_concurrent_chunks=e.integer(
                "FILE_UPLOAD_CONCURRENT_CHUNKS",
                3,
                maximum=20,
                message="FILE_UPLOAD_CONCURRENT_CHUNKS must be between 1 and 20",
            ),
            file_upload_speed_limit=e.byte_size("FILE_UPLOAD_SPEED_LIMIT", 0, or_integer=True),
            file_upload_ws=e.default_on_bool("FILE_UPLOAD_WS"),
            file_upload_ws_max_buffer=e.byte_size(
                "FILE_UPLOAD_WS_MAX_BUFFER",
                16 * _MIB,
                minimum=_MIB,
                too_small="FILE_UPLOAD_WS_MAX_BUFFER must be at least 1MB",
            ),
            note_max_size=e.byte_size("NOTE_MAX_SIZE", _MIB, minimum=1),
            note_expire_options_sec=e.int_list(
                "NOTE_EXPIRE_OPTIONS_SEC", (300, 3600, 86400, 604800), minimum=1
            ),
            note_default_expire_sec=e.integer("NOTE_DEFAULT_EXPIRE_SEC", 86400),
            note_view_options=e.int_list(
                "NOTE_VIEW_OPTIONS", (0, 1, 2, 3, 5, 10, 20, 50, 100), minimum=0
            ),
            note_default_views=e.integer("NOTE_DEFAULT_VIEWS", 0, minimum=0),
            enabled_services=_enabled_services(e),
            cleanup_interval=e.integer("CLEANUP_INTERVAL", 60),
            rate_limit_window=e.integer("RATE_LIMIT_WINDOW", 60000),
            rate_limit_max=e.integer("RATE_LIMIT_MAX", 60),
            password_max_attempts=e.integer("PASSWORD_MAX_ATTEMPTS", 10),
            password_lockout_ms=e.integer("PASSWORD_LOCKOUT_MS", 900000),
            custom_title=e.string("CUSTOM_TITLE", "SkySend"),
            custom_color=_custom_color(e),
            custom_logo=e.optional(
                "CUSTOM_LOGO",
                lambda v: v.startswith(("http://", "https://", "/")),
                "Must be a URL (https://...) or an absolute path (/logo.svg)",
            ),
            custom_privacy=e.optional("CUSTOM_PRIVACY", is_absolute_url, _BRANDING_URL),
            custom_legal=e.optional("CUSTOM_LEGAL", is_absolute_url, _BRANDING_URL),
            custom_link_url=e.optional("CUSTOM_LINK_URL", is_absolute_url, _BRANDING_URL),
            custom_link_name=e.optional(
                "CUSTOM_LINK_NAME",
                lambda v: len(v) <= 50,
                "CUSTOM_LINK_NAME must be at most 50 characters",
            ),
            custom_report_url=e.optional("CUSTOM_REPORT_URL", is_absolute_url, _BRANDING_URL),
            default_theme=e.enum("DEFAULT_THEME", THEMES, "system"),
            default_tab=e.enum("DEFAULT_TAB", TABS, "file"),
            force_file_password=e.strict_bool("FORCE_FILE_PASSWORD"),
            force_note_password=e.strict_bool("FORCE_NOTE_PASSWORD"),
            storage_backend=e.enum("STORAGE_BACKEND", STORAGE_BACKENDS, "filesystem"),
            s3_bucket=e.optional("S3_BUCKET"),
            s3_region=e.optional("S3_REGION"),
            s3_endpoint=e.optional(
                "S3_ENDPOINT", is_absolute_url, "S3_ENDPOINT must be a valid URL"
            ),
            s3_access_key=e.optional("S3_ACCESS_KEY"),
            s3_secret_key=e.optional("S3_SECRET_KEY"),
            s3_force_path_style=e.strict_bool("S3_FORCE_PATH_STYLE"),
            s3_presigned_expiry=e.integer("S3_PRESIGNED_EXPIRY", 300),
            s3_part_size=e.byte_size(
                "S3_PART_SIZE",
                25 * _MIB,
                minimum=5 * _MIB,
                too_small="S3_PART_SIZE must be at least 5MB (S3 minimum)",
                maximum=5 * _GIB,
                too_large="S3_PART_SIZE must be at most 5GB",
            ),
            s3_concurrency=e.integer(
                "S3_CONCURRENCY",
                4,
                maximum=16,
                message="S3_CONCURRENCY must be between 1 and 16",
            ),
            oidc_provider=e.enum("OIDC_PROVIDER", OIDC_PROVIDERS, "generic"),
            oidc_issuer=e.optional(
                "OIDC_ISSUER", is_absolute_url, "OIDC_ISSUER must be a valid URL"
            ),
            oidc_client_id=e.optional("OIDC_CLIENT_ID"),
            oidc_client_secret=e.optional("OIDC_CLIENT_SECRET"),
            oidc_redirect_uri=e.optional(
                "OIDC_REDIRECT_URI", is_absolute_url, "OIDC_REDIRECT_URI must be a valid URL"
            )
            or f"{base_url}/auth/callback",
            oidc_scopes=e.string("OIDC_SCOPES", "openid profile email"),
            oidc_protect_files=e.default_on_bool("OIDC_PROTECT_FILES"),
            oidc_protect_notes=e.default_on_bool("OIDC_PROTECT_NOTES"),
            oidc_session_secret=e.optional("OIDC_SESSION_SECRET"),
            oidc_session_duration=e.integer("OIDC_SESSION_DURATION", 86400),
        )
        if e.errors:
            raise ConfigError(*e.errors)
        return attrs.evolve(settings, warnings=_check_cross_field(settings))


_BRANDING_URL = "Must be a valid URL (https://...)"


class _Env:
    """Reads variables and records per-variable errors.

    On an error the default is returned so that one pass finds every invalid variable;
    ``from_env`` raises before any such placeholder can be used.
    """

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env
        self.errors: list[str] = []

    def get(self, name: str) -> str | None:
        value = self._env.get(name)
        return value if value else None  # an empty value counts as unset

    def string(self, name: str, default: str) -> str:
        value = self.get(name)
        return default if value is None else value

    def optional(
        self, name: str, valid: Callable[[str], bool] = bool, message: str = ""
    ) -> str | None:
        value = self.get(name)
        if value is None or valid(value):
            return value
        self.errors.append(message if message.startswith(name) else f"{name}: {message}")
        return None

    def strict_bool(self, name: str) -> bool:
        value = self.get(name)
        return False if value is None else parse_strict_bool(value)

    def default_on_bool(self, name: str) -> bool:
        value = self.get(name)
        return True if value is None else parse_default_on_bool(value)

    def enum(self, name: str, choices: tuple[str, ...], default: str) -> str:
        value = self.get(name)
        if value is None or value in choices:
            return value or default
        self.errors.append(f'{name} must be one of {", ".join(choices)} (got "{value}")')
        return default

    def integer(
        self,
        name: str,
        default: int,
        *,
        minimum: int = 1,
        maximum: int | None = None,
        message: str | None = None,
    ) -> int:
        raw = self.get(name)
        if raw is None:
            return default
        value = parse_js_int(raw)
        if value is None:
            self.errors.append(f'{name} must be an integer (got "{raw}")')
            return default
        return self._in_range(name, value, default, minimum, maximum, message, message)

    def byte_size(
        self,
        name: str,
        default: int,
        *,
        or_integer: bool = False,
        minimum: int = 0,
        too_small: str | None = None,
        maximum: int | None = None,
        too_large: str | None = None,
    ) -> int:
        raw = self.get(name)
        if raw is None:
            return default
        try:
            value = parse_byte_size_or_int(raw) if or_integer else parse_byte_size(raw)
        except ValueError:
            kind = "a number of bytes or a byte size" if or_integer else "a byte size"
            self.errors.append(f'{name} must be {kind} such as 500MB or 2GB (got "{raw}")')
            return default
        return self._in_range(name, value, default, minimum, maximum, too_small, too_large)

    def int_list(self, name: str, default: tuple[int, ...], *, minimum: int) -> tuple[int, ...]:
        raw = self.get(name)
        if raw is None:
            return default
        try:
            return parse_int_list(raw, minimum=minimum)
        except ValueError:
            kind = "positive" if minimum > 0 else "non-negative"
            self.errors.append(
                f'{name} must be a comma-separated list of {kind} integers (got "{raw}")'
            )
            return default

    def _in_range(
        self,
        name: str,
        value: int,
        default: int,
        minimum: int,
        maximum: int | None,
        too_small: str | None,
        too_large: str | None,
    ) -> int:
        if maximum is not None and not minimum <= value <= maximum:
            message = too_small if value < minimum else too_large
            self.errors.append(
                message or f"{name} must be between {minimum} and {maximum} (got {value})"
            )
        elif value < minimum:
            bound = "greater than 0" if minimum == 1 else f"at least {minimum}"
            self.errors.append(too_small or f"{name} must be {bound} (got {value})")
        else:
            return value
        return default


def _base_url(e: _Env) -> str:
    value = e.get("BASE_URL")
    if value is None:
        e.errors.append("BASE_URL is required (e.g. https://send.example.com)")
        return ""
    if not is_absolute_url(value):
        e.errors.append("BASE_URL must be a valid URL (e.g. https://send.example.com)")
        return ""
    return value.rstrip("/")


def _string_list(value: str | None) -> tuple[str, ...]:
    if value is None:
        return ()
    return tuple(s for s in (js_trim(p) for p in value.split(",")) if s)


def _enabled_services(e: _Env) -> tuple[str, ...]:
    value = e.get("ENABLED_SERVICES")
    if value is None:
        return SERVICES
    names = (js_trim(part).lower() for part in value.split(","))
    services = tuple(dict.fromkeys(n for n in names if n in SERVICES))
    if not services:
        e.errors.append("ENABLED_SERVICES must contain at least one of: file, note")
        return SERVICES
    return services


def _custom_color(e: _Env) -> str | None:
    value = e.optional(
        "CUSTOM_COLOR",
        lambda v: _HEX_COLOR.fullmatch(v) is not None,
        "Must be a 6-digit hex color, e.g. 46c89d or #46c89d",
    )
    if value is None or value.startswith("#"):
        return value
    return f"#{value}"


def _check_cross_field(s: Settings) -> tuple[str, ...]:
    """config.md §9, in order; returns the warnings."""
    if s.file_enabled:
        _require_member(
            "FILE_DEFAULT_EXPIRE_SEC",
            s.file_default_expire_sec,
            "FILE_EXPIRE_OPTIONS_SEC",
            s.file_expire_options_sec,
        )
        _require_member(
            "FILE_DEFAULT_DOWNLOAD",
            s.file_default_download,
            "FILE_DOWNLOAD_OPTIONS",
            s.file_download_options,
        )
    if s.note_enabled:
        _require_member(
            "NOTE_DEFAULT_EXPIRE_SEC",
            s.note_default_expire_sec,
            "NOTE_EXPIRE_OPTIONS_SEC",
            s.note_expire_options_sec,
        )
        _require_member(
            "NOTE_DEFAULT_VIEWS", s.note_default_views, "NOTE_VIEW_OPTIONS", s.note_view_options
        )
    if s.storage_backend == "s3":
        required = {
            "S3_BUCKET": s.s3_bucket,
            "S3_REGION": s.s3_region,
            "S3_ACCESS_KEY": s.s3_access_key,
            "S3_SECRET_KEY": s.s3_secret_key,
        }
        missing = [name for name, value in required.items() if value is None]
        if missing:
            raise ConfigError(f"STORAGE_BACKEND=s3 requires: {', '.join(missing)}")
    return _check_oidc(s)


def _require_member(name: str, value: int, options_name: str, options: tuple[int, ...]) -> None:
    if value not in options:
        listed = ", ".join(str(option) for option in options)
        raise ConfigError(f"{name} ({value}) must be one of {options_name} ({listed})")


def _check_oidc(s: Settings) -> tuple[str, ...]:
    """oidc.md §1: all of issuer / client id / client secret or none, secret, warnings."""
    given = {
        "OIDC_ISSUER": s.oidc_issuer,
        "OIDC_CLIENT_ID": s.oidc_client_id,
        "OIDC_CLIENT_SECRET": s.oidc_client_secret,
    }
    missing = [name for name, value in given.items() if value is None]
    if len(missing) == len(given):
        return ()
    if missing:
        raise ConfigError(f"OIDC is partially configured. Missing: {', '.join(missing)}")
    warnings: list[str] = []
    if s.oidc_session_secret is None:
        warnings.append(
            "OIDC_SESSION_SECRET is not set: a random secret is generated at startup, so all "
            "sessions become invalid on every restart. Set OIDC_SESSION_SECRET (at least "
            "32 characters) to keep sessions across restarts."
        )
    elif len(s.oidc_session_secret) < _MIN_SESSION_SECRET:
        raise ConfigError("OIDC_SESSION_SECRET must be at least 32 characters long")
    if not (s.oidc_issuer or "").startswith("https://"):
        warnings.append(
            "OIDC_ISSUER does not use https://: OAuth tokens are exposed to network "
            "interception. Do not use this in production."
        )
    if not (s.oidc_protect_files or s.oidc_protect_notes):
        warnings.append(
            "OIDC_PROTECT_FILES=false and OIDC_PROTECT_NOTES=false: OIDC is enabled but "
            "neither upload nor note creation is protected."
        )
    return tuple(warnings)
