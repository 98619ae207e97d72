"""Test matrix and checks. ``nox`` runs tests (every Python 3.11–3.13 present), lint, typing."""

from __future__ import annotations

import subprocess

import nox

nox.options.sessions = ["tests", "lint", "typing"]
nox.options.reuse_existing_virtualenvs = True


def _present(version: str) -> bool:
    """True if ``pythonX.Y`` runs (pyenv shims exist even for versions not enabled)."""
    try:
        return (
            subprocess.run([f"python{version}", "--version"], capture_output=True).returncode == 0
        )
    except OSError:
        return False


PYTHONS = [v for v in ("3.11", "3.12", "3.13") if _present(v)]


@nox.session(python=PYTHONS or None)
def tests(session: nox.Session) -> None:
    """Run the test suite (real servers on 127.0.0.1, real SQLite, real folders)."""
    session.install("-e", ".[test]")
    session.run("pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check."""
    session.install("-e", ".[lint]")
    session.run("ruff", "check", "src", "tests", "bench", "noxfile.py")
    session.run("ruff", "format", "--check", "src", "tests", "bench", "noxfile.py")


@nox.session
def typing(session: nox.Session) -> None:
    """mypy --strict on src."""
    session.install("-e", ".[typing]")
    session.run("mypy")


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks (not run by default). ``nox -s bench -- ws_bench.py --size-mib 256`` picks
    one script of bench/ and passes it the rest; without arguments every script runs."""
    session.install("-e", ".[test]")
    if session.posargs:
        script, *rest = session.posargs
        session.run("python", f"bench/{script}", *rest)
        return
    for script in (
        "server_bench.py",
        "ws_bench.py",
        "notes_bench.py",
        "client_bench.py",
        "crypto_bench.py",
    ):
        session.run("python", f"bench/{script}")
