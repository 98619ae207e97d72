"""The core stays free of frameworks and drivers (design: the dependency rule)."""

from __future__ import annotations

import json
import subprocess
import sys

FORBIDDEN = (
    "quart",
    "sqlite_utils",
    "sqlite3",
    "_sqlite3",
    "cattrs",
    "httpx",
    "hypercorn",
    "aiobotocore",
    "botocore",
    "aiohttp",
)

_IMPORT_EVERYTHING = """
import importlib, json, pkgutil, sys
import skysend_core
names = [m.name for m in pkgutil.walk_packages(skysend_core.__path__, "skysend_core.")]
for name in names:
    importlib.import_module(name)
print(json.dumps({"imported": names, "loaded": sorted(sys.modules)}))
"""


def test_importing_the_core_loads_no_framework_or_driver() -> None:
    result = subprocess.run(
        [sys.executable, "-c", _IMPORT_EVERYTHING],
        capture_output=True,
        text=True,
        check=True,
    )
    report = json.loads(result.stdout)
    assert "skysend_core.uploads" in report["imported"]
    offending = [
        name
        for name in report["loaded"]
        if any(name == bad or name.startswith(bad + ".") for bad in FORBIDDEN)
    ]
    assert offending == []
