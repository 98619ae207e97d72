"""The Content-Security-Policy sources that depend on the configuration (http-api.md §1.5)."""

from __future__ import annotations

import pytest

from skysend_core.config import Settings
from skysend_http.headers import content_security_policy

S3 = {
    "STORAGE_BACKEND": "s3",
    "S3_BUCKET": "b",
    "S3_REGION": "eu-central-1",
    "S3_ACCESS_KEY": "k",
    "S3_SECRET_KEY": "s",
}


def directive(env: dict[str, str], name: str) -> str:
    policy = content_security_policy(Settings.from_env({"BASE_URL": "https://send.example", **env}))
    return next(d for d in policy.split("; ") if d.startswith(name + " "))


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "img-src 'self' data:"),
        ({"CUSTOM_LOGO": "/logo.svg"}, "img-src 'self' data:"),
        (
            {"CUSTOM_LOGO": "https://cdn.example:8443/a/logo.png"},
            "img-src 'self' data: https://cdn.example:8443",
        ),
    ],
)
def test_img_src_adds_the_origin_of_an_http_logo(env: dict[str, str], expected: str) -> None:
    assert directive(env, "img-src") == expected


def test_connect_src_for_s3_on_aws() -> None:
    assert directive(S3, "connect-src") == (
        "connect-src 'self' https://s3.eu-central-1.amazonaws.com "
        "https://*.s3.eu-central-1.amazonaws.com"
    )


def test_connect_src_for_a_custom_s3_endpoint_has_one_trailing_slash() -> None:
    env = {**S3, "S3_ENDPOINT": "https://minio.example:9000//"}
    assert directive(env, "connect-src") == "connect-src 'self' https://minio.example:9000/"


def test_form_action_adds_the_oidc_issuer_origin() -> None:
    env = {
        "OIDC_ISSUER": "https://id.example/realms/x",
        "OIDC_CLIENT_ID": "c",
        "OIDC_CLIENT_SECRET": "s",
        "OIDC_SESSION_SECRET": "x" * 32,
    }
    assert directive(env, "form-action") == "form-action 'self' https://id.example"
    assert directive({}, "form-action") == "form-action 'self'"
