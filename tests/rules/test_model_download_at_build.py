"""RA405 model-download-at-build: Hub models or datasets fetched during `docker build` unpinned (high).

Three shapes: `huggingface-cli download` / `hf download` without `--revision`, `git clone
https://huggingface.co/...` without a checkout of a commit (RA405, not RA401), and Python run by the
RUN (`python -c`, `python <<EOF`) calling `snapshot_download`, `hf_hub_download`, `from_pretrained`
... without a commit `revision=`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from audit.model import Severity
from tests.helpers import caught

RULE = "RA405"
FROM = "FROM python:3.11\n"
COMMIT = "0123456789abcdef" * 2 + "01234567"


@pytest.mark.parametrize(
    ("body", "line", "word"),
    [
        pytest.param("RUN huggingface-cli download org/model\n", 2, "download org/model without --revision", id="cli"),
        pytest.param("RUN hf download org/model\n", 2, "hf download org/model", id="hf-cli"),
        pytest.param(
            "RUN huggingface-cli download org/model config.json --local-dir=/models\n", 2, "org/model", id="one-file"
        ),
        pytest.param(
            "RUN pip install huggingface_hub==0.19.4 && \\\n    huggingface-cli download org/model\n",
            3,
            "org/model",
            id="continuation-line",
        ),
        pytest.param(
            "RUN git clone https://huggingface.co/org/model /models/m\n", 2, "huggingface.co/org/model", id="git-clone"
        ),
        pytest.param(
            "RUN git lfs install && git clone https://huggingface.co/datasets/org/ds\n",
            2,
            "current main branch",
            id="git-clone-dataset",
        ),
        pytest.param(
            "RUN python -c \"from huggingface_hub import snapshot_download; snapshot_download('org/m')\"\n",
            2,
            "snapshot_download('org/m') without revision=",
            id="python-c-snapshot-download",
        ),
        pytest.param(
            "RUN python3 -c \"from huggingface_hub import hf_hub_download; hf_hub_download('org/m', 'w.bin')\"\n",
            2,
            "hf_hub_download",
            id="python-c-hf-hub-download",
        ),
        pytest.param(
            "RUN python -c \"import transformers as t; t.AutoModel.from_pretrained('org/m', revision='main')\"\n",
            2,
            "revision='main'",
            id="python-c-branch-revision",
        ),
        pytest.param("RUN hf download org/model --revision=v1.0\n", 2, "at revision 'v1.0'", id="cli-tag-revision"),
        pytest.param(
            "RUN huggingface-cli download --include '*.json' '*.txt' --local-dir /m org/model\n",
            2,
            "huggingface-cli download org/model without",
            id="argparse-include-takes-several-values",
        ),
        pytest.param(
            "RUN hf download --include '*.json' --repo-type dataset org/ds\n",
            2,
            "hf download org/ds without",
            id="hf-include-takes-one-value",
        ),
        pytest.param("RUN hf download hf://org/model@main\n", 2, "at revision 'main'", id="hf-uri-branch"),
        pytest.param(
            "RUN python3 <<EOF\nhuggingface_hub.snapshot_download('org/m')\nimport os\nEOF\n",
            3,
            "python heredoc",
            id="python-heredoc",
        ),
    ],
)
def test_catches(tmp_path: Path, body: str, line: int, word: str) -> None:
    findings = caught(tmp_path, {"Dockerfile": FROM + body}, RULE)
    assert [(f.rule, f.location.path, f.location.line, f.severity, f.target) for f in findings] == [
        (RULE, "Dockerfile", line, Severity.HIGH, "Dockerfile")
    ]
    assert word in findings[0].message


def test_hub_clone_is_ra405_not_ra401(tmp_path: Path) -> None:
    files = {"Dockerfile": FROM + "RUN git clone https://huggingface.co/org/model\n"}
    assert [f.rule for f in caught(tmp_path / "a", files, RULE)] == [RULE]
    assert caught(tmp_path / "b", files, "RA401") == []


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(f"RUN huggingface-cli download org/model --revision {COMMIT}\n", id="cli-revision"),
        pytest.param(f"RUN hf download org/model --revision={COMMIT}\n", id="hf-revision-equals"),
        pytest.param(f"RUN hf download --local-dir /m org/model --revision {COMMIT} --quiet\n", id="cli-options-first"),
        pytest.param("RUN huggingface-cli download org/model --revision $MODEL_REVISION\n", id="cli-revision-variable"),
        pytest.param(f"RUN hf download hf://datasets/org/ds@{COMMIT}/data/\n", id="hf-uri-commit"),
        pytest.param("RUN huggingface-cli login --token $HF_TOKEN\n", id="cli-login"),
        pytest.param("RUN huggingface-cli upload org/model ./out\n", id="cli-upload"),
        pytest.param(
            f"RUN git clone https://huggingface.co/org/model && cd model && git checkout {COMMIT}\n",
            id="git-clone-pinned",
        ),
        pytest.param(
            f"RUN python -c \"from huggingface_hub import snapshot_download; snapshot_download('org/m', "
            f"revision='{COMMIT}')\"\n",
            id="python-c-commit",
        ),
        pytest.param(
            "RUN python -c \"from transformers import AutoModel; AutoModel.from_pretrained('./local')\"\n",
            id="python-c-local-folder",
        ),
        pytest.param(
            "RUN python -c \"import datasets; datasets.load_dataset('json', data_files='d.json')\"\n",
            id="python-c-local-builder",
        ),
        pytest.param("RUN python download.py\n", id="script-file-is-not-read"),
        pytest.param("RUN echo huggingface-cli download org/model\n", id="echo"),
        pytest.param("RUN git clone https://github.com/org/repo\n", id="github-clone-is-ra401"),
    ],
)
def test_does_not_catch(tmp_path: Path, body: str) -> None:
    assert caught(tmp_path, {"Dockerfile": FROM + body}, RULE) == []


def test_cli_download_with_branch_revision(tmp_path: Path) -> None:
    findings = caught(tmp_path, {"Dockerfile": FROM + "RUN huggingface-cli download org/model --revision main\n"}, RULE)
    assert [(f.location.line, f.severity) for f in findings] == [(2, Severity.HIGH)]
    assert "download org/model at revision 'main', a branch or tag" in findings[0].message


def test_cli_download_names_the_repository_after_an_option_value(tmp_path: Path) -> None:
    body = "RUN huggingface-cli download --local-dir /models org/model\n"
    findings = caught(tmp_path, {"Dockerfile": FROM + body}, RULE)
    assert len(findings) == 1
    assert "download org/model without --revision" in findings[0].message


def test_python_heredoc_line_is_the_call(tmp_path: Path) -> None:
    body = (
        "RUN python3 <<EOF\nimport os\nfrom huggingface_hub import snapshot_download\nsnapshot_download('org/m')\nEOF\n"
    )
    findings = caught(tmp_path, {"Dockerfile": FROM + body}, RULE)
    assert [f.location.line for f in findings] == [5]


def test_python_c_line_is_where_the_code_starts(tmp_path: Path) -> None:
    body = "RUN pip install huggingface_hub && \\\n    python -c \"import huggingface_hub as h; h.snapshot_download('org/m')\"\n"
    findings = caught(tmp_path, {"Dockerfile": FROM + body}, RULE)
    assert [f.location.line for f in findings] == [3]
