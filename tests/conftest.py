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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    wanted = [item for item in items if item.get_closest_marker("docker")]
    if not wanted or _engine_problem() is None:
        return
    if os.environ.get("CI") == "true":
        return  # the tests run and fail: CI must have an engine
    # Left out rather than marked skipped: `-ra` would print one line per test; this says it once.
    items[:] = [item for item in items if not item.get_closest_marker("docker")]
    config.hook.pytest_deselected(items=wanted)
    _skipped.append(len(wanted))


_skipped: list[int] = []


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _skipped:
        terminalreporter.write_line(
            f"{_skipped[0]} Docker test(s) skipped: {_engine_problem()}", yellow=True, bold=True
        )


@pytest.fixture(scope="session")
def docker_client():  # type: ignore[no-untyped-def]
    from rebuild.engine import connect

    client = connect()
    yield client
    client.close()
