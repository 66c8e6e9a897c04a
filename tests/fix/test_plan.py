"""The fix plan: changes linked to findings, overlaps refused whole, a patch git accepts, writes that
keep what they should (byte order mark, line endings, modes) and a dirty tree refused."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

import git
import pytest

from audit.discover import EntrySource
from audit.engine import CheckOptions, entry_view
from audit.fix import cutoff, plan
from audit.fix.model import Change, Edit, FixSettings, NewFile, Note, Resolves
from audit.fix.run import FixError, FixOptions, run_fix
from audit.fix.text import SourceText
from audit.views.entry import EntryView
from tests.helpers import write_tree

CUTOFF = datetime(2023, 10, 26, tzinfo=UTC)
DOCKERFILE = 'FROM python:3.10-slim\nRUN pip install transformers\nCMD ["python", "main.py"]\n'


@dataclass
class Scripted:
    """A resolver of this test: proposes what it is given, computed against the entry's real text."""

    kind: str
    make: object  # Callable[[EntryView], Iterable[Change | Note]]
    calls: int = 0
    kinds: ClassVar[tuple[str, ...]] = ()

    def propose(self, view: EntryView, settings: FixSettings, progress: object) -> Iterable[Change | Note]:
        self.calls += 1
        return self.make(view)  # type: ignore[operator,no-any-return]


def _entry(tmp_path: Path, files: dict[str, str | bytes], commit: bool = True) -> Path:
    root = write_tree(tmp_path / "entry", files)
    if commit:
        repo = git.Repo.init(root)
        repo.git.add(A=True)
        repo.git.commit(
            m="entry", env={"GIT_AUTHOR_DATE": "2023-10-20T12:00:00Z", "GIT_COMMITTER_DATE": "2023-10-20T12:00:00Z"},
            author="Entrant <e@example.org>",
        )  # fmt: skip
    return root


def _view(root: Path) -> EntryView:
    return entry_view(EntrySource("entry", root, None), None, CheckOptions())


def _settings() -> FixSettings:
    return FixSettings(cutoff=CUTOFF, cutoff_source="--as-of")


def _pin_install(view: EntryView) -> list[Change | Note]:
    """Rewrite the Dockerfile's pip install the way the Python resolver would, naming RA201."""
    text = view.tree.read_text("Dockerfile")
    assert text is not None
    source = SourceText("Dockerfile", text.text)
    _, dockerfile = next(view.dockerfiles())
    step = dockerfile.runs()[0]
    span = source.command_span(step.instruction, step.commands[0])
    assert span is not None
    return [
        Change(
            "python",
            "transformers locked",
            edits=(Edit("Dockerfile", span.start, span.end, "pip install --require-hashes -r /tmp/lock"),),
            new_files=(NewFile("Dockerfile.lock", "transformers==4.34.1 --hash=sha256:00\n"),),
            resolves=(Resolves("RA201", "Dockerfile", 2),),
        )
    ]


def _pin_base(view: EntryView) -> list[Change | Note]:
    text = view.tree.read_text("Dockerfile")
    assert text is not None
    start = text.text.index("python:3.10-slim")
    digest = "sha256:" + "a" * 64
    return [
        Change(
            "base-image",
            "python:3.10-slim pinned",
            edits=(Edit("Dockerfile", start, start + len("python:3.10-slim"), f"python:3.10-slim@{digest}"),),
            resolves=(Resolves("RA102", "Dockerfile", 1),),
        ),
        Note("base-image", "Dockerfile", 1, "an example of a note"),
    ]


def test_changes_are_linked_to_the_findings_they_resolve_and_the_patch_applies_with_git(tmp_path: Path) -> None:
    root = _entry(tmp_path, {"Dockerfile": DOCKERFILE, "main.py": "print(1)\n"})
    view = _view(root)
    findings = plan.pinning_findings(view)
    assert {(f.rule, f.location.line) for f in findings} == {("RA201", 2), ("RA102", 1)}
    result = plan.make_plan(view, _settings(), [Scripted("base-image", _pin_base), Scripted("python", _pin_install)],
                            lambda _m: None, findings)  # fmt: skip
    assert [p.change.kind for p in result.planned] == ["python", "base-image"]  # KINDS order, not the given one
    assert [f.rule for p in result.planned for f in p.findings] == ["RA201", "RA102"]
    assert result.left == []
    assert [n.message for n in result.notes] == ["an example of a note"]
    text = plan.patch(result)
    assert "# python: transformers locked\n#   resolves RA201 install-unpinned at Dockerfile:2" in text
    assert "--- /dev/null\n+++ b/Dockerfile.lock\n" in text
    subprocess.run(["git", "apply", "--check", "-"], input=text.encode(), cwd=root, check=True)
    subprocess.run(["git", "apply", "-"], input=text.encode(), cwd=root, check=True)
    assert (root / "Dockerfile").read_text() == (
        f"FROM python:3.10-slim@sha256:{'a' * 64}\nRUN pip install --require-hashes -r /tmp/lock\n"
        'CMD ["python", "main.py"]\n'
    )
    assert (root / "Dockerfile.lock").read_text() == "transformers==4.34.1 --hash=sha256:00\n"


def test_a_change_overlapping_one_taken_first_is_dropped_whole_with_a_note(tmp_path: Path) -> None:
    root = _entry(tmp_path, {"Dockerfile": DOCKERFILE})
    view = _view(root)

    def greedy(view: EntryView) -> list[Change | Note]:  # rewrites the whole RUN line: overlaps the install
        text = view.tree.read_text("Dockerfile")
        assert text is not None
        start = text.text.index("RUN")
        return [
            Change("hub", "whole line", edits=(Edit("Dockerfile", start, start + 3, "run"),
                                               Edit("Dockerfile", start + 4, start + 7, "PIP"))),
        ]  # fmt: skip

    result = plan.make_plan(view, _settings(), [Scripted("hub", greedy), Scripted("python", _pin_install)],
                            lambda _m: None, plan.pinning_findings(view))  # fmt: skip
    assert [p.change.kind for p in result.planned] == ["python"]
    assert len(result.notes) == 1 and "overlaps a change of the python resolver" in result.notes[0].message
    assert "run" not in result.files["Dockerfile"].new.split("\n")[1]  # no half of the dropped change


def test_a_resolver_that_crashes_is_a_note_and_the_others_go_on(tmp_path: Path) -> None:
    root = _entry(tmp_path, {"Dockerfile": DOCKERFILE})
    view = _view(root)

    def broken(view: EntryView) -> list[Change | Note]:
        raise RuntimeError("a bug")

    result = plan.make_plan(view, _settings(), [Scripted("git", broken), Scripted("python", _pin_install)],
                            lambda _m: None, ())  # fmt: skip
    assert [p.change.kind for p in result.planned] == ["python"]
    assert result.notes[0].kind == "git" and "RuntimeError: a bug" in result.notes[0].message


def test_writing_keeps_the_byte_order_mark_crlf_and_mode(tmp_path: Path) -> None:
    crlf = DOCKERFILE.replace("\n", "\r\n")
    root = _entry(tmp_path, {"Dockerfile": b"\xef\xbb\xbf" + crlf.encode()})
    (root / "Dockerfile").chmod(0o640)
    view = _view(root)
    result = plan.make_plan(view, _settings(), [Scripted("python", _pin_install)], lambda _m: None, ())
    assert plan.apply(result) == ["Dockerfile", "Dockerfile.lock"]
    data = (root / "Dockerfile").read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    assert b"RUN pip install --require-hashes -r /tmp/lock\r\n" in data and b"\n" not in data.replace(b"\r\n", b"")
    assert (root / "Dockerfile").stat().st_mode & 0o777 == 0o640
    assert not list(root.glob(".repro-audit-fix.*"))


def test_a_file_without_a_final_newline_gives_a_patch_git_accepts(tmp_path: Path) -> None:
    root = _entry(tmp_path, {"Dockerfile": DOCKERFILE.rstrip("\n")})
    view = _view(root)
    result = plan.make_plan(view, _settings(), [Scripted("base-image", _pin_base)], lambda _m: None, ())
    text = plan.patch(result)
    assert "\\ No newline at end of file" in text
    subprocess.run(["git", "apply", "-"], input=text.encode(), cwd=root, check=True)
    assert (root / "Dockerfile").read_text().endswith('CMD ["python", "main.py"]')


def test_a_new_file_that_exists_is_not_overwritten(tmp_path: Path) -> None:
    root = _entry(tmp_path, {"Dockerfile": DOCKERFILE, "Dockerfile.lock": "mine\n"})
    view = _view(root)
    result = plan.make_plan(view, _settings(), [Scripted("python", _pin_install)], lambda _m: None, ())
    assert not result.planned and "would overwrite Dockerfile.lock" in result.notes[0].message
    assert result.files == {}


def test_write_refuses_a_dirty_tree_and_a_folder_outside_git_unless_forced(tmp_path: Path) -> None:
    root = _entry(tmp_path, {"Dockerfile": DOCKERFILE})
    (root / "notes.txt").write_text("untracked\n")
    resolver = Scripted("python", _pin_install)
    options = FixOptions(as_of="2023-10-25", write=True)
    with pytest.raises(FixError, match=r"uncommitted changes or untracked files.*--force"):
        run_fix(root, options, [resolver], lambda _m: None)
    assert resolver.calls == 0 and (root / "Dockerfile").read_text() == DOCKERFILE  # refused before any work
    result = run_fix(root, FixOptions(as_of="2023-10-25", write=True, force=True), [resolver], lambda _m: None)
    assert result.written == ["Dockerfile", "Dockerfile.lock"]
    plain = _entry(tmp_path / "plain", {"Dockerfile": DOCKERFILE}, commit=False)
    with pytest.raises(FixError, match="not in a git repository"):
        run_fix(plain, options, [resolver], lambda _m: None)


def test_without_write_nothing_is_written_and_the_result_is_pending(tmp_path: Path) -> None:
    root = _entry(tmp_path, {"Dockerfile": DOCKERFILE})
    before = {p.name: p.read_bytes() for p in root.iterdir() if p.is_file()}
    result = run_fix(root, FixOptions(as_of="2023-10-25"), [Scripted("python", _pin_install)], lambda _m: None)
    assert result.pending and result.written == [] and result.left_after is None
    assert {p.name: p.read_bytes() for p in root.iterdir() if p.is_file()} == before
    assert [f.rule for f in result.left] == ["RA102"]  # predicted: nothing pins the base image


def test_after_writing_what_is_left_comes_from_a_fresh_audit(tmp_path: Path) -> None:
    root = _entry(tmp_path, {"Dockerfile": DOCKERFILE})
    resolvers = [Scripted("python", _pin_install), Scripted("base-image", _pin_base)]
    result = run_fix(root, FixOptions(as_of="2023-10-25", write=True), resolvers, lambda _m: None)
    assert result.left_after == () and not result.pending


def test_the_cutoff_comes_from_as_of_then_the_deadline_then_the_last_commit(tmp_path: Path) -> None:
    assert cutoff.parse_moment("2023-10-25", "--as-of") == datetime(2023, 10, 26, tzinfo=UTC)
    assert cutoff.parse_moment("2023-10-25T18:00:00+02:00", "x") == datetime(2023, 10, 25, 16, tzinfo=UTC)
    assert cutoff.parse_moment("2023-10-25T18:00:00", "x") == datetime(2023, 10, 25, 18, tzinfo=UTC)
    with pytest.raises(cutoff.CutoffError, match="not a usable date"):
        cutoff.parse_moment("last tuesday", "--as-of")
    root = _entry(tmp_path, {"Dockerfile": DOCKERFILE})
    moment, where = cutoff.choose(None, None, root)
    assert moment == datetime(2023, 10, 20, 12, 0, 1, tzinfo=UTC) and "last commit" in where
    deadline = datetime(2023, 10, 25, 23, 59, tzinfo=UTC)
    assert cutoff.choose(None, deadline, root) == (deadline, "the deadline in the entry's [tool.repro-audit]")
    assert cutoff.choose("2023-01-01", deadline, root)[1] == "--as-of"
    plain = _entry(tmp_path / "plain", {"Dockerfile": DOCKERFILE}, commit=False)
    with pytest.raises(cutoff.CutoffError, match="give --as-of"):
        cutoff.choose(None, None, plain)


def test_the_configured_deadline_and_index_reach_the_settings(tmp_path: Path) -> None:
    pyproject = '[tool.repro-audit]\ndeadline = 2023-10-25\nindex-url = "https://index.example/simple"\n'
    root = _entry(tmp_path, {"Dockerfile": DOCKERFILE, "pyproject.toml": pyproject})
    seen: list[FixSettings] = []

    @dataclass
    class Recorder:
        kind: ClassVar[str] = "hub"

        def propose(self, view: EntryView, settings: FixSettings, progress: object) -> list[Change | Note]:
            seen.append(settings)
            return []

    run_fix(root, FixOptions(), [Recorder()], lambda _m: None)
    assert seen[0].cutoff == datetime(2023, 10, 26, tzinfo=UTC)
    assert seen[0].index_url == "https://index.example/simple"


def test_json_has_the_documented_shape(tmp_path: Path) -> None:
    root = _entry(tmp_path, {"Dockerfile": DOCKERFILE})
    result = run_fix(root, FixOptions(as_of="2023-10-25"), [Scripted("python", _pin_install)], lambda _m: None)
    document = json.loads(json.dumps(plan.as_json(result.plan)))
    assert document["schema_version"] == 1 and document["cutoff"] == "2023-10-26T00:00:00+00:00"
    change = document["changes"][0]
    assert change["files"] == ["Dockerfile", "Dockerfile.lock"]
    assert change["resolves"][0]["rule"] == "RA201" and change["resolves"][0]["line"] == 2
    assert [f["rule"] for f in document["left"]] == ["RA102"]
    assert document["patch"].startswith("# python: transformers locked")


def test_dates_past_what_a_datetime_holds_and_compact_dates(tmp_path: Path) -> None:
    assert cutoff.parse_moment("20231025", "--as-of") == datetime(2023, 10, 26, tzinfo=UTC)  # the whole day too
    for bad in ("9999-12-31", "0001-01-01T00:00:00+01:00"):
        with pytest.raises(cutoff.CutoffError, match="not a usable date"):
            cutoff.parse_moment(bad, "--as-of")


def test_a_new_file_is_readable_by_others_and_nothing_is_written_outside_the_entry(tmp_path: Path) -> None:
    root = _entry(tmp_path, {"Dockerfile": DOCKERFILE})
    view = _view(root)
    result = plan.make_plan(view, _settings(), [Scripted("python", _pin_install)], lambda _m: None, ())
    plan.apply(result)
    assert (root / "Dockerfile.lock").stat().st_mode & 0o044 == 0o044  # not mkstemp's 0600

    def escaping(view: EntryView) -> list[Change | Note]:
        return [Change("python", "a lock outside", new_files=(NewFile("../outside.lock", "x\n"),))]

    result = plan.make_plan(_view(root), _settings(), [Scripted("python", escaping)], lambda _m: None, ())
    assert result.files == {} and "outside the submission" in result.notes[0].message
    assert not (tmp_path / "outside.lock").exists()


def test_a_change_whose_own_edits_overlap_is_refused(tmp_path: Path) -> None:
    root = _entry(tmp_path, {"Dockerfile": DOCKERFILE})

    def doubled(view: EntryView) -> list[Change | Note]:
        return [Change("python", "twice", edits=(Edit("Dockerfile", 22, 30, "a"), Edit("Dockerfile", 25, 28, "b")))]

    result = plan.make_plan(_view(root), _settings(), [Scripted("python", doubled)], lambda _m: None, ())
    assert result.files == {} and "two of its own edits of Dockerfile overlap" in result.notes[0].message


def test_a_form_feed_in_a_file_does_not_break_the_patch(tmp_path: Path) -> None:
    root = _entry(tmp_path, {"Dockerfile": DOCKERFILE + "# page\x0cbreak\n"})
    result = plan.make_plan(_view(root), _settings(), [Scripted("base-image", _pin_base)], lambda _m: None, ())
    subprocess.run(["git", "apply", "-"], input=plan.patch(result).encode(), cwd=root, check=True)
    assert (root / "Dockerfile").read_text().endswith("# page\x0cbreak\n")


def test_an_unreadable_config_stops_the_fix_instead_of_being_ignored(tmp_path: Path) -> None:
    root = _entry(
        tmp_path, {"Dockerfile": DOCKERFILE, "pyproject.toml": '[tool.repro-audit]\ndeadline = "2023-13-45"\n'}
    )
    with pytest.raises(FixError, match="deadline"):
        run_fix(root, FixOptions(), [Scripted("python", _pin_install)], lambda _m: None)
