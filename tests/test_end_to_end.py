"""The command line over every bundled fixture, compared with the checked-in expected JSON.

The fixtures are copied (symlinks kept as links) and the 100 MiB weight file of bob's entry is
created sparse at test time, so nothing large is committed. Set REPRO_AUDIT_UPDATE_EXPECTED=1 to
rewrite the expected file after an intended change, then review the diff.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from audit.cli import EXIT_FINDINGS, EXIT_OK, main

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "archive"
EXPECTED = Path(__file__).parent / "expected" / "archive.json"

pytestmark = pytest.mark.e2e


@pytest.fixture()
def archive(tmp_path: Path) -> Path:
    copy = tmp_path / "archive"
    shutil.copytree(FIXTURES, copy, symlinks=True)
    weights = copy / "A100" / "bob" / "host-local-artifacts" / "model.safetensors"
    with open(weights, "wb") as handle:
        handle.truncate(100 * 1024 * 1024)
    return copy


def _scrubbed(report: Path, root: Path) -> dict[str, object]:
    data = json.loads(report.read_text(encoding="utf-8"))
    data["tool"]["version"] = "<version>"
    for entry in data["entries"]:
        entry["path"] = Path(entry["path"]).relative_to(root).as_posix()
    return data


def test_archive_matches_expected_json(archive: Path, tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    code = main(["check", str(archive), "--format", "json", "--output", str(report), "--jobs", "1"])
    assert code == EXIT_FINDINGS
    actual = _scrubbed(report, archive)
    if os.environ.get("REPRO_AUDIT_UPDATE_EXPECTED"):
        EXPECTED.write_text(json.dumps(actual, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    expected = json.loads(EXPECTED.read_text(encoding="utf-8"))
    assert actual == expected


def test_parallel_run_gives_the_same_report(archive: Path, tmp_path: Path) -> None:
    one, many = tmp_path / "one.json", tmp_path / "many.json"
    main(["check", str(archive), "--format", "json", "--output", str(one), "--jobs", "1"])
    main(["check", str(archive), "--format", "json", "--output", str(many), "--jobs", "2"])
    assert _scrubbed(one, archive) == _scrubbed(many, archive)


def test_every_family_is_covered_by_the_fixtures() -> None:
    data = json.loads(EXPECTED.read_text(encoding="utf-8"))
    families = {f["family"] for e in data["entries"] for f in e["findings"]}
    assert families >= {
        "input",
        "base-image",
        "install",
        "requirements",
        "fetch",
        "host-local",
        "hub",
        "build-risk",
        "credential",
    }


def test_pinned_fixture_has_nothing_at_medium_or_above(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["check", str(FIXTURES / "4090" / "erin" / "pinned-well"), "--format", "json", "--fail-on", "medium"])
    data = json.loads(capsys.readouterr().out)
    assert code == EXIT_OK
    assert [f for e in data["entries"] for f in e["findings"] if f["severity"] in ("medium", "high")] == []
    assert data["entries"][0]["targets"], "the pinned fixture must still have build targets"


def test_terminal_report_groups_by_entry_and_target(capsys: pytest.CaptureFixture[str]) -> None:
    main(["check", str(FIXTURES), "--jobs", "1"])
    out = capsys.readouterr().out
    assert "A100/alice/llm-unpinned" in out and "4090/erin/pinned-well" in out
    assert "Dockerfile.train" in out and "train" in out and "inference" in out
    assert "Summary" in out
    # grouped: alice's findings come after alice's header and before bob's
    assert out.index("A100/alice/llm-unpinned") < out.index("RA204") < out.index("A100/bob/host-local-artifacts")
