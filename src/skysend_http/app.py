"""The Quart application factory: the endpoints' blueprints and error handlers, with the
static web app of :mod:`skysend_http.web` when ``WEB_DIR`` is set, behind the request
pipeline of :mod:`skysend_http.gateway`."""

from __future__ import annotations

import logging

from quart import Quart, Response, has_websocket_context, request, websocket
from quart.wrappers import BaseRequestWebsocket
from werkzeug.exceptions import HTTPException

from skysend_core.errors import SkySendError
from skysend_http import auth, files, notes, system, ws_upload
from skysend_http.bootstrap import Services
from skysend_http.errors import error_response, response_for
from skysend_http.gateway import Gateway, guard_refusal, service_blocked
from skysend_http.limits import blueprint as limits_blueprint
from skysend_http.streaming import StreamingHTTPConnection, StreamingRequest
from skysend_http.web import WebApp, WebAppServer
from skysend_http.ws_flow import (
    FlowControlledWebsocketConnection,
    FlowWebsocket,
    speed_up_receiving,
)

log = logging.getLogger(__name__)


class SkySendQuart(Quart):
    asgi_http_class = StreamingHTTPConnection
    request_class = StreamingRequest
    asgi_websocket_class = FlowControlledWebsocketConnection
    websocket_class = FlowWebsocket


def _current() -> BaseRequestWebsocket:
    """The request, or the websocket upgrade request: error handlers serve both."""
    return websocket if has_websocket_context() else request


def create_app(services: Services) -> Quart:
    settings = services.settings
    speed_up_receiving()
    app = SkySendQuart(__name__)
    # Uploads are streamed and may take hours: no body size cap or timeouts here; every
    # endpoint enforces its own limit while reading.
    app.config.update(MAX_CONTENT_LENGTH=None, BODY_TIMEOUT=None, RESPONSE_TIMEOUT=None)
    app.extensions["skysend"] = services
    endpoints = app.asgi_app
    web = WebApp.from_settings(settings)
    if web is not None:
        endpoints = WebAppServer(endpoints, web)
    app.asgi_app = Gateway(  # type: ignore[method-assign]
        endpoints, settings, lambda: services.limits, services.identity
    )

    @app.before_websocket
    async def websocket_pipeline() -> Response | None:
        # The upgrade request is not rate-limited; the service toggle applies (§1.3), and
        # the OIDC guard where the endpoint exists (websocket-upload.md §1).
        blocked = service_blocked(websocket.path, settings.enabled_services)
        if blocked:
            return error_response(blocked, 403)
        if not settings.file_upload_ws:
            return None  # the endpoint's own 404
        headers = {
            "cookie": "; ".join(websocket.headers.getlist("Cookie")),  # HTTP/2: several lines
            "authorization": websocket.headers.get("Authorization"),
        }
        unauthenticated = guard_refusal(services.identity, "GET", websocket.path, headers)
        return error_response(unauthenticated, 401) if unauthenticated else None

    @app.errorhandler(SkySendError)
    async def domain_error(error: SkySendError) -> Response:
        return response_for(error)

    @app.errorhandler(HTTPException)
    async def http_error(error: HTTPException) -> Response:
        if _current().path.startswith(("/api", "/auth")) and error.code in (404, 405):
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
    if services.identity is not None:
        app.register_blueprint(auth.blueprint)

    @app.before_serving
    async def start() -> None:
        await services.start()

    @app.after_serving
    async def stop() -> None:
        await services.stop()

    return app
