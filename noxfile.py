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
    """Benchmarks (not run by default): server throughput, requests/s, RSS."""
    session.install("-e", ".[test]")
    session.run("python", "bench/server_bench.py", *session.posargs)
