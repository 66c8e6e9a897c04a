"""RA103 base-image-prerelease-tag: `FROM` a nightly / dev / edge / canary tag (medium).

The CUDA toolkit flavour `devel` (`nvidia/cuda:12.1.0-devel-ubuntu22.04`,
`pytorch/pytorch:2.1.0-cuda12.1-cudnn8-devel`) is a released image, not a development build, and
must not be caught; nor must words that merely start with `dev` (`devops`, `device`).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from audit.model import Severity
from tests.helpers import caught

RULE = "RA103"
DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    ("dockerfile", "line", "tag"),
    [
        pytest.param("FROM pytorch/pytorch:nightly\n", 1, "'nightly'", id="nightly"),
        pytest.param("FROM pytorch/pytorch:2.1.0.dev20230801\n", 1, "'2.1.0.dev20230801'", id="pep440-dev"),
        pytest.param(
            "FROM pytorch/pytorch:2.2.0.dev20231010-cuda12.1-cudnn8-devel\n",
            1,
            "'2.2.0.dev20231010-cuda12.1-cudnn8-devel'",
            id="dev-build-with-devel-flavour",
        ),
        pytest.param("FROM ubuntu:edge\n", 1, "'edge'", id="edge"),
        pytest.param("FROM img:canary\n", 1, "'canary'", id="canary"),
        pytest.param("FROM img:SNAPSHOT\n", 1, "'SNAPSHOT'", id="snapshot-uppercase"),
        pytest.param("FROM img:2.0.0-preview\n", 1, "'2.0.0-preview'", id="preview-suffix"),
        pytest.param("FROM img:1.0-nightly.20240101\n", 1, "'1.0-nightly.20240101'", id="nightly-in-middle"),
        pytest.param("FROM python:3.12-dev\n", 1, "'3.12-dev'", id="dev-suffix"),
        pytest.param("FROM img:dev123\n", 1, "'dev123'", id="dev-with-number"),
        pytest.param(f"FROM pytorch/pytorch:nightly@{DIGEST}\n", 1, "'nightly'", id="nightly-even-with-digest"),
        pytest.param(
            "ARG BASE=pytorch/pytorch:nightly\nFROM ${BASE}\n", 2, "(= pytorch/pytorch:nightly)", id="arg-default"
        ),
        pytest.param(
            "FROM python:3.11 AS deps\nRUN echo hi\nFROM pytorch/pytorch:nightly\n", 3, "'nightly'", id="second-stage"
        ),
    ],
)
def test_catches(tmp_path: Path, dockerfile: str, line: int, tag: str) -> None:
    findings = caught(tmp_path, {"Dockerfile": dockerfile}, RULE)
    assert [(f.rule, f.location.path, f.location.line) for f in findings] == [(RULE, "Dockerfile", line)]
    finding = findings[0]
    assert finding.severity is Severity.MEDIUM
    assert finding.target == "Dockerfile"
    assert "pre-release" in finding.message
    assert tag in finding.message


@pytest.mark.parametrize(
    "dockerfile",
    [
        pytest.param("FROM nvidia/cuda:12.1.0-devel-ubuntu22.04\n", id="cuda-devel"),
        pytest.param("FROM pytorch/pytorch:2.1.0-cuda12.1-cudnn8-devel\n", id="pytorch-devel"),
        pytest.param("FROM nvidia/cuda:12.1.0-cudnn8-devel-ubuntu22.04\n", id="cudnn-devel"),
        pytest.param("FROM python:3.11\n", id="release"),
        pytest.param("FROM python:3.13-rc\n", id="rc-not-in-list"),
        pytest.param("FROM img:devops\n", id="devops"),
        pytest.param("FROM img:device-1\n", id="device"),
        pytest.param("FROM img:develop-branch\n", id="develop"),
        pytest.param("FROM python\n", id="no-tag"),
        pytest.param("FROM nightly/img:1.0\n", id="nightly-in-name-not-tag"),
        pytest.param("FROM scratch\n", id="scratch"),
        pytest.param("ARG BASE\nFROM ${BASE}\n", id="unresolved-arg"),
    ],
)
def test_does_not_catch(tmp_path: Path, dockerfile: str) -> None:
    assert caught(tmp_path, {"Dockerfile": dockerfile}, RULE) == []
