"""The HTML pages in a real headless Chromium (tests.browser): written where a run writes them, opened
as a reader opens them. Each loads without a console error or a request, shows its verdict on the first
screen, draws every chart with a size, keeps its links inside the run folder (resolved by the browser
itself), fits a phone's width; a screenshot of each is taken (and read back)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
from PIL import Image

from reports.html import entry_html, leaderboard_html, summary_html
from tests.browser import load
from tests.test_html import board_document, failing_document, hostile_document, learner_document, summary_sample

pytestmark = pytest.mark.browser

VERDICT = """(() => {
  const box = document.querySelector('#verdict');
  if (!box) return null;
  const r = box.getBoundingClientRect(), s = getComputedStyle(box);
  return {top: r.top, width: r.width, height: r.height, shown: s.display !== 'none' && s.visibility === 'visible',
          text: box.innerText, border: s.borderLeftColor};
})()"""
SVG_SIZES = "Array.from(document.querySelectorAll('svg')).map(s => [s.getBoundingClientRect().width, s.getBoundingClientRect().height])"
LINKS = "Array.from(document.querySelectorAll('a[href]')).map(a => a.href)"
IDS = "Array.from(document.querySelectorAll('[id]')).map(e => e.id)"
OVERFLOW = "document.documentElement.scrollWidth - window.innerWidth"

ENTRY_PARTS = [
    "verdict",
    "scores",
    "winrates",
    "timeline",
    "api",
    "findings",
    "secrets",
    "build",
    "train",
    "eval",
    "logs",
]
TONES = {"reproducible-with-deviations": (154, 91, 0), "not-reproducible": (179, 38, 30)}  # the CSS --warn, --bad


def write_run(run: Path, docs: list[dict[str, Any]]) -> dict[str, Path]:
    """The pages where `repro-audit run` writes them, with the log files the entry pages link to."""
    pages = {}
    for doc in docs:
        folder = run / "entries" / doc["name"]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "report.html").write_text(entry_html(doc), encoding="utf-8")
        pages[doc["name"]] = folder / "report.html"
        logs = [t["log"] for t in doc["build"]["targets"]] + [doc["train"]["log"], *doc["eval"]["logs"].values()]
        for log in logs:
            (run / log).parent.mkdir(parents=True, exist_ok=True)
            (run / log).write_text("log\n", encoding="utf-8")
    (run / "leaderboards").mkdir()
    (run / "leaderboards" / "index.html").write_text(leaderboard_html(board_document()), encoding="utf-8")
    (run / "summary.html").write_text(summary_html(summary_sample()), encoding="utf-8")
    return pages | {"leaderboard": run / "leaderboards" / "index.html", "summary": run / "summary.html"}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Path]]:
    folder = tmp_path_factory.mktemp("run")
    docs = [learner_document(), failing_document("4090/u/broken")]
    return folder, write_run(folder, docs)


def screenshot_pixels(path: Path) -> set[tuple[int, ...]]:
    """The colours a screenshot holds (Pillow refuses what is not a well-formed PNG)."""
    with Image.open(path) as image:
        assert image.format == "PNG"
        colours = image.convert("RGB").getcolors(maxcolors=1 << 24) or []
    return {tuple(colour) for _count, colour in colours if isinstance(colour, tuple)}


@pytest.mark.parametrize(
    ("name", "status"),
    [("A100/alice/learner", "reproducible-with-deviations"), ("4090/u/broken", "not-reproducible")],
)
def test_an_entry_page_in_the_browser(
    run: tuple[Path, dict[str, Path]], name: str, status: str, tmp_path: Path
) -> None:
    folder, pages = run
    shot = tmp_path / "entry.png"
    report = load(pages[name], evaluate=[VERDICT, SVG_SIZES, LINKS, IDS], screenshot=shot)
    assert report.problems == ()
    verdict = report.values[VERDICT]
    assert verdict is not None and verdict["shown"]
    assert verdict["width"] > 0 and verdict["height"] > 0 and verdict["top"] < 400  # on the first screen
    assert status.replace("-", " ") in verdict["text"].lower()
    assert verdict["border"] == "rgb({}, {}, {})".format(*TONES[status])
    ids = report.values[IDS]
    assert [i for i in ids if i in ENTRY_PARTS] == ENTRY_PARTS
    sizes = report.values[SVG_SIZES]
    assert sizes and all(width > 100 and height > 20 for width, height in sizes)
    # the browser's own resolution of every link: a file of the run folder that exists, or this page
    for href in report.values[LINKS]:
        parts = urlsplit(href)
        assert parts.scheme == "file", href
        target = Path(unquote(parts.path))
        if target == pages[name]:
            continue
        assert target.is_file() and folder in target.parents, href
    assert TONES[status] in screenshot_pixels(shot)  # the verdict's colour is drawn


def test_a_hostile_entry_page_does_nothing_in_the_browser(tmp_path: Path) -> None:
    page = tmp_path / "entries" / "4090" / "x" / "repo" / "report.html"
    page.parent.mkdir(parents=True)
    page.write_text(entry_html(hostile_document()), encoding="utf-8")
    report = load(page, evaluate=["document.querySelectorAll('script, img, iframe').length", LINKS, VERDICT],
                  screenshot=tmp_path / "hostile.png")  # fmt: skip
    assert report.problems == ()
    assert report.values["document.querySelectorAll('script, img, iframe').length"] == 0
    assert all(urlsplit(href).scheme == "file" for href in report.values[LINKS])
    assert "<script>alert(1)</script>" in report.values[VERDICT]["text"]


def test_the_leaderboard_in_the_browser(run: tuple[Path, dict[str, Path]], tmp_path: Path) -> None:
    folder, pages = run
    tracks = "Array.from(document.querySelectorAll('section.track')).map(s => s.id)"
    report = load(pages["leaderboard"], evaluate=[tracks, SVG_SIZES, LINKS], screenshot=tmp_path / "board.png")
    assert report.problems == ()
    assert report.values[tracks] == ["track-a100", "track-rtx-4090"]
    assert len(report.values[SVG_SIZES]) == 2 and all(w > 100 and h > 20 for w, h in report.values[SVG_SIZES])
    reports = [Path(unquote(urlsplit(h).path)) for h in report.values[LINKS] if h.endswith("report.html")]
    assert folder / "entries" / "A100" / "alice" / "learner" / "report.html" in reports
    screenshot_pixels(tmp_path / "board.png")


def test_the_summary_in_the_browser(run: tuple[Path, dict[str, Path]], tmp_path: Path) -> None:
    _folder, pages = run
    parts = "['verdicts', 'failure-classes'].map(id => !!document.getElementById(id))"
    report = load(pages["summary"], evaluate=[parts, SVG_SIZES, LINKS], screenshot=tmp_path / "summary.png")
    assert report.problems == ()
    assert report.values[parts] == [True, True]
    assert len(report.values[SVG_SIZES]) == 2 and all(w > 100 and h > 20 for w, h in report.values[SVG_SIZES])
    targets = {Path(unquote(urlsplit(h).path)) for h in report.values[LINKS]}
    assert pages["4090/u/broken"] in targets and pages["leaderboard"] in targets
    screenshot_pixels(tmp_path / "summary.png")


@pytest.mark.parametrize("which", ["4090/u/broken", "leaderboard", "summary"])
def test_pages_fit_a_phone(run: tuple[Path, dict[str, Path]], which: str, tmp_path: Path) -> None:
    """At 390 px wide nothing pushes the page sideways (wide tables scroll in their own box)."""
    report = load(run[1][which], evaluate=[OVERFLOW, SVG_SIZES], viewport=(390, 844), screenshot=tmp_path / "phone.png")
    assert report.problems == ()
    assert report.values[OVERFLOW] <= 0
    assert all(0 < width <= 390 for width, _ in report.values[SVG_SIZES])
