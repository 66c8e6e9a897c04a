"""`repro-audit fix` on the command line: the patch on standard output, the summary on standard error,
nothing written without --write, the exit codes, and one-line usage errors."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import git
import pytest

from audit.cli import main
from tests.fix.package_index import build_wheels, serve_index

DIGEST = "sha256:" + "0123456789abcdef" * 4
DOCKERFILE = (
    f"FROM python:3.11-slim@{DIGEST}\nCOPY requirements.txt .\nRUN pip install --no-cache-dir -r requirements.txt\n"
)


@pytest.fixture(scope="module")
def index() -> Iterator[str]:
    with serve_index(build_wheels()) as url:
        yield url


def _entry(tmp_path: Path, requirements: str = "alpha\n") -> Path:
    root = tmp_path / "entry"
    root.mkdir()
    (root / "Dockerfile").write_text(DOCKERFILE)
    (root / "requirements.txt").write_text(requirements)
    repo = git.Repo.init(root)
    repo.git.add(A=True)
    moment = "2023-10-24T08:00:00Z"
    repo.git.commit(
        m="entry", author="E <e@example.org>", env={"GIT_AUTHOR_DATE": moment, "GIT_COMMITTER_DATE": moment}
    )
    return root


def _fix(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["fix", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_the_patch_goes_to_stdout_nothing_is_written_and_git_applies_it(
    tmp_path: Path, index: str, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _entry(tmp_path)
    code, patch, err = _fix(capsys, str(root), "--index-url", index)  # the cut-off: the last commit's date
    assert code == 1  # changes proposed, not written
    assert "as of 2023-10-24T08:00:01+00:00 (the date of the entry's last commit" in err
    assert "nothing written: run again with --write" in err
    assert (root / "requirements.txt").read_text() == "alpha\n" and not (root / "requirements.lock.txt").exists()
    assert patch.startswith("# python: ") and "resolves RA301 requirement-unpinned at requirements.txt:1" in patch
    subprocess.run(["git", "apply", "-"], input=patch.encode(), cwd=root, check=True)
    assert (root / "requirements.txt").read_text() == "alpha==1.0\n"
    assert "--require-hashes -r /tmp/repro-audit/requirements.lock.txt" in (root / "Dockerfile").read_text()
    # what git applied is what --write would have written: a second fix finds nothing to pin
    repo = git.Repo(root)
    repo.git.add(A=True)
    repo.git.commit(m="pinned", author="E <e@example.org>")
    code, patch, err = _fix(capsys, str(root), "--index-url", index, "--as-of", "2023-10-25")
    assert (code, patch) == (0, "") and "nothing to pin: no pinning finding" in err


def test_write_applies_and_json_reports_what_was_written(
    tmp_path: Path, index: str, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _entry(tmp_path, "alpha>=1\nbeta  # no version\n")
    code, out, err = _fix(capsys, str(root), "--index-url", index, "--as-of", "2024-06-01", "--write", "--quiet",
                          "--format", "json")  # fmt: skip
    assert code == 0, err
    assert "repro-audit fix:" not in err  # --quiet: no progress lines
    document = json.loads(out)
    assert document["written"] == ["Dockerfile", "requirements.lock.txt", "requirements.txt"]
    assert document["left"] == [] and document["cutoff"] == "2024-06-02T00:00:00+00:00"
    assert [r["line"] for r in document["changes"][0]["resolves"]] == [1, 2]
    assert (root / "requirements.txt").read_text() == "alpha==2.0\nbeta==1.0  # no version\n"  # 2.0 was out by then


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--force"], "--force only matters with --write"),
        (["--as-of", "soon"], "--as-of 'soon' is not a usable date"),
        (["--skip", "wheels"], "--skip wheels: not a kind of pin (known: python, base-image, git, hub)"),
        (["--timeout", "0"], "--timeout must be a positive number"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    root = _entry(tmp_path)
    code, out, err = _fix(capsys, str(root), *args)
    assert code == 2 and out == ""
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_a_dirty_tree_is_refused_before_any_work(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _entry(tmp_path)
    (root / "requirements.txt").write_text("alpha\nbeta\n")  # an uncommitted edit
    code, out, err = _fix(capsys, str(root), "--write", "--index-url", "http://127.0.0.1:9/simple")
    assert code == 2 and out == ""
    assert "not writing:" in err and "commit or stash first, or pass --force" in err
    assert (root / "requirements.txt").read_text() == "alpha\nbeta\n"


def test_a_folder_of_several_submissions_or_none_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _fix(capsys, str(tmp_path / "missing"))
    assert code == 2 and "error:" in err
    archive = tmp_path / "archive"
    for name in ("one", "two"):
        (archive / "4090" / "user" / name).mkdir(parents=True)
        (archive / "4090" / "user" / name / "Dockerfile").write_text("FROM scratch\n")
    code, _, err = _fix(capsys, str(archive))
    assert code == 2 and "holds 2 submissions" in err and "fix works on one" in err
