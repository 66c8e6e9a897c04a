"""RA104 base-image-unresolved-arg: `FROM ${ARG}` where the ARG has no default (medium).

Only ARGs declared before the first `FROM` are in scope for `FROM`; an ARG with a default, or a
`${X:-fallback}` expansion, resolves and is graded by the other base-image rules instead.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from audit.model import Severity
from tests.helpers import caught

RULE = "RA104"


@pytest.mark.parametrize(
    ("dockerfile", "line", "names"),
    [
        pytest.param("ARG BASE\nFROM ${BASE}\n", 2, "ARG BASE ", id="braces"),
        pytest.param("ARG BASE\nFROM $BASE\n", 2, "ARG BASE ", id="no-braces"),
        pytest.param("ARG TAG\nFROM python:${TAG}\n", 2, "ARG TAG ", id="tag-only"),
        pytest.param("ARG IMAGE\nFROM ${IMAGE}:3.11\n", 2, "ARG IMAGE ", id="name-only"),
        pytest.param("FROM ${UNDECLARED}\n", 1, "ARG UNDECLARED ", id="never-declared"),
        pytest.param("ARG A\nARG B\nFROM ${A}:${B}\n", 3, "ARG A, B ", id="two-args-listed"),
        pytest.param(
            # an ARG declared inside a stage is not in scope for the next FROM
            "FROM python:3.11\nARG BASE=python:3.12\nFROM ${BASE}\n",
            3,
            "ARG BASE ",
            id="stage-scoped-arg",
        ),
        pytest.param("ARG BASE\nFROM ${BASE} AS build\nFROM build\n", 2, "ARG BASE ", id="aliased-stage"),
    ],
)
def test_catches(tmp_path: Path, dockerfile: str, line: int, names: str) -> None:
    findings = caught(tmp_path, {"Dockerfile": dockerfile}, RULE)
    assert [(f.rule, f.location.path, f.location.line) for f in findings] == [(RULE, "Dockerfile", line)]
    finding = findings[0]
    assert finding.severity is Severity.MEDIUM
    assert finding.target == "Dockerfile"
    assert names in finding.message
    assert "no default" in finding.message


@pytest.mark.parametrize(
    "dockerfile",
    [
        pytest.param("ARG BASE=python:3.11\nFROM ${BASE}\n", id="default"),
        pytest.param("ARG BASE=python\nFROM ${BASE}\n", id="default-without-tag"),
        pytest.param("ARG V\nFROM python:${V:-3.11}\n", id="fallback-expansion"),
        pytest.param("FROM python:3.11\n", id="no-arg"),
        pytest.param("FROM scratch\n", id="scratch"),
        pytest.param("ARG BASE=python:3.11\nFROM ${BASE} AS b\nARG OTHER\nFROM b\n", id="stage-arg-unused-in-from"),
    ],
)
def test_does_not_catch(tmp_path: Path, dockerfile: str) -> None:
    assert caught(tmp_path, {"Dockerfile": dockerfile}, RULE) == []


def test_catches_empty_default(tmp_path: Path) -> None:
    findings = caught(tmp_path, {"Dockerfile": "ARG BASE=\nFROM ${BASE}\n"}, RULE)
    assert [(f.location.line, f.severity) for f in findings] == [(2, Severity.MEDIUM)]
