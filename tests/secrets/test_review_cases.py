"""Cases a review found by experiment: each was missed or mis-reported before its fix."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest

from audit.secrets.catalog import select
from audit.secrets.content import ContentScanner
from tests.helpers import caught
from tests.secrets import tokens

RNG = tokens.source("review-cases")
SCANNER = ContentScanner(select())


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
@pytest.mark.parametrize("keys", [0, 3, 23, 40, 70, 101])
def test_pickled_token_whatever_the_opcodes_after_it(protocol: int, keys: int) -> None:
    value = tokens.hf_token(RNG)
    data = pickle.dumps({**{f"k{i}": f"v{i}" for i in range(keys)}, "hf_token": value}, protocol=protocol)
    assert [h.secret for h in SCANNER.scan(data, "state.pkl").hits] == [value]


def test_token_right_after_a_colour_code_in_a_log() -> None:
    value = tokens.hf_token(RNG)
    hits = SCANNER.scan(f"step 1\ntoken \x1b[1m{value}\x1b[0m\n".encode(), "train.log").hits
    assert [(h.secret, h.line) for h in hits] == [(value, 2)]


def test_the_same_token_in_several_cells_is_reported_in_each(tmp_path: Path) -> None:
    value = tokens.hf_token(RNG)
    cells = [{"cell_type": "code", "source": [f"T = '{value}'\n"], "outputs": []} for _ in range(3)]
    findings = caught(tmp_path, {"nb.ipynb": json.dumps({"cells": cells})}, "RA901")
    assert sorted(f.location.cell or 0 for f in findings) == [1, 2, 3]


def test_summary_lists_only_secrets_that_are_reported(tmp_path: Path) -> None:
    from audit.engine import CheckOptions, run_check
    from tests.helpers import write_tree

    root = write_tree(tmp_path, {"a.py": f"T = '{tokens.hf_token(RNG)}'\n"})
    only_keys = run_check([root], CheckOptions(jobs=1, select=("RA907",)))
    assert only_keys.entries[0].secrets == ()
    everything = run_check([root], CheckOptions(jobs=1, select=("secret",)))
    assert [s.kind for s in everything.entries[0].secrets] == ["huggingface-token"]


def test_a_nested_repository_is_a_reported_gap(tmp_path: Path) -> None:
    import subprocess

    vendor = tmp_path / "vendor" / "lib"
    vendor.mkdir(parents=True)
    (vendor / "x.py").write_text("x = 1\n")
    subprocess.run(["git", "init", "-q"], cwd=vendor, check=True)
    findings = caught(tmp_path, {}, "RA911")
    assert [(f.location.path, "not scanned" in f.message) for f in findings] == [("vendor/lib", True)]
