from __future__ import annotations

import os

import pytest

# rich renders for a terminal of this width in every test, whatever runs pytest
os.environ.setdefault("COLUMNS", "120")


# ---- Docker ------------------------------------------------------------------------------------------
# Tests marked `docker` need a real engine. They skip when none answers, with one line saying so, except
# under CI (CI=true), where .ci/run starts the engine first and a missing engine is a failure.

_engine_checked: list[str | None] = []


def _engine_problem() -> str | None:
    if not _engine_checked:
        from rebuild.engine import EngineUnavailable, connect

        try:
            connect(timeout=10).close()
            _engine_checked.append(None)
        except EngineUnavailable as exc:
            _engine_checked.append(str(exc))
    return _engine_checked[0]


# ---- HELM --------------------------------------------------------------------------------------------
# Tests marked `helm` run the real evaluator; the same rule: skipped with one line, failed under CI
# (where .ci/run makes HELM's environment with scripts/helm-env.sh).

_helm_checked: list[str | None] = []


def _helm_problem() -> str | None:
    if not _helm_checked:
        from rebuild.helm import find_helm

        found = find_helm()
        _helm_checked.append(found if isinstance(found, str) else None)
    return _helm_checked[0]


# ---- Chromium ----------------------------------------------------------------------------------------
# Tests marked `browser` open the HTML reports in a real headless Chromium (tests/browser.py); the same
# rule: skipped with one line, failed under CI (where .ci/run installs it with scripts/chromium.sh).

_chromium_checked: list[str | None] = []


def _chromium_problem() -> str | None:
    if not _chromium_checked:
        from tests.browser import chromium_problem

        _chromium_checked.append(chromium_problem())
    return _chromium_checked[0]


_PARTS = (
    ("docker", "Docker", _engine_problem),
    ("helm", "HELM", _helm_problem),
    ("browser", "browser", _chromium_problem),
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for marker, what, problem in _PARTS:
        wanted = [item for item in items if item.get_closest_marker(marker)]
        if not wanted or problem() is None:
            continue
        if os.environ.get("CI") == "true":
            continue  # the tests run and fail: CI must have the part
        # Left out rather than marked skipped: `-ra` would print one line per test; this says it once.
        items[:] = [item for item in items if not item.get_closest_marker(marker)]
        config.hook.pytest_deselected(items=wanted)
        _skipped.append((len(wanted), what, problem() or ""))


_skipped: list[tuple[int, str, str]] = []


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for count, what, problem in _skipped:
        terminalreporter.write_line(f"{count} {what} test(s) skipped: {problem}", yellow=True, bold=True)


@pytest.fixture(scope="session")
def docker_client():  # type: ignore[no-untyped-def]
    from rebuild.engine import connect

    client = connect()
    yield client
    client.close()
