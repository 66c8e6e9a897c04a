"""RA101 base-image-floating-tag: `FROM` an image with no tag or with `latest` (high).

Cases follow hadolint's `ruleCatches` / `ruleCatchesNot`: each catch names the Dockerfile, the 1-based
line of the `FROM`, the severity and a word of the message; each near-miss must produce nothing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from audit.model import Severity
from tests.helpers import caught

RULE = "RA101"
DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    ("files", "path", "line", "word"),
    [
        pytest.param({"Dockerfile": "FROM python\n"}, "Dockerfile", 1, "no tag", id="no-tag"),
        pytest.param({"Dockerfile": "FROM python:latest\n"}, "Dockerfile", 1, "`latest`", id="latest"),
        pytest.param({"Dockerfile": "from ubuntu\n"}, "Dockerfile", 1, "no tag", id="lowercase-from"),
        pytest.param(
            {"Dockerfile": "# build image\n\nFROM pytorch/pytorch\n"}, "Dockerfile", 3, "no tag", id="after-comment"
        ),
        pytest.param(
            {"Dockerfile": "FROM localhost:5000/team/img\n"}, "Dockerfile", 1, "no tag", id="registry-port-no-tag"
        ),
        pytest.param(
            {"Dockerfile": "FROM --platform=linux/amd64 nvidia/cuda:latest\n"},
            "Dockerfile",
            1,
            "latest",
            id="platform-flag",
        ),
        pytest.param(
            {"Dockerfile": "ARG BASE=python\nFROM ${BASE}\n"}, "Dockerfile", 2, "(= python)", id="arg-default-no-tag"
        ),
        pytest.param(
            {"Dockerfile": "ARG TAG=latest\nFROM python:${TAG}\n"},
            "Dockerfile",
            2,
            "python:latest",
            id="arg-default-latest-tag",
        ),
        pytest.param(
            {"Dockerfile": "ARG V\nFROM python:${V:-latest}\n"}, "Dockerfile", 2, "latest", id="arg-fallback-latest"
        ),
        pytest.param(
            {"Dockerfile": "FROM python:3.11 AS base\nRUN echo hi\nFROM ubuntu AS final\n"},
            "Dockerfile",
            3,
            "ubuntu",
            id="second-stage",
        ),
        pytest.param(
            {"docker/Dockerfile.train": "FROM python\n"}, "docker/Dockerfile.train", 1, "no tag", id="nested-target"
        ),
        pytest.param(
            # a stage referenced before it is defined is an image name, not the alias
            {"Dockerfile": "FROM build\nFROM python:3.11 AS build\n"},
            "Dockerfile",
            1,
            "build",
            id="alias-used-before-definition",
        ),
    ],
)
def test_catches(tmp_path: Path, files: dict[str, str], path: str, line: int, word: str) -> None:
    findings = caught(tmp_path, files, RULE)
    assert [(f.rule, f.location.path, f.location.line) for f in findings] == [(RULE, path, line)]
    finding = findings[0]
    assert finding.severity is Severity.HIGH
    assert finding.target == path
    assert word in finding.message


@pytest.mark.parametrize(
    "dockerfile",
    [
        pytest.param("FROM python:3.11\n", id="tag"),
        pytest.param(f"FROM python:3.11@{DIGEST}\n", id="tag-and-digest"),
        pytest.param(f"FROM python@{DIGEST}\n", id="digest-without-tag"),
        pytest.param(f"FROM python:latest@{DIGEST}\n", id="latest-pinned-by-digest"),
        pytest.param("FROM localhost:5000/team/img:1.0\n", id="registry-port-with-tag"),
        pytest.param("ARG BASE=python:3.11\nFROM ${BASE}\n", id="arg-default-with-tag"),
        pytest.param("ARG BASE\nFROM ${BASE}\n", id="unresolved-arg-is-ra104"),
        pytest.param("FROM scratch\n", id="scratch"),
        pytest.param("FROM SCRATCH\n", id="scratch-uppercase"),
        pytest.param(
            "FROM python:3.11 AS base\nRUN echo hi\nFROM base AS build\nRUN echo hi\nFROM build\n",
            id="stage-aliases",
        ),
        pytest.param("FROM python:3.11 AS Build\nFROM build\n", id="alias-case-insensitive"),
        pytest.param("FROM python:3.11 \\\n    AS base\nFROM base\n", id="alias-on-continuation"),
    ],
)
def test_does_not_catch(tmp_path: Path, dockerfile: str) -> None:
    assert caught(tmp_path, {"Dockerfile": dockerfile}, RULE) == []


def test_catches_latest_through_nested_arg(tmp_path: Path) -> None:
    dockerfile = "ARG TAG=latest\nARG BASE=python:${TAG}\nFROM ${BASE}\n"
    findings = caught(tmp_path, {"Dockerfile": dockerfile}, RULE)
    assert [(f.location.line, f.severity) for f in findings] == [(3, Severity.HIGH)]
