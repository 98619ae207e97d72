"""The Quart application factory: blueprints plus the cross-cutting request pipeline."""

from __future__ import annotations

import logging

from quart import Quart, Response, has_websocket_context, request, websocket
from quart.typing import ResponseTypes
from quart.wrappers import BaseRequestWebsocket
from werkzeug.exceptions import HTTPException

from skysend_core.errors import SkySendError
from skysend_http import files, notes, system, ws_upload
from skysend_http.bootstrap import Services
from skysend_http.errors import error_response, response_for
from skysend_http.headers import HeaderPolicy, SecurityHeaders
from skysend_http.limits import add_rate_limit_headers, count_request
from skysend_http.limits import blueprint as limits_blueprint
from skysend_http.streaming import StreamingHTTPConnection, StreamingRequest, body_left_unread
from skysend_http.ws_flow import (
    FlowControlledWebsocketConnection,
    FlowWebsocket,
    speed_up_receiving,
)

log = logging.getLogger(__name__)

#: Path prefixes of each service (http-api.md §1.7) and the 403 text when it is off.
SERVICE_PATHS = {
    "file": (
        (
            "/api/upload",
            "/api/info",
            "/api/exists",
            "/api/password",
            "/api/meta",
            "/api/download",
            "/api/quota",
        ),
        "File service is disabled",
    ),
    "note": (("/api/note",), "Note service is disabled"),
}


class SkySendQuart(Quart):
    asgi_http_class = StreamingHTTPConnection
    request_class = StreamingRequest
    asgi_websocket_class = FlowControlledWebsocketConnection
    websocket_class = FlowWebsocket


def _current() -> BaseRequestWebsocket:
    """The request, or the websocket upgrade request: error handlers serve both."""
    return websocket if has_websocket_context() else request


def _service_blocked(path: str, enabled: tuple[str, ...]) -> str | None:
    for service, (prefixes, message) in SERVICE_PATHS.items():
        if service not in enabled and any(
            path == prefix or path.startswith(prefix + "/") for prefix in prefixes
        ):
            return message
    return None


def create_app(services: Services) -> Quart:
    settings = services.settings
    speed_up_receiving()
    app = SkySendQuart(__name__)
    # Uploads are streamed and may take hours: no body size cap or timeouts here; every
    # endpoint enforces its own limit while reading.
    app.config.update(MAX_CONTENT_LENGTH=None, BODY_TIMEOUT=None, RESPONSE_TIMEOUT=None)
    app.extensions["skysend"] = services
    policy = HeaderPolicy(settings)
    app.asgi_app = SecurityHeaders(app.asgi_app, settings)  # type: ignore[method-assign]

    @app.before_request
    async def pipeline() -> Response | None:
        path = request.path
        if request.method == "OPTIONS":
            return policy.preflight(
                path,
                request.headers.get("Origin"),
                request.headers.get("Access-Control-Request-Headers"),
            )
        # The rate limiter answers before everything else but preflights (§1.3, §1.9).
        limited = await count_request(path)
        if limited is not None:
            return limited
        if not path.startswith("/api"):
            return None
        # The service toggle comes before every endpoint-level answer (§1.3, §1.7).
        blocked = _service_blocked(path, settings.enabled_services)
        if blocked:
            return error_response(blocked, 403)
        if request.method == "HEAD" and path.startswith("/api/download/"):
            response = error_response("Method not allowed", 405)
            response.headers["Allow"] = "GET"
            return response
        return None

    @app.after_request
    async def headers(response: Response) -> Response:
        if request.http_version.startswith("1") and body_left_unread(request):
            response.headers["Connection"] = "close"
        add_rate_limit_headers(response)
        return policy.apply(response, request.path, request.headers.get("Origin"))

    @app.before_websocket
    async def websocket_pipeline() -> Response | None:
        # The upgrade request is not rate-limited; the service toggle applies (§1.3).
        blocked = _service_blocked(websocket.path, settings.enabled_services)
        return error_response(blocked, 403) if blocked else None

    @app.after_websocket
    async def websocket_headers(response: ResponseTypes | None) -> ResponseTypes | None:
        if not isinstance(response, Response):  # None: the connection was accepted
            return response
        return policy.apply(response, websocket.path, websocket.headers.get("Origin"))

    @app.errorhandler(SkySendError)
    async def domain_error(error: SkySendError) -> Response:
        return response_for(error)

    @app.errorhandler(HTTPException)
    async def http_error(error: HTTPException) -> Response:
        if _current().path.startswith("/api") and error.code in (404, 405):
            return error_response("Not found", 404)
        return error_response(error.name, error.code or 500)

    @app.errorhandler(Exception)
    async def unhandled(error: Exception) -> Response:
        log.exception("unhandled error on %s %s", _current().method, _current().path)
        response = error_response("Internal server error", 500)
        response.headers["Cache-Control"] = "no-store"
        return response

    app.register_blueprint(system.blueprint)
    app.register_blueprint(limits_blueprint)
    app.register_blueprint(files.blueprint)
    app.register_blueprint(notes.blueprint)
    app.register_blueprint(ws_upload.blueprint)

    @app.before_serving
    async def start() -> None:
        await services.start()

    @app.after_serving
    async def stop() -> None:
        await services.stop()

    return app
