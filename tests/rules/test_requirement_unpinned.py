"""RA301 requirement-unpinned: a dependency-file line without an exact version.

Graded files: requirement files a build reaches (`COPY` + `RUN pip install -r`, then nested `-r` / `-c`,
with `target` = the Dockerfile), requirement files only found in the tree (`target` None),
`environment.yml` (conda specs and the `pip:` sub-list) and `pyproject.toml` `[project]` dependencies.
A bare name or lower bound is high, a bounded range or wildcard medium; exact pins are not reported.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from audit.model import Finding, Severity
from tests.helpers import audit, caught

RULE = "RA301"
HIGH, MEDIUM = Severity.HIGH, Severity.MEDIUM
FROM = "FROM python:3.11\n"
INSTALL = FROM + "COPY requirements.txt .\nRUN pip install -r requirements.txt\n"


def _rows(findings: list[Finding]) -> list[tuple[str, int | None, Severity, str | None]]:
    return [(f.location.path, f.location.line, f.severity, f.target) for f in findings]


@pytest.mark.parametrize(
    ("line_text", "severity", "word"),
    [
        pytest.param("numpy", HIGH, "`numpy` (no version at all)", id="bare"),
        pytest.param("torch>=2.0", HIGH, "`torch>=2.0` (open-ended range)", id="lower-bound"),
        pytest.param("torch > 2.0", HIGH, "(open-ended range)", id="greater-with-spaces"),
        pytest.param("numpy!=1.0", HIGH, "(open-ended range)", id="exclusion-only"),
        pytest.param("requests[socks]>=2", HIGH, "`requests[socks]>=2`", id="extras-lower-bound"),
        pytest.param("foo; python_version < '3.8'", HIGH, "(no version at all)", id="marker-only"),
        pytest.param("peft~=0.6", MEDIUM, "`peft~=0.6` (range with an upper bound)", id="compatible-release"),
        pytest.param("accelerate>=0.20,<1", MEDIUM, "(range with an upper bound)", id="bounded-range"),
        pytest.param("scipy<2", MEDIUM, "(range with an upper bound)", id="upper-bound-only"),
        pytest.param("transformers==4.*", MEDIUM, "`transformers==4.*` (wildcard version)", id="wildcard"),
        pytest.param("https://example.com/x-1.0.tar.gz", MEDIUM, "(archive URL without a hash)", id="url-no-hash"),
    ],
)
def test_catches_each_grade_in_a_reached_file(tmp_path: Path, line_text: str, severity: Severity, word: str) -> None:
    files = {"Dockerfile": INSTALL, "requirements.txt": f"# pinned on purpose?\n\n{line_text}\n"}
    findings = caught(tmp_path, files, RULE)
    assert _rows(findings) == [("requirements.txt", 3, severity, "Dockerfile")]
    assert word in findings[0].message


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        pytest.param(
            {"requirements.txt": "numpy\n"}, [("requirements.txt", 1, HIGH, None)], id="no-dockerfile-target-none"
        ),
        pytest.param(
            {"Dockerfile": FROM + "RUN echo no install\n", "requirements.txt": "numpy\n"},
            [("requirements.txt", 1, HIGH, None)],
            id="dockerfile-not-reading-it",
        ),
        pytest.param(
            {
                "Dockerfile": FROM + "COPY deps.txt /tmp/deps.txt\nRUN pip install -r /tmp/deps.txt\n",
                "deps.txt": "numpy\n",
            },
            [("deps.txt", 1, HIGH, "Dockerfile")],
            id="any-name-reached-through-copy",
        ),
        pytest.param(
            {
                "Dockerfile": FROM + "WORKDIR /app\nCOPY deps.txt ./\nRUN pip install -r deps.txt\n",
                "deps.txt": "numpy\n",
            },
            [("deps.txt", 1, HIGH, "Dockerfile")],
            id="workdir-and-directory-destination",
        ),
        pytest.param(
            {
                "Dockerfile": FROM + "COPY . /src\nRUN pip install -r /src/reqs/main.txt\n",
                "reqs/main.txt": "-r ../common/base.in\n",
                "common/base.in": "pandas\n",
            },
            [("common/base.in", 1, HIGH, "Dockerfile")],
            id="nested-r-followed-relative-to-the-file",
        ),
        pytest.param(
            {"requirements.txt": "numpy==1.26.4\n-r extra.txt\n", "extra.txt": "# extras\nscipy>=1\n"},
            [("extra.txt", 2, HIGH, None)],
            id="nested-r-followed-without-dockerfile",
        ),
        pytest.param(
            {
                "Dockerfile": FROM
                + "COPY requirements.txt pins.txt ./\nRUN pip install -r requirements.txt -c pins.txt\n",
                "requirements.txt": "numpy\n",
                "pins.txt": "numpy<2\n",
            },
            [("pins.txt", 1, MEDIUM, "Dockerfile"), ("requirements.txt", 1, HIGH, "Dockerfile")],
            id="constraint-file-reached",
        ),
        pytest.param(
            {
                "docker/Dockerfile": FROM + "COPY deps.txt .\nRUN pip install -r deps.txt\n",
                "docker/deps.txt": "numpy\n",
            },
            [("docker/deps.txt", 1, HIGH, "docker/Dockerfile")],
            id="context-is-the-dockerfile-folder",
        ),
        pytest.param(
            {"requirements.txt": "numpy \\\n    >=1.0\npandas\n"},
            [("requirements.txt", 1, HIGH, None), ("requirements.txt", 3, HIGH, None)],
            id="continuation-reported-at-first-line",
        ),
        pytest.param(
            {"requirements/base.txt": "numpy\n"}, [("requirements/base.txt", 1, HIGH, None)], id="requirements-folder"
        ),
    ],
)
def test_catches_files_and_targets(
    tmp_path: Path, files: dict[str, str], expected: list[tuple[str, int, Severity, str | None]]
) -> None:
    assert _rows(caught(tmp_path, files, RULE)) == expected


ENVIRONMENT = """\
name: demo
channels:
  - conda-forge
dependencies:
  - python=3.10
  - numpy
  - scipy==1.11.3
  - pytorch::pytorch=2.1.0=py3.10_cuda11.8_0
  - pandas>=2
  - pip:
    - transformers
    - peft==0.6.0
    - accelerate~=0.24
"""


def test_catches_environment_yml_with_lines(tmp_path: Path) -> None:
    findings = caught(tmp_path, {"environment.yml": ENVIRONMENT}, RULE)
    assert _rows(findings) == [
        ("environment.yml", 5, MEDIUM, None),
        ("environment.yml", 6, HIGH, None),
        ("environment.yml", 9, HIGH, None),
        ("environment.yml", 11, HIGH, None),
        ("environment.yml", 13, MEDIUM, None),
    ]
    assert "`python=3.10` (wildcard version)" in findings[0].message
    assert "`transformers`" in findings[3].message


PYPROJECT = """\
[project]
name = "demo"
version = "0.1"
dependencies = [
    "numpy",
    "torch>=2.0",
    "peft==0.6.0",
    "accelerate>=0.20,<1",
]

[project.optional-dependencies]
dev = ["pytest>=7"]
"""


def test_catches_pyproject_dependencies_with_lines(tmp_path: Path) -> None:
    findings = caught(tmp_path, {"pyproject.toml": PYPROJECT}, RULE)
    assert _rows(findings) == [
        ("pyproject.toml", 5, HIGH, None),
        ("pyproject.toml", 6, HIGH, None),
        ("pyproject.toml", 8, MEDIUM, None),
        ("pyproject.toml", 12, HIGH, None),
    ]
    assert "`torch>=2.0` (open-ended range)" in findings[1].message


@pytest.mark.parametrize(
    "files",
    [
        pytest.param({"requirements.txt": "numpy==1.26.4\n"}, id="exact"),
        pytest.param({"requirements.txt": "torch===2.1.0+cu118\n"}, id="arbitrary-equality"),
        pytest.param({"requirements.txt": "pandas==2.0.0+local\n"}, id="local-version"),
        pytest.param({"requirements.txt": "numpy==1.26.4 --hash=sha256:" + "b" * 64 + "\n"}, id="hashed"),
        pytest.param({"requirements.txt": "torch>=2,==2.1.0\n"}, id="exact-among-others"),
        pytest.param({"requirements.txt": "-e .\n./lib\n"}, id="local-paths-are-ra303"),
        pytest.param({"requirements.txt": "git+https://github.com/a/b.git@main\n"}, id="vcs-is-ra302"),
        pytest.param({"requirements.txt": "--index-url https://pypi.org/simple\n"}, id="option-only"),
        pytest.param({"requirements.txt": "# numpy\n\n"}, id="comment"),
        pytest.param({"requirements.txt": "numpy=1.0\n"}, id="unparseable-is-ra307"),
        pytest.param({"notes.txt": "numpy\n"}, id="not-a-dependency-file-name"),
        pytest.param(
            {"Dockerfile": FROM + "RUN pip install -r /tmp/deps.txt\n", "deps.txt": "numpy\n"},
            id="not-copied-so-not-reached",
        ),
        pytest.param({"environment.yml": "dependencies:\n  - numpy==1.26.4\n  - pip:\n    - peft==0.6.0\n"}, id="env"),
        pytest.param(
            {"pyproject.toml": '[project]\nname = "demo"\nversion = "0.1"\ndependencies = ["numpy==1.26.4"]\n'},
            id="pyproject",
        ),
    ],
)
def test_does_not_catch(tmp_path: Path, files: dict[str, str]) -> None:
    assert caught(tmp_path, files, RULE) == []


def test_catches_conda_file_fuzzy_version(tmp_path: Path) -> None:
    files = {
        "Dockerfile": "FROM continuumio/miniconda3:23.5.2-0\nCOPY conda.txt .\nRUN conda install -y --file conda.txt\n",
        "conda.txt": "numpy=1.26\nscipy\n",
    }
    assert _rows(caught(tmp_path, files, RULE)) == [
        ("conda.txt", 1, MEDIUM, "Dockerfile"),
        ("conda.txt", 2, HIGH, "Dockerfile"),
    ]


def test_conda_space_wildcard_is_medium(tmp_path: Path) -> None:
    findings = caught(tmp_path, {"environment.yml": "dependencies:\n  - numpy 1.26.*\n"}, RULE)
    assert _rows(findings) == [("environment.yml", 2, MEDIUM, None)]


def test_pyproject_line_is_the_dependency_line(tmp_path: Path) -> None:
    text = '[project]\nname = "torch-tools"\nversion = "0.1"\ndependencies = ["torch"]\n'
    assert _rows(caught(tmp_path, {"pyproject.toml": text}, RULE)) == [("pyproject.toml", 4, HIGH, None)]


def test_pyproject_repeated_dependency_reported_twice(tmp_path: Path) -> None:
    text = (
        '[project]\nname = "demo"\nversion = "0.1"\ndependencies = ["numpy"]\n'
        '[project.optional-dependencies]\ndev = ["numpy"]\n'
    )
    assert _rows(caught(tmp_path, {"pyproject.toml": text}, RULE)) == [
        ("pyproject.toml", 4, HIGH, None),
        ("pyproject.toml", 6, HIGH, None),
    ]


CONDA_DOCKERFILE = "FROM continuumio/miniconda3:23.5.2-0\nCOPY conda.txt .\nRUN conda install -y --file conda.txt\n"


@pytest.mark.parametrize(
    ("line_text", "severity"),
    [
        pytest.param("numpy", HIGH, id="bare"),
        pytest.param("numpy>=1.26", HIGH, id="lower-bound"),
        pytest.param("numpy !=1.25", HIGH, id="exclusion-only"),
        pytest.param("conda-forge::numpy=1.26", MEDIUM, id="channel-and-fuzzy"),
        pytest.param("numpy=1.26.4", MEDIUM, id="fuzzy-three-parts"),
        pytest.param("numpy 1.26.*", MEDIUM, id="space-wildcard"),
        pytest.param("numpy==1.26.*", MEDIUM, id="double-equals-wildcard"),
        pytest.param("numpy >=1.26,<2", MEDIUM, id="bounded"),
        pytest.param("numpy 1.26|1.27", MEDIUM, id="alternatives"),
        pytest.param("numpy=*=*cuda*", HIGH, id="any-version-one-build"),
        pytest.param("numpy[version='>=1.26']", HIGH, id="bracket-version"),
        pytest.param("numpy>=1.26  # we test with 1.26", HIGH, id="trailing-comment"),
    ],
)
def test_catches_each_grade_in_a_conda_file_list(tmp_path: Path, line_text: str, severity: Severity) -> None:
    files = {"Dockerfile": CONDA_DOCKERFILE, "conda.txt": f"# conda specs\n{line_text}\n"}
    assert _rows(caught(tmp_path, files, RULE)) == [("conda.txt", 2, severity, "Dockerfile")]


@pytest.mark.parametrize(
    "line_text",
    [
        pytest.param("numpy==1.26.4", id="double-equals"),
        pytest.param("numpy==1.26.4=py311_0", id="double-equals-and-build"),
        pytest.param("numpy=1.26.4=py311h64a7726_0", id="version-and-build"),
        pytest.param("conda-forge::numpy=1.26.4=py311h64a7726_0", id="channel-version-and-build"),
        pytest.param("numpy 1.26.4", id="space-exact"),
        pytest.param("numpy 1.26.4 py311_0", id="space-exact-and-build"),
        pytest.param("numpy[version='1.26.4']", id="bracket-exact"),
        pytest.param(
            "@EXPLICIT\nhttps://conda.anaconda.org/conda-forge/linux-64/numpy-1.26.4-py311h64a7726_0.conda",
            id="explicit",
        ),
        pytest.param(
            "@EXPLICIT\nhttps://repo.anaconda.com/pkgs/main/linux-64/numpy-1.26.4-py311_0.tar.bz2#" + "0" * 32,
            id="explicit-md5",
        ),
        pytest.param("numpy@1.26", id="unreadable-is-not-graded"),
    ],
)
def test_does_not_catch_exact_conda_file_lines(tmp_path: Path, line_text: str) -> None:
    files = {"Dockerfile": CONDA_DOCKERFILE, "conda.txt": f"{line_text}\n"}
    assert caught(tmp_path, files, RULE) == []


def test_conda_file_found_in_the_tree_is_read_as_conda(tmp_path: Path) -> None:
    # pip's parser would call `numpy=1.26` unreadable (RA307) and leave it ungraded
    findings = audit(tmp_path, {"conda-requirements.txt": "numpy=1.26\nscipy==1.11.3\n"}, [RULE, "RA307"])
    assert [(f.rule, *row) for f, row in zip(findings, _rows(findings), strict=True)] == [
        ("RA301", "conda-requirements.txt", 1, MEDIUM, None)
    ]


@pytest.mark.parametrize(
    ("spec", "severity"),
    [
        pytest.param("numpy 1.26.*", MEDIUM, id="space-wildcard"),
        pytest.param("numpy >=1.26,<2", MEDIUM, id="space-bounded"),
        pytest.param("numpy >= 1.26", HIGH, id="spaced-operator"),
        pytest.param("numpy[version='>=1.26']", HIGH, id="bracket-lower-bound"),
        pytest.param("numpy=1.26.*=py311*", MEDIUM, id="wildcard-with-build"),
        pytest.param("numpy 1.26.4", None, id="space-exact"),
        pytest.param("numpy 1.26.4 py311_0", None, id="space-exact-and-build"),
        pytest.param("numpy==1.26.4=py311_0", None, id="double-equals-and-build"),
    ],
)
def test_environment_yml_match_spec_grammar(tmp_path: Path, spec: str, severity: Severity | None) -> None:
    findings = caught(tmp_path, {"environment.yml": f"dependencies:\n  - {spec}\n"}, RULE)
    assert _rows(findings) == ([("environment.yml", 2, severity, None)] if severity else [])


def test_pyproject_lines_only_come_from_the_dependency_arrays(tmp_path: Path) -> None:
    text = (
        '[tool.other]\nnote = "numpy"\n'
        '[project]\nname = "numpy-tools"\nversion = "0.1"\n'
        "dependencies = [\n"
        '    "torch>=2",  # "numpy" is pinned below\n'
        '    "numpy",\n'
        '    "numpy",\n'
        "]\n"
        "[project.optional-dependencies]\n"
        'dev = [\n  "numpy",\n]\n'
    )
    assert _rows(caught(tmp_path, {"pyproject.toml": text}, RULE)) == [
        ("pyproject.toml", 7, HIGH, None),
        ("pyproject.toml", 8, HIGH, None),
        ("pyproject.toml", 9, HIGH, None),
        ("pyproject.toml", 13, HIGH, None),
    ]


def test_poetry_dependency_is_on_its_own_key_line(tmp_path: Path) -> None:
    text = (
        '[tool.poetry]\nname = "torch-demo"\n'
        '[tool.poetry.dependencies]\npython = "^3.10"\npytorch = "*"\ntorch = ">=2.0"\n'
        '[tool.poetry.group.dev.dependencies]\npytest = "^7.4"\n'
        "[tool.poetry.dependencies.numpy]\nversion = '>=1.26'\n"
    )
    assert _rows(caught(tmp_path, {"pyproject.toml": text}, RULE)) == [
        ("pyproject.toml", 5, HIGH, None),
        ("pyproject.toml", 6, HIGH, None),
        ("pyproject.toml", 8, MEDIUM, None),
        ("pyproject.toml", 9, HIGH, None),
    ]
