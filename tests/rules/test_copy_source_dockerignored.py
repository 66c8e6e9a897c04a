"""RA502 copy-source-dockerignored: a COPY/ADD source that `.dockerignore` keeps out of the context (high).

The ignore file is the context's `.dockerignore`, or BuildKit's `<Dockerfile>.dockerignore` next to
the Dockerfile, which wins. Patterns follow Docker's matcher: globs, `**`, `!` exceptions that
re-include files, comments. A source is reported when every file it matches is excluded; `COPY . .`
never is (excluding files from the whole context is what `.dockerignore` is for).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from audit.model import Location, Severity
from tests.helpers import caught

RULE = "RA502"
FROM = "FROM python:3.11\n"


@pytest.mark.parametrize(
    ("files", "dockerfile", "ignore_file", "word"),
    [
        pytest.param(
            {"Dockerfile": FROM + "COPY requirements.txt .\n", "requirements.txt": "x", ".dockerignore": "*.txt\n"},
            "Dockerfile",
            ".dockerignore",
            "source 'requirements.txt' is excluded by .dockerignore",
            id="glob-pattern",
        ),
        pytest.param(
            {"Dockerfile": FROM + "COPY data /data\n", "data/a.csv": "x", ".dockerignore": "data\n"},
            "Dockerfile",
            ".dockerignore",
            "'data'",
            id="folder",
        ),
        pytest.param(
            {"Dockerfile": FROM + "COPY data/a.csv /d/\n", "data/a.csv": "x", ".dockerignore": "# data\ndata\n"},
            "Dockerfile",
            ".dockerignore",
            "'data/a.csv'",
            id="file-in-ignored-folder",
        ),
        pytest.param(
            {"Dockerfile": FROM + "COPY src/m/w.bin /w/\n", "src/m/w.bin": "x", ".dockerignore": "**/*.bin\n"},
            "Dockerfile",
            ".dockerignore",
            "'src/m/w.bin'",
            id="double-star",
        ),
        pytest.param(
            {"Dockerfile": FROM + "COPY *.md /docs/\n", "a.md": "x", "b.md": "x", ".dockerignore": "*.md\n"},
            "Dockerfile",
            ".dockerignore",
            "'*.md'",
            id="glob-source-all-excluded",
        ),
        pytest.param(
            {
                "Dockerfile.train": FROM + "COPY a.txt .\n",
                "a.txt": "x",
                "Dockerfile.train.dockerignore": "a.txt\n",
                ".dockerignore": "other\n",
            },
            "Dockerfile.train",
            "Dockerfile.train.dockerignore",
            "excluded by Dockerfile.train.dockerignore",
            id="dockerfile-specific-ignore-file-wins",
        ),
        pytest.param(
            {"train/Dockerfile": FROM + "COPY a.txt .\n", "train/a.txt": "x", "train/.dockerignore": "a.txt\n"},
            "train/Dockerfile",
            "train/.dockerignore",
            "excluded by train/.dockerignore",
            id="context-of-nested-target",
        ),
    ],
)
def test_catches(tmp_path: Path, files: dict[str, str], dockerfile: str, ignore_file: str, word: str) -> None:
    findings = caught(tmp_path, files, RULE)
    assert [(f.rule, f.location.path, f.location.line, f.severity, f.target) for f in findings] == [
        (RULE, dockerfile, 2, Severity.HIGH, dockerfile)
    ]
    assert word in findings[0].message
    assert findings[0].related == (Location(ignore_file),)


@pytest.mark.parametrize(
    "files",
    [
        pytest.param(
            {
                "Dockerfile": FROM + "COPY requirements.txt .\n",
                "requirements.txt": "x",
                ".dockerignore": "*.txt\n!requirements.txt\n",
            },
            id="exception-re-includes",
        ),
        pytest.param({"Dockerfile": FROM + "COPY . .\n", "a.py": "x", ".dockerignore": "*\n"}, id="copy-dot-dot"),
        pytest.param(
            {"Dockerfile": FROM + "COPY ./ /app/\n", "a.py": "x", ".dockerignore": "*\n"}, id="copy-dot-slash"
        ),
        pytest.param(
            {"Dockerfile": FROM + "COPY *.py /app/\n", "a.py": "x", "test_a.py": "x", ".dockerignore": "test_*.py\n"},
            id="glob-partly-excluded",
        ),
        pytest.param(
            {"Dockerfile": FROM + "COPY a.txt .\n", "a.txt": "x", ".dockerignore": "# a.txt\n\n"}, id="comment-only"
        ),
        pytest.param(
            {"Dockerfile": FROM + "COPY a.txt .\n", "a.txt": "x", ".dockerignore": "sub/a.txt\n"},
            id="pattern-is-anchored-at-the-context-root",
        ),
        pytest.param(
            {"train/Dockerfile": FROM + "COPY a.txt .\n", "train/a.txt": "x", ".dockerignore": "**/a.txt\n"},
            id="ignore-file-of-another-context",
        ),
        pytest.param({"Dockerfile": FROM + "COPY missing.txt .\n", ".dockerignore": "*.txt\n"}, id="missing-is-ra501"),
        pytest.param(
            {"Dockerfile": FROM + "COPY --from=builder /a.txt .\n", "a.txt": "x", ".dockerignore": "*.txt\n"},
            id="from-stage",
        ),
        pytest.param({"Dockerfile": FROM + "COPY a.txt .\n", "a.txt": "x"}, id="no-ignore-file"),
    ],
)
def test_does_not_catch(tmp_path: Path, files: dict[str, str]) -> None:
    assert caught(tmp_path, files, RULE) == []
