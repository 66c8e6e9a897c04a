"""`repro-audit score`: from a metrics file or a run folder, in every format, against claimed results."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from audit.cli import main
from tests.reports.run_state import make_run
from tests.reports.test_scoring import TABLE

SMALL_SCHEME = """
name = "small"
[sets.open]
weight = 1
[sets.hidden]
weight = 2
[[scenarios]]
title = "A"
set = "open"
runs = "a"
metrics = [{ title = "A - EM", stat = "exact_match" }, { title = "A - Bias", stat = "bias", lower_is_better = true }]
[[scenarios]]
title = "B"
set = "open"
runs = "b"
metrics = [{ title = "B - EM", stat = "exact_match" }]
[[scenarios]]
title = "C"
set = "hidden"
runs = "c"
metrics = [{ title = "C - EM", stat = "exact_match" }]
"""


@pytest.fixture
def inputs(tmp_path: Path) -> tuple[Path, Path]:
    scheme = tmp_path / "small.toml"
    scheme.write_text(SMALL_SCHEME, encoding="utf-8")
    metrics = tmp_path / "metrics.json"
    metrics.write_text(json.dumps(TABLE), encoding="utf-8")
    return scheme, metrics


def test_json_has_the_documented_shape_and_the_hand_computed_values(inputs: tuple[Path, Path], tmp_path: Path) -> None:
    scheme, metrics = inputs
    out = tmp_path / "board.json"
    code = main(["score", "--metrics", str(metrics), "--scheme", str(scheme), "--track", "A100",
                 "--format", "json", "--output", str(out)])  # fmt: skip
    assert code == 0
    board = json.loads(out.read_text(encoding="utf-8"))
    assert board["schema_version"] == 1 and board["definition"] == "competition" and list(board["tracks"]) == ["A100"]
    entries = board["tracks"]["A100"]["entries"]
    assert [(e["name"], e["rank"]) for e in entries] == [("w", 1), ("y", 2), ("x", 3), ("z", 4)]
    first = entries[0]
    assert {"name", "rank", "scenarios", "score_open", "score_hidden", "score_full"} <= set(first)
    assert first["scenarios"]["A"] == {
        "set": "open",
        "mean_win_rate": 7 / 16,
        "metrics": {"A - EM": 0.8, "A - Bias": 0.2},
    }
    assert first["score_hidden"] == 0.75 and first["score_full"] == pytest.approx(0.5, rel=1e-12)
    assert entries[3]["scenarios"]["C"]["metrics"] == {"C - EM": None}  # missing stays null


def test_helm_definition_is_an_option(inputs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    scheme, metrics = inputs
    assert (
        main(["score", "--metrics", str(metrics), "--scheme", str(scheme), "--win-rate", "helm", "--format", "json"])
        == 0
    )
    board = json.loads(capsys.readouterr().out)
    assert board["definition"] == "helm"
    entries = {e["name"]: e for e in board["tracks"]["all"]["entries"]}
    assert entries["w"]["scenarios"]["A"]["mean_win_rate"] == 3 / 8
    assert entries["z"]["rank"] is None  # no hidden-set value under HELM's definition


def test_markdown_csv_and_terminal(inputs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    scheme, metrics = inputs
    assert main(["score", "--metrics", str(metrics), "--scheme", str(scheme), "--format", "markdown"]) == 0
    markdown = capsys.readouterr().out
    assert "| 1 | w |" in markdown and "Mean win rate per scenario" in markdown
    assert main(["score", "--metrics", str(metrics), "--scheme", str(scheme), "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["name"] for r in rows] == ["w", "y", "x", "z"]
    assert float(rows[0]["score_hidden"]) == 0.75 and rows[0]["win_rate A"] == repr(7 / 16)
    assert main(["score", "--metrics", str(metrics), "--scheme", str(scheme)]) == 0
    terminal = capsys.readouterr().out
    assert "w" in terminal and "0.500" in terminal


def test_claimed_results_within_and_outside_tolerance(inputs: tuple[Path, Path], tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    scheme, metrics = inputs
    claimed = tmp_path / "claimed.json"
    claimed.write_text(json.dumps({"w": {**TABLE["w"], "rank": 2}, "x": TABLE["x"]}), encoding="utf-8")
    assert main(["score", "--metrics", str(metrics), "--scheme", str(scheme), "--claimed", str(claimed),
                 "--format", "json"]) == 0  # fmt: skip
    entries = {e["name"]: e for e in json.loads(capsys.readouterr().out)["tracks"]["all"]["entries"]}
    assert entries["w"]["claimed"]["rank"] == 2 and entries["w"]["rank_change"] == 1  # claimed 2nd, ranks 1st
    assert entries["y"]["claimed"] is None
    off = dict(TABLE["x"], **{"B - EM": 0.5})
    claimed.write_text(json.dumps({"x": off}), encoding="utf-8")
    assert main(["score", "--metrics", str(metrics), "--scheme", str(scheme), "--claimed", str(claimed)]) == 1
    assert main(["score", "--metrics", str(metrics), "--scheme", str(scheme), "--claimed", str(claimed),
                 "--tolerance", "0.2"]) == 0  # fmt: skip


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{", "is not JSON"),
        ("[1, 2]", "must be a JSON object"),
        ('{"a": {"A - EM": "high"}}', "give a number, or null"),
        ('{"a": [0.5]}', "must be an object of metric title"),
        ("{}", "holds no entry"),
    ],
)
def test_bad_metrics_files_are_one_line_errors(
    inputs: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, message: str
) -> None:
    scheme, _ = inputs
    bad = tmp_path / "bad.json"
    bad.write_text(content, encoding="utf-8")
    assert main(["score", "--metrics", str(bad), "--scheme", str(scheme)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_unknown_titles_are_warned_about(
    inputs: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scheme, _ = inputs
    typo = tmp_path / "typo.json"
    typo.write_text(json.dumps({"a": {"A - EM": 0.5, "A - Em": 0.4}, "b": {"A - EM": 0.1}}), encoding="utf-8")
    assert main(["score", "--metrics", str(typo), "--scheme", str(scheme)]) == 0
    assert "not metrics of the small scheme, ignored: A - Em" in capsys.readouterr().err


def test_usage_errors(inputs: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _scheme, metrics = inputs
    assert main(["score"]) == 2
    assert main(["score", "--metrics", str(metrics), "--run", str(tmp_path)]) == 2
    assert main(["score", "--run", str(tmp_path)]) == 2
    assert "no state.sqlite" in capsys.readouterr().err
    assert main(["score", "--metrics", str(metrics), "--scheme", str(tmp_path / "none.toml")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["score", "--metrics", str(metrics), "--bootstrap", "-1"]) == 2


def test_from_a_run_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = make_run(tmp_path / "run")
    assert main(["score", "--run", str(run), "--track", "A100", "--format", "json", "--bootstrap", "100"]) == 0
    board = json.loads(capsys.readouterr().out)
    assert list(board["tracks"]) == ["A100"] and board["scheme"] == "offline-fixtures"
    entries = board["tracks"]["A100"]["entries"]
    assert [e["name"] for e in entries][:2] == ["A100/alice/learner", "A100/zoe/close"]
    assert entries[0]["scenarios"]["Capitals"]["metrics"]["Capitals - EM"] == 22 / 25
    assert entries[0]["intervals"]["rank"] == [1, 2]  # one answer apart: the bootstrap cannot separate them
    assert "ranks first in" in board["tracks"]["A100"]["stability"]
    assert main(["score", "--run", str(run), "--track", "H100"]) == 2


def test_html_leaderboard_is_one_self_contained_page(inputs: tuple[Path, Path], tmp_path: Path) -> None:
    scheme, metrics = inputs
    out = tmp_path / "board.html"
    assert main(["score", "--metrics", str(metrics), "--scheme", str(scheme), "--track", "A100",
                 "--format", "html", "--output", str(out)]) == 0  # fmt: skip
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and 'id="track-a100"' in page and "<svg" in page
    assert "http://" not in page and "https://" not in page and "<script" not in page
