"""ContentScanner: secrets found in every kind of blob and every place inside one, and what limits stop.

Text (UTF-8, UTF-16, CRLF), notebooks (cells, outputs, metadata, nbformat 3), binaries (a real `.pyc`,
a pickle, a swap file), compressed streams and archives nested in each other; the limits that keep a
hostile archive from exhausting the scan report gaps, and a damaged archive never raises.
"""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import pickle
import py_compile
import random
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import pytest

from audit.secrets.catalog import select
from audit.secrets.content import BlobScan, ContentScanner, Gap, Hit, Limits
from tests.secrets import tokens

SCANNER = ContentScanner(select())


def scan(data: bytes, name: str, limits: Limits | None = None) -> BlobScan:
    scanner = SCANNER if limits is None else ContentScanner(select(), limits)
    return scanner.scan(data, name)


def places(result: BlobScan) -> list[tuple[str, str | None, int | None, int | None, int | None, int | None]]:
    """(kind, member, line, cell, output, offset) of every hit, in order."""
    return [(h.kind.id, h.member, h.line, h.cell, h.output, h.offset) for h in result.hits]


def only_hit(result: BlobScan, secret: str) -> Hit:
    hits = [hit for hit in result.hits if hit.secret == secret]
    assert len(hits) == 1, result
    return hits[0]


def make_zip(files: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def make_tar(files: dict[str, bytes], mode: str = "w") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as archive:  # type: ignore[call-overload]
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def notebook(cells: list[dict[str, Any]], metadata: dict[str, Any] | None = None, **extra: Any) -> bytes:
    document = {"nbformat": 4, "nbformat_minor": 5, "metadata": metadata or {}, "cells": cells, **extra}
    return json.dumps(document, indent=1).encode()


def code_cell(source: list[str], outputs: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"cell_type": "code", "metadata": {}, "execution_count": 1, "source": source, "outputs": outputs or []}


def markdown_cell(text: str) -> dict[str, Any]:
    return {"cell_type": "markdown", "metadata": {}, "source": [text]}


# ---- text --------------------------------------------------------------------------------------------


def test_utf8_text_hits_carry_line_numbers_and_line_text(rng: random.Random) -> None:
    hf, key = tokens.hf_token(rng), tokens.wandb_key(rng)
    blob = f"import os\n\nos.environ['HF_TOKEN'] = '{hf}'\n# note\nWANDB_API_KEY={key}\n".encode()
    result = scan(blob, "train.py")
    assert places(result) == [
        ("huggingface-token", None, 3, None, None, None),
        ("wandb-api-key", None, 5, None, None, None),
    ]
    assert [h.secret for h in result.hits] == [hf, key]
    assert result.hits[0].text == f"os.environ['HF_TOKEN'] = '{hf}'"
    assert result.gaps == []


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_text_with_byte_order_mark(rng: random.Random, encoding: str) -> None:
    hf = tokens.hf_token(rng)
    text = f"first\nsecond\ntoken = '{hf}'\n"
    blob = text.encode(encoding)
    if encoding != "utf-16":  # the plain codec writes its own mark
        blob = ("\ufeff" + text).encode(encoding)
    hit = only_hit(scan(blob, "notes.txt"), hf)
    assert (hit.kind.id, hit.line, hit.text) == ("huggingface-token", 3, f"token = '{hf}'")


def test_utf16_member_of_an_archive(rng: random.Random) -> None:
    key = tokens.wandb_key(rng)
    blob = make_zip({"env/settings.txt": f"a\r\nWANDB_API_KEY={key}\r\n".encode("utf-16")})
    hit = only_hit(scan(blob, "bundle.zip"), key)
    assert (hit.member, hit.line, hit.text) == ("env/settings.txt", 2, f"WANDB_API_KEY={key}")


def test_crlf_lines_are_numbered_and_stripped(rng: random.Random) -> None:
    hf = tokens.hf_token(rng)
    blob = f"a\r\nb\r\nTOKEN={hf}\r\nc\r\n".encode()
    hit = only_hit(scan(blob, "env.bat"), hf)
    assert (hit.line, hit.text) == (3, f"TOKEN={hf}")


def test_invalid_utf8_does_not_shift_lines(rng: random.Random) -> None:
    hf = tokens.hf_token(rng)
    blob = b"caf\xe9\n\xff\xfe\xfd broken\n" + f"t = '{hf}'\n".encode()
    assert only_hit(scan(blob, "x.txt"), hf).line == 3


def test_scan_text_api(rng: random.Random) -> None:
    org = tokens.hf_org_token(rng)
    hits = SCANNER.scan_text(f"one\ntwo = '{org}'\n")
    assert [(h.kind.id, h.secret, h.line) for h in hits] == [("huggingface-org-token", org, 2)]


def test_blob_without_anchor_gives_nothing(rng: random.Random) -> None:
    blob = "\n".join(tokens.chars(rng, tokens.ALNUM + " =", 80) for _ in range(200)).encode()
    assert scan(blob, "noise.txt") == BlobScan()


def test_hits_on_one_line_come_in_line_order(rng: random.Random) -> None:
    hf, org = tokens.hf_token(rng), tokens.hf_org_token(rng)
    result = scan(f"a={org} b={hf}\n".encode(), "x.env")
    assert [h.secret for h in result.hits] == [org, hf]


def test_huggingface_token_in_url_is_reported_once_as_huggingface(rng: random.Random) -> None:
    hf = tokens.hf_token(rng)
    blob = f"git clone https://user:{hf}@huggingface.co/org/model\n".encode()
    assert [(h.kind.id, h.secret) for h in scan(blob, "setup.sh").hits] == [("huggingface-token", hf)]


def test_url_password_is_reported_as_url_credentials(rng: random.Random) -> None:
    password = tokens.url_password(rng)
    blob = f"DB = 'postgresql://admin:{password}@db.internal:5432/app'\n".encode()
    assert [(h.kind.id, h.secret) for h in scan(blob, "settings.py").hits] == [("url-credentials", password)]


@pytest.mark.parametrize(
    "line",
    [
        "git clone https://user:$TOKEN@github.com/org/repo",
        "git clone https://user:${HF_TOKEN}@huggingface.co/org/model",
        "url = f'https://user:{token}@host/path'",
        "url = 'https://{user}:{password}@host/path'",
        "url = 'https://user:{{ secrets.TOKEN }}@host/path'",
    ],
)
def test_placeholders_in_urls_are_not_reported(line: str) -> None:
    assert scan(f"{line}\n".encode(), "run.sh").hits == []


# ---- notebooks ---------------------------------------------------------------------------------------


def test_notebook_source_cell_gives_cell_and_line_within_it(rng: random.Random) -> None:
    hf = tokens.hf_token(rng)
    blob = notebook([markdown_cell("# Training"), code_cell(["import os\n", f'login(token="{hf}")\n'])])
    hit = only_hit(scan(blob, "train.ipynb"), hf)
    assert (hit.cell, hit.output, hit.line, hit.text) == (2, None, 2, f'login(token="{hf}")')


def test_notebook_source_as_one_string(rng: random.Random) -> None:
    hf = tokens.hf_token(rng)
    cell = code_cell([])
    cell["source"] = f"x = 1\ny = 2\nTOKEN = '{hf}'"
    hit = only_hit(scan(notebook([cell]), "a.ipynb"), hf)
    assert (hit.cell, hit.line) == (1, 3)


def test_notebook_outputs_of_every_type(rng: random.Random) -> None:
    stream, result, html, data_json, trace, value = (tokens.hf_token(rng) for _ in range(6))
    outputs = [
        {"output_type": "stream", "name": "stdout", "text": ["step 1\n", f"token: {stream}\n"]},
        {
            "output_type": "execute_result",
            "execution_count": 1,
            "metadata": {},
            "data": {"text/plain": [f"'{result}'"]},
        },
        {"output_type": "display_data", "metadata": {}, "data": {"text/html": ["<p>\n", f"<b>{html}</b>\n", "</p>"]}},
        {"output_type": "display_data", "metadata": {}, "data": {"application/json": {"auth": {"token": data_json}}}},
        {
            "output_type": "error",
            "ename": "HTTPError",
            "evalue": f"401 for token {value}",
            "traceback": [
                "\x1b[0;31m---------------------------------------------------------------------------\x1b[0m",
                f"\x1b[0;31mHTTPError\x1b[0m: bad token \x1b[1;32m{trace}\x1b[0m",
            ],
        },
    ]
    blob = notebook([code_cell(["run()\n"], outputs)])
    result_scan = scan(blob, "run.ipynb")
    found = {h.secret: (h.cell, h.output, h.line) for h in result_scan.hits}
    assert found == {
        stream: (1, 1, 2),
        result: (1, 2, 1),
        html: (1, 3, 2),
        data_json: (1, 4, 1),
        trace: (1, 5, 2),
        value: (1, 5, 3),
    }
    traced = only_hit(result_scan, trace)
    assert "\x1b" not in traced.text and traced.text.endswith(trace)


def test_notebook_metadata_is_scanned_from_the_raw_file(rng: random.Random) -> None:
    in_cell, in_metadata = tokens.hf_token(rng), tokens.hf_token(rng)
    blob = notebook(
        [code_cell([f"t = '{in_cell}'\n"])],
        metadata={"kernelspec": {"name": "python3"}, "env": {"HF_TOKEN": in_metadata}},
    )
    raw_line = next(n for n, line in enumerate(blob.decode().split("\n"), start=1) if in_metadata in line)
    result = scan(blob, "a.ipynb")
    assert {h.secret: (h.cell, h.output, h.line) for h in result.hits} == {
        in_cell: (1, None, 1),
        in_metadata: (None, None, raw_line),
    }


def test_notebook_secret_in_cell_is_not_reported_again_from_the_raw_text(rng: random.Random) -> None:
    # In the raw file the token sits after JSON escapes (`\"`, `\n`): the same secret, placed in its cell.
    hf = tokens.hf_token(rng)
    blob = notebook([code_cell([f'print("x")\n{hf}\n', f'os.environ["T"] = "{hf}"\n'])])
    assert places(scan(blob, "a.ipynb")) == [
        ("huggingface-token", None, 2, 1, None, None),
        ("huggingface-token", None, 3, 1, None, None),
    ]


def test_notebook_widget_state_with_unicode_escapes(rng: random.Random) -> None:
    hf = tokens.hf_token(rng)
    raw = '{"cells": [], "metadata": {"widgets": {"state": "\\u0022' + hf + '\\u0022"}}, "nbformat": 4}'
    hit = only_hit(scan(raw.encode(), "w.ipynb"), hf)
    assert (hit.cell, hit.line) == (None, 1)


def test_invalid_json_notebook_is_scanned_as_text(rng: random.Random) -> None:
    hf = tokens.hf_token(rng)
    blob = b'{"cells": [\n  {"source": [\n' + f'"tok = {hf}"\n'.encode()  # cut off mid-way
    hit = only_hit(scan(blob, "broken.ipynb"), hf)
    assert (hit.cell, hit.line) == (None, 3)


def test_notebook_that_is_not_an_object_is_scanned_as_text(rng: random.Random) -> None:
    hf = tokens.hf_token(rng)
    blob = json.dumps(["x", hf], indent=1).encode()
    assert only_hit(scan(blob, "list.ipynb"), hf).line == 3


def test_nbformat_3_worksheets(rng: random.Random) -> None:
    hf = tokens.hf_token(rng)
    document = {
        "nbformat": 3,
        "metadata": {},
        "worksheets": [
            {
                "cells": [
                    {"cell_type": "markdown", "source": ["hi"]},
                    {
                        "cell_type": "code",
                        "input": ["import os\n", f"TOKEN = '{hf}'\n"],
                        "outputs": [{"output_type": "stream", "stream": "stdout", "text": [f"{hf}\n"]}],
                    },
                ]
            }
        ],
    }
    result = scan(json.dumps(document).encode(), "old.ipynb")
    assert [(h.cell, h.output, h.line) for h in result.hits] == [(2, None, 2), (2, 1, 1)]


@pytest.mark.parametrize(
    "document",
    [
        {"worksheets": [{"cells": 5}]},
        {"worksheets": 3},
        {"cells": "text"},
        {"cells": [1, None, {"source": 7, "outputs": 3}, {"outputs": [None, {"data": 4, "text": {}}]}]},
    ],
    ids=["worksheet-cells-not-a-list", "worksheets-not-a-list", "cells-a-string", "odd-cells-and-outputs"],
)
def test_malformed_notebooks_are_still_scanned(rng: random.Random, document: dict[str, Any]) -> None:
    hf = tokens.hf_token(rng)
    blob = json.dumps({**document, "metadata": {"token": hf}}).encode()
    assert only_hit(scan(blob, "odd.ipynb"), hf).line == 1


# ---- binaries ----------------------------------------------------------------------------------------


def test_real_pyc_gives_offset_of_the_token(rng: random.Random, tmp_path: Path) -> None:
    hf, org = tokens.hf_token(rng), tokens.hf_org_token(rng)
    source = tmp_path / "config.py"
    source.write_text(f"HF_TOKEN = '{hf}'\nORG = '{org}'\nDEBUG = None\n")
    compiled = Path(py_compile.compile(str(source), cfile=str(tmp_path / "config.pyc"), doraise=True))
    data = compiled.read_bytes()
    result = scan(data, "__pycache__/config.cpython-311.pyc")
    for token in (hf, org):
        hit = only_hit(result, token)
        assert hit.offset == data.find(token.encode())
        assert data[hit.offset : hit.offset + len(token)] == token.encode()
        assert hit.line is None and token in hit.text


def test_token_followed_by_a_framing_letter_in_a_binary(rng: random.Random) -> None:
    # In a .pyc a string constant is followed by the next object's type letter (`N` for None, `Z`, `z`...).
    hf = tokens.hf_token(rng)
    blob = b"\xe3\x00\x00\x00\xfa%" + hf.encode() + b"N)\x02\xda\x00"
    hit = only_hit(scan(blob, "mod.pyc"), hf)
    assert hit.offset == 6


def test_pickle_of_a_dict_holding_a_token(rng: random.Random) -> None:
    hf, key = tokens.hf_token(rng), tokens.wandb_key(rng)
    data = pickle.dumps({"hf_token": hf, "n": 3, "run": {"wandb_key": key}})
    result = scan(data, "state.pkl")
    hit = only_hit(result, hf)
    assert hit.offset == data.find(hf.encode()) and hit.kind.id == "huggingface-token"


def test_vim_swap_like_blob_with_nuls(rng: random.Random) -> None:
    hf, key = tokens.hf_token(rng), tokens.wandb_key(rng)
    blob = (
        b"b0VIM 9.0\x00" + bytes(200) + f"export HF_TOKEN={hf}".encode() + bytes(37)
        + f"WANDB_API_KEY={key}".encode() + bytes(100)
    )  # fmt: skip
    result = scan(blob, ".train.sh.swp")
    assert [(h.kind.id, h.offset) for h in result.hits] == [
        ("huggingface-token", blob.find(hf.encode())),
        ("wandb-api-key", blob.find(key.encode())),
    ]
    assert result.hits[0].text == f"export HF_TOKEN={hf}"


def test_binary_run_with_anchor_but_no_secret(rng: random.Random) -> None:
    blob = bytes(50) + b"hf_hub_download(repo_id=...)" + bytes(50)
    assert scan(blob, "x.bin").hits == []


# ---- compressed streams and archives -----------------------------------------------------------------


def secret_file(rng: random.Random) -> tuple[str, bytes]:
    hf = tokens.hf_token(rng)
    return hf, f"# config\nHF_TOKEN={hf}\n".encode()


@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA])
def test_zip_member(rng: random.Random, compression: int) -> None:
    hf, content = secret_file(rng)
    blob = make_zip({"README.md": b"hello\n", "src/config.env": content}, compression)
    result = scan(blob, "submission.zip")
    assert places(result) == [("huggingface-token", "src/config.env", 2, None, None, None)]
    assert result.hits[0].secret == hf


@pytest.mark.parametrize(
    ("mode", "name"),
    [("w", "src.tar"), ("w:gz", "src.tar.gz"), ("w:gz", "src.tgz"), ("w:bz2", "src.tar.bz2"), ("w:xz", "src.tar.xz")],
)
def test_tar_member(rng: random.Random, mode: str, name: str) -> None:
    hf, content = secret_file(rng)
    result = scan(make_tar({"pkg/settings.env": content}, mode), name)
    assert places(result) == [("huggingface-token", "pkg/settings.env", 2, None, None, None)]
    assert result.hits[0].secret == hf


def test_zip_inside_tar_gz(rng: random.Random) -> None:
    hf, content = secret_file(rng)
    blob = make_tar({"release/inner.zip": make_zip({"deep/c.txt": content})}, "w:gz")
    hit = only_hit(scan(blob, "release.tar.gz"), hf)
    assert (hit.member, hit.line) == ("release/inner.zip!deep/c.txt", 2)


def test_notebook_inside_zip_keeps_cell_placement(rng: random.Random) -> None:
    hf = tokens.hf_token(rng)
    blob = make_zip({"nb/train.ipynb": notebook([code_cell(["x = 1\n", f"t = '{hf}'\n"])])})
    assert places(scan(blob, "nb.zip")) == [("huggingface-token", "nb/train.ipynb", 2, 1, None, None)]


def test_torch_checkpoint_is_a_zip_with_a_pickle(rng: random.Random) -> None:
    hf = tokens.hf_token(rng)
    data_pkl = pickle.dumps({"config": {"hub_token": hf}})
    blob = make_zip({"archive/data.pkl": data_pkl, "archive/data/0": bytes(64)}, zipfile.ZIP_STORED)
    hit = only_hit(scan(blob, "model.pt"), hf)
    assert (hit.member, hit.offset) == ("archive/data.pkl", data_pkl.find(hf.encode()))


@pytest.mark.parametrize(
    ("compress", "name"),
    [(gzip.compress, "train.log.gz"), (bz2.compress, "train.log.bz2"), (lzma.compress, "train.log.xz")],
    ids=["gzip", "bz2", "xz"],
)
def test_compressed_log(rng: random.Random, compress: Any, name: str) -> None:
    hf, content = secret_file(rng)
    result = scan(compress(b"epoch 1\nepoch 2\n" + content), name)
    assert places(result) == [("huggingface-token", None, 4, None, None, None)]
    assert result.hits[0].secret == hf


def test_gzipped_notebook_is_read_as_a_notebook(rng: random.Random) -> None:
    hf = tokens.hf_token(rng)
    blob = gzip.compress(notebook([markdown_cell("hi"), code_cell([f"t = '{hf}'\n"])]))
    assert places(scan(blob, "analysis.ipynb.gz")) == [("huggingface-token", None, 1, 2, None, None)]


def test_gzip_member_of_a_zip(rng: random.Random) -> None:
    hf, content = secret_file(rng)
    result = scan(make_zip({"logs/run.log.gz": gzip.compress(content)}), "logs.zip")
    assert places(result) == [("huggingface-token", "logs/run.log.gz", 2, None, None, None)]
    assert result.hits[0].secret == hf


def test_non_utf8_member_names_in_tar(rng: random.Random) -> None:
    hf, content = secret_file(rng)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT, encoding="latin-1") as archive:
        info = tarfile.TarInfo("donn\xe9es/caf\xe9.env")  # stored as Latin-1 bytes, not UTF-8
        info.size = len(content)
        archive.addfile(info, io.BytesIO(content))
    hit = only_hit(scan(buffer.getvalue(), "data.tar"), hf)
    assert hit.member is not None and hit.member.isprintable()
    assert hit.member.startswith("donn") and hit.member.endswith(".env") and hit.line == 2


def test_absolute_member_names_lose_their_leading_slash(rng: random.Random) -> None:
    hf, content = secret_file(rng)
    assert only_hit(scan(make_tar({"/etc/app.env": content}), "x.tar"), hf).member == "etc/app.env"


# ---- limits ------------------------------------------------------------------------------------------


def test_depth_limit_leaves_the_deepest_archive_unopened(rng: random.Random) -> None:
    shallow, content = secret_file(rng)
    deep, deep_content = secret_file(rng)
    inner = make_zip({"deep.env": deep_content})
    blob = make_zip({"top.env": content, "level1.zip": make_zip({"level2.zip": inner})})
    result = scan(blob, "x.zip", Limits(max_depth=2))
    assert [h.secret for h in result.hits] == [shallow]
    assert result.gaps == [
        Gap("archive nested deeper than 2 levels: not opened", "level1.zip!level2.zip"),
    ]
    assert deep in {h.secret for h in scan(blob, "x.zip", Limits(max_depth=3)).hits}


def test_depth_limit_still_scans_a_stored_archive_as_bytes(rng: random.Random) -> None:
    hf, content = secret_file(rng)
    blob = make_zip({"inner.zip": make_zip({"a.env": content}, zipfile.ZIP_STORED)})
    result = scan(blob, "x.zip", Limits(max_depth=1))
    assert result.gaps == [Gap("archive nested deeper than 1 levels: not opened", "inner.zip")]
    hit = only_hit(result, hf)
    assert hit.member == "inner.zip" and hit.offset is not None


@pytest.mark.parametrize("kind", ["zip", "tar"])
def test_member_count_limit(rng: random.Random, kind: str) -> None:
    hf, content = secret_file(rng)
    files = {f"m{index}.env": content for index in range(5)}
    blob = make_zip(files) if kind == "zip" else make_tar(files)
    result = scan(blob, f"x.{kind}", Limits(max_members=2))
    assert [(h.member, h.secret) for h in result.hits] == [("m0.env", hf), ("m1.env", hf)]
    assert result.gaps == [Gap("more than 2 members: the rest not scanned", None)]


def test_zip_bomb_member_is_skipped_and_the_rest_scanned(rng: random.Random) -> None:
    hf, content = secret_file(rng)
    blob = make_zip({"zeros.bin": bytes(4 * 1024 * 1024), "ok.env": content})
    assert len(blob) < 64 * 1024
    result = scan(blob, "x.zip", Limits(max_ratio=100))
    assert [(h.member, h.secret) for h in result.hits] == [("ok.env", hf)]
    (gap,) = result.gaps
    assert gap.member == "zeros.bin" and "zip bomb" in gap.message


def test_member_over_the_size_limit(rng: random.Random) -> None:
    _, content = secret_file(rng)
    small = b"hf_ nothing here\n"
    for blob, name in ((make_zip({"big.env": content, "small.txt": small}), "x.zip"),
                       (make_tar({"big.env": content, "small.txt": small}), "x.tar")):  # fmt: skip
        result = scan(blob, name, Limits(max_file_bytes=len(small) + 1))
        assert result.hits == []
        assert [(g.member, "scan limit" in g.message) for g in result.gaps] == [("big.env", True)]


def test_compressed_stream_over_the_size_limit(rng: random.Random) -> None:
    _, content = secret_file(rng)
    result = scan(gzip.compress(bytes(5000) + content), "x.log.gz", Limits(max_file_bytes=1000))
    assert result.hits == []
    assert len(result.gaps) == 1 and "gzip stream expands past" in result.gaps[0].message


def test_archive_byte_budget(rng: random.Random) -> None:
    hf, content = secret_file(rng)
    blob = make_zip({"a.env": content, "b.env": content, "c.env": content})
    result = scan(blob, "x.zip", Limits(max_archive_bytes=2 * len(content)))
    assert [(h.member, h.secret) for h in result.hits] == [("a.env", hf), ("b.env", hf)]
    assert result.gaps == [Gap("archive byte budget spent: rest not scanned", None)]


def test_encrypted_zip_member_is_a_gap(rng: random.Random) -> None:
    hf, content = secret_file(rng)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("secret.env", content)
        archive.infolist()[0].flag_bits |= 0x1  # the central directory says: encrypted
        archive.writestr("plain.env", content)
    result = scan(buffer.getvalue(), "x.zip")
    assert [(h.member, h.secret) for h in result.hits] == [("plain.env", hf)]
    assert result.gaps == [Gap("encrypted member: not scanned", "secret.env")]


def test_truncated_zip_is_a_gap_and_scanned_as_bytes(rng: random.Random) -> None:
    hf, content = secret_file(rng)
    whole = make_zip({"a.env": content}, zipfile.ZIP_STORED)
    blob = whole[: len(whole) - 30]  # the central directory is gone
    result = scan(blob, "x.zip")
    assert [g.message for g in result.gaps] == ["damaged zip file 'x.zip': BadZipFile; scanned as bytes"]
    assert only_hit(result, hf).offset == blob.find(hf.encode())


def test_truncated_deflated_zip_does_not_raise() -> None:
    whole = make_zip({"a.txt": b"hf_ " * 1000})
    result = scan(whole[:40], "x.zip")
    assert result.hits == [] and len(result.gaps) == 1


def test_corrupt_deflate_data_in_a_zip_is_a_gap(rng: random.Random) -> None:
    _, content = secret_file(rng)
    blob = bytearray(make_zip({"a.env": content + tokens.alnum(rng, 500).encode()}))
    start = 30 + len("a.env")  # the member's compressed data, after its local header
    blob[start : start + 40] = bytes(b ^ 0xFF for b in blob[start : start + 40])
    result = scan(bytes(blob), "x.zip")
    assert len(result.gaps) == 1 and result.gaps[0].message.startswith("damaged zip file 'x.zip'")


def test_unsupported_zip_compression_method_is_a_gap(rng: random.Random) -> None:
    hf, content = secret_file(rng)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("a.env", content)
        archive.infolist()[0].compress_type = 9  # Deflate64, which zipfile cannot read
    result = scan(buffer.getvalue(), "x.zip")
    assert [g.message for g in result.gaps] == ["damaged zip file 'x.zip': NotImplementedError; scanned as bytes"]
    assert only_hit(result, hf).offset is not None  # stored bytes: still found in the raw blob


@pytest.mark.parametrize(
    ("mode", "name"),
    [("w:gz", "x.tar.gz"), ("w:bz2", "x.tar.bz2"), ("w:xz", "x.tar.xz")],
)
def test_corrupt_compressed_tar_is_a_gap(rng: random.Random, mode: str, name: str) -> None:
    _, content = secret_file(rng)
    blob = bytearray(make_tar({"a.env": content + tokens.alnum(rng, 2000).encode()}, mode))
    middle = len(blob) // 2
    blob[middle : middle + 30] = bytes(b ^ 0xFF for b in blob[middle : middle + 30])
    result = scan(bytes(blob), name)
    assert len(result.gaps) >= 1 and all("damaged" in g.message for g in result.gaps)


@pytest.mark.parametrize("cut", [10, 100, 600])
def test_truncated_gzip_and_tar(rng: random.Random, cut: int) -> None:
    _, content = secret_file(rng)
    for blob, name in ((gzip.compress(content * 20), "x.log.gz"), (make_tar({"a.env": content}), "x.tar")):
        result = scan(blob[:cut], name)
        assert all("damaged" in g.message for g in result.gaps)


def test_not_a_tar_despite_its_name(rng: random.Random) -> None:
    hf, content = secret_file(rng)
    blob = content + bytes(600)
    result = scan(blob, "fake.tar")
    assert result.gaps == [] and only_hit(result, hf).offset == blob.find(hf.encode())
