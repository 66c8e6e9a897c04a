"""RA202 upgrade-unpinned: `pip install -U` / `--upgrade` of a package that is not pinned (high).

An upgraded unpinned package is reported here and then not also by RA201; conda's `update` is left
to RA201. Pinned packages in the same upgrade command are not reported.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from audit.model import Severity
from tests.helpers import caught

RULE = "RA202"
FROM = "FROM python:3.11\n"


@pytest.mark.parametrize(
    ("run", "lines", "word"),
    [
        pytest.param("RUN pip install -U pip\n", [2], "pip upgrades `pip` (no version at all)", id="short-flag"),
        pytest.param("RUN pip install --upgrade pip setuptools\n", [2, 2], "`setuptools`", id="long-flag-two"),
        pytest.param("RUN pip3 install pip --upgrade\n", [2], "`pip`", id="flag-after-package"),
        pytest.param("RUN python -m pip install -U 'accelerate>=0.20'\n", [2], "(open-ended range)", id="lower-bound"),
        pytest.param("RUN python3.10 -m pip install --upgrade 'peft~=0.6'\n", [2], "(range with", id="bounded"),
        pytest.param("RUN uv pip install -U --system numpy\n", [2], "uv pip upgrades `numpy`", id="uv-pip"),
        pytest.param("RUN pip install -U torch==2.1.0 numpy\n", [2], "`numpy`", id="pinned-neighbour-not-reported"),
        pytest.param(
            "RUN pip install --no-cache-dir \\\n    --upgrade \\\n    transformers\n",
            [4],
            "`transformers`",
            id="continuation-line-of-package",
        ),
        pytest.param("RUN <<EOF\npip install -U wheel\nEOF\n", [3], "`wheel`", id="heredoc"),
        pytest.param('RUN ["pip", "install", "--upgrade", "pip"]\n', [2], "`pip`", id="exec-form"),
    ],
)
def test_catches(tmp_path: Path, run: str, lines: list[int], word: str) -> None:
    findings = caught(tmp_path, {"Dockerfile": FROM + run}, RULE)
    assert [(f.rule, f.location.path, f.location.line) for f in findings] == [
        (RULE, "Dockerfile", line) for line in lines
    ]
    assert all(f.severity is Severity.HIGH and f.target == "Dockerfile" for f in findings)
    assert any(word in f.message for f in findings)
    assert all("to whatever is newest" in f.message for f in findings)


def test_upgrade_is_not_also_reported_by_ra201(tmp_path: Path) -> None:
    files = {"Dockerfile": FROM + "RUN pip install --upgrade pip\n"}
    assert [f.rule for f in caught(tmp_path, files, RULE)] == [RULE]
    assert caught(tmp_path, files, "RA201") == []


@pytest.mark.parametrize(
    "run",
    [
        pytest.param("RUN pip install -U pip==23.3.1\n", id="exact"),
        pytest.param("RUN pip install --upgrade pip==23.3.1 setuptools==69.0.2\n", id="all-exact"),
        pytest.param("RUN pip install pip\n", id="no-upgrade-is-ra201"),
        pytest.param("RUN pip install --upgrade-strategy eager numpy==1.26.4\n", id="upgrade-strategy"),
        pytest.param("RUN pip install --upgrade-strategy only-if-needed numpy\n", id="upgrade-strategy-bare"),
        pytest.param("RUN pip install -U -r requirements.txt\n", id="requirement-file-only"),
        pytest.param("RUN pip install -U git+https://github.com/a/b.git@main\n", id="vcs-is-ra203"),
        pytest.param("RUN pip install -U -e .\n", id="local"),
        pytest.param("RUN conda update -y numpy\n", id="conda-update-is-ra201"),
        pytest.param("RUN conda install -y --update-deps numpy==1.26.4\n", id="conda-update-deps"),
        pytest.param("RUN echo pip install -U pip\n", id="echo"),
    ],
)
def test_does_not_catch(tmp_path: Path, run: str) -> None:
    assert caught(tmp_path, {"Dockerfile": FROM + run}, RULE) == []


def test_catches_combined_short_flags(tmp_path: Path) -> None:
    findings = caught(tmp_path, {"Dockerfile": FROM + "RUN pip install -qU numpy\n"}, RULE)
    assert [(f.location.line, f.severity) for f in findings] == [(2, Severity.HIGH)]


def test_line_is_the_package_not_an_earlier_word_containing_it(tmp_path: Path) -> None:
    run = "RUN apt-get install -y python3-pip && \\\n    pip install -U pip\n"
    findings = caught(tmp_path, {"Dockerfile": FROM + run}, RULE)
    assert [f.location.line for f in findings] == [3]
