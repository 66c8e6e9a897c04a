"""RA504 copy-source-outside-context: a COPY/ADD source that leaves the build context with `..` (high).

The context is the Dockerfile's folder, as in the organizers' scripts; `COPY ../x` fails even when the
file is in the repository. The message says where the source would have been: a path of the
repository, or outside the repository altogether.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from audit.model import Severity
from tests.helpers import audit, caught

RULE = "RA504"
FROM = "FROM python:3.11\n"


@pytest.mark.parametrize(
    ("files", "dockerfile", "word"),
    [
        pytest.param(
            {"train/Dockerfile": FROM + "COPY ../requirements.txt .\n", "requirements.txt": "x"},
            "train/Dockerfile",
            "'../requirements.txt' is outside the build context (requirements.txt)",
            id="file-of-the-repository",
        ),
        pytest.param(
            {"docker/train/Dockerfile": FROM + "COPY ../../src /app/src\n", "src/a.py": "x"},
            "docker/train/Dockerfile",
            "outside the build context (src)",
            id="two-levels-up",
        ),
        pytest.param(
            {"train/Dockerfile": FROM + "COPY ./../data.txt .\n"},
            "train/Dockerfile",
            "outside the build context (data.txt)",
            id="dot-then-dotdot-missing-file",
        ),
        pytest.param(
            {"train/Dockerfile": FROM + "COPY lib/../../shared /s\n", "shared/a": "x"},
            "train/Dockerfile",
            "'lib/../../shared'",
            id="dotdot-in-the-middle",
        ),
        pytest.param(
            {"Dockerfile": FROM + "COPY ../x .\n"}, "Dockerfile", "'../x' is outside the repository", id="repo-root"
        ),
        pytest.param({"Dockerfile": FROM + "ADD ../weights.bin /w/\n"}, "Dockerfile", "ADD source", id="add"),
        pytest.param(
            {"train/Dockerfile": FROM + 'COPY ["../a.txt", "/a.txt"]\n', "a.txt": "x"},
            "train/Dockerfile",
            "'../a.txt'",
            id="json-form",
        ),
    ],
)
def test_catches(tmp_path: Path, files: dict[str, str], dockerfile: str, word: str) -> None:
    findings = caught(tmp_path, files, RULE)
    assert [(f.rule, f.location.path, f.location.line, f.severity, f.target) for f in findings] == [
        (RULE, dockerfile, 2, Severity.HIGH, dockerfile)
    ]
    assert word in findings[0].message


def test_catches_each_escaping_source(tmp_path: Path) -> None:
    files = {"train/Dockerfile": FROM + "COPY a.py ../b.py ../../c.py /app/\n", "train/a.py": "x", "b.py": "x"}
    findings = caught(tmp_path, files, RULE)
    assert sorted((f.location.line, f.message) for f in findings) == [
        (2, "COPY source '../../c.py' is outside the repository"),
        (2, "COPY source '../b.py' is outside the build context (b.py)"),
    ]


@pytest.mark.parametrize(
    "files",
    [
        pytest.param({"Dockerfile": FROM + "COPY ./a/../b.txt .\n", "b.txt": "x"}, id="dotdot-that-stays-inside"),
        pytest.param({"train/Dockerfile": FROM + "COPY a.txt .\n", "train/a.txt": "x"}, id="inside"),
        pytest.param({"train/Dockerfile": FROM + "COPY a.txt ../\n", "train/a.txt": "x"}, id="dotdot-destination"),
        pytest.param({"train/Dockerfile": FROM + "COPY --from=builder ../out /out\n"}, id="from-stage"),
        pytest.param({"Dockerfile": FROM + "RUN cp ../a.txt /a.txt\n"}, id="run-cp"),
        pytest.param({"Dockerfile": FROM + "COPY $DIR/../x .\n"}, id="variable"),
    ],
)
def test_does_not_catch(tmp_path: Path, files: dict[str, str]) -> None:
    assert caught(tmp_path, files, RULE) == []


def test_folder_whose_name_starts_with_two_dots_is_inside(tmp_path: Path) -> None:
    files = {"Dockerfile": FROM + "COPY ..data/x .\n", "..data/x": "x"}
    assert caught(tmp_path, files, RULE) == []


def test_source_that_is_only_dots_escapes(tmp_path: Path) -> None:
    files = {"train/Dockerfile": FROM + "COPY .. /all\n", "a.txt": "x"}
    assert [f.message for f in caught(tmp_path, files, RULE)] == ["COPY source '..' is outside the build context (.)"]


def test_context_configured_outside_the_entry_is_reported_not_a_crash(tmp_path: Path) -> None:
    files = {
        "Dockerfile": FROM + "COPY a.txt /a\n",
        "a.txt": "x",
        "pyproject.toml": '[tool.repro-audit]\ncontexts = {"Dockerfile" = "../elsewhere"}\n',
    }
    findings = audit(tmp_path, files, ["RA501", "RA502", "RA503", "RA504", "RA505"])
    assert [(f.rule, f.message) for f in findings] == [(RULE, "COPY source 'a.txt' is outside the repository")]
