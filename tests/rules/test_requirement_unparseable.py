"""RA307 requirement-unparseable: a requirement-file line pip cannot read.

Low for a file only found in the tree, high when a build installs the file (pip stops there).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from audit.model import Severity
from tests.helpers import caught

RULE = "RA307"


@pytest.mark.parametrize(
    ("text", "line", "word"),
    [
        pytest.param("numpy=1.0\n", 1, "'numpy=1.0'", id="single-equals"),
        pytest.param("numpy==1.26.4\ntorch>=\n", 2, "'torch>='", id="dangling-operator"),
        pytest.param("# header\n\nthis is not valid\n", 3, "'this is not valid'", id="prose"),
        pytest.param("--unknown-option\n", 1, "no such option: --unknown-option", id="unknown-option"),
    ],
)
def test_catches(tmp_path: Path, text: str, line: int, word: str) -> None:
    findings = caught(tmp_path, {"requirements.txt": text}, RULE)
    assert [(f.rule, f.location.path, f.location.line) for f in findings] == [(RULE, "requirements.txt", line)]
    assert findings[0].severity is Severity.LOW
    assert findings[0].target is None
    assert word in findings[0].message


def test_catches_high_when_a_build_installs_the_file(tmp_path: Path) -> None:
    files = {
        "Dockerfile": "FROM python:3.11\nCOPY requirements.txt .\nRUN pip install -r requirements.txt\n",
        "requirements.txt": "numpy==1.26.4\nnumpy=1.0\n",
    }
    findings = caught(tmp_path, files, RULE)
    assert [(f.location.path, f.location.line, f.severity, f.target) for f in findings] == [
        ("requirements.txt", 2, Severity.HIGH, "Dockerfile")
    ]


def test_catches_in_nested_file(tmp_path: Path) -> None:
    files = {"requirements.txt": "-r more.txt\n", "more.txt": "ok==1.0\nbad line here\n"}
    findings = caught(tmp_path, files, RULE)
    assert [(f.location.path, f.location.line, f.severity) for f in findings] == [("more.txt", 2, Severity.LOW)]


@pytest.mark.parametrize(
    "files",
    [
        pytest.param({"requirements.txt": "numpy==1.26.4\n"}, id="exact"),
        pytest.param({"requirements.txt": "numpy\ntorch>=2\npeft~=0.6\n"}, id="unpinned-is-ra301"),
        pytest.param({"requirements.txt": "# numpy=1.0\n\n"}, id="comment"),
        pytest.param({"requirements.txt": "numpy==1.26.4  # numpy=1.0\n"}, id="trailing-comment"),
        pytest.param({"requirements.txt": "numpy \\\n  ==1.26.4\n"}, id="continuation"),
        pytest.param({"requirements.txt": "-e .\n--index-url https://pypi.org/simple\n"}, id="options"),
        pytest.param({"requirements.txt": "foo; python_version < '3.8'\n"}, id="marker"),
        pytest.param({"environment.yml": "dependencies:\n  - numpy=1.26\n"}, id="conda-syntax-in-environment-yml"),
        pytest.param({"notes.txt": "this is not valid\n"}, id="not-a-requirement-file"),
    ],
)
def test_does_not_catch(tmp_path: Path, files: dict[str, str]) -> None:
    assert caught(tmp_path, files, RULE) == []
