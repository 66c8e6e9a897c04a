"""Safe extraction: hostile archives built at test time; nothing may appear outside the destination.

Every extraction goes through `Box.extract`, which lists everything under tmp_path except the
destination before and after, and fails the test if anything changed (a file written, a link made, a
file's content altered), or if a partial file was left in the destination.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import stat
import tarfile
import warnings
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest

from audit.ingest.extract import DEFAULT_LIMITS, ExtractError, Extraction, ExtractLimits, archive_kind, extract

TAR_FORMATS = {"tar": "", "tar.gz": "gz", "tgz": "gz", "tar.bz2": "bz2", "tar.xz": "xz"}
FORMATS = ["zip", *TAR_FORMATS]
MIB = 1024 * 1024


@dataclass(frozen=True)
class M:
    """One member to put in a test archive, whatever the format."""

    name: str
    data: bytes = b""
    kind: str = "file"  # file | dir | symlink | hardlink | fifo | chardev | blockdev
    target: str = ""
    mode: int = 0o644


def file(name: str, data: bytes | str = b"x") -> M:
    return M(name, data.encode() if isinstance(data, str) else data)


def symlink(name: str, target: str) -> M:
    return M(name, kind="symlink", target=target, mode=0o777)


def hardlink(name: str, target: str) -> M:
    return M(name, kind="hardlink", target=target)


def folder(name: str) -> M:
    return M(name, kind="dir", mode=0o755)


_TAR_TYPES = {
    "dir": tarfile.DIRTYPE,
    "symlink": tarfile.SYMTYPE,
    "hardlink": tarfile.LNKTYPE,
    "fifo": tarfile.FIFOTYPE,
    "chardev": tarfile.CHRTYPE,
    "blockdev": tarfile.BLKTYPE,
}
_ZIP_TYPES = {
    "file": stat.S_IFREG,
    "dir": stat.S_IFDIR,
    "symlink": stat.S_IFLNK,
    "fifo": stat.S_IFIFO,
    "chardev": stat.S_IFCHR,
    "blockdev": stat.S_IFBLK,
}


def write_tar(path: Path, members: Iterable[M], compression: str = "") -> Path:
    mode = f"w:{compression}" if compression else "w"
    with tarfile.open(path, mode, format=tarfile.PAX_FORMAT, encoding="utf-8", errors="surrogateescape") as tf:
        for m in members:
            info = tarfile.TarInfo(m.name)
            info.mode = m.mode
            if m.kind == "file":
                info.size = len(m.data)
                tf.addfile(info, io.BytesIO(m.data))
            else:
                info.type = _TAR_TYPES[m.kind]
                info.linkname = m.target
                tf.addfile(info)
    return path


def write_zip(path: Path, members: Iterable[M], compress_type: int = zipfile.ZIP_DEFLATED) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about duplicate names, which some tests want
        with zipfile.ZipFile(path, "w") as zf:
            for m in members:
                name = m.name + "/" if m.kind == "dir" and not m.name.endswith("/") else m.name
                info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
                info.create_system = 3
                info.external_attr = (_ZIP_TYPES[m.kind] | m.mode) << 16
                info.compress_type = compress_type
                zf.writestr(info, m.target.encode() if m.kind == "symlink" else m.data)
    return path


def write_archive(path: Path, fmt: str, members: Iterable[M]) -> Path:
    return write_zip(path, members) if fmt == "zip" else write_tar(path, members, TAR_FORMATS[fmt])


def snapshot(root: Path, skip: Path) -> dict[str, str]:
    """Everything under root but `skip`: kind and content (file hash, link target)."""
    seen: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = [d for d in dirnames if here / d != skip]
        for name in dirnames + filenames:
            path = here / name
            rel = str(path.relative_to(root))
            if path.is_symlink():
                seen[rel] = "link:" + os.readlink(path)
            elif path.is_dir():
                seen[rel] = "dir"
            elif path.is_file():
                seen[rel] = "file:" + hashlib.sha256(path.read_bytes()).hexdigest()
            else:
                seen[rel] = "special"  # a FIFO a test made: never opened
    return seen


@dataclass
class Box:
    root: Path
    dest: Path
    outside: Path

    def archive(self, name: str) -> Path:
        return self.root / "archives" / name

    def extract(self, archive: Path, limits: ExtractLimits = DEFAULT_LIMITS) -> Extraction:
        before = snapshot(self.root, self.dest)
        try:
            return extract(archive, self.dest, limits)
        finally:
            assert snapshot(self.root, self.dest) == before, "something changed outside the destination"
            if self.dest.exists():
                leftovers = [p for p in self.dest.rglob("*") if ".repro-audit-partial-" in p.name]
                assert leftovers == []

    def dest_is_empty(self) -> bool:
        return not self.dest.exists() or not any(self.dest.iterdir())


@pytest.fixture
def box(tmp_path: Path) -> Box:
    (tmp_path / "archives").mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("do not touch\n")
    return Box(tmp_path, tmp_path / "dest", outside)


def refused_names(extraction: Extraction) -> dict[str, str]:
    return {r.member: r.reason for r in extraction.refused}


def assert_one_line(message: str) -> None:
    assert message and "\n" not in message and "Traceback" not in message


# --- what an archive is -------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_archive_kind_is_decided_by_content_not_by_name(box: Box, fmt: str) -> None:
    archive = write_archive(box.archive("submission.bin"), fmt, [file("a.txt")])
    assert archive_kind(archive) == ("zip" if fmt == "zip" else "tar")


def test_archive_kind_of_things_that_are_not_archives(box: Box) -> None:
    text = box.archive("notes.zip")
    text.write_text("just some text, whatever the name says\n")
    gz = box.archive("single.tar.gz")
    gz.write_bytes(gzip.compress(b"one compressed file, not a tar"))
    empty = box.archive("empty.tar")
    empty.write_bytes(b"")
    assert archive_kind(text) is None
    assert archive_kind(gz) is None
    assert archive_kind(empty) is None
    assert archive_kind(box.archive("missing.zip")) is None
    assert archive_kind(box.root / "archives") is None
    fifo = box.archive("pipe.tar")
    os.mkfifo(fifo)
    assert archive_kind(fifo) is None  # and does not block on it
    with pytest.raises(ExtractError, match="is not a file"):
        box.extract(fifo)


def test_a_zip_with_a_stub_before_it_is_a_zip(box: Box) -> None:
    plain = write_zip(box.archive("plain.zip"), [file("a.txt", "a")])
    sfx = box.archive("installer.exe")
    sfx.write_bytes(b"#!stub that unpacks itself\n" * 10 + plain.read_bytes())
    assert archive_kind(sfx) == "zip"
    assert (box.extract(sfx).files, (box.dest / "a.txt").read_text()) == (1, "a")


# --- good archives ----------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_layout_of_entries_is_extracted(box: Box, fmt: str) -> None:
    members = [
        folder("A100"),
        folder("A100/alice"),
        folder("A100/alice/llm-recipe"),
        file("A100/alice/llm-recipe/Dockerfile", "FROM python:3.11\n"),
        file("A100/alice/llm-recipe/src/main.py", "print('hi')\n"),
        file("RTX4090/bob/tiny/submission_1/Dockerfile", "FROM ubuntu:22.04\n"),
        file("A100/alice/llm-recipe/" + "deeply-nested-folder/" * 8 + "long-names-need-pax-or-gnu-headers.txt"),
    ]
    result = box.extract(write_archive(box.archive(f"layout.{fmt}"), fmt, members))
    assert result.refused == []
    assert result.destination == box.dest.resolve()
    assert (result.files, result.bytes) == (4, sum(len(m.data) for m in members))
    assert (box.dest / "A100/alice/llm-recipe/Dockerfile").read_text() == "FROM python:3.11\n"
    assert (box.dest / "A100/alice/llm-recipe/src/main.py").is_file()
    assert (box.dest / "RTX4090/bob/tiny/submission_1/Dockerfile").is_file()


@pytest.mark.parametrize("fmt", list(TAR_FORMATS))
def test_tar_made_from_dot_has_its_dot_prefix_dropped(box: Box, fmt: str) -> None:
    members = [
        folder("."),
        folder("./repo"),
        file("./repo/Dockerfile", "FROM x\n"),
        hardlink("./copy", "./repo/Dockerfile"),
    ]
    result = box.extract(write_archive(box.archive(f"dot.{fmt}"), fmt, members))
    assert result.refused == []
    assert sorted(os.listdir(box.dest)) == ["copy", "repo"]
    assert (box.dest / "copy").read_text() == "FROM x\n"


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_single_entry_is_extracted_into_an_existing_destination(box: Box, fmt: str) -> None:
    box.dest.mkdir()
    (box.dest / "already-here.txt").write_text("kept")
    result = box.extract(write_archive(box.archive(f"one.{fmt}"), fmt, [file("Dockerfile", "FROM scratch\n")]))
    assert result.files == 1
    assert sorted(p.name for p in box.dest.iterdir()) == ["Dockerfile", "already-here.txt"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_permissions_keep_the_executable_bit_and_drop_the_dangerous_ones(box: Box, fmt: str) -> None:
    members = [M("run.sh", b"#!/bin/sh\n", mode=0o6777), M("data.txt", b"d", mode=0o666)]
    box.extract(write_archive(box.archive(f"modes.{fmt}"), fmt, members))
    run = stat.S_IMODE((box.dest / "run.sh").stat().st_mode)
    data = stat.S_IMODE((box.dest / "data.txt").stat().st_mode)
    assert run & 0o100 and not run & 0o7022
    assert not data & 0o111 and not data & 0o7022 and data & 0o600 == 0o600


@pytest.mark.parametrize("fmt", FORMATS)
def test_an_empty_archive_extracts_nothing(box: Box, fmt: str) -> None:
    result = box.extract(write_archive(box.archive(f"empty.{fmt}"), fmt, []))
    assert (result.files, result.bytes, result.refused) == (0, 0, [])
    assert box.dest_is_empty()


@pytest.mark.parametrize("fmt", FORMATS)
def test_names_with_spaces_and_non_ascii_characters(box: Box, fmt: str) -> None:
    names = ["My Entry/déjà vu.txt", "日本語/モデル の 重み.py", "emoji 🚀/ok.md"]
    result = box.extract(write_archive(box.archive(f"names.{fmt}"), fmt, [file(n, n) for n in names]))
    assert result.refused == []
    for name in names:
        assert (box.dest / name).read_text() == name


@pytest.mark.parametrize("fmt", list(TAR_FORMATS))
def test_tar_names_that_are_not_utf8_keep_their_bytes(box: Box, fmt: str) -> None:
    members = [file("caf\udce9.txt", "latin-1 name"), file("../caf\udce9\nline.txt", "refused")]
    result = box.extract(write_archive(box.archive(f"latin1.{fmt}"), fmt, members))
    assert os.listdir(os.fsencode(box.dest)) == [b"caf\xe9.txt"]
    assert [r.member for r in result.refused] == ["../caf\\xe9\\nline.txt"]  # printable, one line


def _patch(archive: Path, old: bytes, new: bytes) -> None:
    data = archive.read_bytes()
    assert len(old) == len(new) and data.count(old) == 2  # local header and central directory
    archive.write_bytes(data.replace(old, new))


def test_zip_names_without_the_utf8_flag(box: Box) -> None:
    archive = write_zip(box.archive("legacy.zip"), [file("cafX.txt", "cp437"), file("naXXve.txt", "utf-8")])
    _patch(archive, b"cafX.txt", b"caf\xe9.txt")  # not UTF-8: read as cp437, as the zip standard says
    _patch(archive, b"naXXve.txt", "naïve.txt".encode())  # UTF-8 without the flag (old tools): read as UTF-8
    result = box.extract(archive)
    assert result.refused == []
    assert sorted(os.listdir(box.dest)) == ["cafΘ.txt", "naïve.txt"]


def test_zip_backslashes_are_separators(box: Box) -> None:
    members = [file("A100\\user\\repo\\Dockerfile", "FROM x\n"), file("..\\..\\evil.txt")]
    result = box.extract(write_zip(box.archive("windows.zip"), members))
    assert (box.dest / "A100/user/repo/Dockerfile").is_file()
    assert list(refused_names(result)) == ["..\\..\\evil.txt"]


# --- where members land -----------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", ["../escape.txt", "../../escape.txt", "a/../../escape.txt", "ok/../../outside/x.txt"])
def test_path_traversal_is_refused(box: Box, fmt: str, name: str) -> None:
    members = [file(name, "evil"), file("fine.txt", "fine")]
    result = box.extract(write_archive(box.archive(f"traversal.{fmt}"), fmt, members))
    assert list(refused_names(result)) == [name]
    assert (box.dest / "fine.txt").read_text() == "fine"
    assert result.files == 1


@pytest.mark.parametrize("fmt", FORMATS)
def test_dotdot_inside_the_name_is_refused_even_when_it_stays_inside(box: Box, fmt: str) -> None:
    result = box.extract(write_archive(box.archive(f"dotdot.{fmt}"), fmt, [file("a/../b.txt")]))
    assert list(refused_names(result)) == ["a/../b.txt"]  # as GNU tar does


@pytest.mark.parametrize("fmt", FORMATS)
def test_absolute_names_land_inside_the_destination(box: Box, fmt: str) -> None:
    absolute = str(box.outside / "planted.txt")  # a bug would write right here, next to secret.txt
    result = box.extract(write_archive(box.archive(f"absolute.{fmt}"), fmt, [file(absolute, "planted")]))
    assert result.refused == []
    assert (box.dest / absolute.lstrip("/")).read_text() == "planted"


# --- links ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("target", ["../outside", "../../", "sub/../../outside", "ABSOLUTE"])
def test_a_symlink_pointing_out_is_refused_and_nothing_is_written_through_it(box: Box, fmt: str, target: str) -> None:
    target = str(box.outside) if target == "ABSOLUTE" else target
    members = [symlink("link", target), file("link/pwned.txt", "pwned"), file("link/../pwned2.txt")]
    result = box.extract(write_archive(box.archive(f"symlink-out.{fmt}"), fmt, members))
    assert "link" in refused_names(result)
    assert "link/../pwned2.txt" in refused_names(result)
    assert not (box.dest / "link").is_symlink()


@pytest.mark.parametrize("fmt", FORMATS)
def test_nothing_is_written_through_a_symlink_even_one_pointing_inside(box: Box, fmt: str) -> None:
    members = [folder("real"), symlink("alias", "real"), file("alias/x.txt", "through the link")]
    result = box.extract(write_archive(box.archive(f"through.{fmt}"), fmt, members))
    assert "symbolic link" in refused_names(result)["alias/x.txt"]
    assert os.readlink(box.dest / "alias") == "real"
    assert not (box.dest / "real/x.txt").exists()


@pytest.mark.parametrize("fmt", FORMATS)
def test_symlinks_inside_and_chains_of_them_are_kept(box: Box, fmt: str) -> None:
    members = [
        file("data/weights.bin", "w"),
        symlink("latest", "data/weights.bin"),
        symlink("current", "latest"),
        symlink("data/up", ".."),
        symlink("dirlink", "data"),
        symlink("dangling", "not-there-yet"),
    ]
    result = box.extract(write_archive(box.archive(f"links.{fmt}"), fmt, members))
    assert result.refused == []
    assert (box.dest / "current").read_text() == "w"
    assert (box.dest / "data/up/dirlink/weights.bin").read_text() == "w"
    assert os.readlink(box.dest / "dangling") == "not-there-yet"
    assert result.files == 6


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_chain_of_symlinks_that_ends_outside_is_refused(box: Box, fmt: str) -> None:
    members = [symlink("sub/l2", ".."), symlink("l1", "sub/l2"), symlink("l3", "l1/..")]
    result = box.extract(write_archive(box.archive(f"chain.{fmt}"), fmt, members))
    assert list(refused_names(result)) == ["l3"]
    assert (box.dest / "l1").resolve() == box.dest.resolve()


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_symlink_made_unsafe_by_a_later_member_is_removed(box: Box, fmt: str) -> None:
    # "trap" is harmless while "later" is missing; once "later" -> "." exists, trap leads to the parent
    members = [symlink("trap", "later/.."), symlink("later", ".")]
    result = box.extract(write_archive(box.archive(f"later.{fmt}"), fmt, members))
    assert "once later members were in place" in refused_names(result)["trap"]
    assert not os.path.lexists(box.dest / "trap")
    assert result.files == 1


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_symlink_loop_is_refused(box: Box, fmt: str) -> None:
    members = [symlink("a", "b"), symlink("b", "a")]
    result = box.extract(write_archive(box.archive(f"loop.{fmt}"), fmt, members))
    reasons = list(refused_names(result).values())  # found once both exist: the first one is removed
    assert len(reasons) == 1 and "loop" in reasons[0]


@pytest.mark.parametrize("fmt", list(TAR_FORMATS))
def test_a_hard_link_to_a_file_inside_is_kept(box: Box, fmt: str) -> None:
    members = [file("model/a.bin", "shared"), hardlink("copy/b.bin", "model/a.bin")]
    result = box.extract(write_archive(box.archive(f"hard.{fmt}"), fmt, members))
    assert result.refused == []
    a, b = (box.dest / "model/a.bin").stat(), (box.dest / "copy/b.bin").stat()
    assert (a.st_ino, a.st_nlink) == (b.st_ino, 2)


@pytest.mark.parametrize("fmt", list(TAR_FORMATS))
def test_hard_links_out_of_the_destination_or_to_nothing_are_refused(box: Box, fmt: str) -> None:
    secret = str(box.outside / "secret.txt")
    members = [
        hardlink("h1", "../outside/secret.txt"),
        hardlink("h2", secret),
        hardlink("h3", "never-extracted.txt"),
        folder("dir"),
        hardlink("h4", "dir"),
        file("h5"),
        hardlink("h5", "h5"),
    ]
    result = box.extract(write_archive(box.archive(f"hard-out.{fmt}"), fmt, members))
    assert sorted(refused_names(result)) == ["h1", "h2", "h3", "h4", "h5"]
    assert sorted(os.listdir(box.dest)) == ["dir", "h5"]


def test_the_cve_2025_4517_escape_is_stopped(box: Box) -> None:
    # The published bypass of the data filter of Python < 3.11.13: symlinks through folders with long
    # names make os.path.realpath give up, so the filter accepts a link that the kernel resolves outside.
    # Plain `extractall(filter="data")` on this Python writes escape/pwned.txt into `outside`.
    long_name = "d" * 247
    steps = "abcdefghijklmnop"
    members: list[M] = []
    path = ""
    for step in steps:
        members += [folder(os.path.join(path, long_name)), symlink(os.path.join(path, step), long_name)]
        path = os.path.join(path, long_name)
    link_path = os.path.join(*steps, "l" * 254)
    members += [
        symlink(link_path, "../" * len(steps)),
        symlink("escape", link_path + "/../outside"),
        file("escape/pwned.txt", "pwned"),
    ]
    result = box.extract(write_tar(box.archive("cve-2025-4517.tar"), members))
    assert {link_path, "escape"} <= set(refused_names(result))
    assert not os.path.lexists(box.dest / "escape") or not (box.dest / "escape").is_symlink()


# --- what is skipped --------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_device_files_and_fifos_are_skipped(box: Box, fmt: str) -> None:
    members = [M("pipe", kind="fifo"), M("null", kind="chardev"), M("disk", kind="blockdev"), file("ok.txt")]
    result = box.extract(write_archive(box.archive(f"special.{fmt}"), fmt, members))
    reasons = refused_names(result)
    assert sorted(reasons) == ["disk", "null", "pipe"]
    assert all("skipped" in reason for reason in reasons.values())
    assert os.listdir(box.dest) == ["ok.txt"]


# --- duplicates and what is already there -----------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_duplicate_name_the_later_member_wins(box: Box, fmt: str) -> None:
    members = [
        file("a.txt", "first"),
        file("a.txt", "second"),
        file("data.txt", "original"),
        symlink("x", "data.txt"),
        file("x", "replaces the link, never written through it"),
    ]
    result = box.extract(write_archive(box.archive(f"dup.{fmt}"), fmt, members))
    assert result.refused == []
    assert (box.dest / "a.txt").read_text() == "second"
    assert not (box.dest / "x").is_symlink()
    assert (box.dest / "data.txt").read_text() == "original"


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_duplicate_name_between_a_file_and_a_folder_is_refused(box: Box, fmt: str) -> None:
    members = [folder("d"), file("d/inside.txt"), file("d", "not a folder"), file("f"), file("f/under-a-file.txt")]
    result = box.extract(write_archive(box.archive(f"dup-dir.{fmt}"), fmt, members))
    assert sorted(refused_names(result)) == ["d", "f/under-a-file.txt"]
    assert (box.dest / "d/inside.txt").is_file()
    assert (box.dest / "f").is_file()


@pytest.mark.parametrize("fmt", FORMATS)
def test_symlinks_already_in_the_destination_are_never_followed(box: Box, fmt: str) -> None:
    box.dest.mkdir()
    (box.dest / "evil").symlink_to(box.outside)
    (box.dest / "evil_file").symlink_to(box.outside / "secret.txt")
    (box.dest / "evil_rel").symlink_to("../outside")
    members = [
        file("evil/pwned.txt"),
        file("evil_rel/pwned.txt"),
        file("evil_file", "overwrite?"),
        symlink("s", "evil/secret.txt"),
    ]
    if fmt != "zip":
        members.append(hardlink("h", "evil/secret.txt"))
    result = box.extract(write_archive(box.archive(f"pre-existing.{fmt}"), fmt, members))
    refused = refused_names(result)
    assert {"evil/pwned.txt", "evil_rel/pwned.txt", "s"} <= set(refused)
    assert fmt == "zip" or "h" in refused
    # evil_file: the link is replaced by the member (zip), or the member refused by the data filter
    # (tar), which leaves the link; never written through (Box checks that secret.txt is unchanged)
    if fmt == "zip":
        assert not (box.dest / "evil_file").is_symlink()
        assert (box.dest / "evil_file").read_text() == "overwrite?"
    else:
        assert "outside the destination" in refused["evil_file"]


# --- bombs and limits -------------------------------------------------------------------------------


def test_a_zip_member_with_a_high_compression_ratio_is_refused(box: Box) -> None:
    members = [file("bomb.bin", bytes(8 * MIB)), file("ok.txt", "ok")]
    result = box.extract(write_zip(box.archive("bomb.zip"), members))
    assert "max_ratio" in refused_names(result)["bomb.bin"]
    assert os.listdir(box.dest) == ["ok.txt"]


def test_a_small_member_is_not_held_to_the_ratio(box: Box) -> None:
    result = box.extract(write_zip(box.archive("zeros.zip"), [file("zeros.bin", bytes(MIB))]))
    assert (result.refused, result.bytes) == ([], MIB)


@pytest.mark.parametrize("fmt", ["zip", "tar.gz", "tar.bz2", "tar.xz"])
def test_an_archive_that_expands_too_much_overall_is_an_error(box: Box, fmt: str) -> None:
    # each member is under 1 MiB, so only the overall ratio can stop it
    members = [file(f"part{i}.bin", bytes(MIB)) for i in range(20)]
    with pytest.raises(ExtractError, match="max_ratio") as caught:
        box.extract(write_archive(box.archive(f"overall.{fmt}"), fmt, members))
    assert_one_line(str(caught.value))
    assert box.dest_is_empty()


def test_a_plain_tar_is_not_held_to_the_ratio(box: Box) -> None:
    result = box.extract(write_tar(box.archive("plain.tar"), [file("zeros.bin", bytes(4 * MIB))]))
    assert result.bytes == 4 * MIB


@pytest.mark.parametrize("fmt", FORMATS)
def test_too_many_members_is_an_error_before_anything_is_written(box: Box, fmt: str) -> None:
    members = [file(f"f{i}.txt") for i in range(6)]
    with pytest.raises(ExtractError, match="max_members") as caught:
        box.extract(write_archive(box.archive(f"many.{fmt}"), fmt, members), ExtractLimits(max_members=5))
    assert_one_line(str(caught.value))
    assert box.dest_is_empty()


@pytest.mark.parametrize("fmt", FORMATS)
def test_too_many_bytes_in_total_is_an_error_before_anything_is_written(box: Box, fmt: str) -> None:
    members = [file("a.bin", os.urandom(600)), file("b.bin", os.urandom(600))]
    with pytest.raises(ExtractError, match="max_total_bytes") as caught:
        box.extract(write_archive(box.archive(f"total.{fmt}"), fmt, members), ExtractLimits(max_total_bytes=1000))
    assert_one_line(str(caught.value))
    assert box.dest_is_empty()


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_member_over_the_size_limit_is_refused_and_not_written_at_all(box: Box, fmt: str) -> None:
    members = [file("big.bin", os.urandom(200)), file("small.txt", "small")]
    result = box.extract(write_archive(box.archive(f"big.{fmt}"), fmt, members), ExtractLimits(max_member_bytes=100))
    assert "max_member_bytes" in refused_names(result)["big.bin"]
    assert os.listdir(box.dest) == ["small.txt"]


# --- broken archives --------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_truncated_archive_is_an_error_with_a_clear_message(box: Box, fmt: str) -> None:
    archive = write_archive(box.archive(f"cut.{fmt}"), fmt, [file("a.txt", "a"), file("big.bin", os.urandom(200_000))])
    data = archive.read_bytes()
    archive.write_bytes(data[: len(data) // 2])
    with pytest.raises(ExtractError, match="truncated or corrupt") as caught:
        box.extract(archive)
    assert_one_line(str(caught.value))
    assert "again" in str(caught.value)
    assert box.dest_is_empty()


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"just text\n", "neither a zip nor a tar"),
        (gzip.compress(b"one compressed file"), "gzip-compressed"),
        (b"7z\xbc\xaf\x27\x1c" + bytes(100), "7-Zip or RAR"),
        (b"", "is empty"),
    ],
)
def test_something_that_is_not_an_archive_is_an_error(box: Box, content: bytes, says: str) -> None:
    archive = box.archive("submission.zip")
    archive.write_bytes(content)
    with pytest.raises(ExtractError, match=says) as caught:
        box.extract(archive)
    assert_one_line(str(caught.value))
    assert "give a .zip" in str(caught.value)
    assert box.dest_is_empty()


def test_a_missing_archive_is_an_error(box: Box) -> None:
    with pytest.raises(ExtractError, match="No such file") as caught:
        box.extract(box.archive("gone.zip"))
    assert_one_line(str(caught.value))


def test_a_destination_that_is_a_file_is_an_error(box: Box) -> None:
    archive = write_zip(box.archive("a.zip"), [file("a.txt")])
    box.dest.write_text("a file")
    with pytest.raises(ExtractError, match="not a folder"):
        extract(archive, box.dest)


def _zip_set_flag(archive: Path, member: str, flag: int) -> None:
    """Set a general-purpose flag bit of one member in its local header and central directory entry."""
    data = bytearray(archive.read_bytes())
    with zipfile.ZipFile(archive) as zf:
        local = zf.getinfo(member).header_offset
    data[local + 6] |= flag
    name = member.encode()
    central = data.find(b"PK\x01\x02")
    while central != -1:
        name_length = int.from_bytes(data[central + 28 : central + 30], "little")
        if data[central + 46 : central + 46 + name_length] == name:
            data[central + 8] |= flag
        central = data.find(b"PK\x01\x02", central + 4)
    archive.write_bytes(bytes(data))


def test_a_password_protected_zip_member_is_refused(box: Box) -> None:
    archive = write_zip(box.archive("locked.zip"), [file("secret.txt", "s"), file("plain.txt", "p")])
    _zip_set_flag(archive, "secret.txt", 0x1)
    result = box.extract(archive)
    assert "password" in refused_names(result)["secret.txt"]
    assert os.listdir(box.dest) == ["plain.txt"]


def test_a_corrupt_zip_member_is_refused_and_leaves_no_partial_file(box: Box) -> None:
    payload = os.urandom(3 * MIB)  # stored, so megabytes are written before the CRC at the end fails
    archive = write_zip(
        box.archive("corrupt.zip"), [file("bad.bin", payload), file("good.txt", "g")], zipfile.ZIP_STORED
    )
    data = bytearray(archive.read_bytes())
    data[data.find(payload[MIB : MIB + 64]) + 10] ^= 0xFF
    archive.write_bytes(bytes(data))
    result = box.extract(archive)
    assert "corrupt" in refused_names(result)["bad.bin"]
    assert os.listdir(box.dest) == ["good.txt"]
