"""RA509 requirement-file-not-in-context: a requirement file the build installs is not in its context (high).

`RUN pip install -r X` is followed back through the COPY/ADD that put X in the image (with WORKDIR
and `cd`) to a file of the build context; when that file does not exist the build fails. Nested
`-r`/`-c` lines of a requirement file are followed too and reported on the line that asks for them.
Files the image creates itself (no COPY brings them in), URLs and variables are not followed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from audit.model import Severity
from tests.helpers import caught

RULE = "RA509"
FROM = "FROM python:3.11\n"


@pytest.mark.parametrize(
    ("files", "where", "line", "target", "word"),
    [
        pytest.param(
            {"Dockerfile": FROM + "COPY . /app\nWORKDIR /app\nRUN pip install -r requirements.txt\n"},
            "Dockerfile",
            4,
            "Dockerfile",
            "'requirements.txt' is read by the build but 'requirements.txt' is not in the repository",
            id="copy-dot-then-workdir",
        ),
        pytest.param(
            {"Dockerfile": FROM + "COPY . /app\nRUN cd /app && pip install -r reqs/base.txt\n"},
            "Dockerfile",
            3,
            "Dockerfile",
            "'reqs/base.txt' is not in the repository",
            id="cd-in-same-run",
        ),
        pytest.param(
            {
                "train/Dockerfile": FROM + "COPY . /app\nRUN pip install -r /app/requirements.txt\n",
                "requirements.txt": "",
            },
            "train/Dockerfile",
            3,
            "train/Dockerfile",
            "'train/requirements.txt' is not in the repository",
            id="file-exists-only-outside-the-context",
        ),
        pytest.param(
            {"Dockerfile": FROM + "COPY src/ /src/\nRUN pip install -r /src/requirements.txt\n", "src/a.py": ""},
            "Dockerfile",
            3,
            "Dockerfile",
            "'src/requirements.txt'",
            id="copied-folder",
        ),
        pytest.param(
            {"Dockerfile": FROM + "COPY . /app\nRUN pip install \\\n    -r /app/requirements.txt\n"},
            "Dockerfile",
            3,
            "Dockerfile",
            "'/app/requirements.txt'",
            id="line-of-install",
        ),
        pytest.param(
            {
                "Dockerfile": FROM + "COPY requirements.txt .\nRUN pip install -r requirements.txt\n",
                "requirements.txt": "numpy==1.26.4\n-r base.txt\n",
            },
            "requirements.txt",
            2,
            "Dockerfile",
            "'base.txt' is read by the build",
            id="nested-requirement",
        ),
        pytest.param(
            {
                "Dockerfile": FROM + "COPY . .\nRUN pip install -r requirements/prod.txt\n",
                "requirements/prod.txt": "-c ../constraints.txt\nnumpy==1.26.4\n",
            },
            "requirements/prod.txt",
            1,
            "Dockerfile",
            "'constraints.txt' is not in the repository",
            id="nested-constraint-relative-to-its-file",
        ),
        pytest.param(
            {"Dockerfile": FROM + "COPY . /app\nRUN pip install -c /app/constraints.txt numpy==1.26.4\n"},
            "Dockerfile",
            3,
            "Dockerfile",
            "'constraints.txt'",
            id="constraint-file",
        ),
    ],
)
def test_catches(tmp_path: Path, files: dict[str, str], where: str, line: int, target: str, word: str) -> None:
    findings = caught(tmp_path, files, RULE)
    assert [(f.rule, f.location.path, f.location.line, f.severity, f.target) for f in findings] == [
        (RULE, where, line, Severity.HIGH, target)
    ]
    assert word in findings[0].message


@pytest.mark.parametrize(
    "files",
    [
        pytest.param(
            {
                "Dockerfile": FROM + "COPY . /app\nWORKDIR /app\nRUN pip install -r requirements.txt\n",
                "requirements.txt": "numpy==1.26.4\n",
            },
            id="present",
        ),
        pytest.param(
            {
                "Dockerfile": FROM + "COPY requirements.txt .\nRUN pip install -r requirements.txt\n",
                "requirements.txt": "-r base.txt\n",
                "base.txt": "numpy==1.26.4\n",
            },
            id="nested-present",
        ),
        pytest.param(
            {"train/Dockerfile": FROM + "COPY . /app\nRUN pip install -r /app/req.txt\n", "train/req.txt": "x==1\n"},
            id="present-in-target-context",
        ),
        pytest.param({"Dockerfile": FROM + "RUN pip install -r requirements.txt\n"}, id="not-copied-in"),
        pytest.param({"Dockerfile": FROM + "COPY . /app\nRUN pip install -r $REQUIREMENTS\n"}, id="variable"),
        pytest.param({"Dockerfile": FROM + "RUN pip install -r https://example.org/requirements.txt\n"}, id="url"),
        pytest.param(
            {"Dockerfile": FROM + "RUN git clone https://github.com/a/b.git && pip install -r b/requirements.txt\n"},
            id="file-of-a-clone",
        ),
        pytest.param(
            {"Dockerfile": FROM + "COPY src/ /src/\nRUN pip install -r /other/requirements.txt\n", "src/a.py": ""},
            id="path-no-copy-reaches",
        ),
        pytest.param(
            {"Dockerfile": FROM + "COPY --from=builder /out /app\nRUN pip install -r /app/requirements.txt\n"},
            id="copied-from-a-stage",
        ),
        pytest.param({"requirements.txt": "-r missing.txt\n"}, id="requirement-file-no-build-reads"),
    ],
)
def test_does_not_catch(tmp_path: Path, files: dict[str, str]) -> None:
    assert caught(tmp_path, files, RULE) == []
