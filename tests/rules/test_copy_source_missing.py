"""RA501 copy-source-missing: a COPY/ADD source that is not in the build context (high).

The context of a target is its Dockerfile's folder. Globs are matched per path segment (`*` stops at
`/`), a leading `/` is relative to the context, and a glob that matches nothing fails like a missing
file. Sources explained by another rule are left to it: a gitignored file (RA505), a path outside the
context (RA504), a submodule that is not checked out (RA503).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from audit.model import Severity
from tests.helpers import caught

RULE = "RA501"
FROM = "FROM python:3.11\n"
GITMODULES = '[submodule "lib"]\n\tpath = third_party/lib\n\turl = https://github.com/org/lib.git\n'


@pytest.mark.parametrize(
    ("files", "dockerfile", "line", "word"),
    [
        pytest.param(
            {"Dockerfile": FROM + "COPY missing.txt /app/\n"}, "Dockerfile", 2, "source 'missing.txt'", id="file"
        ),
        pytest.param(
            {"Dockerfile": FROM + "COPY app.py weights.bin /app/\n", "app.py": "x"},
            "Dockerfile",
            2,
            "'weights.bin' matches nothing",
            id="second-of-two-sources",
        ),
        pytest.param({"Dockerfile": FROM + "ADD data.tar.gz /data/\n"}, "Dockerfile", 2, "ADD source", id="add"),
        pytest.param({"Dockerfile": FROM + "COPY *.whl /wheels/\n"}, "Dockerfile", 2, "glob '*.whl'", id="glob"),
        pytest.param(
            {"Dockerfile": FROM + "COPY src/*.py /app/\n", "src/pkg/a.py": "x"},
            "Dockerfile",
            2,
            "glob 'src/*.py'",
            id="star-stops-at-slash",
        ),
        pytest.param(
            {"Dockerfile": FROM + 'COPY ["missing.txt", "/app/"]\n'}, "Dockerfile", 2, "'missing.txt'", id="json-form"
        ),
        pytest.param(
            {"Dockerfile": FROM + "COPY --chown=1000:1000 missing/ /app/\n"},
            "Dockerfile",
            2,
            "'missing/'",
            id="folder-with-flag",
        ),
        pytest.param(
            {"Dockerfile": FROM + "RUN echo hi\nCOPY \\\n    missing.txt \\\n    /app/\n"},
            "Dockerfile",
            3,
            "missing.txt",
            id="first-line-of-instruction",
        ),
        pytest.param(
            {"train/Dockerfile": FROM + "COPY data.txt .\n", "data.txt": "x"},
            "train/Dockerfile",
            2,
            "build context ('train')",
            id="file-outside-the-target-folder",
        ),
    ],
)
def test_catches(tmp_path: Path, files: dict[str, str], dockerfile: str, line: int, word: str) -> None:
    findings = caught(tmp_path, files, RULE)
    assert [(f.rule, f.location.path, f.location.line, f.severity, f.target) for f in findings] == [
        (RULE, dockerfile, line, Severity.HIGH, dockerfile)
    ]
    assert word in findings[0].message


@pytest.mark.parametrize(
    "files",
    [
        pytest.param({"Dockerfile": FROM + "COPY app.py /app/\n", "app.py": "x"}, id="present"),
        pytest.param({"Dockerfile": FROM + "COPY ./app.py /app/\n", "app.py": "x"}, id="dot-slash"),
        pytest.param({"Dockerfile": FROM + "COPY /app.py /app/\n", "app.py": "x"}, id="leading-slash-is-context"),
        pytest.param({"Dockerfile": FROM + "COPY *.py /app/\n", "app.py": "x"}, id="glob-matches"),
        pytest.param({"Dockerfile": FROM + "COPY src/*.py /app/\n", "src/a.py": "x"}, id="glob-in-folder"),
        pytest.param({"Dockerfile": FROM + "COPY requirements*.txt ./\n", "requirements-dev.txt": "x"}, id="glob-dash"),
        pytest.param({"Dockerfile": FROM + "COPY src/ /app/\n", "src/a.py": "x"}, id="folder"),
        pytest.param({"Dockerfile": FROM + "COPY . /app\n"}, id="whole-context"),
        pytest.param({"Dockerfile": FROM + 'COPY ["app.py", "/app/"]\n', "app.py": "x"}, id="json-form"),
        pytest.param({"train/Dockerfile": FROM + "COPY data.txt .\n", "train/data.txt": "x"}, id="target-context"),
        pytest.param({"Dockerfile": FROM + "COPY --from=builder /out/app /app\n"}, id="from-stage"),
        pytest.param({"Dockerfile": FROM + "COPY --from=python:3.11 /usr/bin/x /x\n"}, id="from-image"),
        pytest.param({"Dockerfile": FROM + "COPY $SRC /app/\n"}, id="variable"),
        pytest.param({"Dockerfile": FROM + "COPY <<EOF /app/x.txt\nhello\nEOF\n"}, id="heredoc"),
        pytest.param({"Dockerfile": FROM + "ADD https://example.org/x.tgz /x/\n"}, id="url"),
        pytest.param({"Dockerfile": FROM + "COPY .env /app/\n", ".gitignore": ".env\n"}, id="gitignored-is-ra505"),
        pytest.param({"train/Dockerfile": FROM + "COPY ../x.txt .\n", "x.txt": "x"}, id="outside-is-ra504"),
        pytest.param(
            {"Dockerfile": FROM + "COPY third_party/lib /lib\n", ".gitmodules": GITMODULES}, id="submodule-is-ra503"
        ),
    ],
)
def test_does_not_catch(tmp_path: Path, files: dict[str, str]) -> None:
    assert caught(tmp_path, files, RULE) == []


def test_missing_source_under_a_folder_named_with_two_leading_dots(tmp_path: Path) -> None:
    findings = caught(tmp_path, {"Dockerfile": FROM + "COPY ..cache/w.bin /w/\n"}, RULE)
    assert [(f.location.path, f.location.line, f.severity) for f in findings] == [("Dockerfile", 2, Severity.HIGH)]


@pytest.mark.parametrize(
    "ignore_file", [pytest.param(".gitignore", id="gitignore"), pytest.param(".dockerignore", id="dockerignore")]
)
@pytest.mark.parametrize("bad_line", [pytest.param("[z-a]", id="bad-range"), pytest.param("\\", id="lone-backslash")])
def test_bad_ignore_line_does_not_stop_the_rule(tmp_path: Path, ignore_file: str, bad_line: str) -> None:
    files = {"Dockerfile": FROM + "COPY missing.txt /app/\n", ignore_file: f"{bad_line}\n*.log\n"}
    findings = caught(tmp_path, files, RULE)
    assert [(f.location.line, f.message) for f in findings] == [
        (2, "COPY source 'missing.txt' matches nothing in the build context ('.')")
    ]
