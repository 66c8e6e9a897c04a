"""RA001-RA008: input the audit could not take as it is; bad input is a finding, never a traceback.

RA001 Dockerfile syntax (unknown instruction, continuation at end of file, unterminated heredoc,
instructions before FROM, no FROM), RA002 empty Dockerfile, RA003 text file over the size limit,
RA004 bytes that are not UTF-8, RA005 unreadable file or folder, RA006 symbolic link leaving the entry,
RA007 Python that does not parse, RA008 environment.yml / pyproject.toml that does not parse.

RA003-RA005 report what the entry tree met while reading. Files are read lazily, so these rules
first have every file the audit reads read (Dockerfiles, the dependency files, Python sources, ignore
files): the findings are the same alone and with other rules, and files nothing reads stay silent.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from audit.model import Finding, Severity
from tests.helpers import audit, caught, write_tree

FROM = "FROM python:3.11\n"
READER = "RA301"  # reads every requirement file of the tree
MIB = 1024 * 1024
AS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def _with_reader(root: Path, files: dict[str, str | bytes], rule: str) -> list[Finding]:
    """Findings of `rule` when a rule that reads the requirement files runs before it."""
    return [f for f in audit(root, files, [READER, rule]) if f.rule == rule]


def _rows(findings: list[Finding]) -> list[tuple[str, str, int | None, Severity]]:
    return [(f.rule, f.location.path, f.location.line, f.severity) for f in findings]


# ---- RA001 dockerfile-syntax ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line", "word"),
    [
        pytest.param(FROM + "RUNN echo hi\n", 2, "unknown instruction 'RUNN'", id="unknown-instruction"),
        pytest.param(FROM + "RUN echo a\nCOPPY . .\nRUN echo b\n", 3, "'COPPY'", id="unknown-in-the-middle"),
        pytest.param(FROM + "RUN echo hi \\\n", 2, "ends inside a continued line", id="continuation-at-end"),
        pytest.param(
            FROM + "RUN echo a && \\\n    echo b \\\n\n# done\n", 3, "trailing '\\'", id="continuation-then-comment"
        ),
        pytest.param(FROM + "RUN <<EOF\necho hi\n", 2, "heredoc <<EOF is never closed", id="unterminated-heredoc"),
        pytest.param(FROM + "COPY <<CONF /etc/x.conf\nkey=1\nCONF \n", 2, "<<CONF", id="terminator-with-space"),
        pytest.param("WORKDIR /app\n" + FROM, 1, "WORKDIR before the first FROM", id="instruction-before-from"),
    ],
)
def test_ra001_catches(tmp_path: Path, text: str, line: int, word: str) -> None:
    findings = caught(tmp_path, {"Dockerfile": text}, "RA001")
    assert [(*row, f.target) for row, f in zip(_rows(findings), findings, strict=True)] == [
        ("RA001", "Dockerfile", line, Severity.HIGH, "Dockerfile")
    ]
    assert word in findings[0].message


def test_ra001_catches_a_file_without_from(tmp_path: Path) -> None:
    findings = caught(tmp_path, {"docker/Dockerfile.serve": "RUN echo hi\n"}, "RA001")
    assert sorted((f.location.path, f.location.line, f.message.split(":")[0]) for f in findings) == [
        ("docker/Dockerfile.serve", 1, "RUN before the first FROM"),
        ("docker/Dockerfile.serve", 1, "no FROM instruction"),
    ]


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(FROM + "RUN echo hi\n", id="plain"),
        pytest.param("from python:3.11\nrun echo hi\n", id="lowercase"),
        pytest.param("# syntax=docker/dockerfile:1\n" + FROM + "RUN <<EOF\necho hi\nEOF\n", id="closed-heredoc"),
        pytest.param(FROM + "RUN <<-EOF\n\techo hi\n\tEOF\n", id="dash-heredoc-tab-terminator"),
        pytest.param(FROM + "RUN python3 <<PY\nprint('hi')\nPY\n", id="python-heredoc"),
        pytest.param(FROM + "COPY <<EOF /x.txt\nhello\nEOF\n", id="copy-heredoc"),
        pytest.param(FROM + "RUN echo a && \\\n    echo b\nRUN echo c\n", id="continuation-inside"),
        pytest.param(FROM + "RUN echo a \\\n    # comment inside\n    && echo b\n", id="comment-inside-continuation"),
        pytest.param(FROM + "# a comment \\\n", id="comment-ending-with-backslash"),
        pytest.param("ARG V=3.11\nFROM python:${V}\n", id="arg-before-from"),
        pytest.param(FROM + "RUN cat <<< 'x'\n", id="here-string-is-not-a-heredoc"),
        pytest.param(FROM + "HEALTHCHECK CMD curl -f http://localhost/ || exit 1\nSTOPSIGNAL SIGTERM\n", id="rare"),
    ],
)
def test_ra001_does_not_catch(tmp_path: Path, text: str) -> None:
    assert caught(tmp_path, {"Dockerfile": text}, "RA001") == []


# ---- RA002 empty-dockerfile -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty"),
        pytest.param("# build the image\n# TODO\n", id="comments-only"),
        pytest.param("\n   \n\t\n", id="blank-lines"),
        pytest.param("# syntax=docker/dockerfile:1\n", id="parser-directive-only"),
    ],
)
def test_ra002_catches(tmp_path: Path, text: str) -> None:
    findings = caught(tmp_path, {"Dockerfile.train": text}, "RA002")
    assert [(*row, f.target) for row, f in zip(_rows(findings), findings, strict=True)] == [
        ("RA002", "Dockerfile.train", None, Severity.HIGH, "Dockerfile.train")
    ]
    assert "no instructions" in findings[0].message


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(FROM, id="from-only"),
        pytest.param("# base\n" + FROM, id="comment-then-from"),
        pytest.param("ARG X=1\n", id="arg-only-is-ra001"),
    ],
)
def test_ra002_does_not_catch(tmp_path: Path, text: str) -> None:
    assert caught(tmp_path, {"Dockerfile": text}, "RA002") == []


def test_ra002_misspelled_instruction_is_not_an_empty_file(tmp_path: Path) -> None:
    assert caught(tmp_path, {"Dockerfile": "FORM python:3.11\nRUNN echo hi\n"}, "RA002") == []


def test_ra002_ignores_empty_files_that_are_not_dockerfiles(tmp_path: Path) -> None:
    assert caught(tmp_path, {"Dockerfile": FROM, "README.md": "", "Dockerfile.dockerignore": ""}, "RA002") == []


# ---- RA003 file-too-large ---------------------------------------------------------------------------

BIG_REQUIREMENTS = "numpy==1.26.4\n" * (2 * MIB // 14 + 1000)  # a little over 2 MiB


def test_ra003_catches_requirement_file_over_the_limit(tmp_path: Path) -> None:
    findings = _with_reader(tmp_path, {"requirements.txt": BIG_REQUIREMENTS}, "RA003")
    assert _rows(findings) == [("RA003", "requirements.txt", None, Severity.LOW)]
    assert findings[0].target is None
    assert "over the 2048 KiB limit" in findings[0].message


def test_ra003_catches_dockerfile_over_the_limit_alone(tmp_path: Path) -> None:
    text = FROM + "# " + "x" * (3 * MIB) + "\n"
    findings = caught(tmp_path, {"Dockerfile": text}, "RA003")
    assert _rows(findings) == [("RA003", "Dockerfile", None, Severity.LOW)]
    assert "3072 KiB is over the 2048 KiB limit" in findings[0].message


def test_ra003_limit_comes_from_the_config(tmp_path: Path) -> None:
    files = {
        "pyproject.toml": "[tool.repro-audit]\nmax-file-bytes = 1024\n",
        "requirements.txt": "numpy==1.26.4\n" * 100,
    }
    findings = _with_reader(tmp_path, files, "RA003")
    assert _rows(findings) == [("RA003", "requirements.txt", None, Severity.LOW)]
    assert "over the 1 KiB limit" in findings[0].message


@pytest.mark.parametrize(
    "files",
    [
        pytest.param({"requirements.txt": "x" * (2 * MIB)}, id="exactly-at-the-limit"),
        pytest.param({"requirements.txt": "numpy==1.26.4\n"}, id="small"),
    ],
)
def test_ra003_does_not_catch(tmp_path: Path, files: dict[str, str]) -> None:
    assert _with_reader(tmp_path, files, "RA003") == []


def test_ra003_large_file_nothing_reads_is_not_reported(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "entry", {"Dockerfile": FROM, "requirements.txt": "numpy==1.26.4\n"})
    with open(root / "weights.bin", "wb") as handle:
        handle.truncate(5 * MIB)
    assert _with_reader(root, {}, "RA003") == []


def test_ra003_reports_oversize_requirement_file_when_selected_alone(tmp_path: Path) -> None:
    findings = caught(tmp_path, {"requirements.txt": BIG_REQUIREMENTS}, "RA003")
    assert _rows(findings) == [("RA003", "requirements.txt", None, Severity.LOW)]


def test_ra003_alone_reads_what_the_builds_reach_and_the_python_sources(tmp_path: Path) -> None:
    files = {
        "Dockerfile": FROM + "COPY deps/ /deps/\nRUN pip install -r /deps/main.in\n",
        "deps/main.in": "-r nested.in\n",
        "deps/nested.in": BIG_REQUIREMENTS,
        "src/train.py": "x = 1\n" + "#" * (3 * MIB) + "\n",
        "legacy/old.py": "#" * (3 * MIB) + "\n",
        "pyproject.toml": '[tool.repro-audit]\nignore-paths = ["legacy/**"]\n',
    }
    assert _rows(caught(tmp_path, files, "RA003")) == [
        ("RA003", "deps/nested.in", None, Severity.LOW),
        ("RA003", "src/train.py", None, Severity.LOW),
    ]


# ---- RA004 undecodable-file -------------------------------------------------------------------------


def test_ra004_catches_requirement_file_and_still_audits_it(tmp_path: Path) -> None:
    files: dict[str, str | bytes] = {"requirements.txt": b"numpy==1.26.4\nna\xefve==1.0\npandas\n"}
    findings = audit(tmp_path, files, [READER, "RA004"])
    assert _rows([f for f in findings if f.rule == "RA004"]) == [("RA004", "requirements.txt", None, Severity.LOW)]
    assert "line 2 holds bytes that are not UTF-8" in next(f.message for f in findings if f.rule == "RA004")
    assert [(f.location.path, f.location.line) for f in findings if f.rule == READER] == [("requirements.txt", 3)]


def test_ra004_catches_dockerfile_alone(tmp_path: Path) -> None:
    findings = caught(tmp_path, {"Dockerfile": FROM.encode() + b"RUN echo caf\xe9\n"}, "RA004")
    assert _rows(findings) == [("RA004", "Dockerfile", None, Severity.LOW)]
    assert "line 2" in findings[0].message


@pytest.mark.parametrize(
    "content",
    [
        pytest.param("numpy==1.26.4  # café\n".encode(), id="utf-8-non-ascii"),
        pytest.param(b"\xef\xbb\xbfnumpy==1.26.4\n", id="utf-8-bom"),
        pytest.param(b"", id="empty"),
    ],
)
def test_ra004_does_not_catch(tmp_path: Path, content: bytes) -> None:
    assert _with_reader(tmp_path, {"requirements.txt": content}, "RA004") == []


def test_ra004_binary_file_nothing_reads_is_not_reported(tmp_path: Path) -> None:
    files: dict[str, str | bytes] = {"Dockerfile": FROM, "model.safetensors": b"\x00\xff\xfe" * 10}
    assert _with_reader(tmp_path, files, "RA004") == []


def test_ra004_reports_undecodable_requirement_file_when_selected_alone(tmp_path: Path) -> None:
    findings = caught(tmp_path, {"requirements.txt": b"numpy==1.26.4\n\xe9\n"}, "RA004")
    assert _rows(findings) == [("RA004", "requirements.txt", None, Severity.LOW)]


def test_ra004_alone_reads_python_sources_and_ignore_files(tmp_path: Path) -> None:
    files: dict[str, str | bytes] = {
        "Dockerfile": FROM + "COPY . /app\n",
        ".dockerignore": b"# caf\xe9\n*.bin\n",
        "sub/.gitignore": b"caf\xe9/\n",
        "app.py": b"print('caf\xe9')\n",
        "notes.txt": b"caf\xe9\n",  # no rule reads it
    }
    assert [f.location.path for f in caught(tmp_path, files, "RA004")] == [".dockerignore", "app.py", "sub/.gitignore"]


def test_ra004_is_the_same_whichever_rules_run_with_it(tmp_path: Path) -> None:
    files: dict[str, str | bytes] = {"requirements.txt": b"numpy==1.26.4\n\xe9\n", "x.py": b"s = '\xe9'\n"}
    alone = _rows(caught(tmp_path / "alone", files, "RA004"))
    together = _rows([f for f in audit(tmp_path / "together", files) if f.rule == "RA004"])
    assert (
        alone
        == together
        == [
            ("RA004", "requirements.txt", None, Severity.LOW),
            ("RA004", "x.py", None, Severity.LOW),
        ]
    )


# ---- RA005 unreadable-file --------------------------------------------------------------------------

needs_non_root = pytest.mark.skipif(AS_ROOT, reason="running as root: root can read a chmod 000 file or folder")


@needs_non_root
def test_ra005_catches_unreadable_requirement_file(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "entry", {"Dockerfile": FROM, "requirements.txt": "numpy==1.26.4\n"})
    target = root / "requirements.txt"
    target.chmod(0)
    try:
        findings = _with_reader(root, {}, "RA005")
    finally:
        target.chmod(0o644)
    assert _rows(findings) == [("RA005", "requirements.txt", None, Severity.LOW)]
    assert "cannot read this file" in findings[0].message


@needs_non_root
def test_ra005_catches_unreadable_folder_alone(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "entry", {"Dockerfile": FROM, "private/notes.txt": "x"})
    folder = root / "private"
    folder.chmod(0)
    try:
        findings = caught(root, {}, "RA005")
    finally:
        folder.chmod(0o755)
    assert _rows(findings) == [("RA005", "private", None, Severity.LOW)]
    assert "cannot list this folder" in findings[0].message


def test_ra005_unlistable_folder_is_reported_by_its_normalised_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the same as the chmod case above, for runs as root: listing the folder fails
    root = write_tree(tmp_path / "entry", {"Dockerfile": FROM, "private/deeper/notes.txt": "x"})
    scandir = os.scandir

    def refuse_private(path: str | os.PathLike[str]) -> object:
        if Path(path).name in ("private", "deeper"):
            raise PermissionError(13, "Permission denied")
        return scandir(path)

    monkeypatch.setattr(os, "scandir", refuse_private)
    findings = caught(root, {}, "RA005")
    assert _rows(findings) == [("RA005", "private", None, Severity.LOW)]
    assert "cannot list this folder (Permission denied)" in findings[0].message


def test_ra005_does_not_catch_readable_files(tmp_path: Path) -> None:
    files = {"Dockerfile": FROM, "requirements.txt": "numpy==1.26.4\n", "sub/x.py": "print(1)\n"}
    assert _with_reader(tmp_path, files, "RA005") == []


# ---- RA006 symlink-escapes-entry --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("link", "points_to"),
    [
        pytest.param("secret.txt", "../outside.txt", id="relative-outside"),
        pytest.param("data/train.json", "ABSOLUTE", id="absolute-outside"),
        pytest.param("models", "../outside-folder", id="folder-outside"),
        pytest.param("weights.bin", "missing/weights.bin", id="dangling"),
    ],
)
def test_ra006_catches(tmp_path: Path, link: str, points_to: str) -> None:
    (tmp_path / "outside.txt").write_text("secret", encoding="utf-8")
    (tmp_path / "outside-folder").mkdir()
    root = write_tree(tmp_path / "entry", {"Dockerfile": FROM})
    target = str(tmp_path / "outside.txt") if points_to == "ABSOLUTE" else points_to
    (root / link).parent.mkdir(parents=True, exist_ok=True)
    (root / link).symlink_to(target)
    findings = caught(root, {}, "RA006")
    assert _rows(findings) == [("RA006", link, None, Severity.MEDIUM)]
    assert f"symbolic link to {target!r} leaves the repository" in findings[0].message


@pytest.mark.parametrize(
    ("link", "points_to"),
    [
        pytest.param("config.json", "configs/base.json", id="file-inside"),
        pytest.param("sub/config.json", "../configs/base.json", id="relative-file-inside"),
        pytest.param("current", "configs", id="folder-inside"),
    ],
)
def test_ra006_does_not_catch(tmp_path: Path, link: str, points_to: str) -> None:
    root = write_tree(tmp_path / "entry", {"Dockerfile": FROM, "configs/base.json": "{}"})
    (root / link).parent.mkdir(parents=True, exist_ok=True)
    (root / link).symlink_to(points_to)
    assert caught(root, {}, "RA006") == []


# ---- RA007 python-syntax-error ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "line", "word"),
    [
        pytest.param('m = AutoModel.from_pretrained("org/m"\n', 1, "'(' was never closed", id="unclosed-call"),
        pytest.param('f = open("/home/alice/x.txt")\nif f\n    pass\n', 2, "expected ':'", id="missing-colon"),
        pytest.param('print "loading"\nm = from_pretrained("org/m")\n', 1, "Missing parentheses", id="python2"),
        pytest.param('x = 1\n\ndef f():\n  return load_dataset("org/ds")\n    y = 2\n', 5, "indent", id="indent"),
    ],
)
def test_ra007_catches(tmp_path: Path, source: str, line: int, word: str) -> None:
    findings = caught(tmp_path, {"src/train.py": source}, "RA007")
    assert _rows(findings) == [("RA007", "src/train.py", line, Severity.LOW)]
    assert findings[0].message.startswith("not valid Python: ")
    assert word in findings[0].message


@pytest.mark.parametrize(
    ("path", "source"),
    [
        pytest.param("train.py", 'm = from_pretrained("org/m")\n', id="valid"),
        pytest.param("util.py", "def f(:\n", id="mentions-nothing-the-audit-looks-for"),
        pytest.param("notes.txt", 'from_pretrained("org/m"\n', id="not-a-python-file"),
        pytest.param("train.py", "", id="empty"),
    ],
)
def test_ra007_does_not_catch(tmp_path: Path, path: str, source: str) -> None:
    assert caught(tmp_path, {path: source}, "RA007") == []


# ---- RA008 invalid-project-file ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "text", "line", "word"),
    [
        pytest.param(
            "environment.yml", "name: x\n  bad: y\n", 2, "not valid YAML: mapping values", id="environment-yml"
        ),
        pytest.param(
            "conda-env.yaml",
            'dependencies:\n  - numpy\n  - "unclosed\n',
            4,
            "not valid YAML",
            id="conda-yaml",
        ),
        pytest.param("pyproject.toml", "[project\nname = 'x'\n", 1, "not valid TOML", id="pyproject"),
        pytest.param("sub/pyproject.toml", "[project]\nname = \n", 2, "not valid TOML", id="nested-pyproject"),
    ],
)
def test_ra008_catches(tmp_path: Path, path: str, text: str, line: int, word: str) -> None:
    findings = caught(tmp_path, {path: text}, "RA008")
    assert _rows(findings) == [("RA008", path, line, Severity.LOW)]
    assert word in findings[0].message


@pytest.mark.parametrize(
    "files",
    [
        pytest.param({"environment.yml": "name: x\ndependencies:\n  - numpy=1.26.4\n"}, id="valid-environment"),
        pytest.param({"pyproject.toml": "[project]\nname = 'x'\ndependencies = ['numpy==1.26.4']\n"}, id="valid-toml"),
        pytest.param({"config.yml": "a: [\n"}, id="yaml-that-is-not-a-dependency-file"),
        pytest.param({"settings.toml": "[x\n"}, id="toml-that-is-not-pyproject"),
        pytest.param({"requirements.txt": "numpy==1.0 ; ;\n[[garbage\n"}, id="requirement-file-is-ra307"),
    ],
)
def test_ra008_does_not_catch(tmp_path: Path, files: dict[str, str]) -> None:
    assert caught(tmp_path, files, "RA008") == []


def test_ra008_toml_error_is_on_its_line(tmp_path: Path) -> None:
    text = "[project]\nname = 'x'\ndependencies = [\n  'numpy==1.26.4',\n  'a' 'b'\n]\n"
    findings = caught(tmp_path, {"pyproject.toml": text}, "RA008")
    assert [f.location.line for f in findings] == [5]


def test_ra008_toml_error_at_the_end_of_the_file_is_on_the_last_line(tmp_path: Path) -> None:
    text = "[project]\nname = 'x'\ndependencies = [\n  'numpy==1.26.4',\n"
    findings = caught(tmp_path, {"pyproject.toml": text}, "RA008")
    assert [f.location.line for f in findings] == [4]


@pytest.mark.parametrize(
    ("text", "line", "word"),
    [
        pytest.param(
            '[project]\nname = "x"\n\n[tool.repro-audit]\nselct = ["RA1"]\n', 5, "unknown key 'selct'", id="key"
        ),
        pytest.param("[tool.repro-audit]\nmax-file-bytes = 10\n", 2, "max-file-bytes", id="value"),
        pytest.param('[tool.repro-audit]\nseverity = { RA201 = "urgent" }\n', 2, "'urgent'", id="nested-value"),
        pytest.param("tool.repro-audit = 3\n", 1, "must be a table", id="not-a-table"),
    ],
)
def test_ra008_catches_an_invalid_own_config(tmp_path: Path, text: str, line: int, word: str) -> None:
    findings = caught(tmp_path, {"Dockerfile": FROM, "pyproject.toml": text}, "RA008")
    assert _rows(findings) == [("RA008", "pyproject.toml", line, Severity.LOW)]
    assert word in findings[0].message and "audited with default settings" in findings[0].message


@pytest.mark.parametrize(
    "files",
    [
        pytest.param({"pyproject.toml": '[tool.repro-audit]\nselect = ["RA0"]\nfail-on = "low"\n'}, id="valid"),
        pytest.param({"sub/pyproject.toml": "[tool.repro-audit]\nselct = 1\n"}, id="only-the-root-one-is-read"),
        pytest.param({"pyproject.toml": '[tool.ruff]\nselct = ["E"]\n'}, id="another-tools-table"),
    ],
)
def test_ra008_does_not_catch_a_usable_config(tmp_path: Path, files: dict[str, str]) -> None:
    assert caught(tmp_path, {"Dockerfile": FROM, **files}, "RA008") == []
