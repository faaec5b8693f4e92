"""Sessions: tests, lint, typecheck, docs (CI); interop, bench, fuzz (heavy peers, outside CI)."""

from __future__ import annotations

import nox

nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.reuse_existing_virtualenvs = True

PYTHON = ["3.11"]


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """The README's test command, in a fresh environment."""
    session.install("-e", ".[dev]")
    session.run("pytest", *session.posargs)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    session.install("ruff")
    session.run("ruff", "check", "core", "plugins", "tests", "bench", "noxfile.py")


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    session.install("-e", ".", "mypy")
    session.run("mypy")


@nox.session(python=PYTHON)
def docs(session: nox.Session) -> None:
    """Build the Sphinx site with warnings as errors."""
    session.install("-e", ".[docs]")
    session.run("sphinx-build", "-W", "--keep-going", "-b", "html", "docs", "docs/_build/html")


@nox.session(python=PYTHON)
def interop(session: nox.Session) -> None:
    """playNano 0.5.0 writes -> afmio reads, afmio writes -> playNano reads; AFMReader,
    SurfaceTopography, gwyfile, playNano (ARIS) and Nanosurf's NHF reader read the same instrument files as afmio."""
    session.install("-e", ".[test,ibw]", "playnano==0.5.0", "afmreader==0.0.7", "SurfaceTopography", "gwyfile==0.3.0",
                    "nanosurf==2.0.7")
    session.run("pytest", "-m", "interop", "tests/interop", *session.posargs)


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Benchmarks (``nox -s bench -- --quick``); playNano figures when it installs."""
    session.install("-e", ".[dask,zarr,video]")
    try:
        session.install("playnano==0.5.0")
    except Exception:  # still run the afmio-only figures
        session.warn("playnano==0.5.0 did not install; running afmio-only figures")
    session.run("python", "bench/run.py", *session.posargs)


@nox.session(python=PYTHON)
def fuzz(session: nox.Session) -> None:
    """A bounded long fuzz run of the binary parsers (``nox -s fuzz -- --minutes 10``)."""
    session.install("-e", ".[test]")
    if session.posargs[:1] == ["adversarial"]:  # nox -s fuzz -- adversarial --cases 2000
        session.run("python", "tests/fuzz/adversarial.py", *session.posargs[1:])
        return
    session.run("python", "tests/fuzz/run_fuzz.py", *session.posargs)
