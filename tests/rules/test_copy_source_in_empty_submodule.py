"""RA503 copy-source-in-empty-submodule: COPY/ADD from a git submodule that is not checked out (high).

A submodule is declared in `.gitmodules`; a plain clone or an archive download leaves its folder
absent or empty, so a COPY from it has nothing to copy. A populated submodule folder is fine, and a
missing folder that no `.gitmodules` declares is RA501.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from audit.model import Location, Severity
from tests.helpers import audit, caught

RULE = "RA503"
FROM = "FROM python:3.11\n"
LIB_URL = "https://github.com/org/lib.git"
GITMODULES = f'[submodule "lib"]\n\tpath = third_party/lib\n\turl = {LIB_URL}\n'


@pytest.mark.parametrize(
    ("copy", "empty_folder"),
    [
        pytest.param("COPY third_party/lib /lib\n", False, id="absent-folder"),
        pytest.param("COPY third_party/lib/setup.py /lib/\n", False, id="file-in-absent-folder"),
        pytest.param("COPY third_party/lib/setup.py /lib/\n", True, id="file-in-empty-folder"),
        pytest.param("COPY third_party/lib/*.py /lib/\n", True, id="glob-in-empty-folder"),
        pytest.param("ADD third_party/lib/src /lib/src\n", False, id="add"),
        pytest.param("COPY /third_party/lib /lib\n", False, id="leading-slash"),
    ],
)
def test_catches(tmp_path: Path, copy: str, empty_folder: bool) -> None:
    root = tmp_path / "entry"
    if empty_folder:
        (root / "third_party" / "lib").mkdir(parents=True)
    findings = caught(root, {"Dockerfile": FROM + copy, ".gitmodules": GITMODULES}, RULE)
    assert [(f.rule, f.location.path, f.location.line, f.severity, f.target) for f in findings] == [
        (RULE, "Dockerfile", 2, Severity.HIGH, "Dockerfile")
    ]
    assert f"in submodule 'third_party/lib' ({LIB_URL}), which is not checked out" in findings[0].message
    assert findings[0].related == (Location(".gitmodules"),)


def test_catches_submodule_without_url(tmp_path: Path) -> None:
    files = {
        "Dockerfile": FROM + "COPY vendor/x /x\n",
        ".gitmodules": '  [submodule "x"]\n    path = vendor/x/\n',
    }
    findings = caught(tmp_path, files, RULE)
    assert [(f.location.line, f.message) for f in findings] == [
        (2, "COPY source 'vendor/x' is in submodule 'vendor/x', which is not checked out")
    ]


@pytest.mark.parametrize(
    "files",
    [
        pytest.param(
            {"Dockerfile": FROM + "COPY third_party/lib /lib\n", ".gitmodules": GITMODULES, "third_party/lib/a.py": ""},
            id="populated-submodule",
        ),
        pytest.param(
            {
                "Dockerfile": FROM + "COPY third_party/lib/a.py /lib/\n",
                ".gitmodules": GITMODULES,
                "third_party/lib/a.py": "",
            },
            id="file-of-populated-submodule",
        ),
        pytest.param({"Dockerfile": FROM + "COPY third_party/lib /lib\n"}, id="no-gitmodules-is-ra501"),
        pytest.param(
            {"Dockerfile": FROM + "COPY third_party/other /o\n", ".gitmodules": GITMODULES}, id="other-folder"
        ),
        pytest.param(
            {"Dockerfile": FROM + "COPY third_party/library /o\n", ".gitmodules": GITMODULES},
            id="folder-sharing-a-prefix",
        ),
        pytest.param(
            {"Dockerfile": FROM + "COPY --from=builder third_party/lib /lib\n", ".gitmodules": GITMODULES},
            id="from-stage",
        ),
        pytest.param(
            {"Dockerfile": FROM + "COPY third_party/lib /lib\n", ".gitmodules": "this is [not an ini file\n"},
            id="unreadable-gitmodules",
        ),
        pytest.param({"Dockerfile": FROM + "COPY . /app\n", ".gitmodules": GITMODULES}, id="whole-context"),
    ],
)
def test_does_not_catch(tmp_path: Path, files: dict[str, str]) -> None:
    assert caught(tmp_path, files, RULE) == []


def test_catches_copy_of_the_empty_submodule_folder_itself(tmp_path: Path) -> None:
    root = tmp_path / "entry"
    (root / "third_party" / "lib").mkdir(parents=True)
    findings = caught(root, {"Dockerfile": FROM + "COPY third_party/lib /lib\n", ".gitmodules": GITMODULES}, RULE)
    assert [(f.location.line, f.severity) for f in findings] == [(2, Severity.HIGH)]


@pytest.mark.parametrize("copy", ["COPY third_party/lib /lib\n", "COPY third_party/lib/src /lib/src\n"])
def test_empty_submodule_folder_is_ra503_only(tmp_path: Path, copy: str) -> None:
    root = tmp_path / "entry"
    (root / "third_party" / "lib" / "src").mkdir(parents=True)  # folders, but not one file
    findings = audit(root, {"Dockerfile": FROM + copy, ".gitmodules": GITMODULES}, ["RA501", RULE])
    assert [(f.rule, f.location.line) for f in findings] == [(RULE, 2)]
