"""A real headless browser for the tests of the HTML reports: `load` opens a local page in Debian's
`chromium` and says what a reader's browser saw: console messages, uncaught errors, every request the page
attempted (a self-contained report attempts none), whether the load event fired, the values of JavaScript
expressions evaluated in the page, and a PNG screenshot.

    report = load(Path("run/report.html"), evaluate=["document.querySelectorAll('svg').length"],
                  screenshot=tmp_path / "report.png")
    assert report.problems == ()
    assert report.values["document.querySelectorAll('svg').length"] == 3

Playwright for Python drives the browser over the DevTools protocol; nothing here speaks the protocol by
hand, and Playwright's own browser download is never used. Chromium is started here rather than by
Playwright's `launch()` so that its process is ours: a watchdog kills its process group at the deadline
(Playwright's `evaluate` has no timeout, and a page stuck in a loop would hang the test otherwise), and the
process and its temporary profile are gone on every path.

Every request other than the page itself (and data:/blob: URLs) is recorded and aborted before it leaves
the browser, so a page that reaches out is reported at once instead of waiting on an unreachable network.
Chromium's proxy is a closed local port as well: what Playwright does not intercept (WebSockets,
preconnects) fails at once too, and nothing reaches the network.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from audit.process import kill_group

if TYPE_CHECKING:
    from playwright.sync_api import Browser

# The flags the browser tests are specified with, then ours: a profile of our own and a DevTools port
# chosen by chromium (written to DevToolsActivePort in the profile), no proxy that could answer.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
)
_PROXY = "--proxy-server=http://127.0.0.1:9"  # the discard port: nothing listens, connecting fails at once
_IGNORED_SCHEMES = ("data:", "blob:", "about:")
_LOG_TAIL = 2000


class BrowserError(Exception):
    """Chromium did not start, the page could not be opened, or an expression failed in the page."""


class BrowserTimeout(BrowserError):
    """The page did not finish (start, load, evaluations, screenshot) within the deadline; chromium was
    killed."""


@dataclass(frozen=True)
class ConsoleMessage:
    level: str  # Chromium's console type: "log", "info", "warning", "error", "debug", ...
    text: str
    location: str  # "URL:line:column" (0-based, as the DevTools protocol counts), "" when unknown


@dataclass(frozen=True)
class PageReport:
    url: str  # the file:// URL that was opened
    loaded: bool  # the load event fired within load_timeout
    console: tuple[ConsoleMessage, ...]
    page_errors: tuple[str, ...]  # uncaught exceptions and unhandled rejections, "Name: message"
    requests: tuple[str, ...]  # URLs of every request attempted besides the page itself and data:/blob:
    values: dict[str, Any] = field(default_factory=dict)  # expression -> its JSON-able value
    screenshot: Path | None = None
    chromium: str = ""  # the browser's version
    seconds: float = 0.0  # chromium's start to the screenshot

    @property
    def console_errors(self) -> tuple[str, ...]:
        return tuple(message.text for message in self.console if message.level == "error")

    @property
    def problems(self) -> tuple[str, ...]:
        """What a self-contained report page must not do, one line each; () for a clean page."""
        return (
            *(() if self.loaded else ("the load event did not fire",)),
            *(f"uncaught: {error}" for error in self.page_errors),
            *(f"console error: {text}" for text in self.console_errors),
            *(f"request: {url}" for url in self.requests),
        )


def chromium_problem() -> str | None:
    """Why `load` cannot run here, or None."""
    if shutil.which("chromium") is None:
        return "no chromium on PATH (bash scripts/chromium.sh installs Debian's)"
    if importlib.util.find_spec("playwright") is None:
        return "Playwright for Python is not installed (pip install -e '.[dev]')"
    return None


def load(
    page: Path | str,
    *,
    evaluate: Sequence[str] = (),
    screenshot: Path | None = None,
    viewport: tuple[int, int] = (1280, 800),
    full_page: bool = False,
    load_timeout: float = 10.0,
    timeout: float = 30.0,
) -> PageReport:
    """Open `page` (a Path: that HTML file; a str: that HTML, written to a temporary file) in a fresh
    headless chromium, wait for its load event (at most `load_timeout` s), evaluate each expression of
    `evaluate` in the page, write a PNG screenshot of the viewport (the whole page with `full_page`) to
    `screenshot`, and say what happened. Everything within `timeout` s, or BrowserTimeout."""
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    started = time.monotonic()
    if isinstance(page, Path) and not page.is_file():
        raise FileNotFoundError(f"no such page: {page}")
    executable = shutil.which("chromium")
    if executable is None:
        raise BrowserError(chromium_problem() or "no chromium")
    workdir = Path(tempfile.mkdtemp(prefix="repro-audit-chromium-"))
    process: subprocess.Popen[bytes] | None = None
    watchdog: threading.Timer | None = None
    killed = threading.Event()
    try:
        if isinstance(page, Path):
            path = page.resolve()
        else:
            path = workdir / "page.html"
            path.write_text(page, encoding="utf-8")
        process = _start_chromium(executable, workdir)
        watchdog = threading.Timer(timeout, _kill_at_deadline, args=(process, killed))
        watchdog.daemon = True
        watchdog.start()
        port = _devtools_port(process, workdir, started + timeout)
        with sync_playwright() as playwright:
            browser = playwright.chromium.connect_over_cdp(
                f"http://127.0.0.1:{port}", timeout=_milliseconds_left(started, timeout)
            )
            return _visit(
                browser,
                path.as_uri(),
                evaluate=evaluate,
                screenshot=screenshot,
                viewport=viewport,
                full_page=full_page,
                load_timeout=load_timeout,
                started=started,
                timeout=timeout,
            )
    except (PlaywrightError, BrowserError) as exc:
        if killed.is_set() or isinstance(exc, PlaywrightTimeout | BrowserTimeout):
            raise BrowserTimeout(f"the page did not finish within {timeout:g} s; chromium was killed") from None
        if isinstance(exc, BrowserError):
            raise
        raise BrowserError(f"chromium: {exc.message}{_log_tail(workdir)}") from exc
    finally:
        if watchdog is not None:
            watchdog.cancel()
        if process is not None:
            kill_group(process)
        shutil.rmtree(workdir, ignore_errors=True)


def _visit(
    browser: Browser,
    url: str,
    *,
    evaluate: Sequence[str],
    screenshot: Path | None,
    viewport: tuple[int, int],
    full_page: bool,
    load_timeout: float,
    started: float,
    timeout: float,
) -> PageReport:
    from playwright.sync_api import ConsoleMessage as PlaywrightConsoleMessage
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import Request, Route, WebSocket
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    console: list[ConsoleMessage] = []
    page_errors: list[str] = []
    requests: list[str] = []

    def own(address: str) -> bool:
        # Compared unquoted: chromium may escape the file's name otherwise than Path.as_uri does.
        return unquote(address.split("#", 1)[0]) == unquote(url) or address.startswith(_IGNORED_SCHEMES)

    def on_console(message: PlaywrightConsoleMessage) -> None:
        where = message.location
        location = f"{where['url']}:{where['lineNumber']}:{where['columnNumber']}" if where.get("url") else ""
        console.append(ConsoleMessage(message.type, message.text, location))

    def on_page_error(error: PlaywrightError) -> None:
        page_errors.append(f"{error.name or 'Error'}: {error.message}")

    def on_request(request: Request) -> None:
        if not own(request.url):
            requests.append(request.url)

    def on_websocket(socket: WebSocket) -> None:
        requests.append(socket.url)

    def refuse(route: Route) -> None:
        route.abort("blockedbyclient")

    context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]}, device_scale_factor=1)
    context.on("request", on_request)  # the context's: popups and workers count too
    context.route(lambda address: not own(address), refuse)
    tab = context.new_page()
    tab.on("console", on_console)
    tab.on("pageerror", on_page_error)
    tab.on("websocket", on_websocket)
    tab.set_default_timeout(_milliseconds_left(started, timeout))

    try:
        tab.goto(url, wait_until="load", timeout=min(load_timeout * 1000, _milliseconds_left(started, timeout)))
        loaded = True
    except PlaywrightTimeout:
        loaded = False
    except PlaywrightError as exc:
        raise BrowserError(f"could not open {url}: {exc.message}") from exc
    if loaded:
        # One frame drawn and the tasks it queued run: errors of scripts that draw after load are in.
        tab.evaluate("new Promise(done => requestAnimationFrame(() => setTimeout(done, 0)))")

    values: dict[str, Any] = {}
    for expression in evaluate:
        try:
            values[expression] = tab.evaluate(expression)
        except PlaywrightError as exc:
            if not browser.is_connected():
                raise
            raise BrowserError(f"{expression!r} failed in the page: {exc.message}") from exc

    if screenshot is not None:
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        tab.screenshot(path=screenshot, full_page=full_page, timeout=_milliseconds_left(started, timeout))

    return PageReport(
        url=url,
        loaded=loaded,
        console=tuple(console),
        page_errors=tuple(page_errors),
        requests=tuple(requests),
        values=values,
        screenshot=screenshot,
        chromium=browser.version,
        seconds=time.monotonic() - started,
    )


def _start_chromium(executable: str, workdir: Path) -> subprocess.Popen[bytes]:
    # Its own session: one process group to kill, zygote and renderers included. setpriv (util-linux)
    # kills it with the test process too, should that be killed with SIGKILL. HOME and the XDG folders
    # inside workdir: nothing chromium writes outlives the call.
    setpriv = shutil.which("setpriv")
    prefix = [setpriv, "--pdeathsig", "KILL", "--"] if setpriv else []
    home = workdir / "home"
    env = {
        **os.environ,
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_CACHE_HOME": str(home / ".cache"),
    }
    argv = [
        *prefix,
        executable,
        *CHROMIUM_FLAGS,
        _PROXY,
        "--hide-scrollbars",  # a screenshot is as wide as the viewport, whatever the page's height
        f"--user-data-dir={workdir / 'profile'}",
        "--remote-debugging-port=0",
        "about:blank",
    ]
    with (workdir / "chromium.log").open("wb") as log:
        return subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )


def _devtools_port(process: subprocess.Popen[bytes], workdir: Path, deadline: float) -> int:
    """The port chromium chose, from the DevToolsActivePort file it writes into its profile when ready."""
    active_port = workdir / "profile" / "DevToolsActivePort"
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, ValueError):
            first_line = active_port.read_text(encoding="utf-8").split("\n", 1)[0]
            return int(first_line)
        if process.poll() is not None:
            raise BrowserError(f"chromium exited with {process.returncode} before it was ready{_log_tail(workdir)}")
        time.sleep(0.02)
    raise BrowserTimeout("chromium was not ready before the deadline")


def _kill_at_deadline(process: subprocess.Popen[bytes], killed: threading.Event) -> None:
    killed.set()
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


def _milliseconds_left(started: float, timeout: float) -> float:
    return max(1.0, (started + timeout - time.monotonic()) * 1000)


def _log_tail(workdir: Path) -> str:
    try:
        text = (workdir / "chromium.log").read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return ""
    return f"\nchromium's log ends with:\n{text[-_LOG_TAIL:]}" if text else ""
