"""RA508 large-weight-file: model weights of 100 MiB or more committed to the repository (medium).

GitHub refuses files over 100 MiB, so such weights reach the organizers through Git LFS or not at all.
The finding is on the file itself, with no line and no target. Files are made sparse with
`truncate`, so the tests use no disk space.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from audit.model import Severity
from tests.helpers import caught

RULE = "RA508"
MIB = 1024 * 1024


def _sparse(root: Path, rel: str, size: int) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        handle.truncate(size)


@pytest.mark.parametrize(
    ("rel", "size", "word"),
    [
        pytest.param("model.safetensors", 100 * MIB, "model.safetensors is 100 MiB", id="safetensors-at-limit"),
        pytest.param("weights/pytorch_model.bin", 100 * MIB, "weights/pytorch_model.bin", id="bin-in-folder"),
        pytest.param("ckpt/last.ckpt", 250 * MIB, "250 MiB", id="ckpt"),
        pytest.param("adapter.PT", 100 * MIB, "adapter.PT", id="uppercase-suffix"),
        pytest.param("llama.gguf", 3 * 1024 * MIB, "3072 MiB", id="gguf"),
        pytest.param("model.pth", 100 * MIB + 1, "model.pth", id="pth"),
        pytest.param("tokenizer.model", 100 * MIB, "tokenizer.model", id="model-suffix"),
    ],
)
def test_catches(tmp_path: Path, rel: str, size: int, word: str) -> None:
    root = tmp_path / "entry"
    _sparse(root, rel, size)
    findings = caught(root, {"Dockerfile": "FROM python:3.11\n"}, RULE)
    assert [(f.rule, f.location.path, f.location.line, f.severity, f.target) for f in findings] == [
        (RULE, rel, None, Severity.MEDIUM, None)
    ]
    assert word in findings[0].message


@pytest.mark.parametrize(
    ("rel", "size"),
    [
        pytest.param("model.safetensors", 99 * MIB, id="99-mib"),
        pytest.param("pytorch_model.bin", 100 * MIB - 1, id="one-byte-under"),
        pytest.param("data.tar", 100 * MIB, id="not-a-weight-suffix"),
        pytest.param("train.jsonl", 500 * MIB, id="dataset"),
        pytest.param("model.bin.txt", 100 * MIB, id="suffix-not-at-end"),
        pytest.param(".git/lfs/objects/ab/model.bin", 200 * MIB, id="inside-git-folder"),
    ],
)
def test_does_not_catch(tmp_path: Path, rel: str, size: int) -> None:
    root = tmp_path / "entry"
    _sparse(root, rel, size)
    assert caught(root, {"Dockerfile": "FROM python:3.11\n"}, RULE) == []


def test_small_lfs_pointer_is_not_reported(tmp_path: Path) -> None:
    pointer = "version https://git-lfs.github.com/spec/v1\noid sha256:" + "a" * 64 + "\nsize 500000000\n"
    assert caught(tmp_path, {"model.safetensors": pointer}, RULE) == []
