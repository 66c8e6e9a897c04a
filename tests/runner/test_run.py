"""`repro-audit run` and `repro-audit report`: stages per entry, state in SQLite, resume, reports.

The kill test runs the real command in a subprocess, SIGKILLs it in the middle, runs it again, and checks
that no finished stage ran twice and every report is complete.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from audit.cli import EXIT_ERROR, EXIT_FINDINGS, EXIT_NO_ENTRIES, EXIT_OK, main
from tests.helpers import write_tree

PINNED = "FROM python:3.11-slim@sha256:" + "a" * 64 + '\nCMD ["python", "main.py"]\n'
UNPINNED = "FROM python:3.11\nRUN pip install transformers\n"


def _archive(root: Path, count: int, dockerfile: str = PINNED) -> Path:
    for index in range(count):
        track = "A100" if index % 2 else "4090"
        write_tree(root / track / f"user{index:03d}" / "repo", {"Dockerfile": dockerfile, "main.py": "print(1)\n"})
    return root


def _stages(out: Path) -> dict[tuple[str, str], tuple[str, int, str | None]]:
    with sqlite3.connect(out / "state.sqlite") as db:
        rows = db.execute("SELECT entry, stage, status, attempts, ended FROM stages").fetchall()
    return {(r[0], r[1]): (r[2], r[3], r[4]) for r in rows}


def test_folder_run_writes_entry_and_batch_reports(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = _archive(tmp_path / "archive", 3)
    write_tree(source / "A100" / "bad" / "repo", {"Dockerfile": UNPINNED})
    out = tmp_path / "run"
    assert main(["run", str(source), "--stages", "static", "--out", str(out), "--jobs", "2"]) == EXIT_FINDINGS
    stages = _stages(out)
    assert stages[("A100/bad/repo", "static")][0] == "failed"
    assert stages[("4090/user000/repo", "static")][0] == "passed"
    assert all(status == "passed" for (_e, stage), (status, _a, _t) in stages.items() if stage == "ingest")
    report = json.loads((out / "entries" / "A100" / "bad" / "repo" / "report.json").read_text())
    assert report["name"] == "A100/bad/repo" and report["track"] == "A100"
    assert [s["stage"] for s in report["stages"]] == ["ingest", "static"]
    assert report["bot_dockerfile"] == "Dockerfile"
    assert {f["rule"] for f in report["findings"]} >= {"RA102", "RA201"}
    assert "## High" in (out / "entries" / "A100" / "bad" / "repo" / "report.md").read_text()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["entries"] == 4
    assert summary["stages"]["static"] == {"failed": 1, "passed": 3}
    assert summary["ranking"][0]["name"] == "A100/bad/repo"
    assert "| install |" in (out / "summary.md").read_text()


def test_resume_skips_finished_stages_and_rerun_forces_one(tmp_path: Path) -> None:
    source = _archive(tmp_path / "archive", 2)
    out = tmp_path / "run"
    assert main(["run", str(source), "--stages", "static", "--out", str(out), "--plain"]) == EXIT_OK
    first = _stages(out)
    assert main(["run", str(source), "--stages", "static", "--out", str(out), "--plain"]) == EXIT_OK
    assert _stages(out) == first  # nothing ran again: same attempts, same end times
    assert (
        main(["run", str(source), "--stages", "static", "--out", str(out), "--rerun", "static", "--entries", "A100/*"])
        == EXIT_OK
    )
    again = _stages(out)
    assert again[("A100/user001/repo", "static")][1] == 2
    assert again[("A100/user001/repo", "ingest")] == first[("A100/user001/repo", "ingest")]
    assert again[("4090/user000/repo", "static")] == first[("4090/user000/repo", "static")]


def test_report_rerenders_from_the_state_alone(tmp_path: Path) -> None:
    source = _archive(tmp_path / "archive", 2)
    out = tmp_path / "run"
    assert main(["run", str(source), "--stages", "static", "--out", str(out)]) == EXIT_OK
    before = (out / "summary.json").read_text()
    (out / "summary.json").unlink()
    (out / "entries" / "A100" / "user001" / "repo" / "report.md").unlink()
    assert main(["report", str(out)]) == EXIT_OK
    assert (out / "summary.json").read_text() == before
    assert (out / "entries" / "A100" / "user001" / "repo" / "report.md").is_file()
    assert main(["report", str(tmp_path / "nothing")]) == EXIT_ERROR


def test_bad_sources(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    assert main(["run", str(tmp_path / "missing"), "--out", str(out)]) == EXIT_ERROR
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["run", str(tmp_path / "empty"), "--out", str(tmp_path / "run2")]) == EXIT_NO_ENTRIES
    (tmp_path / "notes.txt").write_text("hello\n")
    assert main(["run", str(tmp_path / "notes.txt"), "--out", str(tmp_path / "run3")]) == EXIT_ERROR
    assert "neither a folder" in capsys.readouterr().err
    (tmp_path / "state-is-junk").mkdir()
    (tmp_path / "state-is-junk" / "state.sqlite").write_text("not a database\n")
    source = _archive(tmp_path / "archive", 1)
    assert main(["run", str(source), "--out", str(tmp_path / "state-is-junk")]) == EXIT_ERROR
    assert "not a repro-audit state database" in capsys.readouterr().err


def test_a_crashing_stage_errors_that_entry_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from audit.runner import run as run_module
    from audit.runner.stages import StaticStage

    source = _archive(tmp_path / "archive", 3)
    real = StaticStage.run

    def sometimes(self: StaticStage, entry: object, context: object, prior: object) -> object:
        if getattr(entry, "name", "") == "A100/user001/repo":
            raise RuntimeError("boom")
        return real(self, entry, context, prior)  # type: ignore[arg-type]

    monkeypatch.setattr(StaticStage, "run", sometimes)
    result = run_module.run(source, run_module.RunOptions(out=tmp_path / "run", jobs=1))
    statuses = {(s.entry, s.stage): s.status for s in result.state.stages()}
    result.state.close()
    assert statuses[("A100/user001/repo", "static")] == "errored"
    assert statuses[("4090/user000/repo", "static")] == "passed"
    assert statuses[("4090/user002/repo", "static")] == "passed"


def test_sigkill_in_the_middle_loses_nothing_and_repeats_nothing(tmp_path: Path) -> None:
    source = _archive(tmp_path / "archive", 60, dockerfile=UNPINNED)
    out = tmp_path / "run"
    command = [
        sys.executable,
        "-m",
        "audit.cli",
        "run",
        str(source),
        "--stages",
        "static",
        "--out",
        str(out),
        "--jobs",
        "2",
        "--plain",
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    finished_before: dict[tuple[str, str], tuple[str, int, str | None]] = {}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        time.sleep(0.05)
        if not (out / "state.sqlite").exists():
            continue
        try:
            finished_before = {k: v for k, v in _stages(out).items() if v[0] in ("passed", "failed")}
        except sqlite3.Error:
            continue
        if len(finished_before) >= 20:
            break
    os.killpg(process.pid, signal.SIGKILL)  # the run and its workers, at once
    process.wait()
    assert 20 <= len(finished_before) < 120, "the run finished before it could be killed: make it bigger"
    after_kill = _stages(out)
    for key, value in finished_before.items():
        assert after_kill[key] == value  # committed results survived the kill
    assert subprocess.run(command, capture_output=True, check=False).returncode == EXIT_FINDINGS
    final = _stages(out)
    assert len(final) == 120 and all(status in ("passed", "failed") for status, _a, _t in final.values())
    for key, value in after_kill.items():
        if value[0] in ("passed", "failed"):
            assert final[key] == value  # finished before the kill: not run again
    with sqlite3.connect(out / "state.sqlite") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        duplicates = db.execute(
            "SELECT COUNT(*) FROM (SELECT entry FROM findings GROUP BY entry, stage, seq HAVING COUNT(*) > 1)"
        )
        assert duplicates.fetchone() == (0,)
    reports = list((out / "entries").rglob("report.json"))
    assert len(reports) == 60
    for path in reports:
        document = json.loads(path.read_text())
        assert [s["status"] for s in document["stages"]] == ["passed", "failed"]
        assert any(f["rule"] == "RA201" for f in document["findings"])


def _git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
        cwd=cwd,
        capture_output=True,
        check=True,
        text=True,
    )
    return done.stdout.strip()


def _repo(root: Path, files: dict[str, str | bytes]) -> str:
    write_tree(root, files)
    _git(root, "init", "-q")
    _git(root, "add", ".")
    _git(root, "commit", "-qm", "one")
    return _git(root, "rev-parse", "HEAD")


def test_manifest_of_local_repositories(tmp_path: Path) -> None:
    pinned_commit = _repo(tmp_path / "repos" / "alice" / "llm", {"Dockerfile": PINNED})
    _repo(tmp_path / "repos" / "bob" / "tuned", {"Dockerfile": PINNED})
    manifest = tmp_path / "entries.tsv"
    manifest.write_text(
        "track\tgit_https\tcommit\n"
        f"A100\tfile://{tmp_path}/repos/alice/llm\t{pinned_commit}\n"
        f"4090\t{tmp_path}/repos/bob/tuned\t\n"
        f"4090\tfile://{tmp_path}/repos/nobody/gone\t\n"
        f"H100\tfile://{tmp_path}/repos/bob/tuned\t\n",
        encoding="utf-8",
    )
    out = tmp_path / "run"
    assert (
        main(["run", str(manifest), "--stages", "static", "--out", str(out), "--jobs", "2"]) == EXIT_FINDINGS
    )  # one clone fails
    reports = {p.parent.relative_to(out / "entries").as_posix(): json.loads(p.read_text())
               for p in (out / "entries").rglob("report.json")}  # fmt: skip
    alice, bob, gone = reports["A100/alice/llm"], reports["4090/bob/tuned"], reports["4090/nobody/gone"]
    assert alice["commit"] == pinned_commit and alice["pinned"] is True
    assert [s["status"] for s in alice["stages"]] == ["passed", "passed"]
    assert bob["pinned"] is False and any(f["rule"] == "RA012" for f in bob["findings"])
    assert [s["status"] for s in gone["stages"]] == ["failed", "skipped"]
    assert any(f["rule"] == "RA013" for f in gone["findings"])
    summary = json.loads((out / "summary.json").read_text())
    problems = [p for source in summary["sources"] for p in source["data"]["problems"]]
    assert [p["line"] for p in problems] == [5] and "H100" in problems[0]["message"]
    assert "manifest line 5" in (out / "summary.md").read_text()


def test_archive_source_with_a_layout_and_a_hostile_member(tmp_path: Path) -> None:
    import io
    import tarfile

    archive = tmp_path / "submissions.tar.gz"
    outside = tmp_path / "escaped.txt"
    with tarfile.open(archive, "w:gz") as tar:
        for name, text in {
            "A100/alice/repo/Dockerfile": PINNED,
            "A100/alice/repo/main.py": "print(1)\n",
            "4090/bob/repo/Dockerfile": UNPINNED,
            "A100/alice/repo/../../../../escaped.txt": "gotcha\n",
        }.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    out = tmp_path / "run"
    assert (
        main(["run", str(archive), "--stages", "static", "--out", str(out)]) == EXIT_FINDINGS
    )  # bob's build is unpinned
    assert not outside.exists()
    alice = json.loads((out / "entries" / "A100" / "alice" / "repo" / "report.json").read_text())
    assert [s["status"] for s in alice["stages"]] == ["passed", "passed"]
    assert any(f["rule"] == "RA010" and "escaped.txt" in f["message"] for f in alice["findings"])
    bob = json.loads((out / "entries" / "4090" / "bob" / "repo" / "report.json").read_text())
    assert [s["status"] for s in bob["stages"]] == ["passed", "failed"]


def test_folder_of_archives_one_of_them_corrupt(tmp_path: Path) -> None:
    import zipfile

    source = tmp_path / "zips"
    (source / "A100" / "alice").mkdir(parents=True)
    with zipfile.ZipFile(source / "A100" / "alice" / "repo.zip", "w") as good:
        good.writestr("repo/Dockerfile", PINNED)
        good.writestr("repo/main.py", "print(1)\n")
    (source / "A100" / "carol").mkdir(parents=True)
    good_bytes = (source / "A100" / "alice" / "repo.zip").read_bytes()
    (source / "A100" / "carol" / "broken.zip").write_bytes(good_bytes[: len(good_bytes) // 2])
    _archive(source, 1)  # and one plain folder entry: 4090/user000/repo
    out = tmp_path / "run"
    assert main(["run", str(source), "--stages", "static", "--out", str(out)]) == EXIT_FINDINGS
    stages = _stages(out)
    assert stages[("A100/alice/repo", "static")][0] == "passed"
    assert stages[("4090/user000/repo", "static")][0] == "passed"
    assert stages[("A100/carol/broken", "ingest")][0] == "failed"
    assert stages[("A100/carol/broken", "static")][0] == "skipped"
    report = json.loads((out / "entries" / "A100" / "carol" / "broken" / "report.json").read_text())
    assert report["stages"][0]["reason"]


def test_ctrl_c_stops_cleanly_and_the_run_resumes(tmp_path: Path) -> None:
    source = _archive(tmp_path / "archive", 60, dockerfile=UNPINNED)
    out = tmp_path / "run"
    command = [
        sys.executable,
        "-m",
        "audit.cli",
        "run",
        str(source),
        "--stages",
        "static",
        "--out",
        str(out),
        "--jobs",
        "2",
        "--plain",
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        time.sleep(0.05)
        try:
            if sum(1 for v in _stages(out).values() if v[0] in ("passed", "failed")) >= 10:
                break
        except (sqlite3.Error, FileNotFoundError):
            continue
    os.killpg(process.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the whole process group
    _out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err.decode()
    assert b"Traceback" not in err
    assert b"interrupted" in err
    statuses = [v[0] for v in _stages(out).values()]
    assert "running" not in statuses
    assert subprocess.run(command, capture_output=True, check=False).returncode == EXIT_FINDINGS
    final = _stages(out)
    assert len(final) == 120 and all(v[0] in ("passed", "failed") for v in final.values())


class _Skips:
    """A stage that is always skipped (training of an entry with no training Dockerfile)."""

    name = "skips"
    needs: tuple[str, ...] = ("ingest",)

    def run(self, entry: object, context: object, prior: object) -> object:
        from audit.runner.stages import StageOutcome

        return StageOutcome("skipped", "nothing to do")


class _Reads:
    """A later stage; with `optional` it can do without the skipped one."""

    needs: tuple[str, ...] = ("ingest", "skips")

    def __init__(self, name: str, optional: tuple[str, ...]) -> None:
        self.name = name
        self.optional = optional

    def run(self, entry: object, context: object, prior: dict[str, object]) -> object:
        from audit.runner.stages import StageOutcome

        return StageOutcome("passed", None, data={"saw": sorted(prior)})


def test_a_skipped_stage_stops_only_the_stages_that_cannot_do_without_it(tmp_path: Path) -> None:
    from audit.runner import run as run_module
    from audit.runner.stages import IngestStage

    source = _archive(tmp_path / "archive", 1)
    stages = (IngestStage(), _Skips(), _Reads("needs-it", ()), _Reads("goes-on", ("skips",)))
    options = run_module.RunOptions(out=tmp_path / "run", jobs=1, stages=stages)  # type: ignore[arg-type]
    result = run_module.run(source, options)
    rows = {s.stage: s for s in result.state.stages()}
    result.state.close()
    assert rows["skips"].status == "skipped"
    assert rows["needs-it"].status == "skipped" and "skips skipped" in (rows["needs-it"].reason or "")
    assert rows["goes-on"].status == "passed"
    assert rows["goes-on"].data["saw"] == ["ingest", "skips"]  # it reads the skip, with its reason
