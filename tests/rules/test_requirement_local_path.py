"""RA303 requirement-local-path (info) and RA304 requirement-path-outside-tree (high).

A local path inside the repository (`-e .`, `./lib`, a vendored wheel) is listed for reviewers; an
absolute path, a home path or a `../` path leaving the entry only exists on the submitter's machine.
Paths in a requirement file are taken relative to that file's folder.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from audit.model import Severity
from tests.helpers import caught

INSTALL = "FROM python:3.11\nCOPY requirements.txt .\nRUN pip install -r requirements.txt\n"


@pytest.mark.parametrize(
    ("files", "path", "line", "target", "word"),
    [
        pytest.param(
            {"requirements.txt": "-e .\n"},
            "requirements.txt",
            1,
            None,
            "editable install of local path `.`",
            id="editable-dot",
        ),
        pytest.param(
            {"requirements.txt": "numpy==1.0\n-e ./lib\n"},
            "requirements.txt",
            2,
            None,
            "`./lib`",
            id="editable-subfolder",
        ),
        pytest.param(
            {"requirements.txt": "./pkg\n"}, "requirements.txt", 1, None, "install from local path", id="plain-local"
        ),
        pytest.param(
            {"requirements.txt": "./wheels/x-1.0-py3-none-any.whl\n"},
            "requirements.txt",
            1,
            None,
            "x-1.0-py3-none-any.whl",
            id="vendored-wheel",
        ),
        pytest.param(
            {"sub/requirements.txt": "-e ..\n"}, "sub/requirements.txt", 1, None, "`..`", id="parent-still-inside-entry"
        ),
        pytest.param(
            {"Dockerfile": INSTALL, "requirements.txt": "-e .\n"},
            "requirements.txt",
            1,
            "Dockerfile",
            "editable",
            id="reached-by-build",
        ),
        pytest.param(
            {"environment.yml": "dependencies:\n  - pip:\n    - -e .\n"},
            "environment.yml",
            3,
            None,
            "editable",
            id="environment-pip-list",
        ),
    ],
)
def test_catches_inside_tree_ra303(
    tmp_path: Path, files: dict[str, str], path: str, line: int, target: str | None, word: str
) -> None:
    findings = caught(tmp_path, files, "RA303")
    assert [(f.rule, f.location.path, f.location.line) for f in findings] == [("RA303", path, line)]
    assert findings[0].severity is Severity.INFO
    assert findings[0].target == target
    assert word in findings[0].message
    assert caught(tmp_path, files, "RA304") == []


@pytest.mark.parametrize(
    ("files", "path", "line", "target", "word"),
    [
        pytest.param({"requirements.txt": "../outside\n"}, "requirements.txt", 1, None, "`../outside`", id="parent"),
        pytest.param({"requirements.txt": "/abs/path\n"}, "requirements.txt", 1, None, "`/abs/path`", id="absolute"),
        pytest.param(
            {"requirements.txt": "numpy==1.0\n-e /home/u/pkg\n"},
            "requirements.txt",
            2,
            None,
            "/home/u/pkg",
            id="editable-absolute",
        ),
        pytest.param(
            {"requirements.txt": "-e ../other\n"}, "requirements.txt", 1, None, "../other", id="editable-parent"
        ),
        pytest.param({"requirements.txt": "~/pkg\n"}, "requirements.txt", 1, None, "~/pkg", id="home"),
        pytest.param(
            {"requirements.txt": "file:///home/u/pkg\n"},
            "requirements.txt",
            1,
            None,
            "file:///home/u/pkg",
            id="file-url",
        ),
        pytest.param(
            {"requirements.txt": "pkg @ file:///home/u/pkg\n"},
            "requirements.txt",
            1,
            None,
            "pkg @ file:///home/u/pkg",
            id="pep508-file-url",
        ),
        pytest.param(
            {"sub/requirements.txt": "../../outside\n"},
            "sub/requirements.txt",
            1,
            None,
            "../../outside",
            id="two-levels-up-from-subfolder",
        ),
        pytest.param(
            {"Dockerfile": INSTALL, "requirements.txt": "# local\n../outside\n"},
            "requirements.txt",
            2,
            "Dockerfile",
            "../outside",
            id="reached-by-build",
        ),
    ],
)
def test_catches_outside_tree_ra304(
    tmp_path: Path, files: dict[str, str], path: str, line: int, target: str | None, word: str
) -> None:
    findings = caught(tmp_path, files, "RA304")
    assert [(f.rule, f.location.path, f.location.line) for f in findings] == [("RA304", path, line)]
    assert findings[0].severity is Severity.HIGH
    assert findings[0].target == target
    assert word in findings[0].message
    assert "outside the repository" in findings[0].message
    assert caught(tmp_path, files, "RA303") == []


@pytest.mark.parametrize(
    "requirements",
    [
        pytest.param("numpy==1.26.4\n", id="pypi-pin"),
        pytest.param("numpy\n", id="bare-name-is-ra301"),
        pytest.param("git+https://github.com/a/b.git@main\n", id="vcs-is-ra302"),
        pytest.param("https://example.com/x-1.0.tar.gz\n", id="remote-archive"),
        pytest.param("-r other.txt\n", id="nested-file-is-not-a-package"),
        pytest.param("--find-links ./wheels\n", id="find-links-folder"),
    ],
)
@pytest.mark.parametrize("rule", ["RA303", "RA304"])
def test_does_not_catch(tmp_path: Path, rule: str, requirements: str) -> None:
    files = {"requirements.txt": requirements, "other.txt": "numpy==1.26.4\n"}
    assert caught(tmp_path, files, rule) == []


@pytest.mark.parametrize("rule", ["RA303", "RA304"])
def test_does_not_catch_run_line_installs(tmp_path: Path, rule: str) -> None:
    files = {"Dockerfile": "FROM python:3.11\nRUN pip install -e . && pip install /opt/pkg\n"}
    assert caught(tmp_path, files, rule) == []
