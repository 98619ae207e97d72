"""The Quart application factory: blueprints plus the cross-cutting request pipeline."""

from __future__ import annotations

import logging

from quart import Quart, Response, request
from werkzeug.exceptions import HTTPException

from skysend_core.errors import SkySendError
from skysend_http import files, notes, system
from skysend_http.bootstrap import Services
from skysend_http.errors import error_response, response_for
from skysend_http.headers import HeaderPolicy
from skysend_http.streaming import StreamingHTTPConnection, StreamingRequest, body_left_unread

log = logging.getLogger(__name__)

#: Path prefixes of each service (http-api.md §1.7) and the 403 text when it is off.
SERVICE_PATHS = {
    "file": (
        ("/api/upload", "/api/info", "/api/exists", "/api/password", "/api/meta",
         "/api/download", "/api/quota"),
        "File service is disabled",
    ),
    "note": (("/api/note",), "Note service is disabled"),
}


class SkySendQuart(Quart):
    asgi_http_class = StreamingHTTPConnection
    request_class = StreamingRequest


def _service_blocked(path: str, enabled: tuple[str, ...]) -> str | None:
    for service, (prefixes, message) in SERVICE_PATHS.items():
        if service not in enabled and any(
            path == prefix or path.startswith(prefix + "/") for prefix in prefixes
        ):
            return message
    return None


def create_app(services: Services) -> Quart:
    settings = services.settings
    app = SkySendQuart(__name__)
    # Uploads are streamed and may take hours: no body size cap or timeouts here; every
    # endpoint enforces its own limit while reading.
    app.config.update(MAX_CONTENT_LENGTH=None, BODY_TIMEOUT=None, RESPONSE_TIMEOUT=None)
    app.extensions["skysend"] = services
    policy = HeaderPolicy(settings)

    @app.before_request
    async def pipeline() -> Response | None:
        path = request.path
        if request.method == "OPTIONS":
            return policy.preflight(
                path, request.headers.get("Origin"),
                request.headers.get("Access-Control-Request-Headers"),
            )
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
        return policy.apply(response, request.path, request.headers.get("Origin"))

    @app.errorhandler(SkySendError)
    async def domain_error(error: SkySendError) -> Response:
        return response_for(error)

    @app.errorhandler(HTTPException)
    async def http_error(error: HTTPException) -> Response:
        if request.path.startswith("/api") and error.code in (404, 405):
            return error_response("Not found", 404)
        return error_response(error.name, error.code or 500)

    @app.errorhandler(Exception)
    async def unhandled(error: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.path)
        response = error_response("Internal server error", 500)
        response.headers["Cache-Control"] = "no-store"
        return response

    app.register_blueprint(system.blueprint)
    app.register_blueprint(files.blueprint)
    app.register_blueprint(notes.blueprint)

    @app.before_serving
    async def start() -> None:
        await services.start()

    @app.after_serving
    async def stop() -> None:
        await services.stop()

    return app
