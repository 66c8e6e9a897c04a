"""A run folder's reports, leaderboards and summary, written by `repro-audit report` from the state
(tests/reports/run_state.py), in every format; the HTML opened in headless Chromium."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from audit.cli import main
from tests.reports.run_state import ENTRIES, make_run

HOSTILE = "4090/ivy/<script>alert(1)</script>"


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = make_run(tmp_path_factory.mktemp("reports") / "run")
    claimed = folder.parent / "claimed.json"
    claims = {
        "A100/alice/learner": {"Capitals - EM": 0.88, "Colours - EM": 0.92, "Animal sounds - EM": 0.88, "rank": 1},
        "A100/zoe/close": {"Capitals - EM": 0.96, "Colours - EM": 0.92, "Animal sounds - EM": 0.88, "rank": 1},
    }
    claimed.write_text(json.dumps(claims), encoding="utf-8")
    assert main(["report", str(folder), "--claimed", str(claimed), "--bootstrap", "200"]) == 0
    return folder


def report(run: Path, name: str) -> dict:
    return json.loads((run / "entries" / name / "report.json").read_text(encoding="utf-8"))


def test_every_entry_has_its_reports_with_the_verdict_first(run: Path) -> None:
    for name in ENTRIES:
        for kind in ("json", "md", "html"):
            assert (run / "entries" / name / f"report.{kind}").is_file(), (name, kind)
        doc = report(run, name)
        assert list(doc)[:6] == ["schema_version", "tool", "name", "track", "verdict", "source"]
        markdown = (run / "entries" / name / "report.md").read_text(encoding="utf-8")
        assert markdown.splitlines()[2].startswith("**")  # the verdict, right under the title
    assert report(run, "A100/alice/learner")["verdict"]["status"] == "reproducible"
    assert report(run, "A100/bob/wrong-port")["verdict"]["status"] == "not-reproducible"
    assert report(run, "A100/erin/endless")["verdict"]["status"] == "not-reproducible"
    assert report(run, "4090/carol/loose-api")["verdict"]["status"] == "reproducible-with-deviations"
    assert report(run, HOSTILE)["verdict"]["reason"].startswith("the build failed")


def test_claimed_values_are_compared(run: Path) -> None:
    zoe = report(run, "A100/zoe/close")
    assert zoe["verdict"]["status"] == "reproducible-with-deviations"
    capitals = {m["title"]: m for s in zoe["scores"]["scenarios"] for m in s["metrics"]}["Capitals - EM"]
    # 21 of 25 reproduced against 24 of 25 claimed: outside the Wilson interval of 0.84 over 25
    assert capitals["value"] == 0.84 and capitals["claimed"] == 0.96 and capitals["within"] is False
    assert capitals["basis"] == "wilson-95" and capitals["instances"] == 25
    assert zoe["scores"]["deviations"] == ["Capitals - EM"]
    alice = report(run, "A100/alice/learner")
    assert alice["scores"]["deviations"] == [] and alice["scores"]["rank"] == 1 and alice["scores"]["claimed_rank"] == 1
    assert "within tolerance of the claimed results" in alice["verdict"]["reason"]
    assert report(run, "A100/bob/wrong-port")["scores"] is None  # never evaluated: no scores to show


def test_leaderboards_in_every_format(run: Path) -> None:
    board = json.loads((run / "leaderboards" / "leaderboard.json").read_text(encoding="utf-8"))
    assert board["schema_version"] == 1 and set(board["tracks"]) == {"A100", "4090"}
    a100 = board["tracks"]["A100"]["entries"]
    assert [e["name"] for e in a100][:2] == ["A100/alice/learner", "A100/zoe/close"]
    assert a100[0]["verdict"]["status"] == "reproducible"
    assert a100[0]["report"] == "entries/A100/alice/learner/report.html"
    assert a100[1]["claimed"]["rank"] == 1 and a100[1]["rank_change"] == -1
    rows = list(csv.DictReader((run / "leaderboards" / "leaderboard.csv").open(encoding="utf-8")))
    assert {r["track"] for r in rows} == {"A100", "4090"} and len(rows) == len(ENTRIES)
    markdown = (run / "leaderboards" / "leaderboard.md").read_text(encoding="utf-8")
    assert "## A100" in markdown and "Stability:" in markdown
    page = (run / "leaderboards" / "index.html").read_text(encoding="utf-8")
    assert 'id="track-a100"' in page and "<script>alert" not in page


def test_summary_counts_verdicts_and_failure_classes(run: Path) -> None:
    summary = json.loads((run / "summary.json").read_text(encoding="utf-8"))
    assert summary["verdicts"] == {"reproducible": 1, "reproducible-with-deviations": 2, "not-reproducible": 4,
                                   "not-evaluated": 0}  # fmt: skip
    classes = {c["class"]: c["entries"] for c in summary["failure_classes"]}
    assert classes == {"failed to build": 1, "build timeout": 0, "training timeout": 1, "out of memory": 0,
                       "server never healthy": 1, "evaluation timeout": 1, "HELM failed": 0,
                       "leaked credentials": 1}  # fmt: skip
    assert summary["leaderboards"]["A100"] == "leaderboards/index.html#track-a100"
    assert summary["scoring"]["status"] == "scored" and summary["scoring"]["scheme"] == "offline-fixtures"
    assert "## Verdicts" in (run / "summary.md").read_text(encoding="utf-8")
    assert (run / "summary.html").is_file()


def test_bad_scoring_files_are_usage_errors_before_any_work(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = make_run(tmp_path / "run")
    bad = tmp_path / "scheme.toml"
    bad.write_text("sets = 3\n", encoding="utf-8")
    assert main(["report", str(run), "--scheme", str(bad)]) == 2
    assert "[sets.NAME]" in capsys.readouterr().err
    assert main(["report", str(run), "--claimed", str(tmp_path / "absent.json")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert not (run / "summary.json").exists()  # nothing was written


def test_scoring_that_cannot_be_done_is_said_and_the_verdicts_stay(tmp_path: Path) -> None:
    from audit.runner.state import State
    from reports import run_report
    from reports.score_inputs import Settings

    run = make_run(tmp_path / "run")
    assert main(["report", str(run)]) == 0
    assert (run / "leaderboards" / "leaderboard.json").is_file()
    bad = tmp_path / "scheme.toml"
    bad.write_text("sets = 3\n", encoding="utf-8")
    state = State(run / "state.sqlite")
    try:
        run_report.write_all(state, run, Settings(scheme_file=bad))
    finally:
        state.close()
    summary = json.loads((run / "summary.json").read_text(encoding="utf-8"))
    assert summary["scoring"]["status"] == "skipped" and "[sets.NAME]" in summary["scoring"]["reason"]
    assert summary["verdicts"]["not-reproducible"] == 4
    assert not (run / "leaderboards" / "leaderboard.json").exists()  # no stale leaderboard beside "not scored"


def test_a_published_leaderboard_with_more_entries_compares_metrics_only(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run")
    claimed = tmp_path / "published.json"
    claims = {
        "A100/alice/learner": {"Capitals - EM": 0.88, "Colours - EM": 0.92, "Animal sounds - EM": 0.88,
                               "rank": 3, "score_full": 0.2},
        "A100/someone/else": {"Capitals - EM": 0.99, "Colours - EM": 0.99, "Animal sounds - EM": 0.99, "rank": 1},
    }  # fmt: skip
    claimed.write_text(json.dumps(claims), encoding="utf-8")
    assert main(["report", str(run), "--claimed", str(claimed), "--bootstrap", "0"]) == 0
    alice = report(run, "A100/alice/learner")
    assert alice["scores"]["claimed_rank"] is None and alice["scores"]["rank_change"] is None
    assert alice["scores"]["deviations"] == [] and alice["verdict"]["status"] == "reproducible"
    assert "only the metrics are compared" in alice["scores"]["note"]


def test_new_scoring_options_rewrite_a_finished_runs_reports(tmp_path: Path) -> None:
    from audit.cli import _write_run_reports
    from audit.runner.state import State
    from reports.score_inputs import Settings
    from reports.scoring import Definition

    run = make_run(tmp_path / "run")
    state = State(run / "state.sqlite")
    try:
        _write_run_reports(state, run, Settings(replicates=0))
        assert json.loads((run / "leaderboards" / "leaderboard.json").read_text())["definition"] == "competition"
        _write_run_reports(state, run, Settings(replicates=0, definition=Definition.HELM))
        assert json.loads((run / "leaderboards" / "leaderboard.json").read_text())["definition"] == "helm"
    finally:
        state.close()


@pytest.mark.browser
def test_the_run_pages_in_a_browser(run: Path, tmp_path: Path) -> None:
    from tests.browser import load

    pages = [
        run / "entries" / "A100" / "zoe" / "close" / "report.html",
        run / "leaderboards" / "index.html",
        run / "summary.html",
    ]
    for page in pages:
        shot = tmp_path / (page.parent.name + ".png")
        seen = load(
            page,
            screenshot=shot,
            evaluate=[
                "document.querySelector('#verdict, .track, #verdicts') !== null",
                "Array.from(document.querySelectorAll('svg')).filter(s => s.getBoundingClientRect().width > 0).length",
                "document.body.innerText",
            ],
        )
        assert seen.loaded and seen.problems == (), (page, seen.problems)
        values = list(seen.values.values())
        assert values[0] is True, page
        assert values[1] >= 1, page  # every page has at least one chart, drawn with a size
        assert shot.stat().st_size > 1000
    entry = load(pages[0], evaluate=["document.querySelector('#verdict').innerText"])
    assert "deviations" in entry.values["document.querySelector('#verdict').innerText"].lower()
