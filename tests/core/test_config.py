"""Configuration loading (config.md, oidc.md §1) and the value syntaxes of config.md §1.1."""

from __future__ import annotations

import base64
import types

import attrs
import pytest

from skysend_core.config import (
    ConfigError,
    Settings,
    generate_session_secret,
    parse_byte_size,
    parse_js_int,
)
from skysend_core.parsing import (
    AbsoluteUrl,
    is_absolute_url,
    js_trim,
    parse_absolute_url,
    parse_byte_size_or_int,
    parse_default_on_bool,
    parse_int_list,
    parse_strict_bool,
    parse_string_list,
)

BASE = {"BASE_URL": "https://send.example.com"}
OIDC = {
    "OIDC_ISSUER": "https://auth.example.com",
    "OIDC_CLIENT_ID": "skysend",
    "OIDC_CLIENT_SECRET": "client-secret",
}
S3 = {
    "STORAGE_BACKEND": "s3",
    "S3_BUCKET": "bucket",
    "S3_REGION": "eu-central-1",
    "S3_ACCESS_KEY": "access",
    "S3_SECRET_KEY": "secret",
}
SECRET_32 = "s" * 32
MIB = 1024**2
GIB = 1024**3


def load(env: dict[str, str]) -> Settings:
    return Settings.from_env({**BASE, **env})


def error(env: dict[str, str]) -> str:
    with pytest.raises(ConfigError) as info:
        load(env)
    return str(info.value)


# --- §1.1 integer: JavaScript parseInt(v, 10) ------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("60", 60),
        ("60s", 60),
        ("  42", 42),
        ("\t\n\r\v\f42", 42),
        ("\u00a0\u2028\u3000\ufeff7", 7),
        ("+7", 7),
        ("-7", -7),
        ("-0", 0),
        ("007", 7),
        ("3.9", 3),
        ("1e3", 1),
        ("0x10", 0),
        ("12 34", 12),
        ("42 ", 42),
    ],
)
def test_parse_js_int_valid(value: str, expected: int) -> None:
    assert parse_js_int(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "",
        " ",
        "abc",
        "-",
        "+",
        "+-1",
        "- 1",
        "x1",
        ".5",
        "\u0663",  # ARABIC-INDIC DIGIT THREE: not an ASCII digit
        "\uff11\uff12",  # full-width digits
        "\x1c5",  # whitespace for Python's str.isspace, not for JavaScript
        "\x855",
    ],
)
def test_parse_js_int_no_digits_is_none(value: str) -> None:
    assert parse_js_int(value) is None


def test_parse_js_int_beyond_python_str_digit_limit() -> None:
    assert parse_js_int("1" + "0" * 5000 + "x") == 10**5000


# --- §1.1 byte size ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1.5GB", 1610612736),
        ("2GB", 2 * GIB),
        ("500MB", 500 * MIB),
        ("512KB", 512 * 1024),
        ("10B", 10),
        ("512kb", 512 * 1024),
        ("1.5Gb", 1610612736),
        ("16mB", 16 * MIB),
        ("1 MB", MIB),
        ("1\t \u00a0MB", MIB),
        ("  16MB\n", 16 * MIB),
        ("0.5B", 0),
        ("1.9999B", 1),
        ("0.1KB", 102),
        ("00.50KB", 512),
        ("0GB", 0),
        ("1.0000000000000000001GB", GIB),  # exact arithmetic, no float rounding:
        ("0.9999999999999999999B", 0),  # a double would round this to 1
        ("1.9999999999999999999KB", 2047),
        ("5GB", 5 * GIB),
    ],
)
def test_parse_byte_size_valid(value: str, expected: int) -> None:
    assert parse_byte_size(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "",
        " ",
        "1024",  # a bare number is not a byte size
        "1.5",
        "2TB",
        "1KiB",
        "1K",
        "MB",
        ".5MB",
        "5.MB",
        "-1MB",
        "+1MB",
        "1e3MB",
        "1,5MB",
        "1 M B",
        "1MB extra",
        "1MBs",
        "\uff11MB",  # full-width digit
        "1\u212aB",  # KELVIN SIGN folds to "k" in Unicode case-insensitive matching
        "1\x1cMB",
    ],
)
def test_parse_byte_size_invalid(value: str) -> None:
    with pytest.raises(ValueError, match="invalid byte size"):
        parse_byte_size(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("0", 0), ("1048576", MIB), (" 42 ", 42), ("007", 7), ("1MB", MIB), ("2.5KB", 2560)],
)
def test_parse_byte_size_or_int_valid(value: str, expected: int) -> None:
    assert parse_byte_size_or_int(value) == expected


@pytest.mark.parametrize("value", ["", "  ", "-5", "+5", "5s", "1.5", "0x10", "1TB"])
def test_parse_byte_size_or_int_invalid(value: str) -> None:
    with pytest.raises(ValueError, match="invalid byte size"):
        parse_byte_size_or_int(value)


# --- §1.1 booleans -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [("true", True), ("TRUE", False), ("True", False), ("1", False), ("yes", False),
     (" true", False), ("true ", False), ("false", False)],
)  # fmt: skip
def test_parse_strict_bool(value: str, expected: bool) -> None:
    assert parse_strict_bool(value) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [("false", False), ("FALSE", False), ("False", False), ("fAlSe", False), ("0", True),
     ("no", True), ("off", True), (" false", True), ("true", True), ("anything", True)],
)  # fmt: skip
def test_parse_default_on_bool(value: str, expected: bool) -> None:
    assert parse_default_on_bool(value) is expected


# --- §1.1 lists ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "minimum", "expected"),
    [
        ("300,3600", 1, (300, 3600)),
        (" 300 , 3600 ", 1, (300, 3600)),
        ("60s,2h", 1, (60, 2)),
        ("1;2", 1, (1,)),  # parseInt stops at ";"
        ("5,5,1", 1, (5, 5, 1)),  # order and duplicates kept
        ("7", 1, (7,)),
        ("0,1", 0, (0, 1)),
        ("-0", 0, (0,)),
    ],
)
def test_parse_int_list_valid(value: str, minimum: int, expected: tuple[int, ...]) -> None:
    assert parse_int_list(value, minimum=minimum) == expected


@pytest.mark.parametrize(
    ("value", "minimum"),
    [("300,,3600", 1), ("300,", 1), (",300", 1), (" ", 1), ("0,1", 1), ("-1", 0),
     ("abc", 1), ("1,x", 1), ("1, ,2", 1)],
)  # fmt: skip
def test_parse_int_list_invalid(value: str, minimum: int) -> None:
    with pytest.raises(ValueError, match="invalid list element"):
        parse_int_list(value, minimum=minimum)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("a", ("a",)), (" a , b ", ("a", "b")), ("a,,b,", ("a", "b")), (" , ", ())],
)
def test_parse_string_list(value: str, expected: tuple[str, ...]) -> None:
    assert parse_string_list(value) == expected


def test_js_trim_uses_javascript_whitespace() -> None:
    assert js_trim("\ufeff\u00a0 x \u3000\n") == "x"
    assert js_trim("\x1cx\x85") == "\x1cx\x85"


# --- §1.1 URL ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://send.example.com", AbsoluteUrl("https", "send.example.com", None)),
        ("HTTPS://Send.Example.COM/path?q#f", AbsoluteUrl("https", "send.example.com", None)),
        ("http://localhost:3000/", AbsoluteUrl("http", "localhost", 3000)),
        ("http://localhost:80/cb", AbsoluteUrl("http", "localhost", None)),
        ("https://h:443", AbsoluteUrl("https", "h", None)),
        ("https://h:", AbsoluteUrl("https", "h", None)),
        ("http://user:pw@h:8080", AbsoluteUrl("http", "h", 8080)),
        ("http://[::1]:3000/x", AbsoluteUrl("http", "[::1]", 3000)),
        ("http://[0:0:0:0:0:ffff:1.2.3.4]", AbsoluteUrl("http", "[::ffff:102:304]", None)),
        ("http://[1:0:0:2:0:0:0:3]", AbsoluteUrl("http", "[1:0:0:2::3]", None)),
        ("http://127.1", AbsoluteUrl("http", "127.0.0.1", None)),
        ("http://0x7f.1:8080", AbsoluteUrl("http", "127.0.0.1", 8080)),
        ("http://2130706433", AbsoluteUrl("http", "127.0.0.1", None)),
        ("http:example.com", AbsoluteUrl("http", "example.com", None)),
        ("https:\\\\example.com\\x", AbsoluteUrl("https", "example.com", None)),
        ("  https://example.com  ", AbsoluteUrl("https", "example.com", None)),
        ("https://exa\tmple.com", AbsoluteUrl("https", "example.com", None)),
        ("https://b\u00fccher.de", AbsoluteUrl("https", "xn--bcher-kva.de", None)),
        ("https://%65xample.com", AbsoluteUrl("https", "example.com", None)),
        ("wss://h:444", AbsoluteUrl("wss", "h", 444)),
        ("http://h:65535", AbsoluteUrl("http", "h", 65535)),
        ("http://h:00080", AbsoluteUrl("http", "h", None)),
        ("file:///etc/passwd", AbsoluteUrl("file", "", None)),
        ("file://localhost/etc", AbsoluteUrl("file", "", None)),
        ("mailto:legal@example.com", AbsoluteUrl("mailto", None, None)),
        ("localhost:3000", AbsoluteUrl("localhost", None, None)),  # WHATWG: scheme "localhost"
        ("foo://h:99", AbsoluteUrl("foo", "h", 99)),
        ("foo:///x", AbsoluteUrl("foo", "", None)),
    ],
)
def test_parse_absolute_url_valid(value: str, expected: AbsoluteUrl) -> None:
    assert parse_absolute_url(value) == expected
    assert is_absolute_url(value) is True


@pytest.mark.parametrize(
    "value",
    [
        "",
        "send.example.com",
        "/auth/callback",
        "//example.com",
        "://x",
        "1http://x",
        "ht tp://x",
        "http://",
        "https:///",
        "http://:80",
        "http://user@/",
        "http://user@:80/",
        "https://exa mple.com",
        "https://a<b",
        "http://%zz/",
        "http://a%2Fb/",
        "http://h:99999",
        "http://h:65536",
        "http://1..2.3",
        "http://h:8o",
        "http://h:-1",
        "http://1.2.3.256",
        "http://1.2.3.4.5",
        "http://256.0.0.1",
        "http://0x1g.1",  # ends in a number, so it must be a valid IPv4 address
        "http://[::1",
        "http://[::g]",
        "https://[fe80::1%25eth0]/",
        "http://\ufffd/",
        "foo://h:x",
        "foo://user@/x",
        "foo://a b",
    ],
)
def test_parse_absolute_url_invalid(value: str) -> None:
    assert parse_absolute_url(value) is None
    assert is_absolute_url(value) is False


@pytest.mark.parametrize(
    ("value", "origin"),
    [
        ("https://Auth.Example.com/realms/x/", "https://auth.example.com"),
        ("http://localhost:8080/x", "http://localhost:8080"),
        ("http://h:80", "http://h"),
        ("file:///x", None),
        ("mailto:x@y", None),
    ],
)
def test_absolute_url_origin(value: str, origin: str | None) -> None:
    parsed = parse_absolute_url(value)
    assert parsed is not None
    assert parsed.origin == origin


# --- Defaults and loading rules (§1) ------------------------------------------------------

EXPECTED_DEFAULTS = {
    "port": 3000,
    "host": "0.0.0.0",  # noqa: S104 - the documented default, compared, not bound
    "base_url": "https://send.example.com",
    "cors_origins": (),
    "trust_proxy": False,
    "data_dir": "./data",
    "uploads_dir": "./data/uploads",
    "web_dir": None,
    "file_max_size": 2 * GIB,
    "file_max_files_per_upload": 32,
    "file_expire_options_sec": (300, 3600, 86400, 604800),
    "file_default_expire_sec": 86400,
    "file_download_options": (1, 2, 3, 4, 5, 10, 20, 50, 100),
    "file_default_download": 1,
    "file_upload_quota_bytes": 0,
    "file_upload_quota_window": 86400,
    "file_upload_concurrent_chunks": 3,
    "file_upload_speed_limit": 0,
    "file_upload_ws": True,
    "file_upload_ws_max_buffer": 16 * MIB,
    "note_max_size": MIB,
    "note_expire_options_sec": (300, 3600, 86400, 604800),
    "note_default_expire_sec": 86400,
    "note_view_options": (0, 1, 2, 3, 5, 10, 20, 50, 100),
    "note_default_views": 0,
    "enabled_services": ("file", "note"),
    "cleanup_interval": 60,
    "rate_limit_window": 60000,
    "rate_limit_max": 60,
    "password_max_attempts": 10,
    "password_lockout_ms": 900000,
    "custom_title": "SkySend",
    "custom_color": None,
    "custom_logo": None,
    "custom_privacy": None,
    "custom_legal": None,
    "custom_link_url": None,
    "custom_link_name": None,
    "custom_report_url": None,
    "default_theme": "system",
    "default_tab": "file",
    "force_file_password": False,
    "force_note_password": False,
    "storage_backend": "filesystem",
    "s3_bucket": None,
    "s3_region": None,
    "s3_endpoint": None,
    "s3_access_key": None,
    "s3_secret_key": None,
    "s3_force_path_style": False,
    "s3_presigned_expiry": 300,
    "s3_part_size": 25 * MIB,
    "s3_concurrency": 4,
    "oidc_provider": "generic",
    "oidc_issuer": None,
    "oidc_client_id": None,
    "oidc_client_secret": None,
    "oidc_redirect_uri": "https://send.example.com/auth/callback",
    "oidc_scopes": "openid profile email",
    "oidc_protect_files": True,
    "oidc_protect_notes": True,
    "oidc_session_secret": None,
    "oidc_session_duration": 86400,
    "warnings": (),
}
ALL_VARIABLES = [f.name.upper() for f in attrs.fields(Settings) if f.name != "warnings"]


def test_defaults() -> None:
    settings = load({})
    assert attrs.asdict(settings, recurse=False) == EXPECTED_DEFAULTS
    assert settings.file_enabled is True
    assert settings.note_enabled is True
    assert settings.oidc_enabled is False
    assert settings.db_path == "./data/db/skysend.db"


def test_empty_values_are_unset() -> None:
    env = {name: "" for name in ALL_VARIABLES if name != "BASE_URL"}
    assert load(env) == load({})


def test_empty_base_url_is_missing() -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env({"BASE_URL": ""})
    assert str(info.value) == "BASE_URL is required (e.g. https://send.example.com)"


def test_missing_base_url() -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env({})
    assert str(info.value) == "BASE_URL is required (e.g. https://send.example.com)"
    assert info.value.messages == ("BASE_URL is required (e.g. https://send.example.com)",)


def test_unknown_variables_are_ignored() -> None:
    assert load({"PUID": "1001", "SKIP_CHOWN": "true", "NOT_A_SETTING": "x"}) == load({})


def test_reads_only_the_given_mapping(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "1234")
    monkeypatch.setenv("BASE_URL", "https://other.example.com")
    settings = Settings.from_env(types.MappingProxyType(dict(BASE)))
    assert (settings.port, settings.base_url) == (3000, "https://send.example.com")


# --- Valid values of every variable -------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "field", "expected"),
    [
        ({"PORT": "8080"}, "port", 8080),
        ({"PORT": " 8080abc"}, "port", 8080),
        ({"PORT": "+1"}, "port", 1),
        ({"PORT": "65535"}, "port", 65535),
        ({"HOST": "127.0.0.1"}, "host", "127.0.0.1"),
        ({"BASE_URL": "https://x.example///"}, "base_url", "https://x.example"),
        ({"BASE_URL": "http://localhost:3000/sub/"}, "base_url", "http://localhost:3000/sub"),
        ({"BASE_URL": "https://X.example"}, "base_url", "https://X.example"),
        ({"CORS_ORIGINS": "https://a.example"}, "cors_origins", ("https://a.example",)),
        ({"CORS_ORIGINS": " https://a.example , http://b.example:8080 ,"}, "cors_origins",
         ("https://a.example", "http://b.example:8080")),
        ({"DATA_DIR": "/srv/data"}, "uploads_dir", "/srv/data/uploads"),
        ({"DATA_DIR": "/srv/data/"}, "uploads_dir", "/srv/data/uploads"),
        ({"DATA_DIR": "/srv/data", "UPLOADS_DIR": "/uploads"}, "uploads_dir", "/uploads"),
        ({"FILE_MAX_SIZE": "1.5GB"}, "file_max_size", 1610612736),
        ({"FILE_MAX_SIZE": "100 mb"}, "file_max_size", 100 * MIB),
        ({"FILE_MAX_SIZE": "1B"}, "file_max_size", 1),
        ({"FILE_MAX_FILES_PER_UPLOAD": "1"}, "file_max_files_per_upload", 1),
        ({"FILE_EXPIRE_OPTIONS_SEC": "60, 86400,60"}, "file_expire_options_sec",
         (60, 86400, 60)),
        ({"FILE_DEFAULT_EXPIRE_SEC": "3600s"}, "file_default_expire_sec", 3600),
        ({"FILE_DOWNLOAD_OPTIONS": "1,1000"}, "file_download_options", (1, 1000)),
        ({"FILE_DEFAULT_DOWNLOAD": "100"}, "file_default_download", 100),
        ({"FILE_UPLOAD_QUOTA_BYTES": "0"}, "file_upload_quota_bytes", 0),
        ({"FILE_UPLOAD_QUOTA_BYTES": "1073741824"}, "file_upload_quota_bytes", GIB),
        ({"FILE_UPLOAD_QUOTA_BYTES": "10GB"}, "file_upload_quota_bytes", 10 * GIB),
        ({"FILE_UPLOAD_QUOTA_WINDOW": "3600"}, "file_upload_quota_window", 3600),
        ({"FILE_UPLOAD_CONCURRENT_CHUNKS": "1"}, "file_upload_concurrent_chunks", 1),
        ({"FILE_UPLOAD_CONCURRENT_CHUNKS": "20"}, "file_upload_concurrent_chunks", 20),
        ({"FILE_UPLOAD_SPEED_LIMIT": "1MB"}, "file_upload_speed_limit", MIB),
        ({"FILE_UPLOAD_SPEED_LIMIT": " 1024 "}, "file_upload_speed_limit", 1024),
        ({"FILE_UPLOAD_WS_MAX_BUFFER": "1MB"}, "file_upload_ws_max_buffer", MIB),
        ({"FILE_UPLOAD_WS_MAX_BUFFER": "1024KB"}, "file_upload_ws_max_buffer", MIB),
        ({"NOTE_MAX_SIZE": "64KB"}, "note_max_size", 65536),
        ({"NOTE_EXPIRE_OPTIONS_SEC": "86400"}, "note_expire_options_sec", (86400,)),
        ({"NOTE_DEFAULT_EXPIRE_SEC": "300"}, "note_default_expire_sec", 300),
        ({"NOTE_VIEW_OPTIONS": "0"}, "note_view_options", (0,)),
        ({"NOTE_DEFAULT_VIEWS": "1"}, "note_default_views", 1),
        ({"ENABLED_SERVICES": "file"}, "enabled_services", ("file",)),
        ({"ENABLED_SERVICES": "note"}, "enabled_services", ("note",)),
        ({"ENABLED_SERVICES": "note,file"}, "enabled_services", ("note", "file")),
        ({"ENABLED_SERVICES": " FILE , Note "}, "enabled_services", ("file", "note")),
        ({"ENABLED_SERVICES": "note,bogus,,"}, "enabled_services", ("note",)),
        ({"ENABLED_SERVICES": "file,file"}, "enabled_services", ("file",)),
        ({"CLEANUP_INTERVAL": "60s"}, "cleanup_interval", 60),
        ({"RATE_LIMIT_WINDOW": "1000"}, "rate_limit_window", 1000),
        ({"RATE_LIMIT_MAX": "1"}, "rate_limit_max", 1),
        ({"PASSWORD_MAX_ATTEMPTS": "3"}, "password_max_attempts", 3),
        ({"PASSWORD_LOCKOUT_MS": "1"}, "password_lockout_ms", 1),
        ({"CUSTOM_TITLE": " My Send "}, "custom_title", " My Send "),
        ({"CUSTOM_COLOR": "46c89d"}, "custom_color", "#46c89d"),
        ({"CUSTOM_COLOR": "#46C89D"}, "custom_color", "#46C89D"),
        ({"CUSTOM_LOGO": "/logo.svg"}, "custom_logo", "/logo.svg"),
        ({"CUSTOM_LOGO": "https://cdn.example/l.png"}, "custom_logo", "https://cdn.example/l.png"),
        ({"CUSTOM_LOGO": "http://cdn.example/l.png"}, "custom_logo", "http://cdn.example/l.png"),
        ({"CUSTOM_PRIVACY": "https://example.com/p"}, "custom_privacy", "https://example.com/p"),
        ({"CUSTOM_LEGAL": "mailto:legal@example.com"}, "custom_legal", "mailto:legal@example.com"),
        ({"CUSTOM_LINK_URL": "https://example.com/"}, "custom_link_url", "https://example.com/"),
        ({"CUSTOM_LINK_NAME": "x" * 50}, "custom_link_name", "x" * 50),
        ({"CUSTOM_LINK_NAME": "\u00e9" * 50}, "custom_link_name", "\u00e9" * 50),
        ({"CUSTOM_REPORT_URL": "https://e.example/r"}, "custom_report_url", "https://e.example/r"),
        ({"DEFAULT_THEME": "dark"}, "default_theme", "dark"),
        ({"DEFAULT_THEME": "light"}, "default_theme", "light"),
        ({"DEFAULT_TAB": "text"}, "default_tab", "text"),
        ({"DEFAULT_TAB": "password"}, "default_tab", "password"),
        ({"DEFAULT_TAB": "code"}, "default_tab", "code"),
        ({"DEFAULT_TAB": "sshkey"}, "default_tab", "sshkey"),
        ({"STORAGE_BACKEND": "filesystem"}, "storage_backend", "filesystem"),
        ({**S3, "S3_ENDPOINT": "https://minio.local:9000"}, "s3_endpoint",
         "https://minio.local:9000"),
        ({"S3_PRESIGNED_EXPIRY": "60"}, "s3_presigned_expiry", 60),
        ({"S3_PART_SIZE": "5MB"}, "s3_part_size", 5 * MIB),
        ({"S3_PART_SIZE": "5GB"}, "s3_part_size", 5 * GIB),
        ({"S3_CONCURRENCY": "1"}, "s3_concurrency", 1),
        ({"S3_CONCURRENCY": "16"}, "s3_concurrency", 16),
        ({"OIDC_PROVIDER": "pocketid"}, "oidc_provider", "pocketid"),
        ({"OIDC_PROVIDER": "authentik"}, "oidc_provider", "authentik"),
        ({"OIDC_PROVIDER": "keycloak"}, "oidc_provider", "keycloak"),
        ({"OIDC_REDIRECT_URI": "https://send.example.com/cb"}, "oidc_redirect_uri",
         "https://send.example.com/cb"),
        ({"BASE_URL": "https://x.example/"}, "oidc_redirect_uri",
         "https://x.example/auth/callback"),
        ({"OIDC_SCOPES": "openid  groups"}, "oidc_scopes", "openid  groups"),
        ({"OIDC_SESSION_DURATION": "3600"}, "oidc_session_duration", 3600),
    ],
)  # fmt: skip
def test_valid_values(env: dict[str, str], field: str, expected: object) -> None:
    assert getattr(load(env), field) == expected


STRICT_BOOLEANS = ["TRUST_PROXY", "FORCE_FILE_PASSWORD", "FORCE_NOTE_PASSWORD",
                   "S3_FORCE_PATH_STYLE"]  # fmt: skip
DEFAULT_ON_BOOLEANS = ["FILE_UPLOAD_WS", "OIDC_PROTECT_FILES", "OIDC_PROTECT_NOTES"]


@pytest.mark.parametrize("name", STRICT_BOOLEANS)
@pytest.mark.parametrize(
    ("value", "expected"),
    [("true", True), ("TRUE", False), ("1", False), ("yes", False), ("false", False)],
)
def test_strict_boolean_variables(name: str, value: str, expected: bool) -> None:
    assert getattr(load({name: value}), name.lower()) is expected


@pytest.mark.parametrize("name", DEFAULT_ON_BOOLEANS)
@pytest.mark.parametrize(
    ("value", "expected"),
    [("false", False), ("FALSE", False), ("0", True), ("no", True), ("true", True)],
)
def test_default_on_boolean_variables(name: str, value: str, expected: bool) -> None:
    assert getattr(load({name: value}), name.lower()) is expected


def test_service_flags() -> None:
    only_note = load({"ENABLED_SERVICES": "note"})
    assert (only_note.file_enabled, only_note.note_enabled) == (False, True)
    only_file = load({"ENABLED_SERVICES": "file"})
    assert (only_file.file_enabled, only_file.note_enabled) == (True, False)


def test_db_path_follows_data_dir() -> None:
    assert load({"DATA_DIR": "/srv/skysend"}).db_path == "/srv/skysend/db/skysend.db"


# --- Per-variable errors ------------------------------------------------------------------


def _positive(name: str, value: str = "0", got: str = "0") -> tuple[dict[str, str], str]:
    return {name: value}, f"{name} must be greater than 0 (got {got})"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"BASE_URL": "send.example.com"},
         "BASE_URL must be a valid URL (e.g. https://send.example.com)"),
        ({"BASE_URL": "https://"}, "BASE_URL must be a valid URL (e.g. https://send.example.com)"),
        ({"PORT": "x"}, 'PORT must be an integer (got "x")'),
        ({"PORT": " "}, 'PORT must be an integer (got " ")'),
        ({"PORT": "0"}, "PORT must be between 1 and 65535 (got 0)"),
        ({"PORT": "65536"}, "PORT must be between 1 and 65535 (got 65536)"),
        ({"PORT": "-80"}, "PORT must be between 1 and 65535 (got -80)"),
        ({"FILE_MAX_SIZE": "2TB"},
         'FILE_MAX_SIZE must be a byte size such as 500MB or 2GB (got "2TB")'),
        ({"FILE_MAX_SIZE": "1024"},
         'FILE_MAX_SIZE must be a byte size such as 500MB or 2GB (got "1024")'),
        _positive("FILE_MAX_SIZE", "0GB"),
        _positive("FILE_MAX_SIZE", "0.5B"),
        _positive("FILE_MAX_FILES_PER_UPLOAD"),
        ({"FILE_MAX_FILES_PER_UPLOAD": "many"},
         'FILE_MAX_FILES_PER_UPLOAD must be an integer (got "many")'),
        ({"FILE_EXPIRE_OPTIONS_SEC": "300,,3600"},
         'FILE_EXPIRE_OPTIONS_SEC must be a comma-separated list of positive integers '
         '(got "300,,3600")'),
        ({"FILE_EXPIRE_OPTIONS_SEC": "0,300"},
         'FILE_EXPIRE_OPTIONS_SEC must be a comma-separated list of positive integers '
         '(got "0,300")'),
        _positive("FILE_DEFAULT_EXPIRE_SEC"),
        _positive("FILE_DEFAULT_EXPIRE_SEC", "-5", "-5"),
        ({"FILE_DOWNLOAD_OPTIONS": "1,x"},
         'FILE_DOWNLOAD_OPTIONS must be a comma-separated list of positive integers '
         '(got "1,x")'),
        _positive("FILE_DEFAULT_DOWNLOAD"),
        ({"FILE_UPLOAD_QUOTA_BYTES": "-1"},
         'FILE_UPLOAD_QUOTA_BYTES must be a number of bytes or a byte size such as 500MB '
         'or 2GB (got "-1")'),
        ({"FILE_UPLOAD_QUOTA_BYTES": "5 TB"},
         'FILE_UPLOAD_QUOTA_BYTES must be a number of bytes or a byte size such as 500MB '
         'or 2GB (got "5 TB")'),
        _positive("FILE_UPLOAD_QUOTA_WINDOW"),
        ({"FILE_UPLOAD_CONCURRENT_CHUNKS": "0"},
         "FILE_UPLOAD_CONCURRENT_CHUNKS must be between 1 and 20"),
        ({"FILE_UPLOAD_CONCURRENT_CHUNKS": "21"},
         "FILE_UPLOAD_CONCURRENT_CHUNKS must be between 1 and 20"),
        ({"FILE_UPLOAD_CONCURRENT_CHUNKS": "x"},
         'FILE_UPLOAD_CONCURRENT_CHUNKS must be an integer (got "x")'),
        ({"FILE_UPLOAD_SPEED_LIMIT": "fast"},
         'FILE_UPLOAD_SPEED_LIMIT must be a number of bytes or a byte size such as 500MB '
         'or 2GB (got "fast")'),
        ({"FILE_UPLOAD_WS_MAX_BUFFER": "1023KB"},
         "FILE_UPLOAD_WS_MAX_BUFFER must be at least 1MB"),
        ({"FILE_UPLOAD_WS_MAX_BUFFER": "1048575B"},
         "FILE_UPLOAD_WS_MAX_BUFFER must be at least 1MB"),
        ({"FILE_UPLOAD_WS_MAX_BUFFER": "16777216"},
         'FILE_UPLOAD_WS_MAX_BUFFER must be a byte size such as 500MB or 2GB '
         '(got "16777216")'),
        _positive("NOTE_MAX_SIZE", "0KB"),
        ({"NOTE_EXPIRE_OPTIONS_SEC": "0"},
         'NOTE_EXPIRE_OPTIONS_SEC must be a comma-separated list of positive integers '
         '(got "0")'),
        _positive("NOTE_DEFAULT_EXPIRE_SEC"),
        ({"NOTE_VIEW_OPTIONS": "-1,0"},
         'NOTE_VIEW_OPTIONS must be a comma-separated list of non-negative integers '
         '(got "-1,0")'),
        ({"NOTE_VIEW_OPTIONS": "0,"},
         'NOTE_VIEW_OPTIONS must be a comma-separated list of non-negative integers '
         '(got "0,")'),
        ({"NOTE_DEFAULT_VIEWS": "-1"}, "NOTE_DEFAULT_VIEWS must be at least 0 (got -1)"),
        ({"ENABLED_SERVICES": "files"},
         "ENABLED_SERVICES must contain at least one of: file, note"),
        ({"ENABLED_SERVICES": ","}, "ENABLED_SERVICES must contain at least one of: file, note"),
        ({"ENABLED_SERVICES": " "}, "ENABLED_SERVICES must contain at least one of: file, note"),
        _positive("CLEANUP_INTERVAL"),
        _positive("RATE_LIMIT_WINDOW"),
        _positive("RATE_LIMIT_MAX"),
        _positive("PASSWORD_MAX_ATTEMPTS"),
        _positive("PASSWORD_LOCKOUT_MS"),
        *(({"CUSTOM_COLOR": bad},
           "CUSTOM_COLOR: Must be a 6-digit hex color, e.g. 46c89d or #46c89d")
          for bad in ["46c89", "46c89dd", "##46c89d", "ggg000", "46c89d\n", " 46c89d",
                      "#46c89", "\uff14\uff16c89d"]),
        *(({"CUSTOM_LOGO": bad},
           "CUSTOM_LOGO: Must be a URL (https://...) or an absolute path (/logo.svg)")
          for bad in ["logo.svg", "ftp://x/l.png", "HTTPS://x/l.png", "data:image/png,x"]),
        ({"CUSTOM_PRIVACY": "example.com/privacy"},
         "CUSTOM_PRIVACY: Must be a valid URL (https://...)"),
        ({"CUSTOM_LEGAL": "/legal"}, "CUSTOM_LEGAL: Must be a valid URL (https://...)"),
        ({"CUSTOM_LINK_URL": "https://"}, "CUSTOM_LINK_URL: Must be a valid URL (https://...)"),
        ({"CUSTOM_REPORT_URL": "report"},
         "CUSTOM_REPORT_URL: Must be a valid URL (https://...)"),
        ({"CUSTOM_LINK_NAME": "x" * 51}, "CUSTOM_LINK_NAME must be at most 50 characters"),
        ({"DEFAULT_THEME": "Dark"},
         'DEFAULT_THEME must be one of dark, light, system (got "Dark")'),
        ({"DEFAULT_TAB": "markdown"},
         'DEFAULT_TAB must be one of file, text, password, code, sshkey (got "markdown")'),
        ({"STORAGE_BACKEND": "S3"}, 'STORAGE_BACKEND must be one of filesystem, s3 (got "S3")'),
        ({"S3_ENDPOINT": "http://"}, "S3_ENDPOINT must be a valid URL"),
        ({"S3_ENDPOINT": "minio.local"}, "S3_ENDPOINT must be a valid URL"),
        _positive("S3_PRESIGNED_EXPIRY"),
        ({"S3_PART_SIZE": "4MB"}, "S3_PART_SIZE must be at least 5MB (S3 minimum)"),
        ({"S3_PART_SIZE": "5242879B"}, "S3_PART_SIZE must be at least 5MB (S3 minimum)"),
        ({"S3_PART_SIZE": "5121MB"}, "S3_PART_SIZE must be at most 5GB"),
        ({"S3_PART_SIZE": "5.0000001GB"}, "S3_PART_SIZE must be at most 5GB"),
        ({"S3_CONCURRENCY": "0"}, "S3_CONCURRENCY must be between 1 and 16"),
        ({"S3_CONCURRENCY": "17"}, "S3_CONCURRENCY must be between 1 and 16"),
        ({"OIDC_PROVIDER": "google"},
         'OIDC_PROVIDER must be one of generic, pocketid, authentik, keycloak (got "google")'),
        ({"OIDC_ISSUER": "auth.example.com"}, "OIDC_ISSUER must be a valid URL"),
        ({"OIDC_REDIRECT_URI": "/auth/callback"}, "OIDC_REDIRECT_URI must be a valid URL"),
        _positive("OIDC_SESSION_DURATION"),
    ],
)  # fmt: skip
def test_invalid_values(env: dict[str, str], message: str) -> None:
    assert error(env) == message


def test_all_per_variable_errors_are_reported_in_spec_order() -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env({"S3_CONCURRENCY": "0", "PORT": "x", "CUSTOM_COLOR": "red",
                           "FILE_MAX_SIZE": "0B"})  # fmt: skip
    assert info.value.messages == (
        'PORT must be an integer (got "x")',
        "BASE_URL is required (e.g. https://send.example.com)",
        "FILE_MAX_SIZE must be greater than 0 (got 0)",
        "CUSTOM_COLOR: Must be a 6-digit hex color, e.g. 46c89d or #46c89d",
        "S3_CONCURRENCY must be between 1 and 16",
    )
    assert str(info.value) == "\n".join(info.value.messages)


def test_per_variable_checks_precede_cross_field_rules() -> None:
    assert error({"FILE_DEFAULT_EXPIRE_SEC": "7200", "PORT": "0"}) == (
        "PORT must be between 1 and 65535 (got 0)"
    )


def test_disabled_service_values_are_still_validated() -> None:
    assert error({"ENABLED_SERVICES": "note", "FILE_DEFAULT_EXPIRE_SEC": "0"}) == (
        "FILE_DEFAULT_EXPIRE_SEC must be greater than 0 (got 0)"
    )


def test_config_error_with_one_message() -> None:
    err = ConfigError("X is wrong")
    assert str(err) == "X is wrong"
    assert err.messages == ("X is wrong",)


# --- Cross-field rules (§9) ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"FILE_DEFAULT_EXPIRE_SEC": "7200"},
         "FILE_DEFAULT_EXPIRE_SEC (7200) must be one of FILE_EXPIRE_OPTIONS_SEC "
         "(300, 3600, 86400, 604800)"),
        ({"FILE_EXPIRE_OPTIONS_SEC": "60,120"},
         "FILE_DEFAULT_EXPIRE_SEC (86400) must be one of FILE_EXPIRE_OPTIONS_SEC (60, 120)"),
        ({"FILE_DEFAULT_DOWNLOAD": "7"},
         "FILE_DEFAULT_DOWNLOAD (7) must be one of FILE_DOWNLOAD_OPTIONS "
         "(1, 2, 3, 4, 5, 10, 20, 50, 100)"),
        ({"FILE_DOWNLOAD_OPTIONS": "5,5"},
         "FILE_DEFAULT_DOWNLOAD (1) must be one of FILE_DOWNLOAD_OPTIONS (5, 5)"),
        ({"NOTE_DEFAULT_EXPIRE_SEC": "60"},
         "NOTE_DEFAULT_EXPIRE_SEC (60) must be one of NOTE_EXPIRE_OPTIONS_SEC "
         "(300, 3600, 86400, 604800)"),
        ({"NOTE_DEFAULT_VIEWS": "4"},
         "NOTE_DEFAULT_VIEWS (4) must be one of NOTE_VIEW_OPTIONS "
         "(0, 1, 2, 3, 5, 10, 20, 50, 100)"),
        ({"NOTE_VIEW_OPTIONS": "1,2"},
         "NOTE_DEFAULT_VIEWS (0) must be one of NOTE_VIEW_OPTIONS (1, 2)"),
    ],
)  # fmt: skip
def test_default_must_be_an_option(env: dict[str, str], message: str) -> None:
    assert error(env) == message


@pytest.mark.parametrize(
    ("env", "field", "expected"),
    [
        ({"FILE_EXPIRE_OPTIONS_SEC": "60,7200", "FILE_DEFAULT_EXPIRE_SEC": "7200"},
         "file_default_expire_sec", 7200),
        ({"FILE_DEFAULT_EXPIRE_SEC": "3600s"}, "file_default_expire_sec", 3600),
        ({"NOTE_VIEW_OPTIONS": "1,2", "NOTE_DEFAULT_VIEWS": "2"}, "note_default_views", 2),
    ],
)  # fmt: skip
def test_default_in_custom_options(env: dict[str, str], field: str, expected: int) -> None:
    assert getattr(load(env), field) == expected


def test_membership_is_only_checked_for_enabled_services() -> None:
    bad_file = {"FILE_DEFAULT_EXPIRE_SEC": "7200", "FILE_DEFAULT_DOWNLOAD": "7"}
    bad_note = {"NOTE_DEFAULT_EXPIRE_SEC": "60", "NOTE_DEFAULT_VIEWS": "4"}
    only_note = load({**bad_file, "ENABLED_SERVICES": "note"})
    assert (only_note.file_default_expire_sec, only_note.file_default_download) == (7200, 7)
    only_file = load({**bad_note, "ENABLED_SERVICES": "file"})
    assert (only_file.note_default_expire_sec, only_file.note_default_views) == (60, 4)


def test_cross_field_order() -> None:
    oidc_partial_short_secret = {"OIDC_ISSUER": OIDC["OIDC_ISSUER"], "OIDC_SESSION_SECRET": "x"}
    violations = [
        ({"FILE_DEFAULT_EXPIRE_SEC": "7200"}, "FILE_DEFAULT_EXPIRE_SEC (7200) must be"),
        ({"FILE_DEFAULT_DOWNLOAD": "7"}, "FILE_DEFAULT_DOWNLOAD (7) must be"),
        ({"NOTE_DEFAULT_EXPIRE_SEC": "60"}, "NOTE_DEFAULT_EXPIRE_SEC (60) must be"),
        ({"NOTE_DEFAULT_VIEWS": "4"}, "NOTE_DEFAULT_VIEWS (4) must be"),
        ({"STORAGE_BACKEND": "s3"}, "STORAGE_BACKEND=s3 requires: "),
        (oidc_partial_short_secret, "OIDC is partially configured. Missing: "),
    ]
    for index, (_, expected_start) in enumerate(violations):
        env: dict[str, str] = {}
        for violation, _ in violations[index:]:
            env.update(violation)
        assert error(env).startswith(expected_start)
    assert error({**OIDC, "OIDC_SESSION_SECRET": "x"}) == (
        "OIDC_SESSION_SECRET must be at least 32 characters long"
    )


# --- Storage backend (§7) -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("missing", "message"),
    [
        (["S3_BUCKET", "S3_REGION", "S3_ACCESS_KEY", "S3_SECRET_KEY"],
         "STORAGE_BACKEND=s3 requires: S3_BUCKET, S3_REGION, S3_ACCESS_KEY, S3_SECRET_KEY"),
        (["S3_BUCKET"], "STORAGE_BACKEND=s3 requires: S3_BUCKET"),
        (["S3_REGION", "S3_SECRET_KEY"], "STORAGE_BACKEND=s3 requires: S3_REGION, S3_SECRET_KEY"),
        (["S3_ACCESS_KEY"], "STORAGE_BACKEND=s3 requires: S3_ACCESS_KEY"),
    ],
)  # fmt: skip
def test_s3_requirements(missing: list[str], message: str) -> None:
    without = {k: v for k, v in S3.items() if k not in missing}
    assert error(without) == message
    assert error({**S3, **dict.fromkeys(missing, "")}) == message


def test_s3_complete() -> None:
    settings = load({**S3, "S3_FORCE_PATH_STYLE": "true"})
    assert (settings.storage_backend, settings.s3_bucket, settings.s3_region) == (
        "s3", "bucket", "eu-central-1")  # fmt: skip
    assert (settings.s3_access_key, settings.s3_secret_key) == ("access", "secret")
    assert settings.s3_force_path_style is True


def test_s3_variables_are_not_required_for_filesystem() -> None:
    assert load({"S3_BUCKET": "bucket"}).storage_backend == "filesystem"


# --- OIDC (oidc.md §1) --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "missing"),
    [
        (["OIDC_ISSUER"], "OIDC_CLIENT_ID, OIDC_CLIENT_SECRET"),
        (["OIDC_CLIENT_ID"], "OIDC_ISSUER, OIDC_CLIENT_SECRET"),
        (["OIDC_CLIENT_SECRET"], "OIDC_ISSUER, OIDC_CLIENT_ID"),
        (["OIDC_ISSUER", "OIDC_CLIENT_ID"], "OIDC_CLIENT_SECRET"),
        (["OIDC_ISSUER", "OIDC_CLIENT_SECRET"], "OIDC_CLIENT_ID"),
        (["OIDC_CLIENT_ID", "OIDC_CLIENT_SECRET"], "OIDC_ISSUER"),
    ],
)
def test_oidc_partially_configured(given: list[str], missing: str) -> None:
    env = {name: OIDC[name] for name in given}
    assert error(env) == f"OIDC is partially configured. Missing: {missing}"
    assert error({**env, **dict.fromkeys(OIDC.keys() - set(given), "")}) == (
        f"OIDC is partially configured. Missing: {missing}"
    )


def test_oidc_disabled_when_none_is_set() -> None:
    settings = load({"OIDC_PROTECT_FILES": "false", "OIDC_PROTECT_NOTES": "false",
                     "OIDC_ISSUER": "", "OIDC_SESSION_SECRET": "short"})  # fmt: skip
    assert settings.oidc_enabled is False
    assert settings.warnings == ()


def test_oidc_enabled_with_secret() -> None:
    settings = load({**OIDC, "OIDC_SESSION_SECRET": SECRET_32})
    assert settings.oidc_enabled is True
    assert (settings.oidc_issuer, settings.oidc_client_id, settings.oidc_client_secret) == (
        "https://auth.example.com", "skysend", "client-secret")  # fmt: skip
    assert settings.oidc_session_secret == SECRET_32
    assert settings.warnings == ()


@pytest.mark.parametrize("secret", ["s" * 31, "x", "\U0001f511" * 16])
def test_oidc_session_secret_too_short(secret: str) -> None:
    assert error({**OIDC, "OIDC_SESSION_SECRET": secret}) == (
        "OIDC_SESSION_SECRET must be at least 32 characters long"
    )


NO_SECRET_WARNING = (
    "OIDC_SESSION_SECRET is not set: a random secret is generated at startup, so all "
    "sessions become invalid on every restart. Set OIDC_SESSION_SECRET (at least 32 "
    "characters) to keep sessions across restarts."
)
HTTP_ISSUER_WARNING = (
    "OIDC_ISSUER does not use https://: OAuth tokens are exposed to network interception. "
    "Do not use this in production."
)
UNPROTECTED_WARNING = (
    "OIDC_PROTECT_FILES=false and OIDC_PROTECT_NOTES=false: OIDC is enabled but neither "
    "upload nor note creation is protected."
)


@pytest.mark.parametrize(
    ("env", "warnings"),
    [
        ({}, (NO_SECRET_WARNING,)),
        ({"OIDC_SESSION_SECRET": SECRET_32, "OIDC_ISSUER": "http://auth.local"},
         (HTTP_ISSUER_WARNING,)),
        ({"OIDC_SESSION_SECRET": SECRET_32, "OIDC_PROTECT_FILES": "false",
          "OIDC_PROTECT_NOTES": "FALSE"}, (UNPROTECTED_WARNING,)),
        ({"OIDC_SESSION_SECRET": SECRET_32, "OIDC_PROTECT_FILES": "false"}, ()),
        ({"OIDC_SESSION_SECRET": SECRET_32, "OIDC_PROTECT_NOTES": "false"}, ()),
        ({"OIDC_ISSUER": "http://auth.local", "OIDC_PROTECT_FILES": "false",
          "OIDC_PROTECT_NOTES": "false"},
         (NO_SECRET_WARNING, HTTP_ISSUER_WARNING, UNPROTECTED_WARNING)),
    ],
)  # fmt: skip
def test_oidc_warnings(env: dict[str, str], warnings: tuple[str, ...]) -> None:
    settings = load({**OIDC, **env})
    assert settings.oidc_enabled is True
    assert settings.warnings == warnings


def test_oidc_unset_session_secret_stays_none() -> None:
    assert load(OIDC).oidc_session_secret is None


def test_generate_session_secret() -> None:
    first, second = generate_session_secret(), generate_session_secret()
    assert len(first) == 64
    assert len(base64.b64decode(first, validate=True)) == 48
    assert first != second


def test_secrets_are_not_in_repr() -> None:
    text = repr(load({**OIDC, **S3, "OIDC_SESSION_SECRET": "k" * 40}))
    assert "client-secret" not in text
    assert "'secret'" not in text
    assert "k" * 40 not in text
    assert "oidc_client_id='skysend'" in text


def test_settings_are_frozen() -> None:
    settings = load({})
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        settings.port = 1  # type: ignore[misc]
