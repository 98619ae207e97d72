"""How the CLI talks to the user (clients.md §1.4): messages and progress on stderr, one JSON
object on stdout with ``--json``, and the exit codes.

Exit codes (documented in docs/user/cli.md):

=====  =====================================================================
0      success
1      usage or local problem: bad arguments, missing file, invalid option
2      the server refused (any HTTP error) or could not be reached
3      integrity: decryption failed (tampered, corrupted or truncated data),
       a wrong link (the server refused its key) or the password was wrong
130    interrupted (Ctrl-C)
=====  =====================================================================

Progress bars are a few lines of our own rather than a dependency: the format is
prescribed to the character, and the renderer only needs ``\\r\\x1b[K`` rewriting.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any, ClassVar, TextIO

from skysend_http.client import (
    IntegrityError,
    InvalidLinkError,
    InvalidResponseError,
    PasswordRequiredError,
    ProgressEvent,
    ServerError,
    TransportError,
    WebSocketUploadError,
    WrongPasswordError,
)
from skysend_http.client.units import format_bytes
from skysend_http.client_cli.prompt import UsageError

EXIT_OK = 0
EXIT_USAGE = 1
EXIT_SERVER = 2
EXIT_INTEGRITY = 3
EXIT_INTERRUPTED = 130

BAR_WIDTH = 30
REDRAW_INTERVAL_S = 0.1


def exit_code(error: BaseException) -> int:
    if isinstance(error, IntegrityError | WrongPasswordError | InvalidLinkError):
        return EXIT_INTEGRITY
    if isinstance(error, ServerError | TransportError | WebSocketUploadError):
        return EXIT_SERVER
    if isinstance(error, InvalidResponseError):
        return EXIT_SERVER
    if isinstance(error, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    if isinstance(error, PasswordRequiredError | UsageError | ValueError | OSError):
        return EXIT_USAGE
    return EXIT_USAGE


class Output:
    """Human messages (suppressed with ``--json``), the JSON result, errors."""

    def __init__(self, json_mode: bool, stdout: TextIO | None = None, stderr: TextIO | None = None):
        self.json_mode = json_mode
        self.stdout = stdout if stdout is not None else sys.stdout
        self.stderr = stderr if stderr is not None else sys.stderr

    def info(self, message: str = "") -> None:
        if not self.json_mode:
            self.stderr.write(message + "\n")
            self.stderr.flush()

    def result(self, data: Any, *, pretty: bool = False) -> None:
        """The one JSON object of ``--json``: compact on one line as JavaScript's
        ``JSON.stringify`` writes it, or indented by 2 spaces when ``pretty``."""
        text = json.dumps(data, indent=2, ensure_ascii=False) if pretty else compact(data)
        self.stdout.write(text + "\n")
        self.stdout.flush()

    def error(self, error: BaseException) -> int:
        """Print ``error`` as the reference does and return its exit code."""
        message = _message(error)
        status = error.status if isinstance(error, ServerError) else None
        if self.json_mode:
            body: dict[str, Any] = {"error": message}
            if status is not None:
                body["status"] = status
            self.stderr.write(compact(body) + "\n")
        elif status is not None:
            self.stderr.write(f"Error: {message} (HTTP {status})\n")
        else:
            self.stderr.write(f"Error: {message}\n")
        self.stderr.flush()
        return exit_code(error)

    def progress(self) -> Progress:
        enabled = not self.json_mode and _is_tty(self.stderr)
        return Progress(self, enabled)


def compact(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def _message(error: BaseException) -> str:
    if isinstance(error, ServerError):
        return error.message
    if isinstance(error, KeyboardInterrupt):
        return "Interrupted"
    if isinstance(error, OSError) and error.strerror and error.filename:
        return f"{error.strerror}: {error.filename}"
    return str(error) or type(error).__name__


def _is_tty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class Progress:
    """Receives the library's :class:`ProgressEvent` s: prints phase messages and draws a bar
    (``<Label> <bar> <pct>% <loaded>/<total> <speed>/s ETA <duration>``) when on a TTY."""

    LABELS: ClassVar[dict[str, str]] = {
        "packing": "Packing",
        "uploading": "Uploading",
        "downloading": "Downloading",
    }

    def __init__(self, output: Output, enabled: bool) -> None:
        self.output = output
        self.enabled = enabled
        self.phase: str | None = None
        self.started = 0.0
        self.last_draw = 0.0
        self.drawn = False
        self.done = 0
        self.elapsed = 0.0

    def __call__(self, event: ProgressEvent) -> None:
        if event.phase != self.phase or (event.phase == "uploading" and event.done == 0):
            self._begin(event)
        self.done = event.done
        self.elapsed = time.monotonic() - self.started
        if event.phase in self.LABELS:
            now = time.monotonic()
            complete = event.total and event.done >= event.total
            if self.enabled and (complete or now - self.last_draw >= REDRAW_INTERVAL_S):
                self.last_draw = now
                self._draw(event)

    def _begin(self, event: ProgressEvent) -> None:
        previous = self.phase
        self.finish()
        self.phase = event.phase
        self.started = time.monotonic()
        self.last_draw = 0.0
        if event.phase == "packing":
            self.output.info("Packing files...")
        elif event.phase == "encrypting":
            if previous == "packing":
                self.output.info("Packing complete.")
            self.output.info("Preparing encryption...")
        elif event.phase == "fallback":
            reason = f" ({event.detail})" if event.detail else ""
            self.output.info(f"WebSocket upload failed{reason}; retrying over HTTP...")

    def finish(self) -> None:
        """End the current bar's line."""
        if self.drawn:
            self.output.stderr.write("\n")
            self.output.stderr.flush()
            self.drawn = False

    def speed(self) -> float:
        return self.done / self.elapsed if self.elapsed > 0 else 0.0

    def _draw(self, event: ProgressEvent) -> None:
        fraction = min(1.0, event.done / event.total) if event.total else 1.0
        filled = round(fraction * BAR_WIDTH)
        bar = "█" * filled + "░" * (BAR_WIDTH - filled)
        speed = self.speed()
        eta = (event.total - event.done) / speed if speed > 0 else 0.0
        line = (
            f"{self.LABELS[event.phase]} {bar} {fraction * 100:.1f}% "
            f"{format_bytes(event.done)}/{format_bytes(event.total)} "
            f"{format_bytes(speed)}/s ETA {format_duration(eta)}"
        )
        self.output.stderr.write("\r\x1b[K" + line)
        self.output.stderr.flush()
        self.drawn = True


def format_duration(seconds: float) -> str:
    """``42s``, ``3m 05s``, ``2h 07m``."""
    total = round(seconds)
    if total < 60:
        return f"{total}s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"
