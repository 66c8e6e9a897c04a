"""`repro-audit check --format sarif`: valid SARIF 2.1.0 (the OASIS schema, draft-07, in tests/data), rules for
the ids that fired, 1-based regions, fingerprints that survive inserted lines, suppressions, no secret value,
and the same exit code as any other format.

Tokens are generated at test time (tests/secrets/tokens.py); no token-shaped literal is in this file.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from audit.cli import EXIT_ERROR, EXIT_FINDINGS, EXIT_OK, main
from audit.engine import CheckOptions, run_check
from reports import sarif
from tests.helpers import write_tree
from tests.secrets import tokens

SCHEMA_FILE = Path(__file__).parent / "data" / "sarif-schema-2.1.0.json"
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
RNG = tokens.source("sarif")

Sarif = dict[str, Any]


def _log_schema() -> dict[str, Any]:
    """The schema of a whole SARIF log. The bundled copy keeps the log's own keywords under `definitions/Root`
    with nothing pointing at them, so validating against the file as it is accepts any JSON at all: they are
    put back at the top here (a copy laid out as OASIS publishes it is used as it is)."""
    schema: dict[str, Any] = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    jsonschema.Draft7Validator.check_schema(schema)
    if "properties" not in schema:
        schema = {**schema, **schema["definitions"]["Root"]}
    jsonschema.Draft7Validator.check_schema(schema)
    return schema


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(_log_schema(), format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)


def _valid(validator: jsonschema.Draft7Validator, data: Sarif) -> Sarif:
    errors = sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:10])
    return data


def _check(tmp_path: Path, *args: str, name: str = "out") -> tuple[int, Sarif]:
    output = tmp_path / f"{name}.sarif"
    code = main(["check", *args, "--format", "sarif", "--output", str(output), "--jobs", "1"])
    return code, json.loads(output.read_text(encoding="utf-8"))


def _run(data: Sarif) -> Sarif:
    (run,) = data["runs"]
    return run  # type: ignore[no-any-return]


def _rule_ids(data: Sarif) -> list[str]:
    return [rule["id"] for rule in _run(data)["tool"]["driver"]["rules"]]


def _results(data: Sarif, rule: str | None = None) -> list[Sarif]:
    return [r for r in _run(data)["results"] if rule is None or r["ruleId"] == rule]


def _uri(result: Sarif) -> str:
    return result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]  # type: ignore[no-any-return]


def _line(result: Sarif) -> int | None:
    region = result["locations"][0]["physicalLocation"].get("region")
    return None if region is None else region["startLine"]  # type: ignore[no-any-return]


def _fingerprint(result: Sarif) -> str:
    return result["partialFingerprints"][sarif.FINGERPRINT_KEY]  # type: ignore[no-any-return]


def _git(root: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
        cwd=root,
        check=True,
        capture_output=True,
    )


def test_the_schema_is_sarif_2_1_0_and_rejects_what_is_not(validator: jsonschema.Draft7Validator) -> None:
    schema = _log_schema()
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert schema["properties"]["version"]["enum"] == ["2.1.0"] and schema["required"] == ["version", "runs"]
    run = {"tool": {"driver": {"name": "repro-audit"}}, "results": []}
    assert validator.is_valid({"version": "2.1.0", "runs": [run]})
    location = {"physicalLocation": {"artifactLocation": {"uri": "Dockerfile"}, "region": {"startLine": 0}}}
    wrong = [
        {"runs": [run]},  # no version
        {"version": "2.0.0", "runs": [run]},
        {"version": "2.1.0", "runs": [{"results": []}]},  # no tool
        {"version": "2.1.0", "runs": [{**run, "results": [{"message": {"text": "m"}, "locations": [location]}]}]},
        {"version": "2.1.0", "runs": [{**run, "results": [{"message": {"text": "m"}, "level": "high"}]}]},
        {"version": "2.1.0", "runs": [{**run, "results": [{"message": {"text": "m"}, "suppressions": [{}]}]}]},
    ]
    for document in wrong:
        assert not validator.is_valid(document), document


@pytest.mark.parametrize("fixture", ["archive", "builds", "pipeline"])
def test_check_over_the_fixtures_is_valid_sarif_with_the_findings_of_the_json_report(
    fixture: str, tmp_path: Path, validator: jsonschema.Draft7Validator
) -> None:
    tree = tmp_path / fixture
    shutil.copytree(FIXTURES / fixture, tree, symlinks=True)
    json_report = tmp_path / "report.json"
    json_code = main(["check", str(tree), "--format", "json", "--output", str(json_report), "--jobs", "1"])
    code, data = _check(tmp_path, str(tree))
    assert code == json_code
    _valid(validator, data)
    assert data["version"] == "2.1.0"
    run = _run(data)
    assert run["tool"]["driver"]["name"] == "repro-audit"
    assert "informationUri" not in run["tool"]["driver"]

    report = json.loads(json_report.read_text(encoding="utf-8"))
    findings = [(e, f) for e in report["entries"] for f in e["findings"]]
    results = _results(data)
    assert len(results) == len(findings)
    assert _rule_ids(data) == sorted({f["rule"] for _e, f in findings})  # only the rules that fired
    rules = run["tool"]["driver"]["rules"]
    several = len(report["entries"]) > 1
    for (entry, finding), result in zip(findings, results, strict=True):
        assert result["ruleId"] == finding["rule"] == rules[result["ruleIndex"]]["id"]
        assert result["message"]["text"] == finding["message"]
        assert result["level"] == {"high": "error", "medium": "warning"}.get(finding["severity"], "note")
        entry_path = Path(entry["path"]).relative_to(tree).as_posix()
        assert _uri(result) == (f"{entry_path}/{finding['path']}" if several else finding["path"])
        assert _line(result) == finding["line"]  # 1-based, the JSON's line; no region without one
        assert ("suppressions" in result) == (finding["suppressed"] is not None)
    assert all(line >= 1 for line in map(_line, results) if line is not None)
    fingerprints = [_fingerprint(r) for r in results]
    assert len(set(fingerprints)) == len(fingerprints)


def test_rules_carry_descriptions_help_and_levels(tmp_path: Path, validator: jsonschema.Draft7Validator) -> None:
    root = write_tree(
        tmp_path / "e",
        {
            "Dockerfile": "FROM python:3.11-slim\nRUN pip install transformers\n",
            "a.py": f"T = '{tokens.hf_token(RNG)}'\n",
        },
    )
    _code, data = _check(tmp_path, str(root))
    _valid(validator, data)
    rules = {rule["id"]: rule for rule in _run(data)["tool"]["driver"]["rules"]}
    assert set(rules) == {r["ruleId"] for r in _results(data)}
    install, token = rules["RA201"], rules["RA901"]
    assert install["name"] == "install-unpinned" and install["shortDescription"]["text"]
    assert install["fullDescription"]["text"] and install["help"]["text"] in install["help"]["markdown"]
    assert install["properties"]["tags"] == ["install"] and "security-severity" not in install["properties"]
    assert token["defaultConfiguration"]["level"] == "error"
    assert token["properties"]["tags"] == ["secret", "security"]
    assert token["properties"]["security-severity"] == "8.0"


def test_fingerprints_survive_lines_inserted_above(tmp_path: Path, validator: jsonschema.Draft7Validator) -> None:
    token = tokens.hf_token(RNG)
    files = {
        "Dockerfile": "FROM python:3.11-slim\nRUN pip install transformers\nRUN pip install peft\n",
        "requirements.txt": "numpy\nscipy>=1.10\n",
        "train.py": f"A = '{token}'\nB = '{token}'\n",  # the same secret twice: two findings, two fingerprints
    }
    root = write_tree(tmp_path / "e", files)
    _code, before = _check(tmp_path, str(root), name="before")
    write_tree(
        root,
        {
            "Dockerfile": "# a comment\n\n" + files["Dockerfile"],
            "requirements.txt": "# pinned later\n\n\n" + files["requirements.txt"],
            "train.py": "import os\n\n\n\n" + files["train.py"],
        },
    )
    _code, after = _check(tmp_path, str(root), name="after")
    _valid(validator, after)

    def by_fingerprint(data: Sarif) -> dict[str, tuple[str, str, int | None]]:
        return {_fingerprint(r): (r["ruleId"], _uri(r), _line(r)) for r in _results(data)}

    old, new = by_fingerprint(before), by_fingerprint(after)
    assert len(old) == len(_results(before)) >= 7  # every fingerprint differs, same rule and file included
    assert set(old) == set(new)
    shift = {"Dockerfile": 2, "requirements.txt": 3, "train.py": 4}
    for fingerprint, (rule, uri, line) in old.items():
        assert line is not None
        assert new[fingerprint] == (rule, uri, line + shift[uri])
    assert len([r for r in _results(after) if r["ruleId"] == "RA201"]) == 2
    assert len([r for r in _results(after) if r["ruleId"] == "RA901"]) == 2


def test_inline_and_baseline_suppressions_are_carried(tmp_path: Path, validator: jsonschema.Draft7Validator) -> None:
    root = write_tree(
        tmp_path / "e",
        {
            "Dockerfile": "FROM python:3.11-slim\n# repro-audit: ignore[RA201] pinned by the base image\n"
            "RUN pip install numpy\n",
            "a.py": f"T = '{tokens.hf_token(RNG)}'\n",
        },
    )
    baseline = tmp_path / "baseline.json"
    assert main(["check", str(root), "--select", "secret", "--baseline", str(baseline), "--update-baseline"]) == 0
    code, data = _check(tmp_path, str(root), "--baseline", str(baseline))
    _valid(validator, data)
    assert code == EXIT_OK  # both high findings are suppressed; the missing digest is medium
    (numpy,) = _results(data, "RA201")
    assert numpy["suppressions"] == [
        {"kind": "inSource", "justification": "pinned by the base image", "properties": {"source": "inline"}}
    ]
    (token,) = _results(data, "RA901")
    assert token["suppressions"][0]["kind"] == "external"
    assert token["suppressions"][0]["justification"] == "known secret in the baseline"
    assert "RA201" in _rule_ids(data) and "RA901" in _rule_ids(data)  # suppressed rules still described
    assert all("suppressions" not in r for r in _results(data) if r["ruleId"] not in ("RA201", "RA901"))


def test_no_secret_value_in_the_sarif(tmp_path: Path, validator: jsonschema.Draft7Validator) -> None:
    planted = {
        "dockerfile": tokens.hf_token(RNG),
        "python": tokens.hf_token(RNG),
        "cell": tokens.hf_token(RNG),
        "history": tokens.hf_token(RNG),
        "org": tokens.hf_org_token(RNG),
        "wandb": tokens.wandb_key(RNG),
    }
    notebook = {
        "cells": [{"cell_type": "code", "source": [f"TOKEN = '{planted['cell']}'\n"], "outputs": []}],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    root = write_tree(tmp_path / "e", {"old.py": f"T = '{planted['history']}'\n"})
    _git(root, "init", "-q")
    _git(root, "add", ".")
    _git(root, "commit", "-qm", "first")
    (root / "old.py").write_text("import os\nT = os.environ['HF_TOKEN']\n")
    write_tree(
        root,
        {
            "Dockerfile": f"FROM python:3.11\nENV HUGGINGFACE_TOKEN={planted['dockerfile']}\n"
            f"ENV WANDB_API_KEY={planted['wandb']}\n",
            "train.py": f"ORG = '{planted['org']}'\nTOKEN = \"{planted['python']}\"\n",
            "explore.ipynb": json.dumps(notebook),
        },
    )
    _git(root, "add", "-A")
    _git(root, "commit", "-qm", "second")

    unguarded = sarif.render(run_check([root], CheckOptions(jobs=1)))  # the renderer alone, before the guard
    code, data = _check(tmp_path, str(root))
    _valid(validator, data)
    assert code == EXIT_FINDINGS
    output = (tmp_path / "out.sarif").read_text(encoding="utf-8")
    for value in planted.values():
        assert value not in unguarded and value not in output
    secrets = [r for r in _results(data) if r["properties"].get("secret")]
    assert {_uri(r) for r in secrets} >= {"Dockerfile", "train.py", "explore.ipynb", "old.py"}
    (history,) = [r for r in secrets if _uri(r) == "old.py"]
    assert history["locations"][0]["properties"]["commit"]  # a past commit's line is not a line of the file
    assert "region" not in history["locations"][0]["physicalLocation"]
    (cell,) = [r for r in secrets if _uri(r) == "explore.ipynb"]
    assert cell["locations"][0]["properties"] == {"cell": 1, "line": 1}
    assert "region" not in cell["locations"][0]["physicalLocation"]


def test_file_level_findings_have_no_region(tmp_path: Path, validator: jsonschema.Draft7Validator) -> None:
    root = write_tree(tmp_path / "e", {"Dockerfile": "# nothing to build\n", "requirements.txt": b"caf\xe9-lib\n"})
    _code, data = _check(tmp_path, str(root))
    _valid(validator, data)
    (empty,) = _results(data, "RA002")
    assert "region" not in empty["locations"][0]["physicalLocation"]
    assert _uri(empty) == "Dockerfile"


def test_exit_code_does_not_depend_on_the_format(tmp_path: Path) -> None:
    clean = write_tree(tmp_path / "clean", {"Dockerfile": "FROM python:3.11-slim@sha256:" + "a" * 64 + "\n"})
    dirty = write_tree(tmp_path / "dirty", {"Dockerfile": "FROM python:3.11-slim\nRUN pip install transformers\n"})
    medium = write_tree(tmp_path / "medium", {"Dockerfile": "FROM python:3.11-slim\nRUN pip install 'peft~=0.5.0'\n"})
    for root, expected in ((clean, EXIT_OK), (dirty, EXIT_FINDINGS), (medium, EXIT_OK)):
        codes = {
            fmt: main(["check", str(root), "--format", fmt, "--output", str(tmp_path / f"{root.name}.{fmt}")])
            for fmt in ("terminal", "json", "sarif")
        }
        assert set(codes.values()) == {expected}, codes
    assert (
        main(["check", str(medium), "--fail-on", "medium", "--format", "sarif", "--output", str(tmp_path / "m")]) == 1
    )


def test_output_named_sarif_picks_the_format_and_probe_refuses_it(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "e", {"Dockerfile": "FROM python:3.11-slim\n"})
    output = tmp_path / "scan.sarif"
    assert main(["check", str(root), "--output", str(output)]) == EXIT_OK
    assert json.loads(output.read_text())["version"] == "2.1.0"
    assert main(["probe", "http://127.0.0.1:9", "--format", "sarif"]) == EXIT_ERROR


def test_entries_of_an_archive_get_their_folder_in_the_uri(tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    for user in ("ann", "ben"):
        write_tree(archive / "A100" / user / "repo", {"Dockerfile": "FROM python:3.11-slim\nRUN pip install numpy\n"})
    _code, data = _check(tmp_path, str(archive))
    uris = sorted(_uri(r) for r in _results(data, "RA201"))
    assert uris == ["A100/ann/repo/Dockerfile", "A100/ben/repo/Dockerfile"]
    assert len({_fingerprint(r) for r in _results(data)}) == len(_results(data))
    base = _run(data)["originalUriBaseIds"][sarif.SRCROOT]["uri"]
    assert base == archive.resolve().as_uri() + "/"
