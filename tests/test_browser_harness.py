"""`tests.browser`, the headless Chromium the HTML report tests use: it must see what a reader's browser
sees (a clean page as clean; console errors, uncaught exceptions and every attempted request as such),
draw a real screenshot, and leave no chromium and no profile behind, a hung page included."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import pytest
from PIL import Image

from tests.browser import BrowserError, BrowserTimeout, load

pytestmark = pytest.mark.browser

SVG_COUNT = "document.querySelectorAll('svg').length"
PLOT_SIZE = "(({width, height}) => [width, height])(document.querySelector('#plot').getBoundingClientRect())"
VERDICT = "document.querySelector('#verdict').textContent"
DRAWN = "document.querySelector('#plot').dataset.drawn"  # set by the page's inline script

# A one-pixel PNG: a data: URI is part of the page, not a request.
_PIXEL = (
    "data:image/png;base64,"
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)

SELF_CONTAINED = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>entry-007</title>
<style>body {{ margin: 0; background: #fff; }} h1 {{ font: 20px sans-serif; }}</style></head>
<body>
<h1 id="verdict">reproducible</h1>
<svg id="plot" xmlns="http://www.w3.org/2000/svg" width="200" height="100" viewBox="0 0 200 100"
     style="position: absolute; left: 40px; top: 60px">
  <rect x="0" y="0" width="200" height="100" fill="rgb(0, 128, 255)"/>
  <text x="10" y="50" font-size="12">win rate</text>
</svg>
<img alt="" src="{_PIXEL}">
<script>document.querySelector('#plot').dataset.drawn = 'yes';</script>
</body></html>
"""


@pytest.fixture(autouse=True)
def _own_temp_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The harness's temporary folders go under this test's own, so the test can see they are gone."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    return scratch


def _png(path: Path) -> Image.Image:
    """The screenshot as decoded by Pillow (which refuses what is not a well-formed PNG), in RGB."""
    with Image.open(path) as image:
        assert image.format == "PNG"
        image.load()
        return image.convert("RGB")


def _live_processes_under(folder: Path) -> list[int]:
    """Processes (not zombies) whose environment names `folder`: chromium's, whose HOME the harness puts
    there. SIGKILL is delivered asynchronously: a moment is given (this bounds a wait, it asserts nothing
    about time)."""
    needle = str(folder).encode()
    deadline = time.monotonic() + 5
    while True:
        live = []
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                state = (proc / "stat").read_text(encoding="utf-8").rpartition(")")[2].split()[0]
                if state not in ("Z", "X") and needle in (proc / "environ").read_bytes():
                    live.append(int(proc.name))
            except OSError:
                continue
        if not live or time.monotonic() > deadline:
            return live
        time.sleep(0.05)


def test_a_self_contained_page_with_an_inline_svg_is_clean_and_drawn(tmp_path: Path, _own_temp_folder: Path) -> None:
    shot = tmp_path / "shots" / "page.png"

    report = load(SELF_CONTAINED, evaluate=[SVG_COUNT, PLOT_SIZE, VERDICT, DRAWN], screenshot=shot, viewport=(640, 480))

    assert report.problems == ()
    assert report.loaded
    assert report.requests == ()  # the data: image is no request
    assert report.page_errors == ()
    assert report.values == {SVG_COUNT: 1, PLOT_SIZE: [200, 100], VERDICT: "reproducible", DRAWN: "yes"}
    assert report.chromium.split(".")[0].isdigit()
    assert report.screenshot == shot
    image = _png(shot)
    assert image.size == (640, 480)
    assert image.getpixel((40 + 150, 60 + 80)) == (0, 128, 255)  # inside the plot's rect, clear of its text
    assert image.getpixel((600, 400)) == (255, 255, 255)  # the page's background
    # chromium and its profile are gone
    assert list(_own_temp_folder.iterdir()) == []
    assert _live_processes_under(_own_temp_folder) == []


def test_a_file_is_opened_where_it_is_and_the_whole_page_is_shot(tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_text(
        "<!doctype html><title>long</title><body style='margin:0'><div style='height:1500px'></div></body>",
        encoding="utf-8",
    )

    report = load(page, screenshot=tmp_path / "full.png", viewport=(400, 300), full_page=True)

    assert report.problems == ()
    assert report.url == page.resolve().as_uri()
    assert _png(tmp_path / "full.png").size == (400, 1500)


def test_a_console_error_is_reported_with_its_level() -> None:
    report = load(
        "<!doctype html><title>t</title><script>console.log('drawing'); console.error('planted: no data');</script>"
    )

    assert report.loaded
    assert [(message.level, message.text) for message in report.console] == [
        ("log", "drawing"),
        ("error", "planted: no data"),
    ]
    assert report.console[1].location.startswith(report.url + ":")
    assert report.console_errors == ("planted: no data",)
    assert report.problems == ("console error: planted: no data",)
    assert report.page_errors == ()


def test_uncaught_exceptions_and_rejections_are_reported() -> None:
    report = load(
        "<!doctype html><title>t</title><script>"
        "setTimeout(() => Promise.reject(new RangeError('planted later')), 0);"
        "throw new TypeError('planted: plot is undefined');"
        "</script>"
    )

    assert report.loaded
    assert report.page_errors == ("TypeError: planted: plot is undefined", "RangeError: planted later")
    assert "uncaught: TypeError: planted: plot is undefined" in report.problems


@pytest.mark.parametrize(
    ("markup", "attempted"),
    [
        ('<img alt="" src="http://198.51.100.1/x.png">', "http://198.51.100.1/x.png"),
        ('<link rel="stylesheet" href="https://cdn.example.com/report.css">', "https://cdn.example.com/report.css"),
        ('<script src="https://198.51.100.2/plot.js"></script>', "https://198.51.100.2/plot.js"),
        ("<div style=\"background: url('http://198.51.100.1/bg.png')\">x</div>", "http://198.51.100.1/bg.png"),
        ("<script>fetch('https://198.51.100.3/api').catch(() => {})</script>", "https://198.51.100.3/api"),
        ("<script>new WebSocket('ws://198.51.100.4/live')</script>", "ws://198.51.100.4/live"),
    ],
    ids=["img", "stylesheet", "script", "css-url", "fetch", "websocket"],
)
def test_a_page_that_reaches_out_is_reported_without_waiting_on_the_network(markup: str, attempted: str) -> None:
    # TEST-NET addresses and example.com: nothing answers (or, behind a proxy, something might). Either
    # way the request is refused in the browser, so the load event fires: a request left waiting on the
    # network would keep it from firing within load_timeout.
    report = load(f"<!doctype html><title>t</title><body>{markup}</body>", load_timeout=5)

    assert report.loaded
    assert report.requests == (attempted,)
    assert f"request: {attempted}" in report.problems


def test_a_sibling_file_is_a_request_too(tmp_path: Path) -> None:
    (tmp_path / "plot.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'/>", encoding="utf-8")
    page = tmp_path / "report.html"
    page.write_text("<!doctype html><title>t</title><img alt='' src='plot.svg'>", encoding="utf-8")

    report = load(page)

    assert report.requests == ((tmp_path / "plot.svg").resolve().as_uri(),)


def test_a_hung_page_fails_at_the_deadline_and_leaves_nothing_behind(_own_temp_folder: Path) -> None:
    page = "<!doctype html><title>t</title><script>setTimeout(() => { for (;;) {} }, 0)</script>"

    with pytest.raises(BrowserTimeout, match="did not finish within 4 s"):
        load(page, evaluate=[SVG_COUNT], timeout=4)

    assert list(_own_temp_folder.iterdir()) == []
    assert _live_processes_under(_own_temp_folder) == []


def test_a_page_that_never_loads_says_so() -> None:
    report = load("<!doctype html><title>t</title><script>for (;;) {}</script>", load_timeout=1, timeout=10)

    assert not report.loaded
    assert report.problems == ("the load event did not fire",)


def test_an_expression_that_throws_is_an_error_naming_it(_own_temp_folder: Path) -> None:
    with pytest.raises(BrowserError, match=r"'document.querySelector\(\"#missing\"\).textContent' failed"):
        load(SELF_CONTAINED, evaluate=['document.querySelector("#missing").textContent'])

    assert list(_own_temp_folder.iterdir()) == []


def test_a_missing_file_is_said_before_chromium_starts(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no such page"):
        load(tmp_path / "absent.html")
