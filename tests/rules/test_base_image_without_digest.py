"""RA102 base-image-without-digest: a tagged `FROM` image without an `@sha256:` digest (low).

`ruleCatches` / `ruleCatchesNot` style: catches name the Dockerfile, the `FROM` line, the severity and
the image as shown in the message; near-misses (digests, untagged images left to RA101, stage
aliases, `scratch`, unresolved ARGs left to RA104) must produce nothing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from audit.model import Severity
from tests.helpers import caught

RULE = "RA102"
DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    ("files", "path", "line", "word"),
    [
        pytest.param({"Dockerfile": "FROM python:3.11\n"}, "Dockerfile", 1, "python:3.11", id="tag"),
        pytest.param(
            {"Dockerfile": "FROM nvidia/cuda:12.1.0-devel-ubuntu22.04\n"},
            "Dockerfile",
            1,
            "nvidia/cuda:12.1.0-devel-ubuntu22.04",
            id="cuda-devel",
        ),
        pytest.param(
            {"Dockerfile": "FROM localhost:5000/team/img:1.0\n"},
            "Dockerfile",
            1,
            "localhost:5000/team/img:1.0",
            id="registry-port",
        ),
        pytest.param(
            {"Dockerfile": "ARG BASE=python:3.11\nFROM ${BASE}\n"},
            "Dockerfile",
            2,
            "(= python:3.11)",
            id="arg-default-resolved",
        ),
        pytest.param(
            {"Dockerfile": 'ARG BASE="python:3.11"\nFROM ${BASE}\n'},
            "Dockerfile",
            2,
            "(= python:3.11)",
            id="arg-default-quoted",
        ),
        pytest.param(
            {"Dockerfile": "ARG TAG=3.11\nFROM python:${TAG}\n"},
            "Dockerfile",
            2,
            "(= python:3.11)",
            id="arg-in-tag",
        ),
        pytest.param(
            {"Dockerfile": "ARG V\nFROM python:${V:-3.11}\n"},
            "Dockerfile",
            2,
            "(= python:3.11)",
            id="arg-fallback",
        ),
        pytest.param(
            {"Dockerfile": "FROM --platform=linux/amd64 python:3.11-slim\n"},
            "Dockerfile",
            1,
            "python:3.11-slim",
            id="platform-flag",
        ),
        pytest.param(
            {"Dockerfile": "FROM pytorch/pytorch:nightly\n"},
            "Dockerfile",
            1,
            "pytorch/pytorch:nightly",
            id="nightly-also-undigested",
        ),
        pytest.param(
            {"Dockerfile": f"FROM python:3.11@{DIGEST} AS base\nFROM base\nFROM ubuntu:22.04\n"},
            "Dockerfile",
            3,
            "ubuntu:22.04",
            id="third-stage",
        ),
        pytest.param(
            {"serve/Dockerfile": "FROM python:3.11\n"}, "serve/Dockerfile", 1, "python:3.11", id="nested-target"
        ),
    ],
)
def test_catches(tmp_path: Path, files: dict[str, str], path: str, line: int, word: str) -> None:
    findings = caught(tmp_path, files, RULE)
    assert [(f.rule, f.location.path, f.location.line) for f in findings] == [(RULE, path, line)]
    finding = findings[0]
    assert finding.severity is Severity.LOW
    assert finding.target == path
    assert word in finding.message
    assert "digest" in finding.message


@pytest.mark.parametrize(
    "dockerfile",
    [
        pytest.param(f"FROM python:3.11@{DIGEST}\n", id="tag-and-digest"),
        pytest.param(f"FROM python@{DIGEST}\n", id="digest-only"),
        pytest.param(f"ARG BASE=python:3.11@{DIGEST}\nFROM ${{BASE}}\n", id="arg-default-with-digest"),
        pytest.param("FROM python\n", id="no-tag-is-ra101"),
        pytest.param("FROM python:latest\n", id="latest-is-ra101"),
        pytest.param("ARG BASE\nFROM ${BASE}\n", id="unresolved-arg-is-ra104"),
        pytest.param("ARG TAG\nFROM python:${TAG}\n", id="unresolved-tag-is-ra104"),
        pytest.param("FROM scratch\n", id="scratch"),
        pytest.param(
            f"FROM python:3.11@{DIGEST} AS base\nRUN echo hi\nFROM base AS build\nRUN echo hi\nFROM build\n",
            id="stage-aliases",
        ),
    ],
)
def test_does_not_catch(tmp_path: Path, dockerfile: str) -> None:
    assert caught(tmp_path, {"Dockerfile": dockerfile}, RULE) == []
