"""RA401 git-clone-without-commit: a `git clone` in a RUN that no later command pins to a commit.

A clone of the default branch is high, a `--branch`/`-b` tag or branch is medium. A clone is pinned
by `git checkout|reset|switch|fetch <40-hex>` run inside the cloned folder: after `cd <folder>` in the
same RUN, through `git -C <folder>`, or in a later RUN whose WORKDIR is that folder. A checkout run
elsewhere pins some other clone, not this one. Clones of `huggingface.co` are RA405, not RA401.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from audit.model import Severity
from tests.helpers import caught

RULE = "RA401"
HIGH, MEDIUM = Severity.HIGH, Severity.MEDIUM
FROM = "FROM python:3.11\n"
COMMIT = "0123456789abcdef" * 2 + "01234567"
URL = "https://github.com/org/lib.git"


@pytest.mark.parametrize(
    ("body", "line", "severity", "word"),
    [
        pytest.param(f"RUN git clone {URL}\n", 2, HIGH, "default branch", id="default-branch"),
        pytest.param(f"RUN git clone --depth 1 {URL}\n", 2, HIGH, "no commit is checked out", id="shallow"),
        pytest.param(f"RUN git clone {URL} /opt/lib\n", 2, HIGH, URL, id="explicit-folder"),
        pytest.param(f"RUN git clone --branch v1.0 {URL}\n", 2, MEDIUM, "'v1.0'", id="branch-tag"),
        pytest.param(f"RUN git clone -b main {URL}\n", 2, MEDIUM, "'main'", id="short-branch"),
        pytest.param(f"RUN git clone --branch=v1.0 {URL}\n", 2, MEDIUM, "'v1.0'", id="branch-equals"),
        pytest.param(
            f"RUN apt-get update && \\\n    git clone \\\n      {URL}\n", 4, HIGH, URL, id="continuation-line-of-url"
        ),
        pytest.param(f"RUN <<EOF\nset -e\ngit clone {URL}\nEOF\n", 4, HIGH, URL, id="heredoc"),
        pytest.param(f"RUN git clone {URL} && cd lib && git checkout main\n", 2, HIGH, URL, id="checkout-branch"),
        pytest.param(f"RUN git clone {URL} && cd lib && git checkout {COMMIT[:12]}\n", 2, HIGH, URL, id="short-commit"),
        pytest.param(
            f"RUN git clone {URL}\nRUN git checkout {COMMIT}\n", 2, HIGH, URL, id="checkout-in-later-run-elsewhere"
        ),
        pytest.param(
            f"RUN git clone {URL} && cd /src/other && git checkout {COMMIT}\n",
            2,
            HIGH,
            URL,
            id="checkout-in-other-folder",
        ),
        pytest.param(f"RUN git clone {URL} && git -C other checkout {COMMIT}\n", 2, HIGH, URL, id="git-C-other-folder"),
        pytest.param(
            f"RUN cd lib && git checkout {COMMIT}\nRUN git clone {URL}\n", 3, HIGH, URL, id="checkout-before-clone"
        ),
        pytest.param(
            f"RUN git clone {URL} /opt/lib\nWORKDIR /srv\nRUN cd lib && git checkout {COMMIT}\n",
            2,
            HIGH,
            URL,
            id="relative-cd-resolved-against-other-workdir",
        ),
    ],
)
def test_catches(tmp_path: Path, body: str, line: int, severity: Severity, word: str) -> None:
    findings = caught(tmp_path, {"Dockerfile": FROM + body}, RULE)
    assert [(f.rule, f.location.path, f.location.line, f.severity, f.target) for f in findings] == [
        (RULE, "Dockerfile", line, severity, "Dockerfile")
    ]
    assert word in findings[0].message


def test_checkout_in_later_run_pins_only_its_own_clone(tmp_path: Path) -> None:
    body = f"RUN git clone {URL}\nRUN git clone https://github.com/org/other.git && cd other && git checkout {COMMIT}\n"
    findings = caught(tmp_path, {"Dockerfile": FROM + body}, RULE)
    assert [(f.location.line, f.severity) for f in findings] == [(2, HIGH)]
    assert URL in findings[0].message


def test_each_unpinned_clone_is_reported(tmp_path: Path) -> None:
    body = f"RUN git clone {URL} && \\\n    git clone --branch v2 https://github.com/org/two.git\n"
    findings = caught(tmp_path, {"train/Dockerfile": FROM + body}, RULE)
    assert [(f.location.path, f.location.line, f.severity, f.target) for f in findings] == [
        ("train/Dockerfile", 2, HIGH, "train/Dockerfile"),
        ("train/Dockerfile", 3, MEDIUM, "train/Dockerfile"),
    ]


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(f"RUN git clone {URL} && cd lib && git checkout {COMMIT}\n", id="cd-then-checkout"),
        pytest.param(f"RUN git clone {URL} src && git -C src checkout {COMMIT}\n", id="git-C-folder"),
        pytest.param(f"RUN git clone {URL} /opt/lib && cd /opt/lib && git checkout {COMMIT}\n", id="absolute-folder"),
        pytest.param(f"RUN git clone {URL} && cd lib && git reset --hard {COMMIT}\n", id="reset-hard"),
        pytest.param(f"RUN git clone {URL} && cd lib && git switch --detach {COMMIT}\n", id="switch-detach"),
        pytest.param(f"RUN git clone {URL} && cd lib && git checkout {COMMIT.upper()}\n", id="uppercase-commit"),
        pytest.param(
            f"RUN git clone --branch v1.0 {URL} && cd lib && git checkout {COMMIT}\n", id="branch-then-commit"
        ),
        pytest.param(f"RUN git clone {URL}\nRUN cd lib && git checkout {COMMIT}\n", id="later-run-cd"),
        pytest.param(f"RUN git clone {URL} /src\nWORKDIR /src\nRUN git checkout {COMMIT}\n", id="later-run-workdir"),
        pytest.param(f"RUN <<EOF\ngit clone {URL}\ncd lib\ngit checkout {COMMIT}\nEOF\n", id="heredoc-pinned"),
        pytest.param(f"WORKDIR /src\nRUN git clone {URL} . && git checkout {COMMIT}\n", id="clone-into-workdir"),
        pytest.param(f"RUN cd /opt && git clone {URL} && cd lib && git checkout {COMMIT}\n", id="cd-before-clone"),
        pytest.param(
            f"RUN git clone {URL} /opt/lib\nWORKDIR /opt\nRUN cd lib && git checkout {COMMIT}\n",
            id="relative-cd-resolved-against-workdir",
        ),
        pytest.param(f"RUN git clone {URL} $HOME/lib && cd $HOME/lib && git checkout {COMMIT}\n", id="variable-folder"),
        pytest.param("RUN git clone https://huggingface.co/org/model\n", id="hub-clone-is-ra405"),
        pytest.param(f"RUN echo git clone {URL}\n", id="echo"),
        pytest.param("RUN git pull\n", id="not-a-clone"),
        pytest.param("RUN git clone\n", id="no-url"),
        pytest.param(f"# RUN git clone {URL}\n", id="comment"),
    ],
)
def test_does_not_catch(tmp_path: Path, body: str) -> None:
    assert caught(tmp_path, {"Dockerfile": FROM + body}, RULE) == []


def test_checkout_in_folder_whose_name_ends_like_the_clone_does_not_pin_it(tmp_path: Path) -> None:
    body = f"RUN git clone {URL}\nRUN git clone https://github.com/org/mylib.git && cd mylib && git checkout {COMMIT}\n"
    findings = caught(tmp_path, {"Dockerfile": FROM + body}, RULE)
    assert [(f.location.line, f.severity) for f in findings] == [(2, HIGH)]


def test_checkout_after_workdir_moved_away_does_not_pin(tmp_path: Path) -> None:
    body = f"RUN git clone {URL} /src\nWORKDIR /src\nWORKDIR /app\nRUN git checkout {COMMIT}\n"
    findings = caught(tmp_path, {"Dockerfile": FROM + body}, RULE)
    assert [(f.location.line, f.severity) for f in findings] == [(2, HIGH)]
