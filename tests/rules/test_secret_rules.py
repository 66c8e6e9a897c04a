"""The secret rules (RA901-RA911) through the engine: what each reports, where, and what it never prints.

Tokens are generated at test time (tests/secrets/tokens.py); repositories with history are made here.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from audit.baseline import Baseline
from audit.engine import CheckOptions, run_check
from audit.model import Finding
from audit.rules import REGISTRY
from tests.helpers import caught, write_tree
from tests.secrets import tokens

RNG = tokens.source("secret-rules")
HF = tokens.hf_token(RNG)
ORG = tokens.hf_org_token(RNG)
WANDB = tokens.wandb_key(RNG)
AWS = tokens.aws_access_key_id(RNG)
GITHUB = "ghp_" + tokens.alnum(RNG, 36)
OPENAI = tokens.openai_key(RNG)
JWT = tokens.jwt(RNG)


def _git(root: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
        cwd=root,
        check=True,
        capture_output=True,
    )


def _no_value(findings: list[Finding], *values: str) -> None:
    for finding in findings:
        text = json.dumps([finding.message, finding.evidence, str(finding.location)])
        for value in values:
            assert value not in text


@pytest.mark.parametrize(
    ("rule", "files", "path", "line"),
    [
        pytest.param("RA901", {"Dockerfile": f"FROM python:3.11\nENV HUGGINGFACE_TOKEN={HF}\n"}, "Dockerfile", 2,
                     id="hf-in-dockerfile"),
        pytest.param("RA901", {"run.sh": f"#!/bin/sh\nexport HF_TOKEN='{HF}'\n"}, "run.sh", 2, id="hf-in-shell"),
        pytest.param("RA902", {"app.py": f"TOKEN = '{ORG}'\n"}, "app.py", 1, id="org-token"),
        pytest.param("RA903", {"train.py": f"import wandb\nwandb.login(key='{WANDB}')\n"}, "train.py", 2,
                     id="wandb-login"),
        pytest.param("RA904", {"build.sh": f"git clone https://user:{tokens.alnum(RNG, 20)}@example.com/r.git\n"},
                     "build.sh", 1, id="url-credentials"),
        pytest.param("RA905", {"s3.py": f"KEY_ID = '{AWS}'\n"}, "s3.py", 1, id="aws"),
        pytest.param("RA906", {"ci.sh": f"TOKEN={GITHUB}\n"}, "ci.sh", 1, id="github"),
        pytest.param("RA907", {"id_rsa": "-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----\n"},
                     "id_rsa", 1, id="private-key"),
        pytest.param("RA908", {"gen.py": f"openai.api_key = '{OPENAI}'\n"}, "gen.py", 1, id="openai"),
        pytest.param("RA909", {"client.py": f"\nheaders = {{'Authorization': 'Bearer {JWT}'}}\n"}, "client.py", 2,
                     id="jwt"),
    ],
)  # fmt: skip
def test_catches(tmp_path: Path, rule: str, files: dict[str, str | bytes], path: str, line: int) -> None:
    findings = caught(tmp_path, files, rule)
    assert [(f.location.path, f.location.line) for f in findings] == [(path, line)]
    finding = findings[0]
    assert finding.family == "secret" and finding.secret is not None
    assert finding.secret.lives == "tree" and finding.secret.in_tree
    assert len(finding.secret.fingerprint) == 16
    _no_value(findings, HF, ORG, WANDB, AWS, GITHUB, OPENAI, JWT)


@pytest.mark.parametrize(
    ("rule", "files"),
    [
        pytest.param("RA901", {"a.py": "name = 'hf_" + "x" * 33 + "'\n"}, id="hf-too-short"),
        pytest.param("RA901", {"a.py": f"name = 'my{HF}'\n"}, id="hf-inside-longer-identifier"),
        pytest.param("RA903", {"a.py": f"COMMIT = '{WANDB}'\n"}, id="bare-hex-is-a-commit"),
        pytest.param("RA904", {"b.sh": "git clone https://user:$TOKEN@example.com/r.git\n"}, id="url-variable"),
        pytest.param("RA901", {"Dockerfile": "FROM python:3.11\nARG HF_TOKEN\nENV HF_TOKEN=$HF_TOKEN\n"},
                     id="token-from-build-arg"),
    ],
)  # fmt: skip
def test_does_not_catch(tmp_path: Path, rule: str, files: dict[str, str | bytes]) -> None:
    assert caught(tmp_path, files, rule) == []


def test_one_finding_per_place_and_one_fingerprint_per_token(tmp_path: Path) -> None:
    files: dict[str, str | bytes] = {"a.py": f"T = '{HF}'\n", "b/c.sh": f"\n\nexport T={HF}\n"}
    findings = caught(tmp_path, files, "RA901")
    assert sorted((f.location.path, f.location.line) for f in findings) == [("a.py", 1), ("b/c.sh", 3)]
    assert len({f.secret.fingerprint for f in findings if f.secret}) == 1


def test_notebook_output_is_reported_with_its_cell(tmp_path: Path) -> None:
    notebook = {
        "cells": [
            {"cell_type": "markdown", "source": ["# notes\n"]},
            {"cell_type": "code", "source": ["print(token)\n"], "outputs": [{"output_type": "stream", "text": [HF]}]},
        ]
    }
    findings = caught(tmp_path, {"nb.ipynb": json.dumps(notebook)}, "RA901")
    assert [(f.location.cell, f.location.output, f.location.line) for f in findings] == [(2, 1, 1)]
    assert "notebook output" in findings[0].message


def test_history_only_token_names_the_commits(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "repo", {"train.py": f"TOKEN = '{HF}'\n"})
    _git(root, "init", "-q")
    _git(root, "add", ".")
    _git(root, "commit", "-qm", "add")
    (root / "train.py").write_text("import os\nTOKEN = os.environ['HF_TOKEN']\n")
    _git(root, "commit", "-qam", "remove")
    log = subprocess.run(["git", "log", "--format=%H"], cwd=root, capture_output=True, text=True, check=True)
    removed, added = log.stdout.split()
    findings = caught(root, {}, "RA901")
    assert len(findings) == 1
    finding = findings[0]
    assert finding.location.path == "train.py" and finding.location.commit == added
    assert finding.secret is not None and finding.secret.lives == "history" and not finding.secret.in_tree
    assert (finding.secret.added_in, finding.secret.removed_in) == (added, removed)
    assert "history only" in finding.message and added[:12] in finding.message


def test_no_history_option_skips_the_history(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "repo", {"a.py": f"T = '{HF}'\n"})
    _git(root, "init", "-q")
    _git(root, "add", ".")
    _git(root, "commit", "-qm", "add")
    (root / "a.py").unlink()
    _git(root, "commit", "-qam", "remove")
    rules = tuple(r for r in REGISTRY if r.id == "RA901")
    assert run_check([root], CheckOptions(rules=rules, jobs=1, history=False)).all_findings() == []
    assert len(run_check([root], CheckOptions(rules=rules, jobs=1)).all_findings()) == 1


def test_inline_pragma_suppresses_a_secret(tmp_path: Path) -> None:
    findings = caught(tmp_path, {"a.py": f"T = '{HF}'  # repro-audit: ignore[RA901] revoked test token\n"}, "RA901")
    assert len(findings) == 1 and findings[0].suppressed is not None
    assert findings[0].suppressed.reason == "revoked test token"


def test_baseline_suppresses_known_secrets_only(tmp_path: Path) -> None:
    root = write_tree(tmp_path, {"a.py": f"T = '{HF}'\n"})
    rules = tuple(r for r in REGISTRY if r.family == "secret")
    first = run_check([root], CheckOptions(rules=rules, jobs=1, salt="s1")).all_findings()
    baseline = Baseline.of(first, "s1")
    (root / "a.py").write_text(f"\n\nT = '{HF}'\nU = '{ORG}'\n")  # the known token moved; a new one came
    findings = run_check([root], CheckOptions(rules=rules, jobs=1, salt="s1", baseline=baseline)).all_findings()
    by_rule = {f.rule: f for f in findings if f.rule in ("RA901", "RA902")}
    assert by_rule["RA901"].suppressed is not None and by_rule["RA901"].suppressed.kind == "baseline"
    assert by_rule["RA902"].suppressed is None


def test_entropy_rule_runs_only_when_asked(tmp_path: Path) -> None:
    secret = tokens.chars(RNG, "abcdef0123456789", 48)
    files: dict[str, str | bytes] = {"a.py": f"checksum = '{secret}'\n"}
    write_tree(tmp_path, files)
    everything = run_check([tmp_path], CheckOptions(jobs=1)).all_findings()
    assert not [f for f in everything if f.rule == "RA910"]
    family = run_check([tmp_path], CheckOptions(jobs=1, select=("secret",))).all_findings()
    assert not [f for f in family if f.rule == "RA910"]
    asked = run_check([tmp_path], CheckOptions(jobs=1, entropy=True)).all_findings()
    assert [f.location.line for f in asked if f.rule == "RA910"] == [1]
    by_id = run_check([tmp_path], CheckOptions(jobs=1, select=("RA910",))).all_findings()
    assert [f.rule for f in by_id] == ["RA910"]


def test_specific_kind_wins_over_json_web_token_and_entropy(tmp_path: Path) -> None:
    findings = run_check(
        [write_tree(tmp_path, {"a.py": f"T = '{HF}'\n"})], CheckOptions(jobs=1, entropy=True)
    ).all_findings()
    assert [f.rule for f in findings if f.family == "secret"] == ["RA901"]


def test_oversize_file_is_a_scan_gap(tmp_path: Path) -> None:
    write_tree(tmp_path, {"weights.bin": b"\0" * 4096, "a.py": "x = 1\n"})
    rules = tuple(r for r in REGISTRY if r.id == "RA911")
    findings = run_check([tmp_path], CheckOptions(rules=rules, jobs=1, secret_max_file_bytes=1024)).all_findings()
    assert [(f.rule, f.location.path) for f in findings] == [("RA911", "weights.bin")]
    assert "limit" in findings[0].message


def test_entry_summary_and_shared_secrets_across_entries(tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    write_tree(archive / "A100" / "alice" / "repo", {"Dockerfile": f"FROM python:3.11\nENV HF_TOKEN={HF}\n"})
    write_tree(archive / "4090" / "bob" / "repo", {"start.py": f"token = '{HF}'\n", "x.py": f"o = '{ORG}'\n"})
    result = run_check([archive], CheckOptions(jobs=1))
    summaries = {r.entry.name: r.secrets for r in result.entries}
    assert [s.kind for s in summaries["4090/bob/repo"]] == ["huggingface-token", "huggingface-org-token"]
    shared = result.shared_secrets()
    assert len(shared) == 1
    secret, names = shared[0]
    assert secret.kind == "huggingface-token" and sorted(names) == ["4090/bob/repo", "A100/alice/repo"]
    assert HF not in json.dumps([s.__dict__ for s in summaries["4090/bob/repo"]])


def test_scan_gap_for_a_shallow_clone(tmp_path: Path) -> None:
    origin = write_tree(tmp_path / "origin", {"a.py": "x = 1\n"})
    _git(origin, "init", "-q")
    _git(origin, "add", ".")
    _git(origin, "commit", "-qm", "one")
    (origin / "a.py").write_text("x = 2\n")
    _git(origin, "commit", "-qam", "two")
    subprocess.run(
        ["git", "clone", "-q", "--depth", "1", f"file://{origin}", str(tmp_path / "shallow")],
        check=True,
        capture_output=True,
    )
    findings = caught(tmp_path / "shallow", {}, "RA911")
    assert any("shallow" in f.message for f in findings)


def test_two_private_keys_of_one_type_are_two_secrets(tmp_path: Path) -> None:
    files: dict[str, str | bytes] = {
        "deploy_key": tokens.private_key_block(RNG),
        "keys/other": "\n" + tokens.private_key_block(RNG),
    }
    findings = caught(tmp_path, files, "RA907")
    assert sorted((f.location.path, f.location.line) for f in findings) == [("deploy_key", 1), ("keys/other", 2)]
    assert len({f.secret.fingerprint for f in findings if f.secret}) == 2


def test_odd_file_names_in_the_tree_and_in_history(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    (root / os.fsdecode(b"bad\xffname.txt")).write_text(f"T = '{HF}'\n")
    _git(root, "init", "-q")
    _git(root, "add", ".")
    _git(root, "commit", "-qm", "add")
    (root / os.fsdecode(b"bad\xffname.txt")).unlink()
    _git(root, "commit", "-qam", "remove")
    (root / "back\\slash.txt").write_text(f"U = '{ORG}'\n")
    findings = [f for f in caught(root, {}, "RA901") + caught(root, {}, "RA902")]
    assert sorted(f.rule for f in findings) == ["RA901", "RA902"]
    assert not [f for f in findings if "could not check" in f.message]
    paths = {f.rule: f.location.path for f in findings}
    assert paths["RA902"] == "back\\slash.txt" and "name.txt" in paths["RA901"]
