"""RA507 host-path-in-python: Python code reads a path of the submitter's machine (medium).

Checked calls are `open`, `from_pretrained`, `load_dataset`, `load_from_disk`, `read_csv` and
`read_json`, with a literal argument (positional, keyword, inside a list or dict, or a module-level
constant) that starts with a host path: `/home/<user>`, `/Users/`, `/data*`, `/scratch*`, `/mnt/`, a
Windows drive. The finding is on the line of the call and has no target.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from audit.model import Confidence, Severity
from tests.helpers import caught

RULE = "RA507"


@pytest.mark.parametrize(
    ("source", "line", "word"),
    [
        pytest.param('open("/home/alice/x.txt")\n', 1, "open() reads /home/alice/x.txt", id="open-home"),
        pytest.param('with open("/Users/alice/x.json") as f:\n    pass\n', 1, "/Users/alice/x.json", id="open-macos"),
        pytest.param(
            'import transformers\n\nm = transformers.AutoModel.from_pretrained("/scratch/me/llama")\n',
            3,
            "from_pretrained() reads /scratch/me/llama",
            id="from-pretrained-scratch",
        ),
        pytest.param('import pandas as pd\npd.read_csv("/data/train.csv")\n', 2, "read_csv()", id="read-csv-data"),
        pytest.param(
            'load_dataset("json", data_files="/mnt/ds/train.json")\n', 1, "/mnt/ds/train.json", id="data-files"
        ),
        pytest.param(
            'load_dataset("json", data_files=["/mnt/ds/a.json"])\n', 1, "/mnt/ds/a.json", id="data-files-list"
        ),
        pytest.param(
            'load_dataset("json", data_files={"train": "/data/t.json"})\n', 1, "/data/t.json", id="data-files-dict"
        ),
        pytest.param('load_from_disk("/data/tokenized")\n', 1, "load_from_disk()", id="load-from-disk"),
        pytest.param('MODEL_DIR = "/home/alice/w"\n\nopen(MODEL_DIR)\n', 3, "/home/alice/w", id="module-constant"),
        pytest.param('open("D:\\\\models\\\\w.bin")\n', 1, "D:\\models\\w.bin", id="windows-drive"),
        pytest.param('def f():\n    return open(\n        "/home/alice/x.txt",\n    )\n', 2, "x.txt", id="call-line"),
    ],
)
def test_catches(tmp_path: Path, source: str, line: int, word: str) -> None:
    findings = caught(tmp_path, {"src/train.py": source}, RULE)
    assert [(f.rule, f.location.path, f.location.line, f.severity, f.confidence, f.target) for f in findings] == [
        (RULE, "src/train.py", line, Severity.MEDIUM, Confidence.MEDIUM, None)
    ]
    assert word in findings[0].message


def test_catches_each_call(tmp_path: Path) -> None:
    source = 'a = open("/home/alice/a.txt")\nb = open("data/b.txt")\nc = open("/scratch/c.txt")\n'
    findings = caught(tmp_path, {"run.py": source}, RULE)
    assert [(f.location.line, f.evidence) for f in findings] == [(1, "/home/alice/a.txt"), (3, "/scratch/c.txt")]


@pytest.mark.parametrize(
    "source",
    [
        pytest.param('open("data/x.txt")\n', id="relative"),
        pytest.param('open("./data/x.txt")\n', id="dot-relative"),
        pytest.param('open("/tmp/x.txt")\n', id="tmp"),
        pytest.param('open("/etc/hosts")\n', id="system-file"),
        pytest.param('open("/opt/home/alice/x")\n', id="home-not-at-root"),
        pytest.param('open("/usr/share/data/x")\n', id="data-not-at-root"),
        pytest.param('print("/home/alice/x.txt")\n', id="not-a-path-function"),
        pytest.param('PATH = "/home/alice/x.txt"\n', id="assignment-only"),
        pytest.param('open("see /home/alice/x.txt")\n', id="path-not-at-start"),
        pytest.param('import os\nopen(os.environ["MODEL_PATH"])\n', id="computed"),
        pytest.param('from_pretrained("org/model")\n', id="hub-id"),
        pytest.param('# open("/home/alice/x.txt")\n', id="comment"),
        pytest.param('"""open("/home/alice/x.txt")"""\n', id="docstring"),
    ],
)
def test_does_not_catch(tmp_path: Path, source: str) -> None:
    assert caught(tmp_path, {"train.py": source}, RULE) == []


def test_dockerfile_paths_are_ra506_not_ra507(tmp_path: Path) -> None:
    files = {"Dockerfile": "FROM python:3.11\nENV MODEL=/home/alice/llama\n"}
    assert caught(tmp_path, files, RULE) == []


def test_catches_f_string_with_host_prefix(tmp_path: Path) -> None:
    findings = caught(tmp_path, {"train.py": 'open(f"/home/alice/{name}.txt")\n'}, RULE)
    assert [(f.location.line, f.severity) for f in findings] == [(1, Severity.MEDIUM)]


@pytest.mark.parametrize(
    ("source", "evidence"),
    [
        pytest.param('open(f"/scratch/{user}/x.txt")\n', "/scratch", id="placeholder-after-the-root"),
        pytest.param('load_dataset("json", data_files=f"/mnt/ds/{split}.json")\n', "/mnt/ds", id="keyword"),
        pytest.param('load_dataset("json", data_files=[f"/data/{s}.json"])\n', "/data", id="in-a-list"),
    ],
)
def test_catches_f_string_prefixes(tmp_path: Path, source: str, evidence: str) -> None:
    findings = caught(tmp_path, {"train.py": source}, RULE)
    assert [(f.location.line, f.evidence) for f in findings] == [(1, evidence)]


@pytest.mark.parametrize(
    "source",
    [
        pytest.param('open(f"{root}/home/alice/x.txt")\n', id="placeholder-first"),
        pytest.param('load_dataset("json", data_files=[f"{root}/data/a.json"])\n', id="placeholder-first-in-a-list"),
        pytest.param('open(f"{name}")\n', id="only-a-placeholder"),
        pytest.param('open("/tmp/x /home/alice/y")\n', id="host-path-later-in-the-literal"),
    ],
)
def test_does_not_catch_f_string_without_host_prefix(tmp_path: Path, source: str) -> None:
    assert caught(tmp_path, {"train.py": source}, RULE) == []
