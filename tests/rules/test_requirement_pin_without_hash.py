"""RA306 requirement-pin-without-hash: an exact pin in a requirement file without `--hash` (info).

Only requirement and constraint files are graded (pip's hash-checking mode applies to them); an
exact pin with `--hash` (also on a continuation line), unpinned lines (RA301), `environment.yml` and
`pyproject.toml` are not reported.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from audit.model import Severity
from tests.helpers import caught

RULE = "RA306"
HASH = "--hash=sha256:" + "b" * 64


@pytest.mark.parametrize(
    ("files", "path", "line", "target", "word"),
    [
        pytest.param(
            {"requirements.txt": "numpy==1.26.4\n"}, "requirements.txt", 1, None, "`numpy==1.26.4`", id="exact"
        ),
        pytest.param(
            {"requirements.txt": "torch===2.1.0+cu118\n"},
            "requirements.txt",
            1,
            None,
            "torch===2.1.0",
            id="arbitrary-equality",
        ),
        pytest.param(
            {"requirements.txt": f"numpy==1.26.4 \\\n    {HASH}\npandas==2.0.0\n"},
            "requirements.txt",
            3,
            None,
            "`pandas==2.0.0`",
            id="after-hashed-continuation",
        ),
        pytest.param(
            {"requirements.txt": "# lock\n\ntransformers[torch]==4.35.0\n"},
            "requirements.txt",
            3,
            None,
            "transformers[torch]==4.35.0",
            id="extras-after-comment",
        ),
        pytest.param({"constraints.txt": "numpy==1.26.4\n"}, "constraints.txt", 1, None, "numpy", id="constraints"),
        pytest.param(
            {
                "Dockerfile": "FROM python:3.11\nCOPY requirements.txt .\nRUN pip install -r requirements.txt\n",
                "requirements.txt": "peft==0.6.0\n",
            },
            "requirements.txt",
            1,
            "Dockerfile",
            "`peft==0.6.0`",
            id="reached-by-build",
        ),
    ],
)
def test_catches(tmp_path: Path, files: dict[str, str], path: str, line: int, target: str | None, word: str) -> None:
    findings = caught(tmp_path, files, RULE)
    assert [(f.rule, f.location.path, f.location.line) for f in findings] == [(RULE, path, line)]
    assert findings[0].severity is Severity.INFO
    assert findings[0].target == target
    assert word in findings[0].message
    assert "not hashed" in findings[0].message


@pytest.mark.parametrize(
    "files",
    [
        pytest.param({"requirements.txt": f"numpy==1.26.4 {HASH}\n"}, id="hashed"),
        pytest.param({"requirements.txt": f"numpy==1.26.4 \\\n    {HASH} \\\n    {HASH}\n"}, id="hashed-continued"),
        pytest.param({"requirements.txt": "numpy\n"}, id="bare-is-ra301"),
        pytest.param({"requirements.txt": "numpy>=1.26\n"}, id="range-is-ra301"),
        pytest.param({"requirements.txt": "numpy==1.*\n"}, id="wildcard-is-ra301"),
        pytest.param({"requirements.txt": "-e .\n"}, id="local"),
        pytest.param({"requirements.txt": "git+https://github.com/a/b.git@" + "0" * 40 + "\n"}, id="vcs-commit"),
        pytest.param(
            {"environment.yml": "dependencies:\n  - numpy==1.26.4\n  - pip:\n    - peft==0.6.0\n"}, id="environment-yml"
        ),
        pytest.param(
            {"pyproject.toml": '[project]\nname = "d"\nversion = "0.1"\ndependencies = ["numpy==1.26.4"]\n'},
            id="pyproject",
        ),
        pytest.param({"Dockerfile": "FROM python:3.11\nRUN pip install numpy==1.26.4\n"}, id="run-line"),
    ],
)
def test_does_not_catch(tmp_path: Path, files: dict[str, str]) -> None:
    assert caught(tmp_path, files, RULE) == []
