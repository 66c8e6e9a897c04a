"""Manifests of git URLs and the clones made from them.

Manifests are written as the organizers' exports come (BOM, CRLF, extra columns, blank lines, tracks and
URLs spelled many ways). Repositories are made at test time with real git and cloned through `file://`
URLs and plain paths; remote behaviour (a server asking for credentials, a server that never answers, a
remote repository whose submodule points at a local folder) comes from small servers on 127.0.0.1.
Hostile machine configuration (a `core.hooksPath` hook, a credential helper in `~/.gitconfig`) is shown
to catch plain git first, then shown not to catch the clone.
"""

from __future__ import annotations

import functools
import http.server
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from audit.ingest.manifest import (
    Clone,
    ManifestError,
    ManifestProblem,
    ManifestRow,
    clone,
    normalise_track,
    read_manifest,
)
from tests.helpers import git_env

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


# ---------------------------------------------------------------------------------------------------------
# Helpers


def write_manifest(path: Path, text: str, encoding: str = "utf-8", newline: str = "\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.replace("\n", newline).encode(encoding))
    return path


def git(cwd: Path, *args: str, home: Path | None = None) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, env=git_env(home=home), capture_output=True, text=True, check=False, timeout=60
    )
    if done.returncode != 0:
        raise AssertionError(f"git {args!r} failed: {done.stderr}")
    return done.stdout.strip()


def make_repo(root: Path, branch: str = "main") -> Path:
    root.mkdir(parents=True)
    git(root, "init", "-q", "-b", branch)
    return root


def commit(repo: Path, files: dict[str, str], message: str = "change") -> str:
    for rel, content in files.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(content, encoding="utf-8")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--allow-empty", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def add_submodule(repo: Path, source: str, path: str) -> None:
    # New git refuses local submodules unless told; told here, for this one command only.
    git(repo, "-c", "protocol.file.allow=always", "submodule", "add", "-q", source, path)


def row(url: str, commit: str | None = None, name: str = "A100/test/repo") -> ManifestRow:
    return ManifestRow(line=2, track="A100", url=url, commit=commit, name=name)


def leftovers(folder: Path) -> list[str]:
    """What a clone left in the destination's folder: nothing, after a failure."""
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def assert_failed(result: Clone, *needles: str) -> None:
    assert result.path is None and result.commit is None, result
    assert result.error is not None and "\n" not in result.error
    for needle in needles:
        assert needle in result.error, result.error


# ---------------------------------------------------------------------------------------------------------
# Reading manifests


def test_organizers_tsv_export(tmp_path: Path) -> None:
    manifest = write_manifest(
        tmp_path / "a100.tsv",
        "track\tgit_https\tgit_ssh\n"
        "A100\thttps://github.com/alice/llm-recipe\tgit@github.com:alice/llm-recipe.git\n"
        "A100\thttps://github.com/bob/tiny.git\tgit@github.com:bob/tiny.git\n",
    )
    rows, problems = read_manifest(manifest)
    assert problems == []
    assert rows == [
        ManifestRow(2, "A100", "https://github.com/alice/llm-recipe", None, "A100/alice/llm-recipe"),
        ManifestRow(3, "A100", "https://github.com/bob/tiny", None, "A100/bob/tiny"),
    ]


def test_csv_with_commit_and_name_columns(tmp_path: Path) -> None:
    manifest = write_manifest(
        tmp_path / "all.csv",
        "track,url,commit,name\n"
        "4090,https://github.com/carol/x,ABCDEF1234567,team-carol/entry\n"
        "A100,https://github.com/dave/y,,A100/dave/renamed\n"
        "a100,https://github.com/erin/z,,a100-40GB/erin/z\n",
    )
    rows, problems = read_manifest(manifest)
    assert problems == []
    assert [(r.track, r.commit, r.name) for r in rows] == [
        ("4090", "abcdef1234567", "4090/team-carol/entry"),
        ("A100", None, "A100/dave/renamed"),
        ("A100", None, "A100/erin/z"),
    ]


def test_export_quirks_bom_crlf_blank_lines_spaces_extra_columns(tmp_path: Path) -> None:
    text = (
        "\ufeffTimestamp, Track ,Team,Git HTTPS ,git_ssh,Notes\n"
        "2023-10-25,A100 ,t1, https://github.com/u1/r1/ ,,\n"
        "\n"
        ",,,,,\n"
        '2023-10-25,RTX 4090,t2,http://github.com/u2/r2.git,,"a note, with a comma"\n'
        "   \n"
        "2023-10-26,4090,t3,https://www.github.com/u3/r3/tree/dev/src\n"  # a short row: missing cells are empty
    )
    rows, problems = read_manifest(write_manifest(tmp_path / "export.csv", text, newline="\r\n"))
    assert problems == []
    assert [(r.line, r.track, r.url, r.name) for r in rows] == [
        (2, "A100", "https://github.com/u1/r1", "A100/u1/r1"),
        (5, "4090", "https://github.com/u2/r2", "4090/u2/r2"),
        (7, "4090", "https://github.com/u3/r3", "4090/u3/r3"),
    ]


@pytest.mark.parametrize(
    ("encoding", "name"),
    [("utf-16", "équipe/modèle"), ("cp1252", "équipe/modèle"), ("utf-8-sig", "チーム/モデル")],
    ids=["excel-unicode-text", "excel-windows-csv", "utf-8-bom"],
)
def test_encodings_of_spreadsheet_exports(tmp_path: Path, encoding: str, name: str) -> None:
    text = f"track\turl\tname\nA100\thttps://github.com/u/r\t{name}\n"
    rows, problems = read_manifest(write_manifest(tmp_path / "m.tsv", text, encoding=encoding, newline="\r\n"))
    assert problems == []
    assert [r.name for r in rows] == [f"A100/{name}"]


def test_a_csv_file_that_is_tab_separated(tmp_path: Path) -> None:
    rows, problems = read_manifest(write_manifest(tmp_path / "m.csv", "track\turl\n4090\thttps://github.com/u/r\n"))
    assert problems == []
    assert [r.name for r in rows] == ["4090/u/r"]


@pytest.mark.parametrize(
    "header",
    ["track,git_https", "Track,Git HTTPS", "TRACK,GIT-HTTPS", " track , url ", "track,url,git_https", "track;url"],
)
def test_header_spellings(tmp_path: Path, header: str) -> None:
    delimiter = ";" if ";" in header else ","
    cells = ["A100", "https://github.com/u/r"] + (["https://github.com/u/r"] if header.count(",") == 2 else [])
    manifest = write_manifest(tmp_path / "m.csv", f"{header}\n{delimiter.join(cells)}\n")
    rows, problems = read_manifest(manifest)
    assert problems == []
    assert [r.url for r in rows] == ["https://github.com/u/r"]


def test_git_https_is_preferred_and_url_fills_in(tmp_path: Path) -> None:
    manifest = write_manifest(
        tmp_path / "m.csv",
        "track,url,git_https\nA100,https://github.com/a/one,https://github.com/b/two\nA100,https://github.com/c/three,\n",
    )
    rows, _ = read_manifest(manifest)
    assert [r.name for r in rows] == ["A100/b/two", "A100/c/three"]


@pytest.mark.parametrize(
    ("text", "track"),
    [
        ("A100", "A100"),
        ("a100", "A100"),
        ("A100-40GB", "A100"),
        ("NVIDIA A100 40GB", "A100"),
        ("track_a100", "A100"),
        ("4090", "4090"),
        ("RTX 4090", "4090"),
        ("rtx4090", "4090"),
        ("RTX4090-24GB", "4090"),
        ("GeForce RTX 4090 (24 GB)", "4090"),
        ("H100", None),
        ("RTX A1000", None),  # a different card
        ("40900", None),
        ("A100 or 4090", None),
        ("", None),
    ],
)
def test_track_spellings(text: str, track: str | None) -> None:
    assert normalise_track(text) == track


SHA = "0123456789abcdef0123456789abcdef01234567"


@pytest.mark.parametrize(
    ("raw", "url", "name", "pinned"),
    [
        ("https://github.com/u/r", "https://github.com/u/r", "u/r", None),
        ("https://github.com/u/r.git", "https://github.com/u/r", "u/r", None),
        ("https://github.com/u/r///", "https://github.com/u/r", "u/r", None),
        ("http://GitHub.com/u/r.git/", "https://github.com/u/r", "u/r", None),
        ("https://www.github.com/u/r", "https://github.com/u/r", "u/r", None),
        ("github.com/u/r", "https://github.com/u/r", "u/r", None),
        ("https://github.com/u/r/tree/main", "https://github.com/u/r", "u/r", None),
        ("https://github.com/u/r/tree/feature/x/sub", "https://github.com/u/r", "u/r", None),
        ("https://github.com/u/r/blob/main/Dockerfile", "https://github.com/u/r", "u/r", None),
        ("https://github.com/u/r#readme", "https://github.com/u/r", "u/r", None),
        (f"https://github.com/u/r/tree/{SHA}", "https://github.com/u/r", "u/r", SHA),
        (f"https://github.com/u/r/commit/{SHA.upper()}", "https://github.com/u/r", "u/r", SHA),
        ("git@github.com:u/r.git", "https://github.com/u/r", "u/r", None),
        ("ssh://git@github.com/u/r.git", "https://github.com/u/r", "u/r", None),
        ("git://github.com/u/r.git", "https://github.com/u/r", "u/r", None),
        ("https://gitlab.com/group/sub/r.git", "https://gitlab.com/group/sub/r.git", "sub/r", None),
        ("https://gitlab.com/group/r/-/tree/main", "https://gitlab.com/group/r", "group/r", None),
        ("http://git.example.org:8080/team/r.git/", "http://git.example.org:8080/team/r.git", "team/r", None),
        ("git@git.example.org:team/r.git", "ssh://git@git.example.org/team/r.git", "team/r", None),
        ("git+ssh://git.example.org/team/r", "ssh://git.example.org/team/r", "team/r", None),
        ("file:///srv/mirror/u/r.git", "file:///srv/mirror/u/r.git", "u/r", None),
        ("file://localhost/srv/mirror/u/r/", "file:///srv/mirror/u/r", "u/r", None),
        ("file:///srv/mirror/my%20team/r", "file:///srv/mirror/my%20team/r", "my team/r", None),
        ("/srv/mirror/u/r/.git", "file:///srv/mirror/u/r/.git", "u/r", None),
        ("/srv/mirror/my team/r", "file:///srv/mirror/my%20team/r", "my team/r", None),
    ],
)
def test_url_spellings(tmp_path: Path, raw: str, url: str, name: str, pinned: str | None) -> None:
    rows, problems = read_manifest(write_manifest(tmp_path / "m.tsv", f"track\turl\nA100\t{raw}\n"))
    assert problems == []
    assert [(r.url, r.name, r.commit) for r in rows] == [(url, f"A100/{name}", pinned)]


def test_relative_paths_are_read_from_the_manifest_folder(tmp_path: Path) -> None:
    (tmp_path / "repos" / "u" / "r").mkdir(parents=True)
    manifest = write_manifest(tmp_path / "lists" / "m.tsv", "track\turl\n4090\t../repos/u/r\n")
    rows, _ = read_manifest(manifest)
    assert [(r.url, r.name) for r in rows] == [((tmp_path / "repos" / "u" / "r").as_uri(), "4090/u/r")]


def test_commit_from_column_and_url_agree_or_the_row_is_a_problem(tmp_path: Path) -> None:
    manifest = write_manifest(
        tmp_path / "m.csv",
        "track,url,commit\n"
        f"A100,https://github.com/u/r/commit/{SHA},{SHA[:7]}\n"
        f"A100,https://github.com/u/r/commit/{SHA},fedcba9\n",
    )
    rows, problems = read_manifest(manifest)
    assert [r.commit for r in rows] == [SHA]  # the full id, from the URL
    assert [p.line for p in problems] == [3]
    assert "differ" in problems[0].message


def test_bad_rows_become_problems_and_good_rows_stay(tmp_path: Path) -> None:
    secret = "not-a-real-password-0451"
    lines = [
        "track,git_https,commit,name",
        "A100,https://github.com/good/one,,",  # 2
        ",https://github.com/u/no-track,,",  # 3
        "H100,https://github.com/u/r,,",  # 4
        "A100,,,",  # 5
        "A100,ext::sh -c touch% /tmp/owned,,",  # 6
        "A100,ftp://example.org/u/r,,",  # 7
        f"A100,https://user:{secret}@github.com/u/r,,",  # 8
        "A100,https://github.com/u/r,main,",  # 9: a branch is not a commit
        "A100,https://github.com/only-a-user,,",  # 10
        "A100,https://github.com/u/r,,../../etc",  # 11
        "A100,https://github.com/u/r,,4090/u/r",  # 12
        "A100,https://github.com/u/r,,just-a-team",  # 13
        "A100,file://otherhost/srv/r,,",  # 14
        "A100,https://example.org/r.git,,",  # 15: no user to name it by
        "A100,--upload-pack=touch /tmp/owned,,",  # 16
        "4090,https://github.com/good/two,,",  # 17
    ]
    rows, problems = read_manifest(write_manifest(tmp_path / "m.csv", "\n".join(lines) + "\n"))
    assert [r.name for r in rows] == ["A100/good/one", "4090/good/two"]
    by_line = {p.line: p.message for p in problems}
    expected = {
        3: "no track",
        4: "unknown track 'H100'",
        5: "no git URL",
        6: "transport `ext::` is refused",
        7: "URL scheme `ftp` is not supported",
        8: "password or token",
        9: "is not a commit id",
        10: "names no repository",
        11: "cannot be a folder name",
        12: "another track",
        13: "is not `<user>/<repo>`",
        14: "names a host",
        15: "cannot tell `<user>/<repo>`",
        16: "would read as an option of git",
    }
    for line, needle in expected.items():
        assert needle in by_line.pop(line), (line, needle)
    assert by_line == {}
    assert all(secret not in p.message for p in problems)
    assert all("\n" not in p.message for p in problems)
    assert str(ManifestProblem(3, "no track")) == "line 3: no track"


def test_an_unclosed_quote_is_a_problem_not_a_silent_merge(tmp_path: Path) -> None:
    manifest = write_manifest(
        tmp_path / "m.csv",
        'track,url\nA100,"https://github.com/u/r\nA100,https://github.com/u/s\n4090,https://github.com/u/t\n',
    )
    rows, problems = read_manifest(manifest)
    assert rows == []
    assert len(problems) == 1 and problems[0].line == 2
    assert "unclosed quote" in problems[0].message


def test_duplicate_names_are_kept_for_the_runner_to_resolve(tmp_path: Path) -> None:
    manifest = write_manifest(
        tmp_path / "m.tsv",
        "track\tgit_https\nA100\thttps://github.com/u/r\nA100\thttps://github.com/u/r.git/\n",
    )
    rows, problems = read_manifest(manifest)
    assert problems == []
    assert [(r.line, r.name) for r in rows] == [(2, "A100/u/r"), (3, "A100/u/r")]


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("", "empty"),
        ("\n\n  \n", "empty"),
        ("track,git_ssh\nA100,git@github.com:u/r.git\n", "`git_ssh` is not used"),
        ("git_https,name\nhttps://github.com/u/r,x\n", "a `track` column"),
        ("A100,https://github.com/u/r\n", "not a header"),
    ],
    ids=["empty", "blank", "ssh-only", "no-track", "no-header"],
)
def test_files_that_are_not_manifests(tmp_path: Path, text: str, needle: str) -> None:
    with pytest.raises(ManifestError, match=needle):
        read_manifest(write_manifest(tmp_path / "m.csv", text))


def test_a_missing_manifest_is_a_manifest_error(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="cannot read"):
        read_manifest(tmp_path / "absent.tsv")
    with pytest.raises(ManifestError, match="cannot read"):
        read_manifest(tmp_path)


# ---------------------------------------------------------------------------------------------------------
# Cloning


@pytest.fixture
def source(tmp_path: Path) -> tuple[Path, list[str]]:
    """A repository whose default branch is `trunk` (two commits) with a later commit on another branch."""
    repo = make_repo(tmp_path / "src" / "alice" / "recipe", branch="trunk")
    first = commit(repo, {"Dockerfile": "FROM python:3.11\n", "train.py": "v1\n"}, "first")
    second = commit(repo, {"train.py": "v2\n"}, "second")
    git(repo, "checkout", "-q", "-b", "experiment")
    commit(repo, {"train.py": "experiment\n"}, "on a branch")
    git(repo, "checkout", "-q", "trunk")
    return repo, [first, second]


@needs_git
@pytest.mark.parametrize("form", ["file-url", "plain-path"])
def test_clone_at_the_default_branch_head_is_unpinned(
    tmp_path: Path, source: tuple[Path, list[str]], form: str
) -> None:
    repo, commits = source
    written = repo.as_uri() if form == "file-url" else str(repo)
    rows, _ = read_manifest(write_manifest(tmp_path / "m.tsv", f"track\turl\n4090\t{written}\n"))
    assert [r.name for r in rows] == ["4090/alice/recipe"]
    destination = tmp_path / "work" / rows[0].name
    result = clone(rows[0], destination)
    assert result == Clone(destination, commits[1], pinned=False, error=None)
    assert (destination / "train.py").read_text() == "v2\n"
    assert git(destination, "rev-parse", "HEAD") == commits[1]
    assert leftovers(destination.parent) == ["recipe"]  # no partial folder beside it
    (tmp_path / "plain").mkdir()
    assert destination.stat().st_mode == (tmp_path / "plain").stat().st_mode  # a folder like any other


@needs_git
def test_a_partial_clone_left_by_a_killed_run_is_removed(tmp_path: Path, source: tuple[Path, list[str]]) -> None:
    repo, _ = source
    destination = tmp_path / "work" / "entry"
    stale = tmp_path / "work" / ".entry.partial-0badcafe"
    (stale / ".git").mkdir(parents=True)
    (tmp_path / "work" / ".other.partial-0badcafe").mkdir()  # another entry's: not touched
    assert clone(row(repo.as_uri()), destination).error is None
    assert leftovers(tmp_path / "work") == [".other.partial-0badcafe", "entry"]


@needs_git
@pytest.mark.parametrize("digits", [40, 7])
def test_clone_at_a_given_commit_is_pinned(tmp_path: Path, source: tuple[Path, list[str]], digits: int) -> None:
    repo, commits = source
    destination = tmp_path / "work" / "entry"
    result = clone(row(repo.as_uri(), commits[0][:digits]), destination)
    assert result == Clone(destination, commits[0], pinned=True, error=None)
    assert (destination / "train.py").read_text() == "v1\n"
    assert git(destination, "rev-parse", "HEAD") == commits[0]


@needs_git
def test_a_commit_only_on_a_pull_request_ref_is_fetched_by_its_id(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "src" / "u" / "r")
    commit(repo, {"a": "1\n"})
    git(repo, "checkout", "-q", "-b", "pr")
    proposed = commit(repo, {"a": "proposed\n"})
    git(repo, "checkout", "-q", "main")
    git(repo, "update-ref", "refs/pull/1/head", proposed)  # as GitHub keeps pull requests
    git(repo, "branch", "-q", "-D", "pr")
    result = clone(row(repo.as_uri(), proposed), tmp_path / "work" / "r")
    assert result.error is None and result.commit == proposed
    assert (tmp_path / "work" / "r" / "a").read_text() == "proposed\n"


@needs_git
def test_a_commit_that_does_not_exist_leaves_nothing(tmp_path: Path, source: tuple[Path, list[str]]) -> None:
    repo, _ = source
    destination = tmp_path / "work" / "entry"
    for missing in ("0" * 40, "deadbeef"):
        result = clone(row(repo.as_uri(), missing), destination)
        assert_failed(result, f"commit {missing} is not in the repository")
        assert result.pinned
        assert leftovers(destination.parent) == []


@needs_git
def test_a_tag_named_like_the_commit_does_not_stand_in_for_it(tmp_path: Path, source: tuple[Path, list[str]]) -> None:
    repo, commits = source
    short = commits[0][:8]
    git(repo, "tag", short, commits[1])  # git's lookup prefers a ref to an abbreviated id
    destination = tmp_path / "work" / "entry"
    assert_failed(clone(row(repo.as_uri(), short), destination), "ambiguous")
    assert leftovers(destination.parent) == []
    # a branch of the same name does not count: in the clone it is `origin/<name>`
    git(repo, "tag", "-d", short)
    git(repo, "branch", short, commits[1])
    assert clone(row(repo.as_uri(), short), destination).commit == commits[0]


@pytest.fixture
def with_submodules(tmp_path: Path) -> tuple[Path, list[str], list[str]]:
    """top -> sub (at `deps/sub`) -> leaf (at `vendor/leaf`), all local; top's first commit pins an older sub."""
    leaf = make_repo(tmp_path / "src" / "lib" / "leaf")
    commit(leaf, {"leaf.txt": "leaf\n"})
    sub = make_repo(tmp_path / "src" / "lib" / "sub")
    sub_old = commit(sub, {"sub.txt": "old\n"})
    add_submodule(sub, str(leaf), "vendor/leaf")
    sub_new = commit(sub, {"sub.txt": "new\n"}, "with leaf")
    top = make_repo(tmp_path / "src" / "team" / "top")
    add_submodule(top, str(sub), "deps/sub")
    git(top / "deps" / "sub", "checkout", "-q", sub_old)
    top_old = commit(top, {"Dockerfile": "FROM scratch\n"}, "old sub")
    git(top / "deps" / "sub", "checkout", "-q", sub_new)
    top_new = commit(top, {}, "new sub")
    return top, [top_old, top_new], [sub_old, sub_new]


@needs_git
def test_submodules_are_cloned_recursively(tmp_path: Path, with_submodules: tuple[Path, list[str], list[str]]) -> None:
    top, top_commits, sub_commits = with_submodules
    destination = tmp_path / "work" / "A100" / "team" / "top"
    result = clone(row(top.as_uri()), destination)
    assert result.error is None and result.commit == top_commits[1]
    assert (destination / "deps" / "sub" / "sub.txt").read_text() == "new\n"
    assert (destination / "deps" / "sub" / "vendor" / "leaf" / "leaf.txt").read_text() == "leaf\n"
    # the submodules still work after the rename from the partial folder: their links are relative
    assert git(destination / "deps" / "sub", "rev-parse", "HEAD") == sub_commits[1]
    assert git(destination / "deps" / "sub" / "vendor" / "leaf", "status", "--porcelain") == ""


@needs_git
def test_submodules_follow_the_pinned_commit(
    tmp_path: Path, with_submodules: tuple[Path, list[str], list[str]]
) -> None:
    top, top_commits, sub_commits = with_submodules
    destination = tmp_path / "work" / "top"
    result = clone(row(top.as_uri(), top_commits[0]), destination)
    assert result.error is None and result.pinned
    assert git(destination / "deps" / "sub", "rev-parse", "HEAD") == sub_commits[0]
    assert (destination / "deps" / "sub" / "sub.txt").read_text() == "old\n"
    assert not (destination / "deps" / "sub" / "vendor").exists()


@needs_git
def test_a_submodule_that_cannot_be_cloned_fails_the_clone(
    tmp_path: Path, with_submodules: tuple[Path, list[str], list[str]]
) -> None:
    top, _, _ = with_submodules
    shutil.rmtree(tmp_path / "src" / "lib" / "leaf")
    destination = tmp_path / "work" / "top"
    assert_failed(clone(row(top.as_uri()), destination), "submodules:", "leaf")
    assert leftovers(destination.parent) == []


@needs_git
@pytest.mark.parametrize("form", ["file-url", "plain-path"])
def test_a_missing_repository(tmp_path: Path, form: str) -> None:
    missing = tmp_path / "src" / "gone"
    url = missing.as_uri() if form == "file-url" else str(missing)
    destination = tmp_path / "work" / "gone"
    assert_failed(clone(row(url), destination), "repository not found")
    assert leftovers(destination.parent) == []


@needs_git
def test_an_empty_repository(tmp_path: Path) -> None:
    empty = make_repo(tmp_path / "src" / "u" / "empty")
    assert_failed(clone(row(empty.as_uri()), tmp_path / "work" / "empty"), "no commit")
    assert leftovers(tmp_path / "work") == []


@needs_git
@pytest.mark.parametrize(
    ("url", "needle"),
    [
        ("ftp://example.org/u/r.git", "scheme `ftp` is not supported"),
        ("ext::sh -c touch% {marker}", "transport `ext::` is refused"),
        ("fd::17", "transport `fd::` is refused"),
        ("--upload-pack=touch {marker}", "would read as an option"),
        ("relative/path", "relative path"),
    ],
)
def test_urls_that_are_refused(tmp_path: Path, url: str, needle: str) -> None:
    marker = tmp_path / "owned"
    destination = tmp_path / "work" / "entry"
    assert_failed(clone(row(url.format(marker=marker)), destination), needle)
    assert not marker.exists()
    assert leftovers(destination.parent) == []


@needs_git
def test_the_destination_must_not_exist(tmp_path: Path, source: tuple[Path, list[str]]) -> None:
    repo, _ = source
    destination = tmp_path / "work" / "entry"
    destination.mkdir(parents=True)
    (destination / "keep.txt").write_text("mine\n")
    assert_failed(clone(row(repo.as_uri()), destination), "already exists")
    assert leftovers(destination) == ["keep.txt"]
    assert (destination / "keep.txt").read_text() == "mine\n"
    assert leftovers(destination.parent) == ["entry"]


@needs_git
def test_a_server_that_never_answers_times_out(tmp_path: Path) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)  # connections complete in the kernel's backlog, then nothing is ever said
        port = listener.getsockname()[1]
        destination = tmp_path / "work" / "entry"
        result = clone(row(f"git://127.0.0.1:{port}/u/r.git"), destination, timeout=1)
    assert_failed(result, "timed out after 1 s")
    assert leftovers(destination.parent) == []


# --- servers on 127.0.0.1 ----------------------------------------------------------------------------------


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


class _AsksForCredentials(_Quiet):
    def do_GET(self) -> None:
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Basic realm="private"')
        self.send_header("Content-Length", "0")
        self.end_headers()


@pytest.fixture
def serve() -> Iterator[functools.partial[str]]:
    """Start an HTTP server on 127.0.0.1 (a handler class, and a folder for static files); gives its URL."""
    servers: list[http.server.ThreadingHTTPServer] = []

    def start(handler: type[http.server.SimpleHTTPRequestHandler], folder: Path | None = None) -> str:
        factory = functools.partial(handler, directory=str(folder)) if folder else handler
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), factory)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield functools.partial(start)
    for server in servers:
        server.shutdown()
        server.server_close()


def hostile_home(tmp_path: Path) -> tuple[Path, Path]:
    """A home whose ~/.gitconfig runs a program from a credential helper and a post-checkout hook."""
    home = tmp_path / "home"
    marker = tmp_path / "ran"
    hooks = home / "hooks"
    hooks.mkdir(parents=True)
    hook = hooks / "post-checkout"
    hook.write_text(f"#!/bin/sh\necho hook >> '{marker}'\n")
    hook.chmod(0o755)
    (home / ".gitconfig").write_text(
        f"[core]\n\thooksPath = {hooks}\n[credential]\n\thelper = \"!f() {{ echo helper >> '{marker}'; }}; f\"\n"
    )
    return home, marker


@needs_git
def test_a_private_repository_fails_without_prompting_or_helpers(
    tmp_path: Path, serve: functools.partial[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    home, marker = hostile_home(tmp_path)
    monkeypatch.setenv("HOME", str(home))
    url = serve(_AsksForCredentials) + "/u/private.git"
    destination = tmp_path / "work" / "private"
    assert_failed(clone(row(url), destination), "asks for credentials")
    assert not marker.exists()
    assert leftovers(destination.parent) == []


@needs_git
def test_the_machine_git_configuration_runs_nothing(
    tmp_path: Path, source: tuple[Path, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    repo, commits = source
    home, marker = hostile_home(tmp_path)
    git(tmp_path, "clone", "-q", repo.as_uri(), str(tmp_path / "plain"), home=home)
    assert marker.read_text() == "hook\n"  # the trap is real: plain git runs the hook
    marker.unlink()
    monkeypatch.setenv("HOME", str(home))
    for pin in (None, commits[0]):
        result = clone(row(repo.as_uri(), pin), tmp_path / "work" / f"entry-{pin}")
        assert result.error is None
    assert not marker.exists()


@needs_git
def test_git_variables_of_the_calling_environment_do_not_redirect_the_clone(
    tmp_path: Path, source: tuple[Path, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    repo, commits = source
    # as a git hook would run the audit: GIT_DIR and friends name the repository the hook runs in
    hooked = make_repo(tmp_path / "hooked")
    commit(hooked, {"mine.txt": "mine\n"})
    index = (hooked / ".git" / "index").read_bytes()
    monkeypatch.setenv("GIT_DIR", str(hooked / ".git"))
    monkeypatch.setenv("GIT_WORK_TREE", str(hooked))
    monkeypatch.setenv("GIT_INDEX_FILE", str(hooked / ".git" / "index"))
    monkeypatch.setenv("GIT_OBJECT_DIRECTORY", str(hooked / ".git" / "objects"))
    for pin in (None, commits[0]):
        destination = tmp_path / "work" / f"entry-{pin}"
        result = clone(row(repo.as_uri(), pin), destination)
        assert result.error is None
        assert (destination / "Dockerfile").is_file()
    assert (hooked / ".git" / "index").read_bytes() == index
    assert sorted(p.name for p in hooked.iterdir()) == [".git", "mine.txt"]


def bare_for_http(work: Path, name: str, files: dict[str, str], submodule: str | None = None) -> Path:
    """A bare repository served over git's dumb HTTP protocol from the folder `served`."""
    repo = make_repo(work / name)
    if submodule is not None:
        add_submodule(repo, submodule, "deps/sub")
    commit(repo, files)
    bare = work / "served" / f"{name}.git"
    git(work, "clone", "-q", "--bare", str(repo), str(bare))
    git(bare, "update-server-info")
    return bare


@needs_git
def test_over_http_with_a_submodule_beside_it(tmp_path: Path, serve: functools.partial[str]) -> None:
    bare_for_http(tmp_path, "sub", {"sub.txt": "sub\n"})
    top = bare_for_http(tmp_path, "top", {"Dockerfile": "FROM scratch\n"}, submodule=str(tmp_path / "sub"))
    git(tmp_path / "top", "config", "-f", ".gitmodules", "submodule.deps/sub.url", "../sub.git")
    commit(tmp_path / "top", {}, "relative submodule URL")
    git(tmp_path / "top", "push", "-q", str(top), "main")
    git(top, "update-server-info")
    url = serve(_Quiet, tmp_path / "served") + "/top.git"
    destination = tmp_path / "work" / "top"
    result = clone(row(url), destination)
    assert result.error is None
    assert (destination / "deps" / "sub" / "sub.txt").read_text() == "sub\n"


@needs_git
def test_a_remote_repository_cannot_make_us_copy_a_local_folder(tmp_path: Path, serve: functools.partial[str]) -> None:
    private = make_repo(tmp_path / "organizer" / "private")
    commit(private, {"answers.txt": "secret answers\n"})
    bare_for_http(tmp_path, "top", {"Dockerfile": "FROM scratch\n"}, submodule=str(private))
    url = serve(_Quiet, tmp_path / "served") + "/top.git"
    destination = tmp_path / "work" / "top"
    assert_failed(clone(row(url), destination), "submodules:", "transport 'file' not allowed")
    assert leftovers(destination.parent) == []
