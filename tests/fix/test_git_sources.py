"""The git resolver: `commit_at` against repositories made here with dated commits (the commit before the
cut-off, not the newest nor a later one; branches, tags, the cache fetched again), and `GitSources`
rewriting clones and VCS requirement lines, checked by running the rewritten command."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from audit.discover import EntrySource
from audit.engine import CheckOptions, entry_view
from audit.fix.git_sources import GitResolveError, GitSources, commit_at, default_folder, resolve_ref, split_vcs_url
from audit.fix.model import Change, Edit, FixSettings, Note, Resolves
from audit.model import Finding
from audit.rules.git_clone_without_commit import GitCloneWithoutCommit
from audit.rules.requirement_vcs_without_commit import RequirementVcsWithoutCommit
from audit.views.entry import EntryView
from tests.helpers import git_env

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")

CUTOFF = datetime(2023, 10, 26, tzinfo=UTC)


def git(cwd: Path, *args: str, date: str | None = None) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, env=git_env(date), capture_output=True, text=True, check=False, timeout=60
    )
    if done.returncode != 0:
        raise AssertionError(f"git {args!r} failed: {done.stderr}")
    return done.stdout.strip()


def commit(repo: Path, date: str, name: str = "file.txt") -> str:
    (repo / name).write_text(f"made {date}\n", encoding="utf-8")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", f"at {date}", date=date)
    return git(repo, "rev-parse", "HEAD")


@dataclass
class Upstream:
    """A repository with dated commits on `main` (the default) and on `dev`, and a tag `v1`."""

    path: Path
    main_old: str  # 2023-10-01
    main_before: str  # 2023-10-25: the head of main at the cut-off
    main_after: str  # 2023-11-05: made after the cut-off
    dev_before: str  # 2023-10-20: the head of dev at the cut-off
    dev_after: str  # 2023-12-01
    tagged: str  # the commit of tag v1 (main_old)

    @property
    def url(self) -> str:
        return self.path.as_uri()


def make_upstream(root: Path) -> Upstream:
    root.mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    main_old = commit(root, "2023-10-01T12:00:00Z")
    git(root, "tag", "v1")
    main_before = commit(root, "2023-10-25T23:59:59Z")
    git(root, "checkout", "-q", "-b", "dev", main_old)
    dev_before = commit(root, "2023-10-20T08:00:00Z", "dev.txt")
    dev_after = commit(root, "2023-12-01T08:00:00Z", "dev.txt")
    git(root, "checkout", "-q", "main")
    main_after = commit(root, "2023-11-05T08:00:00Z")
    return Upstream(root, main_old, main_before, main_after, dev_before, dev_after, main_old)


@pytest.fixture
def upstream(tmp_path: Path) -> Upstream:
    return make_upstream(tmp_path / "upstream")


# ---------------------------------------------------------------------------------------------------------
# commit_at


def test_default_branch_head_before_the_cutoff(upstream: Upstream, tmp_path: Path) -> None:
    found = commit_at(upstream.url, None, CUTOFF, tmp_path / "cache", 60)
    assert found == upstream.main_before  # not main_after (newer), not main_old (older)


def test_a_commit_at_the_cutoff_itself_is_not_chosen(upstream: Upstream, tmp_path: Path) -> None:
    # main_before was made at 23:59:59; a cut-off at that very second excludes it
    cutoff = datetime(2023, 10, 25, 23, 59, 59, tzinfo=UTC)
    assert commit_at(upstream.url, None, cutoff, tmp_path / "cache", 60) == upstream.main_old
    later = datetime(2023, 10, 25, 23, 59, 59, 500000, tzinfo=UTC)
    assert commit_at(upstream.url, None, later, tmp_path / "cache", 60) == upstream.main_before


def test_plain_path_and_named_branch(upstream: Upstream, tmp_path: Path) -> None:
    assert commit_at(str(upstream.path), "dev", CUTOFF, tmp_path / "cache", 60) == upstream.dev_before
    late = datetime(2024, 1, 1, tzinfo=UTC)
    assert commit_at(str(upstream.path), "dev", late, tmp_path / "cache", 60) == upstream.dev_after


def test_first_parent_only(tmp_path: Path) -> None:
    # A merge on 2023-11-01 brings in a side-branch commit dated before the cut-off: at the cut-off that
    # commit was not on main, so main's head then is the older first-parent commit.
    repo = tmp_path / "merged"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    base = commit(repo, "2023-10-01T00:00:00Z")
    git(repo, "checkout", "-q", "-b", "side")
    commit(repo, "2023-10-24T00:00:00Z", "side.txt")
    git(repo, "checkout", "-q", "main")
    git(repo, "merge", "-q", "--no-ff", "-m", "merge", "side", date="2023-11-01T00:00:00Z")
    assert commit_at(repo.as_uri(), None, CUTOFF, tmp_path / "cache", 60) == base


def test_tag_resolves_to_its_commit(upstream: Upstream, tmp_path: Path) -> None:
    resolved = resolve_ref(upstream.url, "v1", CUTOFF, tmp_path / "cache", 60)
    assert (resolved.commit, resolved.kind, resolved.name) == (upstream.tagged, "tag", "v1")
    git(upstream.path, "tag", "-a", "-m", "annotated", "v2", upstream.main_before, date="2023-10-26T00:00:00Z")
    assert commit_at(upstream.url, "v2", CUTOFF, tmp_path / "cache", 60) == upstream.main_before


def test_full_commit_is_returned_as_is_without_the_network(tmp_path: Path) -> None:
    sha = "0123456789abcdef0123456789abcdef01234567"
    assert commit_at("https://unreachable.invalid/x.git", sha.upper(), CUTOFF, tmp_path / "cache", 60) == sha
    assert not (tmp_path / "cache").exists()


def test_short_commit_is_expanded(upstream: Upstream, tmp_path: Path) -> None:
    assert commit_at(upstream.url, upstream.main_old[:10], CUTOFF, tmp_path / "cache", 60) == upstream.main_old


def test_no_commit_before_the_cutoff(upstream: Upstream, tmp_path: Path) -> None:
    with pytest.raises(GitResolveError) as raised:
        commit_at(upstream.url, None, datetime(2023, 1, 1, tzinfo=UTC), tmp_path / "cache", 60)
    message = str(raised.value)
    assert "no commit before 2023-01-01" in message and "\n" not in message


def test_no_such_branch(upstream: Upstream, tmp_path: Path) -> None:
    with pytest.raises(GitResolveError, match="no branch or tag 'nope'"):
        commit_at(upstream.url, "nope", CUTOFF, tmp_path / "cache", 60)


def test_unreachable_url(tmp_path: Path) -> None:
    with pytest.raises(GitResolveError) as raised:
        commit_at((tmp_path / "missing").as_uri(), None, CUTOFF, tmp_path / "cache", 60)
    assert "cannot read" in str(raised.value) and "\n" not in str(raised.value)
    with pytest.raises(GitResolveError, match="refused"):
        commit_at("ext::sh -c touch% /tmp/pwned", None, CUTOFF, tmp_path / "cache", 60)


def test_unwritable_cache_is_an_error(upstream: Upstream, tmp_path: Path) -> None:
    (tmp_path / "cache").write_text("a file, not a folder\n", encoding="utf-8")
    with pytest.raises(GitResolveError, match="cannot keep a copy"):
        commit_at(upstream.url, None, CUTOFF, tmp_path / "cache", 60)


def test_timeout_is_an_error(upstream: Upstream, tmp_path: Path) -> None:
    with pytest.raises(GitResolveError, match="timed out"):
        commit_at(upstream.url, None, CUTOFF, tmp_path / "cache", 0)


def test_cache_is_reused_and_fetched_again(upstream: Upstream, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    assert commit_at(upstream.url, None, CUTOFF, cache, 60) == upstream.main_before
    (repos,) = (cache / "git").glob("*[!k]")  # the one repository, not its lock file
    marker = repos / "kept-between-calls"
    marker.write_text("the same folder\n", encoding="utf-8")
    # main rewritten upstream since: main_after dropped, a commit dated before the cut-off on top
    git(upstream.path, "reset", "-q", "--hard", upstream.main_before)
    newer = commit(upstream.path, "2023-10-25T12:00:00Z", "again.txt")
    assert commit_at(upstream.url, None, CUTOFF, cache, 60) == newer  # fetched again, forced
    assert [p.name for p in (cache / "git").iterdir() if p.is_dir()] == [repos.name]  # no second copy
    assert marker.exists()  # into the same folder: not cloned again


# ---------------------------------------------------------------------------------------------------------
# GitSources


def make_entry(root: Path, files: dict[str, str]) -> EntryView:
    root.mkdir(parents=True)
    for name, text in files.items():
        (root / name).write_text(text, encoding="utf-8")
    return entry_view(EntrySource("entry", root, None), None, CheckOptions())


def propose(view: EntryView, cache: Path, cutoff: datetime = CUTOFF) -> tuple[list[Change], list[Note], list[str]]:
    said: list[str] = []
    settings = FixSettings(cutoff=cutoff, cutoff_source="--as-of", cache_dir=cache, timeout=60)
    items = list(GitSources().propose(view, settings, said.append))
    changes = [item for item in items if isinstance(item, Change)]
    notes = [item for item in items if isinstance(item, Note)]
    assert len(changes) + len(notes) == len(items)
    return changes, notes, said


def applied(view: EntryView, path: str, changes: list[Change]) -> str:
    """The file's text with every edit of `changes` to it made (edits never overlap)."""
    read = view.tree.read_text(path)
    assert read is not None
    text = read.text
    edits: list[Edit] = sorted((e for c in changes for e in c.edits if e.path == path), key=lambda e: e.start)
    for edit in reversed(edits):
        text = text[: edit.start] + edit.new + text[edit.end :]
    return text


def covered(findings: list[Finding], changes: list[Change]) -> list[Finding]:
    """The findings no change names as resolved."""
    names = {(r.rule, r.path, r.line) for c in changes for r in c.resolves}
    return [f for f in findings if (f.rule, f.location.path, f.location.line) not in names]


def test_dockerfile_clones_rewritten(upstream: Upstream, tmp_path: Path) -> None:
    url = upstream.url
    missing = (tmp_path / "gone").as_uri()
    dockerfile = (
        "FROM python:3.10-slim\n"
        "WORKDIR /opt\n"
        f"RUN git clone --depth 1 {url} && \\\n"
        "    pip install -e upstream\n"
        f"RUN git clone --recursive \\\n    -b dev --single-branch {url} /opt/dev-copy\n"
        "RUN git clone https://huggingface.co/meta-llama/Llama-2-7b-hf\n"
        "RUN git clone $REPO_URL lib\n"
        f"RUN git clone -q --depth=1 '{url}' lib2 2>/dev/null || true\n"
        f"RUN git clone {missing} gone\n"
        f"RUN git clone {url} pinned && git -C pinned checkout {upstream.main_old}\n"
    )
    view = make_entry(tmp_path / "entry", {"Dockerfile": dockerfile})
    changes, notes, said = propose(view, tmp_path / "cache")

    expected = (
        "FROM python:3.10-slim\n"
        "WORKDIR /opt\n"
        f"RUN git clone {url} upstream && git -C upstream checkout {upstream.main_before} && \\\n"
        "    pip install -e upstream\n"
        f"RUN git clone --recursive \\\n    -b dev {url} /opt/dev-copy && git -C /opt/dev-copy checkout "
        f"{upstream.dev_before} && git -C /opt/dev-copy submodule update --init --recursive\n"
        "RUN git clone https://huggingface.co/meta-llama/Llama-2-7b-hf\n"
        "RUN git clone $REPO_URL lib\n"
        f"RUN git clone -q '{url}' lib2 && git -C lib2 checkout {upstream.main_before} 2>/dev/null || true\n"
        f"RUN git clone {missing} gone\n"
        f"RUN git clone {url} pinned && git -C pinned checkout {upstream.main_old}\n"
    )
    assert applied(view, "Dockerfile", changes) == expected
    assert all(c.kind == "git" for c in changes) and len(changes) == 3
    first, dev, quiet = sorted(changes, key=lambda c: c.edits[0].start)
    assert any("--depth 1" in caveat for caveat in first.caveats)
    assert any("--single-branch" in caveat for caveat in dev.caveats)
    assert any("--depth=1" in caveat for caveat in quiet.caveats)
    assert "dev" in dev.summary and upstream.dev_before[:12] in dev.summary

    # the variable URL and the unreachable one are notes, on their lines; the Hub clone is left alone
    assert sorted((n.path, n.line) for n in notes) == [("Dockerfile", 8), ("Dockerfile", 10)]
    assert all(n.kind == "git" and "\n" not in n.message for n in notes)
    assert "variable" in notes[0].message and "cannot read" in notes[1].message
    assert not any("huggingface" in n.message for n in notes)

    # every RA401 finding is named by a change, except those left as notes
    findings = list(GitCloneWithoutCommit().check(view))
    assert len(findings) == 5
    assert {(f.location.path, f.location.line) for f in covered(findings, changes)} == {
        ("Dockerfile", 8),
        ("Dockerfile", 10),
    }
    assert all(r.rule == "RA401" for c in changes for r in c.resolves)
    assert said == [f"resolving the commit of {u} at 2023-10-26T00:00:00+00:00" for u in (url, url, missing)]

    # and after the fix the rule sees the clones as pinned
    fixed = make_entry(tmp_path / "fixed", {"Dockerfile": expected})
    assert {f.location.line for f in GitCloneWithoutCommit().check(fixed)} == {8, 10}  # the variable, the gone one


def test_rewritten_clone_checks_out_that_commit(upstream: Upstream, tmp_path: Path) -> None:
    dockerfile = f"FROM debian\nRUN git clone --depth 1 --recursive -b dev {upstream.url} work\n"
    view = make_entry(tmp_path / "entry", {"Dockerfile": dockerfile})
    (change,), notes, _said = propose(view, tmp_path / "cache")
    assert notes == []
    (edit,) = change.edits
    assert "--depth" not in edit.new
    build = tmp_path / "build"
    build.mkdir()
    env = git_env()
    # the submodule step runs too: allow local files for it, as a real build allows https
    env.update(GIT_CONFIG_COUNT="1", GIT_CONFIG_KEY_0="protocol.file.allow", GIT_CONFIG_VALUE_0="always")
    done = subprocess.run(["sh", "-c", edit.new], cwd=build, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert git(build / "work", "rev-parse", "HEAD") == upstream.dev_before
    assert (build / "work" / "dev.txt").read_text(encoding="utf-8") == "made 2023-10-20T08:00:00Z\n"


def test_requirement_lines_rewritten(upstream: Upstream, tmp_path: Path) -> None:
    url = upstream.url
    requirements = (
        "numpy==1.26.4\n"
        f"git+{url}@main#egg=upstream\n"
        f"peft @ git+{url}@v1\n"
        f"-e git+{url}@dev#egg=devpkg  # the dev branch\n"
        f"other @ git+{url}\n"
        f"pinned @ git+{url}@{upstream.main_old}\n"
        f"broken @ git+{url}@no-such-branch\n"
        "hg @ hg+https://example.invalid/repo@default\n"
    )
    dockerfile = "FROM python:3.10\nCOPY requirements.txt .\nRUN pip install -r requirements.txt\n"
    view = make_entry(tmp_path / "entry", {"Dockerfile": dockerfile, "requirements.txt": requirements})
    changes, notes, _said = propose(view, tmp_path / "cache")
    expected = (
        "numpy==1.26.4\n"
        f"git+{url}@{upstream.main_before}#egg=upstream\n"
        f"peft @ git+{url}@{upstream.tagged}\n"
        f"-e git+{url}@{upstream.dev_before}#egg=devpkg  # the dev branch\n"
        f"other @ git+{url}@{upstream.main_before}\n"
        f"pinned @ git+{url}@{upstream.main_old}\n"
        f"broken @ git+{url}@no-such-branch\n"
        "hg @ hg+https://example.invalid/repo@default\n"
    )
    assert applied(view, "requirements.txt", changes) == expected
    tag_change = next(c for c in changes if "tag v1" in c.summary)
    assert any("tags can be moved" in caveat for caveat in tag_change.caveats)
    assert sorted((n.path, n.line) for n in notes) == [("requirements.txt", 7), ("requirements.txt", 8)]
    assert "no branch or tag 'no-such-branch'" in notes[0].message
    findings = list(RequirementVcsWithoutCommit().check(view))
    assert len(findings) == 6
    assert {f.location.line for f in covered(findings, changes)} == {7, 8}
    assert {r for c in changes for r in c.resolves} == {Resolves("RA302", "requirements.txt", n) for n in (2, 3, 4, 5)}


def test_no_commit_before_the_cutoff_is_a_note(upstream: Upstream, tmp_path: Path) -> None:
    view = make_entry(tmp_path / "entry", {"Dockerfile": f"FROM debian\nRUN git clone {upstream.url}\n"})
    changes, (note,), _said = propose(view, tmp_path / "cache", datetime(2023, 1, 1, tzinfo=UTC))
    assert changes == []
    assert (note.path, note.line) == ("Dockerfile", 2)
    assert "no commit before 2023-01-01" in note.message


def test_pip_install_words_are_left_to_the_python_resolver(upstream: Upstream, tmp_path: Path) -> None:
    dockerfile = f"FROM python:3.10\nRUN pip install git+{upstream.url}@main\n"
    view = make_entry(tmp_path / "entry", {"Dockerfile": dockerfile})
    assert propose(view, tmp_path / "cache") == ([], [], [])


def test_over_the_git_protocol(upstream: Upstream, tmp_path: Path) -> None:
    """A real network transport: `git daemon` on 127.0.0.1 serving the upstream repository."""
    if subprocess.run(["git", "daemon", "-h"], capture_output=True, check=False).returncode not in (0, 129):
        pytest.skip("git daemon is not installed")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    daemon = subprocess.Popen(
        ["git", "daemon", "--reuseaddr", "--listen=127.0.0.1", f"--port={port}", "--export-all",
         f"--base-path={upstream.path.parent}", os.fspath(upstream.path.parent)],
        env=git_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        for _attempt in range(100):
            with socket.socket() as client:
                if client.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        url = f"git://127.0.0.1:{port}/upstream"
        assert commit_at(url, None, CUTOFF, tmp_path / "cache", 60) == upstream.main_before
        assert commit_at(url, "dev", CUTOFF, tmp_path / "cache", 60) == upstream.dev_before
    finally:
        daemon.terminate()
        daemon.wait(timeout=30)


def test_default_folder_and_vcs_url_parts() -> None:
    assert default_folder("https://github.com/org/repo.git") == "repo"
    assert default_folder("https://github.com/org/repo/") == "repo"
    assert default_folder("git@github.com:org/repo.git") == "repo"
    assert default_folder("/srv/repo/.git") == "repo"
    url = "git+https://github.com/org/repo.git@main#egg=repo"
    clone_url, ref, start, end = split_vcs_url(url) or ("", None, 0, 0)
    assert (clone_url, ref, url[start:end]) == ("https://github.com/org/repo.git", "main", "@main")
    url = "git+ssh://git@github.com/org/repo.git"
    assert split_vcs_url(url) == ("ssh://git@github.com/org/repo.git", None, len(url), len(url))
    assert split_vcs_url("git+git@github.com:org/repo.git") is None
