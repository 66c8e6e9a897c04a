"""Secrets in git history: repositories are built at test time with real git, tokens generated at run time.

`Repo.from_folder` turns a plain folder into a repository (one commit of everything in it); later
commits write, change or delete files. Every commit gets its own, increasing date, so the date order
the scan walks is the order the test wrote. Hostile repositories (a `core.fsmonitor` or `gpg.program`
that would run a script, a partial clone whose remote is a shell command, a `core.worktree` pointing
at another repository) first show that plain git does fall into the trap, then that the scan does not.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import string
import subprocess
from pathlib import Path

import pytest

from audit.secrets.catalog import select
from audit.secrets.content import ContentScanner, Limits
from audit.secrets.history import HistoryScan, find_git_dir, scan_history

_EPOCH = 1_700_000_000
_ALNUM = string.ascii_letters + string.digits

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def make_token(seed: object) -> str:
    """A HuggingFace-shaped user token, built here so that no file holds one."""
    rng = random.Random(str(seed))
    return "hf" + "_" + "".join(rng.choice(_ALNUM) for _ in range(34))


def _git_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_AUTHOR_NAME="Test",
        GIT_AUTHOR_EMAIL="test@example.invalid",
        GIT_COMMITTER_NAME="Test",
        GIT_COMMITTER_EMAIL="test@example.invalid",
    )
    return env


def git(cwd: Path, *args: str | bytes, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, env={**_git_env(), **(env or {})}, capture_output=True, check=False, timeout=60
    )
    if done.returncode != 0:
        raise AssertionError(f"git {args!r} failed: {done.stderr.decode(errors='replace')}")
    return done.stdout.decode("utf-8", "replace").strip()


class Repo:
    """A repository under test: write files, commit, read commit ids."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.commits = 0

    @classmethod
    def init(cls, root: Path, branch: str = "main") -> Repo:
        root.mkdir(parents=True, exist_ok=True)
        git(root, "init", "-q", "-b", branch)
        return cls(root)

    @classmethod
    def from_folder(cls, root: Path, message: str = "initial") -> Repo:
        """Make the folder, as it is, the first commit of a new repository."""
        repo = cls.init(root)
        repo.commit({}, message)
        return repo

    def write(self, files: dict[str | bytes, str | bytes | None]) -> None:
        """Write (or, for None, delete) files; a bytes name is written as those exact bytes."""
        for name, content in files.items():
            path = os.path.join(os.fsencode(self.root), os.fsencode(name))
            if content is None:
                os.unlink(path)
                continue
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as handle:
                handle.write(content.encode() if isinstance(content, str) else content)

    def commit(self, files: dict[str | bytes, str | bytes | None], message: str = "change") -> str:
        self.write(files)
        self.commits += 1
        date = f"@{_EPOCH + 60 * self.commits} +0000"
        git(self.root, "add", "-A")
        git(
            self.root,
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            message,
            env={"GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date},
        )
        return self.head()

    def head(self) -> str:
        return git(self.root, "rev-parse", "HEAD")

    def blob(self, rev: str, path: str) -> str:
        return git(self.root, "rev-parse", f"{rev}:{path}")


def scan(root: Path, limits: Limits | None = None) -> HistoryScan:
    return scan_history(root, ContentScanner(select(), limits or Limits()))


def hits_of(result: HistoryScan, secret: str) -> dict[str, tuple[str, str | None]]:
    """path -> (added, removed) for one secret."""
    return {h.path: (h.added, h.removed) for h in result.hits if h.hit.secret == secret}


def loose_object(git_dir: Path, oid: str) -> Path:
    return git_dir / "objects" / oid[:2] / oid[2:]


# ---- where and when -----------------------------------------------------------------------------


def test_token_added_then_removed_is_in_history_only(tmp_path: Path) -> None:
    token = make_token("added-removed")
    root = tmp_path / "entry"
    root.mkdir()
    (root / "README.md").write_text("# entry\n")
    repo = Repo.from_folder(root)
    added = repo.commit({"train.py": f"import os\n\nHF_TOKEN = '{token}'\nprint(1)\n"}, "add training")
    blob = repo.blob("HEAD", "train.py")
    removed = repo.commit({"train.py": "import os\n\nHF_TOKEN = os.environ['HF_TOKEN']\nprint(1)\n"}, "use env")

    result = scan(root)

    assert token not in (root / "train.py").read_text()
    assert result.scanned and not result.gaps
    assert result.commits == 3
    [hit] = result.hits
    assert (hit.path, hit.added, hit.removed, hit.blob) == ("train.py", added, removed, blob)
    assert hit.hit.secret == token
    assert hit.hit.kind.id == "huggingface-token"
    assert hit.hit.line == 3


def test_token_still_at_head_has_no_removing_commit(tmp_path: Path) -> None:
    token = make_token("at-head")
    repo = Repo.init(tmp_path / "entry")
    repo.commit({"a.py": "x = 1\n"})
    added = repo.commit({"config.py": f"TOKEN = '{token}'\n"})
    repo.commit({"a.py": "x = 2\n"})
    repo.commit({"config.py": f"# the key\nTOKEN = '{token}'\n"})  # a new blob, still holding it

    assert hits_of(scan(repo.root), token) == {"config.py": (added, None)}


def test_token_on_another_branch_only(tmp_path: Path) -> None:
    token = make_token("other-branch")
    repo = Repo.init(tmp_path / "entry")
    repo.commit({"a.py": "x = 1\n"})
    git(repo.root, "checkout", "-q", "-b", "experiment")
    added = repo.commit({"secret.py": f"T = '{token}'\n"})
    git(repo.root, "checkout", "-q", "main")
    repo.commit({"a.py": "x = 2\n"})

    assert not (repo.root / "secret.py").exists()
    assert hits_of(scan(repo.root), token) == {"secret.py": (added, None)}


@pytest.mark.parametrize("keeper", ["branch", "tag"])
def test_token_removed_on_one_branch_but_kept_by_another_ref_is_not_removed(tmp_path: Path, keeper: str) -> None:
    token = make_token(f"kept-by-{keeper}")
    repo = Repo.init(tmp_path / "entry")
    added = repo.commit({"a.py": f"T = '{token}'\n"})
    git(repo.root, keeper, "keep")  # `git branch keep` or `git tag keep`: both still hold the token
    repo.commit({"a.py": "T = None\n"})

    assert hits_of(scan(repo.root), token) == {"a.py": (added, None)}


def test_token_removed_on_every_branch_names_the_last_removal(tmp_path: Path) -> None:
    token = make_token("removed-everywhere")
    repo = Repo.init(tmp_path / "entry")
    added = repo.commit({"a.py": f"T = '{token}'\n"})
    git(repo.root, "branch", "side")
    repo.commit({"a.py": "T = None\n"})
    git(repo.root, "checkout", "-q", "side")
    last = repo.commit({"a.py": "T = 0\n"})

    assert hits_of(scan(repo.root), token) == {"a.py": (added, last)}


def test_file_deleted_later(tmp_path: Path) -> None:
    token = make_token("deleted")
    repo = Repo.init(tmp_path / "entry")
    added = repo.commit({"keep.py": "x = 1\n", "notes/creds.txt": f"token: {token}\n"})
    deleted = repo.commit({"notes/creds.txt": None})
    repo.commit({"keep.py": "x = 2\n"})

    assert hits_of(scan(repo.root), token) == {"notes/creds.txt": (added, deleted)}


def test_token_moved_between_files(tmp_path: Path) -> None:
    token = make_token("moved")
    repo = Repo.init(tmp_path / "entry")
    first = repo.commit({"a.py": f"T = '{token}'\n", "b.py": "pass\n"})
    moved = repo.commit({"a.py": "pass\n", "b.py": f"T = '{token}'\n"})

    assert hits_of(scan(repo.root), token) == {"a.py": (first, moved), "b.py": (moved, None)}


def test_token_in_a_renamed_file_is_placed_at_both_paths(tmp_path: Path) -> None:
    token = make_token("renamed")
    repo = Repo.init(tmp_path / "entry")
    first = repo.commit({"old.py": f"T = '{token}'\n"})
    git(repo.root, "mv", "old.py", "new.py")
    renamed = repo.commit({})

    result = scan(repo.root)

    assert hits_of(result, token) == {"old.py": (first, renamed), "new.py": (renamed, None)}
    assert result.blobs == 1  # one blob at two paths


def test_same_blob_in_many_commits_is_scanned_once(tmp_path: Path) -> None:
    token = make_token("scanned-once")
    repo = Repo.init(tmp_path / "entry")
    added = repo.commit({"secret.py": f"T = '{token}'\n", "log.txt": "0\n"})
    for n in range(1, 10):
        repo.commit({"log.txt": f"{n}\n"})
    repo.commit({"copy.py": f"T = '{token}'\n"})  # the very same blob at a second path

    result = scan(repo.root)

    assert result.commits == 11
    assert result.blobs == 11  # secret.py (== copy.py) and ten versions of log.txt
    assert len(result.hits) == 2
    assert hits_of(result, token) == {"secret.py": (added, None), "copy.py": (repo.head(), None)}


def test_token_in_a_notebook_in_history_has_its_cell(tmp_path: Path) -> None:
    token = make_token("notebook")
    notebook = {
        "cells": [
            {"cell_type": "markdown", "metadata": {}, "source": ["# Training\n"]},
            {
                "cell_type": "code",
                "metadata": {},
                "execution_count": 1,
                "outputs": [],
                "source": ["from huggingface_hub import login\n", f"login('{token}')\n"],
            },
        ],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    repo = Repo.init(tmp_path / "entry")
    added = repo.commit({"train.ipynb": json.dumps(notebook, indent=1)})
    notebook["cells"][1]["source"] = ["from huggingface_hub import login\n", "login()\n"]  # type: ignore[index]
    removed = repo.commit({"train.ipynb": json.dumps(notebook, indent=1)})

    [hit] = scan(repo.root).hits
    assert (hit.path, hit.added, hit.removed) == ("train.ipynb", added, removed)
    assert (hit.hit.cell, hit.hit.line, hit.hit.output) == (2, 2, None)


# ---- kinds of repository ------------------------------------------------------------------------


def test_bare_repository_as_the_entry_root(tmp_path: Path) -> None:
    token = make_token("bare")
    repo = Repo.init(tmp_path / "work")
    added = repo.commit({"a.py": f"T = '{token}'\n"})
    removed = repo.commit({"a.py": None, "b.py": "pass\n"})
    bare = tmp_path / "entry.git"
    git(tmp_path, "clone", "-q", "--bare", str(repo.root), str(bare))

    assert find_git_dir(bare) == (bare, None)
    result = scan(bare)
    assert result.scanned and not result.gaps
    assert hits_of(result, token) == {"a.py": (added, removed)}


def test_detached_head_commit_on_no_branch(tmp_path: Path) -> None:
    token = make_token("detached")
    repo = Repo.init(tmp_path / "entry")
    repo.commit({"a.py": "x = 1\n"})
    git(repo.root, "checkout", "-q", "--detach")
    added = repo.commit({"a.py": f"x = '{token}'\n"})
    assert git(repo.root, "for-each-ref", "--contains", added) == ""  # only HEAD reaches it

    assert hits_of(scan(repo.root), token) == {"a.py": (added, None)}


def test_empty_repository(tmp_path: Path) -> None:
    repo = Repo.init(tmp_path / "entry")
    (repo.root / "a.py").write_text(f"T = '{make_token('empty')}'\n")  # in the tree, never committed

    result = scan(repo.root)

    assert result.hits == [] and result.gaps == []
    assert (result.commits, result.blobs) == (0, 0)


def test_folder_without_a_repository(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("pass\n")
    assert find_git_dir(tmp_path) == (None, None)
    result = scan(tmp_path)
    assert (result.hits, result.gaps, result.scanned) == ([], [], False)


def test_shallow_clone_is_a_gap_and_what_is_there_is_scanned(tmp_path: Path) -> None:
    old, kept = make_token("shallow-old"), make_token("shallow-kept")
    repo = Repo.init(tmp_path / "origin")
    repo.commit({"old.py": f"T = '{old}'\n"})
    repo.commit({"old.py": "T = None\n"})
    repo.commit({"kept.py": f"T = '{kept}'\n"})
    clone = tmp_path / "entry"
    git(tmp_path, "clone", "-q", "--depth", "1", f"file://{repo.root}", str(clone))

    result = scan(clone)

    assert any("shallow" in gap for gap in result.gaps)
    assert result.scanned and result.commits == 1
    assert hits_of(result, kept) == {"kept.py": (repo.head(), None)}
    assert hits_of(result, old) == {}  # before the cut


def test_missing_blob_is_a_gap_and_the_rest_is_still_scanned(tmp_path: Path) -> None:
    lost, found = make_token("lost"), make_token("found")
    repo = Repo.init(tmp_path / "entry")
    repo.commit({"lost.py": f"T = '{lost}'\n", "found.py": f"T = '{found}'\n"})
    loose_object(repo.root / ".git", repo.blob("HEAD", "lost.py")).unlink()

    result = scan(repo.root)

    assert any("lost.py" in gap and "missing or corrupt" in gap for gap in result.gaps)
    assert hits_of(result, found) == {"found.py": (repo.head(), None)}
    assert hits_of(result, lost) == {}


def test_corrupt_blob_is_a_gap_and_the_rest_is_still_scanned(tmp_path: Path) -> None:
    found = make_token("after-corrupt")
    repo = Repo.init(tmp_path / "entry")
    repo.commit({"a.py": "x = 1\n" * 50, "b.py": f"T = '{found}'\n"})
    path = loose_object(repo.root / ".git", repo.blob("HEAD", "a.py"))
    path.chmod(0o644)
    path.write_bytes(path.read_bytes()[:12])  # truncated zlib stream

    result = scan(repo.root)

    assert any("a.py" in gap for gap in result.gaps)
    assert hits_of(result, found) == {"b.py": (repo.head(), None)}


def test_missing_commit_is_a_gap_without_an_exception(tmp_path: Path) -> None:
    repo = Repo.init(tmp_path / "entry")
    first = repo.commit({"a.py": f"T = '{make_token('missing-commit')}'\n"})
    repo.commit({"b.py": "pass\n"})
    loose_object(repo.root / ".git", first).unlink()

    result = scan(repo.root)

    assert result.hits == []
    assert any("git could not read the history" in gap for gap in result.gaps)


def test_dot_git_file_is_a_gap_and_nothing_is_read(tmp_path: Path) -> None:
    elsewhere = Repo.init(tmp_path / "elsewhere")
    elsewhere.commit({"a.py": f"T = '{make_token('gitfile')}'\n"})
    entry = tmp_path / "entry"
    entry.mkdir()
    (entry / ".git").write_text(f"gitdir: {elsewhere.root / '.git'}\n")

    result = scan(entry)

    assert (result.hits, result.scanned, result.commits) == ([], False, 0)
    assert len(result.gaps) == 1 and ".git is a file" in result.gaps[0]


def test_dot_git_symlink_is_a_gap(tmp_path: Path) -> None:
    elsewhere = Repo.init(tmp_path / "elsewhere")
    elsewhere.commit({"a.py": f"T = '{make_token('git-symlink')}'\n"})
    entry = tmp_path / "entry"
    entry.mkdir()
    (entry / ".git").symlink_to(elsewhere.root / ".git")

    result = scan(entry)

    assert (result.hits, result.scanned) == ([], False)
    assert "symbolic link" in result.gaps[0]


def test_alternates_are_a_gap_and_nothing_is_read(tmp_path: Path) -> None:
    origin = Repo.init(tmp_path / "origin")
    origin.commit({"a.py": f"T = '{make_token('alternates')}'\n"})
    entry = tmp_path / "entry"
    git(tmp_path, "clone", "-q", "--shared", str(origin.root), str(entry))
    assert (entry / ".git" / "objects" / "info" / "alternates").exists()

    result = scan(entry)

    assert (result.hits, result.scanned) == ([], False)
    assert len(result.gaps) == 1 and "alternates" in result.gaps[0]


def test_commondir_is_a_gap_and_nothing_is_read(tmp_path: Path) -> None:
    elsewhere = Repo.init(tmp_path / "elsewhere")
    elsewhere.commit({"a.py": f"T = '{make_token('commondir')}'\n"})
    entry = Repo.init(tmp_path / "entry")
    entry.commit({"b.py": "pass\n"})
    (entry.root / ".git" / "commondir").write_text(f"{elsewhere.root / '.git'}\n")

    result = scan(entry.root)

    assert (result.hits, result.scanned) == ([], False)
    assert "commondir" in result.gaps[0]


def test_symlinked_objects_are_a_gap_and_nothing_is_read(tmp_path: Path) -> None:
    elsewhere = Repo.init(tmp_path / "elsewhere")
    elsewhere.commit({"a.py": f"T = '{make_token('objects-link')}'\n"})
    entry = tmp_path / "entry"
    (entry / ".git" / "refs" / "heads").mkdir(parents=True)
    (entry / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (entry / ".git" / "refs" / "heads" / "main").write_text(elsewhere.head() + "\n")
    (entry / ".git" / "objects").symlink_to(elsewhere.root / ".git" / "objects")

    result = scan(entry)

    assert (result.hits, result.scanned) == ([], False)
    assert "symbolic links" in result.gaps[0]


def test_non_utf8_and_control_characters_in_file_names(tmp_path: Path) -> None:
    latin, ctrl = make_token("latin-1-name"), make_token("control-name")
    repo = Repo.init(tmp_path / "entry")
    repo.commit({b"caf\xe9.py": f"T = '{latin}'\n", b"odd\x01\xff\nname.py": f"T = '{ctrl}'\n"})
    repo.commit({b"caf\xe9.py": None})

    result = scan(repo.root)

    assert not result.gaps
    paths = {h.hit.secret: h.path for h in result.hits}
    assert set(paths) == {latin, ctrl}
    assert all(path.isprintable() for path in paths.values())
    assert paths[latin] == "caf\\xe9.py"
    assert paths[ctrl] == "odd\\x01\\xff\\nname.py"
    [latin_hit] = [h for h in result.hits if h.hit.secret == latin]
    assert latin_hit.removed == repo.head()


def test_oversized_blob_is_a_gap(tmp_path: Path) -> None:
    token = make_token("oversized")
    repo = Repo.init(tmp_path / "entry")
    repo.commit({"big.txt": "x" * 8192 + f"\nT = '{token}'\n", "small.py": "pass\n"})

    result = scan(repo.root, Limits(max_file_bytes=4096))

    assert result.hits == []
    assert result.blobs == 1
    assert [g for g in result.gaps if "big.txt" in g and "over the scan limit" in g]


# ---- the audited repository cannot act ----------------------------------------------------------


def _marker_script(tmp_path: Path, name: str) -> tuple[Path, Path]:
    marker = tmp_path / f"{name}-ran"
    script = tmp_path / f"{name}.sh"
    script.write_text(f"#!/bin/sh\ntouch '{marker}'\nexit 1\n")
    script.chmod(0o755)
    return script, marker


def test_repository_fsmonitor_never_runs(tmp_path: Path) -> None:
    token = make_token("fsmonitor")
    repo = Repo.init(tmp_path / "entry")
    repo.commit({"a.py": f"T = '{token}'\n"})
    script, marker = _marker_script(tmp_path, "fsmonitor")
    git(repo.root, "config", "core.fsmonitor", str(script))
    subprocess.run(["git", "status"], cwd=repo.root, env=_git_env(), capture_output=True, check=False)
    assert marker.exists(), "the trap does not work: plain git did not run the fsmonitor"
    marker.unlink()

    result = scan(repo.root)

    assert not marker.exists()
    assert hits_of(result, token) == {"a.py": (repo.head(), None)}


def test_repository_gpg_program_never_runs(tmp_path: Path) -> None:
    repo = Repo.init(tmp_path / "entry")
    repo.commit({"a.py": "pass\n"})
    # A commit that claims a signature: `log.showSignature` makes git log hand it to `gpg.program`.
    head, _, message = git(repo.root, "cat-file", "commit", "HEAD").partition("\n\n")
    signed = f"{head}\ngpgsig -----BEGIN PGP SIGNATURE-----\n \n -----END PGP SIGNATURE-----\n\n{message}\n"
    done = subprocess.run(
        ["git", "hash-object", "-t", "commit", "-w", "--stdin"],
        cwd=repo.root,
        env=_git_env(),
        input=signed.encode(),
        capture_output=True,
        check=True,
    )
    git(repo.root, "update-ref", "refs/heads/main", done.stdout.decode().strip())
    script, marker = _marker_script(tmp_path, "gpg")
    git(repo.root, "config", "log.showSignature", "true")
    git(repo.root, "config", "gpg.program", str(script))
    subprocess.run(["git", "log", "--format=%H"], cwd=repo.root, env=_git_env(), capture_output=True, check=False)
    assert marker.exists(), "the trap does not work: plain git log did not run gpg.program"
    marker.unlink()

    result = scan(repo.root)

    assert result.scanned and result.commits == 1
    assert not marker.exists()


def test_partial_clone_never_fetches_a_missing_object(tmp_path: Path) -> None:
    repo = Repo.init(tmp_path / "entry")
    repo.commit({"a.py": "pass\n"})
    blob = repo.blob("HEAD", "a.py")
    loose_object(repo.root / ".git", blob).unlink()
    marker = tmp_path / "fetched"
    for key, value in (
        ("core.repositoryformatversion", "1"),
        ("extensions.partialClone", "origin"),
        ("remote.origin.promisor", "true"),
        ("remote.origin.url", f"ext::sh -c touch% {marker}"),
        ("protocol.ext.allow", "always"),
    ):
        git(repo.root, "config", key, value)
    subprocess.run(
        ["git", "cat-file", "-p", blob], cwd=repo.root, env=_git_env(), capture_output=True, check=False, timeout=60
    )
    assert marker.exists(), "the trap does not work: plain git did not fetch from the promisor remote"
    marker.unlink()

    result = scan(repo.root)

    assert not marker.exists()
    assert any("a.py" in gap and "missing" in gap for gap in result.gaps)


def test_core_worktree_does_not_lead_to_another_repository(tmp_path: Path) -> None:
    other = Repo.init(tmp_path / "other")
    other.commit({"secret.py": f"T = '{make_token('other-repo')}'\n"})
    token = make_token("own-repo")
    repo = Repo.init(tmp_path / "entry")
    added = repo.commit({"a.py": f"T = '{token}'\n"})
    git(repo.root, "config", "core.worktree", str(other.root))

    result = scan(repo.root)

    assert {h.hit.secret for h in result.hits} == {token}
    assert hits_of(result, token) == {"a.py": (added, None)}


def test_git_environment_of_the_caller_is_ignored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A git hook runs the audit with GIT_DIR and friends naming the hook's own repository.
    other = Repo.init(tmp_path / "other")
    other.commit({"secret.py": f"T = '{make_token('hook-repo')}'\n"})
    token = make_token("entry-repo")
    repo = Repo.init(tmp_path / "entry")
    repo.commit({"a.py": f"T = '{token}'\n"})
    monkeypatch.setenv("GIT_DIR", str(other.root / ".git"))
    monkeypatch.setenv("GIT_OBJECT_DIRECTORY", str(other.root / ".git" / "objects"))
    monkeypatch.setenv("GIT_COMMON_DIR", str(other.root / ".git"))

    result = scan(repo.root)

    assert {h.hit.secret for h in result.hits} == {token}


def test_relative_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    token = make_token("relative")
    repo = Repo.init(tmp_path / "entry")
    repo.commit({"a.py": f"T = '{token}'\n"})
    monkeypatch.chdir(tmp_path)

    assert hits_of(scan(Path("entry")), token) == {"a.py": (repo.head(), None)}


def test_token_merged_in_then_removed(tmp_path: Path) -> None:
    token = make_token("merged")
    repo = Repo.init(tmp_path / "entry")
    repo.commit({"a.py": "x = 1\n"})
    git(repo.root, "checkout", "-q", "-b", "feature")
    added = repo.commit({"auth.py": f"T = '{token}'\n"})
    git(repo.root, "checkout", "-q", "main")
    repo.commit({"a.py": "x = 2\n"})
    git(
        repo.root,
        "merge",
        "-q",
        "--no-ff",
        "--no-edit",
        "feature",
        env={"GIT_COMMITTER_DATE": f"@{_EPOCH + 6000} +0000"},
    )
    repo.commits = 100
    removed = repo.commit({"auth.py": None})
    git(repo.root, "branch", "-D", "feature")

    result = scan(repo.root)

    assert result.commits == 5
    assert hits_of(result, token) == {"auth.py": (added, removed)}
