"""RA601 hub-load-without-revision and RA602 hub-load-mutable-revision (both medium).

A Hub load (`from_pretrained`, `snapshot_download`, `hf_hub_download`, `load_dataset`, `pipeline`) of a
literal Hub id without `revision=` is RA601; with `revision=` a branch or tag (anything but a 40-hex
commit) it is RA602. Local paths, folders of the entry, local dataset builders (`json`, `csv`, ...),
repositories computed at run time and computed revisions are not reported, and `trust_remote_code=True`
loads are left to RA603. Findings are on the line of the call and have no target.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from audit.model import Severity
from tests.helpers import caught

RA601, RA602 = "RA601", "RA602"
COMMIT = "0123456789abcdef" * 2 + "01234567"


@pytest.mark.parametrize(
    ("source", "line", "word"),
    [
        pytest.param(
            'from transformers import AutoModel\nm = AutoModel.from_pretrained("org/m")\n',
            2,
            "from_pretrained('org/m') without revision=",
            id="from-pretrained",
        ),
        pytest.param('tok = AutoTokenizer.from_pretrained("gpt2")\n', 1, "'gpt2'", id="id-without-org"),
        pytest.param('snapshot_download(repo_id="org/m")\n', 1, "snapshot_download('org/m')", id="snapshot-download"),
        pytest.param('hf_hub_download("org/m", "config.json")\n', 1, "hf_hub_download", id="hf-hub-download"),
        pytest.param('load_dataset("tatsu-lab/alpaca")\n', 1, "load_dataset('tatsu-lab/alpaca')", id="load-dataset"),
        pytest.param(
            'pipeline("text-generation", model="org/m")\n', 1, "pipeline('org/m')", id="pipeline-model-keyword"
        ),
        pytest.param('pipeline("text-generation", "org/m")\n', 1, "'org/m'", id="pipeline-positional"),
        pytest.param('MODEL = "org/m"\n\nfrom_pretrained(MODEL)\n', 3, "from_pretrained(MODEL)", id="module-constant"),
        pytest.param(
            'm = from_pretrained(\n    "org/m",\n    torch_dtype="auto",\n)\n', 1, "'org/m'", id="multi-line-call"
        ),
        pytest.param(
            'from_pretrained("org/m", trust_remote_code=False)\n', 1, "without revision=", id="remote-code-false"
        ),
    ],
)
def test_catches_missing_revision(tmp_path: Path, source: str, line: int, word: str) -> None:
    findings = caught(tmp_path, {"src/model.py": source}, RA601)
    assert [(f.rule, f.location.path, f.location.line, f.severity, f.target) for f in findings] == [
        (RA601, "src/model.py", line, Severity.MEDIUM, None)
    ]
    assert word in findings[0].message


@pytest.mark.parametrize(
    ("source", "word"),
    [
        pytest.param('from_pretrained("org/m", revision="main")\n', "revision='main', a branch or tag", id="main"),
        pytest.param('snapshot_download("org/m", revision="v1.0")\n', "revision='v1.0'", id="tag"),
        pytest.param('load_dataset("org/ds", revision="refs/pr/1")\n', "'refs/pr/1'", id="pr-ref"),
        pytest.param(f'from_pretrained("org/m", revision="{COMMIT[:7]}")\n', "not a commit", id="short-hash"),
        pytest.param('REV = "main"\nfrom_pretrained("org/m", revision=REV)\n', "'main'", id="constant-revision"),
    ],
)
def test_catches_mutable_revision(tmp_path: Path, source: str, word: str) -> None:
    findings = caught(tmp_path, {"model.py": source}, RA602)
    line = source.count("\n")
    assert [(f.rule, f.location.path, f.location.line, f.severity, f.target) for f in findings] == [
        (RA602, "model.py", line, Severity.MEDIUM, None)
    ]
    assert word in findings[0].message


def test_missing_and_mutable_revisions_are_told_apart(tmp_path: Path) -> None:
    source = 'a = from_pretrained("org/a")\nb = from_pretrained("org/b", revision="main")\n'
    assert [(f.location.line, f.evidence) for f in caught(tmp_path / "x", {"m.py": source}, RA601)] == [(1, "'org/a'")]
    assert [(f.location.line, f.evidence) for f in caught(tmp_path / "y", {"m.py": source}, RA602)] == [(2, "'org/b'")]


NOT_RA601 = [
    pytest.param(f'from_pretrained("org/m", revision="{COMMIT}")\n', {}, id="commit"),
    pytest.param(f'from_pretrained("org/m", revision="{COMMIT.upper()}")\n', {}, id="uppercase-commit"),
    pytest.param('from_pretrained("org/m", revision="main")\n', {}, id="branch-is-ra602"),
    pytest.param('from_pretrained("./local")\n', {}, id="dot-local"),
    pytest.param('from_pretrained("/models/llama")\n', {}, id="absolute"),
    pytest.param('from_pretrained("~/models/llama")\n', {}, id="home"),
    pytest.param('from_pretrained("checkpoints")\n', {"checkpoints/config.json": "{}"}, id="folder-of-the-entry"),
    pytest.param('from_pretrained("out/final")\n', {"out/final/config.json": "{}"}, id="nested-folder-of-the-entry"),
    pytest.param('from_pretrained("model.safetensors")\n', {}, id="file-name"),
    pytest.param('load_dataset("json", data_files="train.json")\n', {}, id="load-dataset-json"),
    pytest.param('load_dataset("csv", data_files=["a.csv"])\n', {}, id="load-dataset-csv"),
    pytest.param('load_dataset("parquet", data_dir="data")\n', {}, id="load-dataset-parquet"),
    pytest.param("from_pretrained(args.model_name)\n", {}, id="computed-repository"),
    pytest.param('from_pretrained(f"org/{size}")\n', {}, id="f-string-repository"),
    pytest.param('from_pretrained("org/m", trust_remote_code=True)\n', {}, id="remote-code-is-ra603"),
    pytest.param('pipeline("text-generation")\n', {}, id="pipeline-default-model"),
    pytest.param('# from_pretrained("org/m")\n', {}, id="comment"),
    pytest.param('model_name = "org/m"\n', {}, id="string-only"),
]


@pytest.mark.parametrize(("source", "files"), NOT_RA601)
def test_does_not_catch_missing_revision(tmp_path: Path, source: str, files: dict[str, str]) -> None:
    assert caught(tmp_path, {"model.py": source, **files}, RA601) == []


@pytest.mark.parametrize(
    "source",
    [
        pytest.param(f'from_pretrained("org/m", revision="{COMMIT}")\n', id="commit"),
        pytest.param('from_pretrained("org/m")\n', id="missing-is-ra601"),
        pytest.param('from_pretrained("org/m", revision=args.revision)\n', id="computed-revision"),
        pytest.param('from_pretrained("./local", revision="main")\n', id="local-path"),
        pytest.param('from_pretrained("org/m", revision="main", trust_remote_code=True)\n', id="remote-code-is-ra603"),
        pytest.param('load_dataset("json", data_files="d.json", revision="main")\n', id="local-builder"),
    ],
)
def test_does_not_catch_mutable_revision(tmp_path: Path, source: str) -> None:
    assert caught(tmp_path, {"model.py": source}, RA602) == []


def test_dockerfile_snippets_are_ra405_not_ra601(tmp_path: Path) -> None:
    body = "RUN python -c \"from transformers import AutoModel; AutoModel.from_pretrained('org/m')\"\n"
    assert caught(tmp_path, {"Dockerfile": "FROM python:3.11\n" + body}, RA601) == []
