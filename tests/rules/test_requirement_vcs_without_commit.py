"""RA302 requirement-vcs-without-commit: a `git+https://...` requirement-file line without a commit (high).

Graded in requirement files (reached by a build or found in the tree), in `environment.yml`'s `pip:`
sub-list and in `pyproject.toml`; a full 40-hex commit is not reported.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from audit.model import Severity
from tests.helpers import caught

RULE = "RA302"
REPO = "git+https://github.com/huggingface/peft.git"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
INSTALL = "FROM python:3.11\nCOPY requirements.txt .\nRUN pip install -r requirements.txt\n"


@pytest.mark.parametrize(
    ("files", "path", "line", "target", "word"),
    [
        pytest.param(
            {"requirements.txt": f"{REPO}@main\n"}, "requirements.txt", 1, None, "mutable ref 'main'", id="branch"
        ),
        pytest.param(
            {"requirements.txt": f"numpy==1.26.4\n{REPO}@v0.6.0\n"},
            "requirements.txt",
            2,
            None,
            "mutable ref 'v0.6.0'",
            id="tag",
        ),
        pytest.param({"requirements.txt": f"{REPO}\n"}, "requirements.txt", 1, None, "has no ref", id="no-ref"),
        pytest.param(
            {"requirements.txt": f"peft @ {REPO}@main\n"},
            "requirements.txt",
            1,
            None,
            "'main'",
            id="pep508-direct-reference",
        ),
        pytest.param(
            {"requirements.txt": f"-e {REPO}@main#egg=peft\n"}, "requirements.txt", 1, None, "'main'", id="editable"
        ),
        pytest.param(
            {"requirements.txt": f"{REPO}@{COMMIT[:7]}\n"},
            "requirements.txt",
            1,
            None,
            f"'{COMMIT[:7]}'",
            id="short-hash",
        ),
        pytest.param(
            {"Dockerfile": INSTALL, "requirements.txt": f"# vcs\n{REPO}@main\n"},
            "requirements.txt",
            2,
            "Dockerfile",
            "'main'",
            id="reached-by-build",
        ),
        pytest.param(
            {"environment.yml": f"dependencies:\n  - pip\n  - pip:\n    - {REPO}@main\n"},
            "environment.yml",
            4,
            None,
            "'main'",
            id="environment-pip-list",
        ),
        pytest.param(
            {
                "pyproject.toml": f'[project]\nname = "demo"\nversion = "0.1"\ndependencies = [\n  "peft @ {REPO}@main",\n]\n'
            },
            "pyproject.toml",
            5,
            None,
            "'main'",
            id="pyproject",
        ),
    ],
)
def test_catches(tmp_path: Path, files: dict[str, str], path: str, line: int, target: str | None, word: str) -> None:
    findings = caught(tmp_path, files, RULE)
    assert [(f.rule, f.location.path, f.location.line) for f in findings] == [(RULE, path, line)]
    finding = findings[0]
    assert finding.severity is Severity.HIGH
    assert finding.target == target
    assert word in finding.message


@pytest.mark.parametrize(
    "files",
    [
        pytest.param({"requirements.txt": f"{REPO}@{COMMIT}\n"}, id="commit"),
        pytest.param({"requirements.txt": f"peft @ {REPO}@{COMMIT}\n"}, id="pep508-commit"),
        pytest.param({"requirements.txt": f"-e {REPO}@{COMMIT}#egg=peft\n"}, id="editable-commit"),
        pytest.param({"requirements.txt": f"{REPO}@{COMMIT}#subdirectory=pkg\n"}, id="commit-subdirectory"),
        pytest.param({"requirements.txt": "peft==0.6.0\n"}, id="pypi-pin"),
        pytest.param({"requirements.txt": "https://github.com/a/b/archive/refs/heads/main.zip\n"}, id="archive"),
        pytest.param({"Dockerfile": f"FROM python:3.11\nRUN pip install {REPO}@main\n"}, id="run-line-is-ra203"),
    ],
)
def test_does_not_catch(tmp_path: Path, files: dict[str, str]) -> None:
    assert caught(tmp_path, files, RULE) == []
