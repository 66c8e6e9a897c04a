"""RA201 install-unpinned: a `RUN` installs a package that is not pinned exactly.

Installers: `pip`, `pip3`, `python -m pip`, `python3.10 -m pip`, `uv pip install`, `conda install`,
`mamba install`. Severity is high for a bare name or a lower bound only, medium for a bounded range
or a wildcard; exact pins (`==`, `===`, conda `==` or `=version=build`) are not reported. The line
reported is the line of the package, also inside `\\` continuations and `RUN <<EOF` heredocs.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from audit.model import Severity
from tests.helpers import caught

RULE = "RA201"
HIGH, MEDIUM = Severity.HIGH, Severity.MEDIUM
FROM = "FROM python:3.11\n"


def _grades(tmp_path: Path, files: dict[str, str]) -> list[tuple[str, int | None, Severity, str | None]]:
    return [(f.location.path, f.location.line, f.severity, f.target) for f in caught(tmp_path, files, RULE)]


@pytest.mark.parametrize(
    ("run", "line", "severity", "word"),
    [
        pytest.param("RUN pip install torch\n", 2, HIGH, "`torch` (no version at all)", id="pip-bare"),
        pytest.param("RUN pip3 install transformers\n", 2, HIGH, "`transformers`", id="pip3-bare"),
        pytest.param("RUN pip3.11 install peft\n", 2, HIGH, "`peft`", id="pip-versioned-program"),
        pytest.param("RUN /usr/bin/pip install peft\n", 2, HIGH, "`peft`", id="pip-absolute-path"),
        pytest.param("RUN python -m pip install numpy\n", 2, HIGH, "`numpy`", id="python-m-pip"),
        pytest.param("RUN python3.10 -m pip install numpy\n", 2, HIGH, "`numpy`", id="python3.10-m-pip"),
        pytest.param("RUN uv pip install --system numpy\n", 2, HIGH, "uv pip installs `numpy`", id="uv-pip"),
        pytest.param("RUN conda install -y numpy\n", 2, HIGH, "conda installs `numpy`", id="conda-bare"),
        pytest.param(
            "RUN mamba install -y -c conda-forge numpy=1.26\n",
            2,
            MEDIUM,
            "mamba installs `numpy=1.26` (wildcard",
            id="mamba-fuzzy-version",
        ),
        pytest.param("RUN conda install -y 'numpy>=1.20'\n", 2, HIGH, "(open-ended range)", id="conda-lower-bound"),
        pytest.param("RUN pip install 'torch>=2.0'\n", 2, HIGH, "`torch>=2.0` (open-ended range)", id="lower-bound"),
        pytest.param("RUN pip install 'torch!=2.0.0'\n", 2, HIGH, "(open-ended range)", id="exclusion-only"),
        pytest.param("RUN pip install 'torch>=2.0,<3'\n", 2, MEDIUM, "(range with an upper bound)", id="bounded-range"),
        pytest.param("RUN pip install 'peft~=0.6'\n", 2, MEDIUM, "`peft~=0.6`", id="compatible-release"),
        pytest.param("RUN pip install 'torch==2.*'\n", 2, MEDIUM, "(wildcard version)", id="wildcard"),
        pytest.param(
            "RUN pip install https://example.com/x-1.0.tar.gz\n",
            2,
            MEDIUM,
            "archive URL without a hash",
            id="url-without-hash",
        ),
        pytest.param('RUN ["pip", "install", "x"]\n', 2, HIGH, "`x`", id="exec-form"),
        pytest.param(
            "RUN <<EOF\nset -e\npip install numpy\npip install pandas==2.0.0\nEOF\n",
            4,
            HIGH,
            "`numpy`",
            id="heredoc",
        ),
        pytest.param(
            "RUN apt-get update && \\\n    pip install \\\n      numpy==1.26.4 \\\n      pandas\n",
            5,
            HIGH,
            "`pandas`",
            id="continuation-line-of-package",
        ),
        pytest.param(
            "RUN pip install -i https://pypi.org/simple --target site numpy\n",
            2,
            HIGH,
            "`numpy`",
            id="options-with-values-skipped",
        ),
        pytest.param(
            "RUN pip install torch --index-url https://download.pytorch.org/whl/cu118\n",
            2,
            HIGH,
            "`torch`",
            id="index-after-package",
        ),
        pytest.param("RUN pip install --no-cache-dir transformers\n", 2, HIGH, "`transformers`", id="flag-first"),
        pytest.param("RUN PIP_NO_CACHE_DIR=1 pip install accelerate\n", 2, HIGH, "`accelerate`", id="env-prefix"),
        pytest.param("RUN sudo -H pip install accelerate\n", 2, HIGH, "`accelerate`", id="sudo-wrapper"),
        pytest.param(
            "RUN pip install torch>=2.0.1\n", 2, HIGH, "`torch` (no version at all)", id="redirect-leaves-bare-name"
        ),
        pytest.param("RUN conda update -y numpy\n", 2, HIGH, "`numpy`", id="conda-update-is-not-ra202"),
    ],
)
def test_catches(tmp_path: Path, run: str, line: int, severity: Severity, word: str) -> None:
    findings = caught(tmp_path, {"Dockerfile": FROM + run}, RULE)
    assert [(f.rule, f.location.path, f.location.line, f.severity) for f in findings] == [
        (RULE, "Dockerfile", line, severity)
    ]
    assert findings[0].target == "Dockerfile"
    assert word in findings[0].message


def test_catches_each_package_on_its_own_line(tmp_path: Path) -> None:
    run = "RUN pip install \\\n    numpy \\\n    scipy==1.11.3 \\\n    'pandas>=2,<3'\n"
    assert _grades(tmp_path, {"Dockerfile": FROM + run}) == [
        ("Dockerfile", 3, HIGH, "Dockerfile"),
        ("Dockerfile", 5, MEDIUM, "Dockerfile"),
    ]


def test_catches_in_nested_dockerfile_with_its_target(tmp_path: Path) -> None:
    files = {"train/Dockerfile": FROM + "RUN pip install peft\n"}
    assert _grades(tmp_path, files) == [("train/Dockerfile", 2, HIGH, "train/Dockerfile")]


@pytest.mark.parametrize(
    "run",
    [
        pytest.param("RUN pip install torch==2.1.0\n", id="exact"),
        pytest.param("RUN pip3 install torch===2.1.0\n", id="arbitrary-equality"),
        pytest.param("RUN pip install 'torch[cuda]==2.1.0'\n", id="extras-exact"),
        pytest.param("RUN pip install 'torch==2.1.0+cu118'\n", id="local-version"),
        pytest.param("RUN pip install 'torch==2.1.0; python_version>\"3\"'\n", id="marker"),
        pytest.param("RUN python -m pip install numpy==1.26.4 scipy==1.11.3\n", id="several-exact"),
        pytest.param("RUN uv pip install --system numpy==1.26.4\n", id="uv-exact"),
        pytest.param("RUN conda install -y numpy==1.26.4\n", id="conda-double-equals"),
        pytest.param("RUN conda install -y numpy=1.26.4=py311h64a7726_0\n", id="conda-version-and-build"),
        pytest.param('RUN ["pip", "install", "x==1.0"]\n', id="exec-form-exact"),
        pytest.param("RUN pip install -r requirements.txt\n", id="requirement-file-only"),
        pytest.param("RUN pip install -c constraints.txt numpy==1.0\n", id="constraint-file-value"),
        pytest.param("RUN pip install -i https://pypi.org/simple --target site numpy==1.0\n", id="option-values"),
        pytest.param("RUN pip install -t vendor --prefix usr --src src numpy==1.0\n", id="short-target-prefix-src"),
        pytest.param("RUN pip install --extra-index-url=https://pypi.org/simple x==1.0\n", id="inline-option-value"),
        pytest.param("RUN pip install -e .\n", id="editable-local"),
        pytest.param("RUN pip install .\n", id="local-dot"),
        pytest.param("RUN pip install ./wheels/x-1.0-py3-none-any.whl\n", id="local-wheel"),
        pytest.param("RUN pip install git+https://github.com/a/b.git@main\n", id="vcs-is-ra203"),
        pytest.param("RUN pip install -U pip\n", id="upgrade-is-ra202"),
        pytest.param("RUN pip install --upgrade pip setuptools wheel\n", id="upgrade-long-is-ra202"),
        pytest.param("RUN pip download torch\n", id="download-not-install"),
        pytest.param("RUN pip uninstall -y torch\n", id="uninstall"),
        pytest.param("RUN echo pip install torch\n", id="echo"),
        pytest.param("RUN apt-get install -y python3-pip\n", id="apt-get"),
        pytest.param("RUN pip install $PACKAGES\n", id="variable"),
        pytest.param("RUN pip install 'https://example.com/x-1.0.tar.gz#sha256=" + "c" * 64 + "'\n", id="url-hash"),
    ],
)
def test_does_not_catch(tmp_path: Path, run: str) -> None:
    assert caught(tmp_path, {"Dockerfile": FROM + run}, RULE) == []


def test_requirement_file_is_not_graded_by_this_rule(tmp_path: Path) -> None:
    files = {
        "Dockerfile": FROM + "COPY requirements.txt .\nRUN pip install -r requirements.txt\n",
        "requirements.txt": "numpy\n",
    }
    assert caught(tmp_path, files, RULE) == []


def test_line_is_the_package_not_a_longer_name_containing_it(tmp_path: Path) -> None:
    run = "RUN pip install torchvision==0.16.0 \\\n    torch\n"
    assert _grades(tmp_path, {"Dockerfile": FROM + run}) == [("Dockerfile", 3, HIGH, "Dockerfile")]


def test_combined_upgrade_and_requirement_flags(tmp_path: Path) -> None:
    files = {
        "Dockerfile": FROM + "COPY requirements.txt .\nRUN pip install -Ur requirements.txt\n",
        "requirements.txt": "numpy==1.26.4\n",
    }
    assert caught(tmp_path, files, RULE) == []


def test_uv_python_short_option_value_is_not_a_package(tmp_path: Path) -> None:
    files = {"Dockerfile": FROM + "RUN uv pip install -p 3.11 numpy==1.26.4\n"}
    assert caught(tmp_path, files, RULE) == []
