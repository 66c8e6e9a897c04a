"""The git resolver: `commit_at` against repositories made here with dated commits (the commit before the
cut-off, not the newest nor a later one; branches, tags, the cache fetched again), and `GitSources`
rewriting clones and VCS requirement lines, checked by running the rewritten command."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from audit.fix.git_sources import GitResolveError, commit_at, resolve_ref

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")

CUTOFF = datetime(2023, 10, 26, tzinfo=UTC)


def _git_env(date: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL="/nonexistent/repro-audit-tests/gitconfig",
        GIT_AUTHOR_NAME="Test",
        GIT_AUTHOR_EMAIL="test@example.invalid",
        GIT_COMMITTER_NAME="Test",
        GIT_COMMITTER_EMAIL="test@example.invalid",
        GIT_TERMINAL_PROMPT="0",
    )
    if date is not None:
        env.update(GIT_AUTHOR_DATE=date, GIT_COMMITTER_DATE=date)
    return env


def git(cwd: Path, *args: str, date: str | None = None) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, env=_git_env(date), capture_output=True, text=True, check=False, timeout=60
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
    assert marker.exists()  # into the same folder: not cloned again
