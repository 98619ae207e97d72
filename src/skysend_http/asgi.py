"""The ASGI application hypercorn loads (``skysend_http.asgi:app``).

The one module with an import-time side effect: it reads the environment and wires the
server. Start it with ``skysend serve`` (which validates the configuration first).
"""

from __future__ import annotations

import os

from skysend_core.config import Settings
from skysend_http.app import create_app
from skysend_http.bootstrap import build

app = create_app(build(Settings.from_env(os.environ)))
