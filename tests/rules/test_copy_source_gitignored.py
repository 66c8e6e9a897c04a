"""RA505 copy-source-gitignored: a COPY/ADD source that `.gitignore` keeps out of git (high).

The file is on the submitter's disk but in no clone of the repository. Every `.gitignore` of the tree
applies to its own folder, with git's wildmatch and `!` exceptions. A source is reported when it is
present and every match is ignored, or when it is missing and its path is ignored (which explains
why it is missing; RA501 then stays quiet). `COPY . .` is never reported.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from audit.model import Severity
from tests.helpers import caught

RULE = "RA505"
FROM = "FROM python:3.11\n"


@pytest.mark.parametrize(
    ("files", "word"),
    [
        pytest.param(
            {"Dockerfile": FROM + "COPY weights.bin /w/\n", "weights.bin": "x", ".gitignore": "*.bin\n"},
            "'weights.bin' is here but listed in .gitignore",
            id="present-file",
        ),
        pytest.param(
            {"Dockerfile": FROM + "COPY .env /app/\n", ".gitignore": ".env\n"},
            "'.env' is missing and listed in .gitignore",
            id="missing-file",
        ),
        pytest.param(
            {"Dockerfile": FROM + "COPY checkpoints /ckpt\n", "checkpoints/a.pt": "x", ".gitignore": "checkpoints\n"},
            "'checkpoints' is here",
            id="folder",
        ),
        pytest.param(
            {
                "Dockerfile": FROM + "COPY checkpoints/a.pt /ckpt/\n",
                "checkpoints/a.pt": "x",
                ".gitignore": "checkpoints/\n",
            },
            "'checkpoints/a.pt' is here",
            id="file-in-folder-pattern",
        ),
        pytest.param(
            {"Dockerfile": FROM + "COPY models/w.bin /w/\n", "models/w.bin": "x", "models/.gitignore": "*.bin\n"},
            "'models/w.bin'",
            id="nested-gitignore",
        ),
        pytest.param(
            {"Dockerfile": FROM + "COPY out/model.pt /m/\n", "out/model.pt": "x", ".gitignore": "**/*.pt\n"},
            "'out/model.pt'",
            id="double-star",
        ),
        pytest.param(
            {"Dockerfile": FROM + "COPY *.pt /m/\n", "a.pt": "x", "b.pt": "x", ".gitignore": "*.pt\n"},
            "'*.pt' is here",
            id="glob-all-ignored",
        ),
        pytest.param(
            {"Dockerfile": FROM + "COPY keep.bin /w/\n", "keep.bin": "x", ".gitignore": "!keep.bin\n*.bin\n"},
            "'keep.bin'",
            id="later-pattern-wins",
        ),
        pytest.param(
            {
                "Dockerfile": FROM + "COPY w.bin /w/\n",
                "w.bin": "x",
                ".gitignore": "*.bin\n",
                "sub/.gitignore": "!w.bin\n",
            },
            "'w.bin'",
            id="exception-in-other-folder-does-not-apply",
        ),
    ],
)
def test_catches(tmp_path: Path, files: dict[str, str], word: str) -> None:
    findings = caught(tmp_path, files, RULE)
    assert [(f.rule, f.location.path, f.location.line, f.severity, f.target) for f in findings] == [
        (RULE, "Dockerfile", 2, Severity.HIGH, "Dockerfile")
    ]
    assert word in findings[0].message


def test_catches_in_nested_target(tmp_path: Path) -> None:
    files = {
        "serve/Dockerfile": FROM + "COPY adapter/ /adapter/\n",
        "serve/adapter/x.bin": "",
        ".gitignore": "adapter\n",
    }
    findings = caught(tmp_path, files, RULE)
    assert [(f.location.path, f.location.line, f.target) for f in findings] == [
        ("serve/Dockerfile", 2, "serve/Dockerfile")
    ]


def test_missing_and_ignored_is_not_also_ra501(tmp_path: Path) -> None:
    files = {"Dockerfile": FROM + "COPY .env /app/\n", ".gitignore": ".env\n"}
    assert [f.rule for f in caught(tmp_path / "a", files, RULE)] == [RULE]
    assert caught(tmp_path / "b", files, "RA501") == []


@pytest.mark.parametrize(
    "files",
    [
        pytest.param(
            {"Dockerfile": FROM + "COPY keep.bin /w/\n", "keep.bin": "x", ".gitignore": "*.bin\n!keep.bin\n"},
            id="exception-re-includes",
        ),
        pytest.param({"Dockerfile": FROM + "COPY . .\n", "a.bin": "x", ".gitignore": "*\n"}, id="copy-dot-dot"),
        pytest.param(
            {"Dockerfile": FROM + "COPY app.py /app/\n", "app.py": "x", ".gitignore": "*.bin\n"}, id="not-ignored"
        ),
        pytest.param(
            {"Dockerfile": FROM + "COPY *.py /app/\n", "a.py": "x", "local_x.py": "x", ".gitignore": "local_*.py\n"},
            id="glob-partly-ignored",
        ),
        pytest.param(
            {"Dockerfile": FROM + "COPY .env /app/\n", "sub/.gitignore": ".env\n"}, id="gitignore-of-another-folder"
        ),
        pytest.param(
            {"Dockerfile": FROM + "COPY w.bin /w/\n", "w.bin": "x", ".gitignore": "# *.bin\n"}, id="commented-pattern"
        ),
        pytest.param(
            {"Dockerfile": FROM + "COPY /data/w.bin /w/\n", "data/w.bin": "x", ".gitignore": "/w.bin\n"},
            id="anchored-pattern-elsewhere",
        ),
        pytest.param({"Dockerfile": FROM + "COPY missing.txt /app/\n"}, id="missing-not-ignored-is-ra501"),
        pytest.param(
            {"train/Dockerfile": FROM + "COPY ../w.bin .\n", "w.bin": "x", ".gitignore": "*.bin\n"},
            id="outside-context-is-ra504",
        ),
        pytest.param(
            {"Dockerfile": FROM + "COPY --from=builder /out/w.bin /w/\n", ".gitignore": "*.bin\n"}, id="from-stage"
        ),
    ],
)
def test_does_not_catch(tmp_path: Path, files: dict[str, str]) -> None:
    assert caught(tmp_path, files, RULE) == []


def test_catches_folder_ignored_by_a_directory_pattern(tmp_path: Path) -> None:
    files = {"Dockerfile": FROM + "COPY checkpoints /ckpt\n", "checkpoints/a.pt": "x", ".gitignore": "checkpoints/\n"}
    findings = caught(tmp_path, files, RULE)
    assert [(f.location.line, f.severity) for f in findings] == [(2, Severity.HIGH)]


@pytest.mark.parametrize(
    ("files", "word"),
    [
        pytest.param(
            {
                "Dockerfile": FROM + "COPY checkpoints/a.pt /ckpt/\n",
                "checkpoints/a.pt": "x",
                ".gitignore": "checkpoints/\n!checkpoints/a.pt\n",
            },
            "'checkpoints/a.pt' is here",
            id="exception-under-an-ignored-folder-does-not-apply",
        ),
        pytest.param(
            {"Dockerfile": FROM + "COPY build /b\n", ".gitignore": "build/\n"},
            "'build' is missing and listed",
            id="missing-folder-of-a-directory-pattern",
        ),
        pytest.param(
            {"Dockerfile": FROM + "COPY out/ /out/\n", "out/a/model.pt": "x", ".gitignore": "[z-a]\nout\n"},
            "'out/' is here",
            id="bad-line-skipped-as-git-does",
        ),
    ],
)
def test_catches_with_git_folder_semantics(tmp_path: Path, files: dict[str, str], word: str) -> None:
    findings = caught(tmp_path, files, RULE)
    assert [(f.location.line, f.severity) for f in findings] == [(2, Severity.HIGH)]
    assert word in findings[0].message


@pytest.mark.parametrize(
    "files",
    [
        pytest.param(
            {"Dockerfile": FROM + "COPY checkpoints /ckpt\n", "checkpoints": "x", ".gitignore": "checkpoints/\n"},
            id="file-named-like-a-directory-pattern",
        ),
        pytest.param(
            {
                "Dockerfile": FROM + "COPY data/keep.txt /d/\n",
                "data/keep.txt": "x",
                ".gitignore": "data/**\n!data/keep.txt\n",
            },
            id="double-star-ignores-the-contents-not-the-folder",
        ),
        pytest.param(
            {"Dockerfile": FROM + "COPY data /d\n", "data/keep.txt": "x", ".gitignore": "data/**\n!data/keep.txt\n"},
            id="folder-whose-contents-are-ignored-but-one",
        ),
    ],
)
def test_does_not_catch_with_git_folder_semantics(tmp_path: Path, files: dict[str, str]) -> None:
    assert caught(tmp_path, files, RULE) == []
