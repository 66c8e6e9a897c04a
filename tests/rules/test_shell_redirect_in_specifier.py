"""RA204 shell-redirect-in-specifier: an unquoted `>`/`<` turns a version constraint into a redirection.

`RUN pip install torch>=2.0.1` installs the newest `torch` and writes pip's output to a file named
`=2.0.1`. Quoted specifiers, exec form (no shell) and real redirections to a log file are fine.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from audit.model import Severity
from tests.helpers import caught

RULE = "RA204"
FROM = "FROM python:3.11\n"


@pytest.mark.parametrize(
    ("run", "line", "evidence", "file_name"),
    [
        pytest.param("RUN pip install torch>=2.0.1\n", 2, ">=2.0.1", "'=2.0.1'", id="greater-equal"),
        pytest.param("RUN pip install torch>2\n", 2, ">2", "'2'", id="greater"),
        pytest.param("RUN pip install 'numpy==1.26.4' torch<3\n", 2, "<3", "'3'", id="less-after-quoted"),
        pytest.param("RUN python -m pip install torch<=2.1\n", 2, "<=2.1", "'=2.1'", id="python-m-pip"),
        pytest.param("RUN pip3 install transformers>=4.35 peft==0.6.0\n", 2, ">=4.35", "'=4.35'", id="pip3"),
        pytest.param("RUN uv pip install --system torch>=2.0.1\n", 2, ">=2.0.1", "'=2.0.1'", id="uv-pip"),
        pytest.param(
            "RUN pip install \\\n    numpy==1.26.4 \\\n    torch>=2.0.1\n",
            4,
            ">=2.0.1",
            "'=2.0.1'",
            id="continuation-line",
        ),
        pytest.param("RUN <<EOF\npip install torch>=2.0.1\nEOF\n", 3, ">=2.0.1", "'=2.0.1'", id="heredoc"),
        pytest.param(
            "RUN pip install torch>=2.0.1 > /dev/null\n", 2, ">=2.0.1", "'=2.0.1'", id="with-real-redirect-too"
        ),
    ],
)
def test_catches(tmp_path: Path, run: str, line: int, evidence: str, file_name: str) -> None:
    findings = caught(tmp_path, {"Dockerfile": FROM + run}, RULE)
    assert [(f.rule, f.location.path, f.location.line) for f in findings] == [(RULE, "Dockerfile", line)]
    finding = findings[0]
    assert finding.severity is Severity.HIGH
    assert finding.target == "Dockerfile"
    assert finding.evidence == evidence
    assert "shell redirection" in finding.message
    assert f"file named {file_name}" in finding.message


def test_the_package_is_then_graded_bare_by_ra201(tmp_path: Path) -> None:
    files = {"Dockerfile": FROM + "RUN pip install torch>=2.0.1\n"}
    assert [f.rule for f in caught(tmp_path, files, RULE)] == [RULE]
    unpinned = caught(tmp_path, files, "RA201")
    assert [(f.location.line, f.severity, f.evidence) for f in unpinned] == [(2, Severity.HIGH, "torch")]


@pytest.mark.parametrize(
    "run",
    [
        pytest.param('RUN pip install "torch>=2.0.1"\n', id="double-quoted"),
        pytest.param("RUN pip install 'torch>=2.0.1'\n", id="single-quoted"),
        pytest.param("RUN pip install torch\\>=2.0.1\n", id="escaped"),
        pytest.param('RUN ["pip", "install", "torch>=2.0.1"]\n', id="exec-form-no-shell"),
        pytest.param("RUN pip install numpy > /tmp/pip.log\n", id="real-redirect-to-log"),
        pytest.param("RUN pip install numpy==1.26.4 2>&1\n", id="fd-duplication"),
        pytest.param("RUN pip install numpy==1.26.4 >> install.log\n", id="append-to-log"),
        pytest.param("RUN echo torch>=2.0.1\n", id="not-an-install"),
        pytest.param("RUN pip install torch==2.0.1\n", id="exact-pin"),
        pytest.param("RUN pip install torch~=2.0\n", id="tilde-has-no-shell-meaning"),
        pytest.param("RUN <<EOF\npip install 'torch>=2.0.1'\nEOF\n", id="heredoc-quoted"),
    ],
)
def test_does_not_catch(tmp_path: Path, run: str) -> None:
    assert caught(tmp_path, {"Dockerfile": FROM + run}, RULE) == []
