"""RA203 vcs-install-without-commit: `pip install git+https://...` without a 40-hex commit (high).

A branch, a tag, a short hash or no ref at all is reported with the ref in the message; a full
40-hex commit, also in `name @ git+...` and `-e git+...#egg=` forms, is not.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from audit.model import Severity
from tests.helpers import caught

RULE = "RA203"
FROM = "FROM python:3.11\n"
REPO = "git+https://github.com/huggingface/peft.git"
COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.mark.parametrize(
    ("run", "line", "word"),
    [
        pytest.param(f"RUN pip install {REPO}\n", 2, "no ref (the default branch)", id="no-ref"),
        pytest.param(f"RUN pip install {REPO}@main\n", 2, "the mutable ref 'main'", id="branch"),
        pytest.param(f"RUN pip install {REPO}@v0.6.0\n", 2, "the mutable ref 'v0.6.0'", id="tag"),
        pytest.param(f"RUN pip install {REPO}@0123456\n", 2, "the mutable ref '0123456'", id="short-hash"),
        pytest.param(f"RUN pip install '{REPO}@v1.0#subdirectory=pkg'\n", 2, "'v1.0'", id="subdirectory-fragment"),
        pytest.param(f"RUN pip install 'peft @ {REPO}@main'\n", 2, "'main'", id="pep508-direct-reference"),
        pytest.param(f"RUN pip install -e {REPO}#egg=peft\n", 2, "no ref", id="editable"),
        pytest.param("RUN pip install git+ssh://git@github.com/a/b.git\n", 2, "no ref", id="ssh-user-not-a-ref"),
        pytest.param(f"RUN python3 -m pip install --no-deps {REPO}@main\n", 2, "'main'", id="python-m-pip"),
        pytest.param(f"RUN uv pip install --system {REPO}@main\n", 2, "uv pip installs", id="uv-pip"),
        pytest.param(f"RUN pip install --upgrade {REPO}@main\n", 2, "'main'", id="upgrade-too"),
        pytest.param(
            f"RUN pip install numpy==1.26.4 \\\n    {REPO}@main\n", 3, "'main'", id="continuation-line-of-url"
        ),
        pytest.param(f"RUN <<EOF\nset -e\npip install {REPO}@main\nEOF\n", 4, "'main'", id="heredoc"),
        pytest.param(f'RUN ["pip", "install", "{REPO}@main"]\n', 2, "'main'", id="exec-form"),
    ],
)
def test_catches(tmp_path: Path, run: str, line: int, word: str) -> None:
    findings = caught(tmp_path, {"Dockerfile": FROM + run}, RULE)
    assert [(f.rule, f.location.path, f.location.line) for f in findings] == [(RULE, "Dockerfile", line)]
    finding = findings[0]
    assert finding.severity is Severity.HIGH
    assert finding.target == "Dockerfile"
    assert word in finding.message


@pytest.mark.parametrize(
    "run",
    [
        pytest.param(f"RUN pip install {REPO}@{COMMIT}\n", id="commit"),
        pytest.param(f"RUN pip install 'peft @ {REPO}@{COMMIT}'\n", id="pep508-commit"),
        pytest.param(f"RUN pip install -e {REPO}@{COMMIT}#egg=peft\n", id="editable-commit"),
        pytest.param(f"RUN pip install '{REPO}@{COMMIT}#subdirectory=pkg'\n", id="commit-subdirectory"),
        pytest.param("RUN git clone https://github.com/a/b.git && pip install ./b\n", id="clone-then-local"),
        pytest.param("RUN pip install https://github.com/a/b/archive/refs/heads/main.zip\n", id="archive-is-ra201"),
        pytest.param("RUN pip install peft==0.6.0\n", id="pypi-exact"),
        pytest.param(f"RUN echo pip install {REPO}@main\n", id="echo"),
    ],
)
def test_does_not_catch(tmp_path: Path, run: str) -> None:
    assert caught(tmp_path, {"Dockerfile": FROM + run}, RULE) == []


def test_uppercase_commit_is_a_commit(tmp_path: Path) -> None:
    files = {"Dockerfile": FROM + f"RUN pip install {REPO}@{COMMIT.upper()}\n"}
    assert caught(tmp_path, files, RULE) == []
