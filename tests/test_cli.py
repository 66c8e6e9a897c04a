"""The command line's contract: exit codes, --fail-on, config, suppressions, outputs, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from audit.cli import EXIT_ERROR, EXIT_FINDINGS, EXIT_NO_ENTRIES, EXIT_OK, main
from tests.helpers import write_tree

UNPINNED = "FROM python:3.11-slim\nRUN pip install transformers\n"
BOUNDED = "FROM python:3.11-slim\nRUN pip install 'peft~=0.5.0'\n"


def _json(capsys: pytest.CaptureFixture[str]) -> dict:  # type: ignore[type-arg]
    return json.loads(capsys.readouterr().out)


def _findings(data: dict, rule: str) -> list[dict]:  # type: ignore[type-arg]
    return [f for e in data["entries"] for f in e["findings"] if f["rule"] == rule]


def test_exit_codes(tmp_path: Path) -> None:
    clean = write_tree(tmp_path / "clean", {"Dockerfile": "FROM python:3.11-slim@sha256:" + "a" * 64 + "\n"})
    dirty = write_tree(tmp_path / "dirty", {"Dockerfile": UNPINNED})
    (tmp_path / "empty").mkdir()
    assert main(["check", str(clean)]) == EXIT_OK
    assert main(["check", str(dirty)]) == EXIT_FINDINGS
    assert main(["check", str(tmp_path / "empty")]) == EXIT_NO_ENTRIES
    assert main(["check", str(tmp_path / "missing")]) == EXIT_ERROR
    assert main(["check"]) == EXIT_ERROR
    assert main(["check", str(dirty), "--fail-on", "severe"]) == EXIT_ERROR


def test_fail_on_threshold(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "e", {"Dockerfile": BOUNDED})  # a medium finding and a low one
    assert main(["check", str(root)]) == EXIT_OK
    assert main(["check", str(root), "--fail-on", "medium"]) == EXIT_FINDINGS
    assert main(["check", str(root), "--fail-on", "low"]) == EXIT_FINDINGS


def test_inline_suppression_is_kept_and_marked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = write_tree(
        tmp_path / "e",
        {
            "Dockerfile": "FROM python:3.11-slim\n# repro-audit: ignore[RA201] pinned by the base image\n"
            "RUN pip install numpy\n",
            "requirements.txt": "scipy>=1.10  # repro-audit: ignore[requirements] tested range\nrich\n",
        },
    )
    assert main(["check", str(root), "--format", "json"]) == EXIT_FINDINGS  # `rich` is still unpinned
    data = _json(capsys)
    (numpy,) = _findings(data, "RA201")
    assert numpy["suppressed"] == {"kind": "inline", "reason": "pinned by the base image"}
    scipy, rich = sorted(_findings(data, "RA301"), key=lambda f: f["line"])
    assert scipy["suppressed"]["reason"] == "tested range" and rich["suppressed"] is None


def test_suppression_of_another_rule_does_not_apply(tmp_path: Path) -> None:
    root = write_tree(
        tmp_path / "e", {"Dockerfile": "FROM python:3.11-slim\n# repro-audit: ignore[RA101]\nRUN pip install numpy\n"}
    )
    assert main(["check", str(root)]) == EXIT_FINDINGS


def test_isolated_ignores_the_trees_own_suppressions_and_config(tmp_path: Path) -> None:
    root = write_tree(
        tmp_path / "e",
        {
            "Dockerfile": "FROM python:3.11-slim\n# repro-audit: ignore[RA201] trust me\nRUN pip install numpy\n",
            "pyproject.toml": '[tool.repro-audit]\nignore = ["install"]\n',
        },
    )
    assert main(["check", str(root)]) == EXIT_OK
    assert main(["check", str(root), "--isolated"]) == EXIT_FINDINGS


def test_pyproject_config_select_severity_and_ignore_paths(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = write_tree(
        tmp_path / "e",
        {
            "Dockerfile": "FROM python:3.11-slim\nRUN pip install numpy\n",
            "legacy/Dockerfile": "FROM python\nRUN pip install torch\n",
            "pyproject.toml": '[tool.repro-audit]\nignore-paths = ["legacy/**"]\nseverity = { RA201 = "low", "base-image" = "info" }\n',
        },
    )
    assert main(["check", str(root), "--format", "json"]) == EXIT_OK
    data = _json(capsys)
    assert data["entries"][0]["config"] == "pyproject.toml [tool.repro-audit]"
    by_path = {f["path"]: f for f in _findings(data, "RA201")}
    assert by_path["Dockerfile"]["severity"] == "low" and by_path["Dockerfile"]["suppressed"] is None
    assert by_path["legacy/Dockerfile"]["suppressed"]["kind"] == "config"
    assert all(f["severity"] == "info" for f in data["entries"][0]["findings"] if f["family"] == "base-image")


def test_config_file_and_select(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = write_tree(tmp_path / "e", {"Dockerfile": UNPINNED})
    config = tmp_path / "audit.toml"
    config.write_text('select = ["base-image"]\nfail-on = "low"\n', encoding="utf-8")
    assert main(["check", str(root), "--config", str(config), "--format", "json"]) == EXIT_FINDINGS
    rules = {f["rule"] for e in _json(capsys)["entries"] for f in e["findings"]}
    assert rules == {"RA102"}
    assert main(["check", str(root), "--select", "RA2", "--format", "json"]) == EXIT_FINDINGS
    assert {f["rule"] for e in _json(capsys)["entries"] for f in e["findings"]} == {"RA201"}


BAD_CONFIGS = [
    pytest.param('[tool.repro-audit]\nselct = ["RA1"]\n', "unknown key 'selct'", 2, id="unknown-key"),
    pytest.param(
        '[tool.repro-audit]\nseverity = { RA201 = "urgent" }\n', "unknown severity 'urgent'", 2, id="bad-severity"
    ),
    pytest.param('[tool.repro-audit]\n\nfail-on = "never"\n', "fail-on", 3, id="bad-fail-on"),
    pytest.param('[project]\nname = "x"\n[tool]\nrepro-audit = "all"\n', "must be a table", 4, id="not-a-table"),
]


@pytest.mark.parametrize(("content", "message", "_line"), BAD_CONFIGS)
def test_bad_config_file_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, message: str, _line: int
) -> None:
    root = write_tree(tmp_path / "e", {"Dockerfile": UNPINNED})
    config = tmp_path / "audit.toml"
    config.write_text(content, encoding="utf-8")
    assert main(["check", str(root), "--config", str(config)]) == EXIT_ERROR
    err = " ".join(capsys.readouterr().err.split())  # the console wraps long lines at its width
    assert message in err and "Traceback" not in err


@pytest.mark.parametrize(("content", "message", "line"), BAD_CONFIGS)
def test_repositorys_own_bad_config_is_a_finding(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, message: str, line: int
) -> None:
    root = write_tree(tmp_path / "e", {"Dockerfile": UNPINNED, "pyproject.toml": content})
    assert main(["check", str(root), "--format", "json"]) == EXIT_FINDINGS  # audited, with default settings
    captured = capsys.readouterr()
    assert captured.err == ""
    data = json.loads(captured.out)
    (finding,) = _findings(data, "RA008")
    assert (finding["path"], finding["line"], finding["severity"]) == ("pyproject.toml", line, "low")
    assert message in finding["message"] and "default settings" in finding["message"]
    assert data["entries"][0]["config"] is None
    assert _findings(data, "RA201")  # the defaults apply: every rule ran
    assert main(["check", str(root), "--isolated", "--format", "json"]) == EXIT_FINDINGS
    assert _findings(_json(capsys), "RA008") == []  # --isolated never reads the tree's config


def test_one_entrys_bad_config_does_not_stop_the_archive(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    archive = tmp_path / "archive"
    write_tree(
        archive / "A100" / "ann" / "typo",
        {"Dockerfile": UNPINNED, "pyproject.toml": '[tool.repro-audit]\nignore = ["install"]\nfail_on = "low"\n'},
    )
    write_tree(
        archive / "4090" / "ben" / "quiet",
        {"Dockerfile": UNPINNED, "pyproject.toml": '[tool.repro-audit]\nignore = ["install"]\n'},
    )
    assert main(["check", str(archive), "--format", "json", "--jobs", "1"]) == EXIT_FINDINGS
    entries = {e["name"]: e for e in _json(capsys)["entries"]}
    typo, quiet = entries["A100/ann/typo"], entries["4090/ben/quiet"]
    (problem,) = [f for f in typo["findings"] if f["rule"] == "RA008"]
    assert "unknown key 'fail_on'" in problem["message"] and problem["line"] == 3
    assert any(f["rule"] == "RA201" for f in typo["findings"])  # its `ignore` did not apply: defaults did
    assert quiet["config"] == "pyproject.toml [tool.repro-audit]"
    assert not any(f["rule"] in ("RA008", "RA201") for f in quiet["findings"])
    # the same table given with --config stops the run: it is the organizer's own configuration
    config = tmp_path / "audit.toml"
    config.write_text('[tool.repro-audit]\nfail_on = "low"\n', encoding="utf-8")
    assert main(["check", str(archive), "--config", str(config)]) == EXIT_ERROR
    assert "unknown key 'fail_on'" in capsys.readouterr().err


def test_several_formats_in_one_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = write_tree(tmp_path / "e", {"Dockerfile": UNPINNED})
    report, text = tmp_path / "r.json", tmp_path / "r.txt"
    code = main(
        ["check", str(root), "--format", "json", "--output", str(report), "--format", "terminal", "--output", str(text)]
    )
    assert code == EXIT_FINDINGS
    assert json.loads(report.read_text())["schema_version"] == 1
    assert "RA201" in text.read_text() and "\x1b[" not in text.read_text()
    assert capsys.readouterr().out == ""
    # one format may go to standard output, not two
    assert main(["check", str(root), "--format", "json", "--format", "terminal"]) == EXIT_ERROR


def test_json_shape(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = write_tree(tmp_path / "e", {"Dockerfile": UNPINNED})
    main(["check", str(root), "--format", "json"])
    data = _json(capsys)
    assert data["schema_version"] == 1 and data["tool"]["name"] == "repro-audit"
    entry = data["entries"][0]
    assert set(entry) >= {"name", "path", "track", "targets", "findings"}
    finding = _findings(data, "RA201")[0]
    assert {k: finding[k] for k in ("rule", "name", "family", "severity", "path", "line", "target")} == {
        "rule": "RA201",
        "name": "install-unpinned",
        "family": "install",
        "severity": "high",
        "path": "Dockerfile",
        "line": 2,
        "target": "Dockerfile",
    }
    assert finding["confidence"] and finding["fix"] and finding["message"]


def test_archive_layout_gives_tracks_and_names(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_tree(tmp_path / "archive" / "A100" / "ann" / "repo1", {"Dockerfile": UNPINNED})
    write_tree(tmp_path / "archive" / "4090" / "ben" / "repo2", {"inference/Dockerfile": UNPINNED})
    main(["check", str(tmp_path / "archive"), "--format", "json"])
    entries = {e["name"]: e for e in _json(capsys)["entries"]}
    assert set(entries) == {"A100/ann/repo1", "4090/ben/repo2"}
    assert entries["4090/ben/repo2"]["track"] == "4090"
    assert entries["4090/ben/repo2"]["targets"][0]["role"] == "inference"


def test_bad_input_never_crashes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = write_tree(
        tmp_path / "e",
        {
            "Dockerfile": b"\xff\xfe\x00garbage\x00\nFROM\nRUN \\\n",
            "requirements.txt": b"\x80\x81 -r \n--hash\n==\n",
            "environment.yml": "dependencies: [unclosed\n",
            "pyproject.toml": "[project\n",
            "x.py": "model = AutoModel.from_pretrained(\ndef (:\n",
            "Dockerfile.weird": "RUN <<EOF\n",
        },
    )
    code = main(["check", str(root), "--format", "json"])
    captured = capsys.readouterr()
    assert code in (EXIT_OK, EXIT_FINDINGS)
    assert "Traceback" not in captured.err
    rules = {f["rule"] for e in json.loads(captured.out)["entries"] for f in e["findings"]}
    assert {"RA001", "RA004", "RA007", "RA008"} <= rules


def test_rules_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules"]) == EXIT_OK
    assert "RA204" in capsys.readouterr().out
    assert main(["rules", "RA204"]) == EXIT_OK
    assert "=2.0.1" in capsys.readouterr().out
    assert main(["rules", "RA999"]) == EXIT_ERROR


def test_fail_on_from_the_repositorys_own_config(tmp_path: Path) -> None:
    root = write_tree(
        tmp_path / "e", {"Dockerfile": BOUNDED, "pyproject.toml": '[tool.repro-audit]\nfail-on = "medium"\n'}
    )
    assert main(["check", str(root)]) == EXIT_FINDINGS
    assert main(["check", str(root), "--fail-on", "high"]) == EXIT_OK  # the command line wins
    assert main(["check", str(root), "--isolated"]) == EXIT_OK  # the tree's config is not read


def test_ignore_on_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = write_tree(tmp_path / "e", {"Dockerfile": UNPINNED})
    assert main(["check", str(root), "--format", "json"]) == EXIT_FINDINGS
    everything = {f["rule"] for e in _json(capsys)["entries"] for f in e["findings"]}
    assert {"RA102", "RA201"} <= everything
    assert main(["check", str(root), "--ignore", "install", "--ignore", "RA102", "--format", "json"]) == EXIT_OK
    left = {f["rule"] for e in _json(capsys)["entries"] for f in e["findings"]}
    assert "RA201" not in left and "RA102" not in left
