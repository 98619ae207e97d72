"""``/auth``: sign-in through OIDC (oidc.md §3-§6). Registered only when OIDC is enabled;
otherwise every ``/auth`` path answers 404 ``{"error":"Not found"}``.

The creation guard itself (http-api.md §1.12) runs in the request pipeline
(:mod:`skysend_http.gateway`) and on the WebSocket upgrade (:mod:`skysend_http.app`).
"""

from __future__ import annotations

from quart import Blueprint, Response, current_app, request

from skysend_core.identity import (
    PKCE_COOKIE,
    PKCE_LIFETIME_S,
    SESSION_COOKIE,
    Identity,
    User,
    with_query,
)
from skysend_http.errors import json_response
from skysend_http.headers import cookie_value

blueprint = Blueprint("auth", __name__, url_prefix="/auth")


def _identity() -> Identity:
    identity: Identity | None = current_app.extensions["skysend"].identity
    if identity is None:  # the blueprint is only registered with OIDC on
        raise RuntimeError("OIDC is not configured")
    return identity


def set_cookie(response: Response, name: str, value: str, max_age: int, secure: bool) -> None:
    """Set (or, with ``max_age`` 0, clear) a cookie with the attributes of oidc.md §8."""
    line = f"{name}={value}; Max-Age={max_age}; Path=/; HttpOnly; SameSite=Lax"
    response.headers.add("Set-Cookie", line + ("; Secure" if secure and max_age else ""))


def _redirect(location: str, status: int = 302) -> Response:
    return Response("", status, headers={"Location": location})


def _secure() -> bool:
    return _identity().settings.base_url.startswith("https://")


def _user_body(user: User) -> dict[str, str]:
    return {"sub": user.sub, "name": user.name, "email": user.email}


@blueprint.after_request
async def no_store(response: Response) -> Response:
    """Sign-in answers carry tokens or who is signed in: never cached."""
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.get("/login")
async def login() -> Response:
    start = await _identity().begin_login(request.args.get("cli_callback"))
    response = _redirect(start.authorization_url, 302)
    set_cookie(response, PKCE_COOKIE, start.pkce_token, PKCE_LIFETIME_S, _secure())
    return response


@blueprint.get("/callback")
async def callback() -> Response:
    identity = _identity()
    pkce = cookie_value(request.headers.get("Cookie"), PKCE_COOKIE)
    done = await identity.complete_login(request.args.to_dict(), pkce)
    if done.cli_callback is not None:
        response = _redirect(with_query(done.cli_callback, token=done.session_token), 302)
        set_cookie(response, PKCE_COOKIE, "", 0, False)
        return response
    response = _redirect("/", 302)
    set_cookie(response, PKCE_COOKIE, "", 0, False)
    duration = identity.settings.oidc_session_duration
    set_cookie(response, SESSION_COOKIE, done.session_token, duration, _secure())
    return response


@blueprint.get("/logout")
async def logout() -> Response:
    response = _redirect(_identity().logout_url(), 302)
    set_cookie(response, SESSION_COOKIE, "", 0, False)
    return response


@blueprint.get("/session")
async def session() -> Response:
    user = _identity().current_user(
        cookie_value(request.headers.get("Cookie"), SESSION_COOKIE),
        request.headers.get("Authorization"),
    )
    return json_response(_user_body(user))
