"""Safe extraction of a submitted archive (zip or tar) into a run's workspace.

A submission archive is hostile until shown otherwise. `extract` guarantees:

- Nothing is written outside the destination. Every file, folder and link is created relative to an
  open descriptor of the destination, one path component at a time with `O_NOFOLLOW`, so no symbolic
  link is ever followed while writing: not one the archive made, not one already in the destination.
  A member whose folder is a link is refused, whatever the link points to (archives made from a tree
  never need that; it is how "make a link, then write through it" attacks work).
- Links stay inside. A symbolic link is created only if its target, resolved component by component
  against what is on disk (links followed, `..` above the destination refused), stays inside; all links
  are checked again once the archive is extracted, because a later member can change what an earlier
  link resolves to. A hard link must name a regular file already extracted inside.
- Device files, FIFOs and sockets are skipped; permissions are reduced as the tar data filter does
  (no set-id bits, no group/other write); owners are not restored.
- Bombs are stopped by `ExtractLimits`: member count, total size and overall compression ratio are
  whole-archive limits, checked before anything is written (`ExtractError`); the size and, for zip,
  the compression ratio of one member are per-member limits (the member is refused). A compressed tar
  is one stream, so its members have no compressed size of their own: only its overall ratio is
  checked. A zip's totals count the members not already refused from its directory (they are never
  read); a tar's count every member (its data must be read through to reach the next one). Nested
  archives are not opened.
- Every refused member becomes a `Refused` record and the other members are still extracted. A problem
  with the archive as a whole (not an archive, truncated, corrupt, over a limit) raises `ExtractError`
  with a one-line message saying what to do; it is raised before any member is written (barring a
  full disk, or an archive that changes while it is extracted).
- A file is written under a temporary name and renamed when complete: a member's name never holds a
  partial file.

Policies: a duplicate member name replaces the earlier member (the later one wins, as with `tar x`),
unless one of the two is a folder (the later member is refused). Leading `/` is stripped from member
names (as GNU tar, unzip and the data filter do); a name with a `..` component is refused (as GNU tar
does). Zip names use `\\` as a separator too, and a drive prefix (`C:`) is dropped. Zip names without the
UTF-8 flag are decoded as UTF-8 when they are valid UTF-8, else as cp437 (the zip standard); tar names
keep their bytes (surrogateescape). `Refused.member` is printable: undecodable bytes show as `\\xNN`.

For tar, each member goes through `tarfile.data_filter` (PEP 706) first, and its verdict stands. The
writer and the link resolution above are still ours: zipfile has no filter, and the filter of this
Python (3.11.7) resolves paths with `os.path.realpath`, which CVE-2025-4517 and its siblings
(python/cpython#135034, fixed in 3.11.13) turn into an escape. Tar archives are read as streams (no
backward seek, so no loop on negative offsets, CVE-2025-8194), twice: once to check that the archive
reads to its end within the limits, once to extract.
"""

from __future__ import annotations

import bz2
import errno
import gzip
import io
import lzma
import os
import re
import secrets
import stat
import tarfile
import zipfile
import zlib
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

MIB = 1024 * 1024
RATIO_FLOOR = MIB
"""Compression ratios are checked only for members (and archives) that expand to more than this."""
MAX_LINK_TARGET = 4096
"""A zip symbolic link stores its target as data; a longer "target" is not a link anyone made."""
MAX_LINK_HOPS = 40
"""Links followed while resolving one path, as the kernel's limit (ELOOP)."""
CHUNK = MIB

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_NEW_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
_ZIP_METHODS = frozenset({zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA})
_ZIP_UNIX = 3  # ZipInfo.create_system of archives whose external_attr holds a unix mode
_ZIP_ENCRYPTED = 0x1
_ZIP_UTF8 = 0x800
_DRIVE = re.compile(rb"^[A-Za-z]:")
# Errors the standard library raises for unreadable archive data (bz2 raises OSError).
_READ_ERRORS = (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError, zlib.error, lzma.LZMAError, ValueError)


@dataclass(frozen=True)
class ExtractLimits:
    max_total_bytes: int = 8 * 1024**3
    max_members: int = 200_000
    max_member_bytes: int = 4 * 1024**3
    max_ratio: int = 200  # per member and overall, for members bigger than 1 MiB


DEFAULT_LIMITS = ExtractLimits()


@dataclass(frozen=True)
class Refused:
    member: str  # printable name as stored in the archive
    reason: str  # one line, for people


@dataclass
class Extraction:
    destination: Path  # resolved
    refused: list[Refused] = field(default_factory=list)
    files: int = 0  # regular files and links written (folders not counted)
    bytes: int = 0  # bytes of regular files written


class ExtractError(Exception):
    """The archive as a whole cannot be extracted; the message (one line) says what and what to do."""


class _Refuse(Exception):
    """One member is refused; the argument is the reason."""

    @property
    def reason(self) -> str:
        return str(self.args[0])


class _ReadFailed(Exception):
    """Reading a member's data failed (corrupt or truncated), as opposed to writing it."""


def archive_kind(path: Path) -> str | None:
    """The kind of archive at `path` by its content, not its name: zip, tar (plain or compressed) or None."""
    try:
        if not stat.S_ISREG(path.stat().st_mode):  # a FIFO would block the read below
            return None
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError:
        return None
    if head.startswith(_ZIP_MAGICS):
        return "zip"
    if _reads_as_tar(path) or _is_broken_compressed_stream(path):
        return "tar"  # a broken one is reported as a truncated or corrupt tar by `extract`
    try:  # a zip with something before it (a self-extractor stub): found by its end record
        if zipfile.is_zipfile(path):
            return "zip"
    except OSError:
        pass
    return None


def extract(archive: Path, destination: Path, limits: ExtractLimits = DEFAULT_LIMITS) -> Extraction:
    """Extract `archive` into `destination` (created if missing); see the module docstring for the rules."""
    try:
        archive_stat = archive.stat()
    except OSError as exc:
        raise ExtractError(f"cannot read {archive}: {exc.strerror}; check the path") from None
    if not stat.S_ISREG(archive_stat.st_mode):
        raise ExtractError(f"{archive} is not a file; give a .zip, .tar, .tar.gz, .tar.bz2 or .tar.xz file")
    archive_size = archive_stat.st_size
    kind = archive_kind(archive)
    if kind is None:
        raise ExtractError(f"{archive} {_what_it_is(archive)}; give a .zip, .tar, .tar.gz, .tar.bz2 or .tar.xz file")
    root = _prepare_destination(destination)
    result = Extraction(destination=root)
    try:
        with _Workspace(root) as workspace:
            if kind == "zip":
                _extract_zip(archive, archive_size, workspace, limits, result)
            else:
                _extract_tar(archive, archive_size, workspace, limits, result)
            for member, reason in workspace.recheck_links():
                result.refused.append(Refused(member, reason))
                result.files -= 1
    except OSError as exc:  # the destination itself failed us (per-member problems are records)
        raise ExtractError(f"{archive}: cannot write into {root} ({exc.strerror}); check the destination") from None
    return result


# --- tar -------------------------------------------------------------------------------------------


@contextmanager
def _open_tar_stream(archive: Path) -> Iterator[tarfile.TarFile]:
    # UTF-8 whatever the locale; undecodable name bytes survive as surrogates and go back to disk as-is
    with tarfile.open(archive, "r|*", encoding="utf-8", errors="surrogateescape") as tf:
        yield tf


def _reads_as_tar(path: Path) -> bool:
    try:
        with _open_tar_stream(path) as tf:
            tf.next()
    except _READ_ERRORS:
        return False
    return True


_COMPRESSED: dict[bytes, tuple[str, Callable[[Path], io.BufferedIOBase]]] = {
    b"\x1f\x8b": ("gzip", gzip.GzipFile),
    b"BZh": ("bzip2", bz2.BZ2File),
    b"\xfd7zXZ\x00": ("xz", lzma.LZMAFile),
}
BROKEN_STREAM_PROBE = 16 * MIB
"""How much of a compressed file that is no tar is decompressed to see whether it is cut short."""


def _is_broken_compressed_stream(path: Path) -> bool:
    """A gzip/bzip2/xz file that ends early or does not decompress (a tar cut inside its first block)."""
    try:
        with open(path, "rb") as f:
            head = f.read(6)
    except OSError:
        return False
    for magic, (_, opener) in _COMPRESSED.items():
        if head.startswith(magic):
            try:
                with opener(path) as stream:
                    for _ in range(BROKEN_STREAM_PROBE // CHUNK):
                        if not stream.read(CHUNK):
                            break
            except (EOFError, OSError, zlib.error, lzma.LZMAError):
                return True
    return False


def _carries_data(member: tarfile.TarInfo) -> bool:
    """Whether tarfile reads data blocks after this header (regular files and unknown types do)."""
    return not (
        member.isdir() or member.issym() or member.islnk() or member.ischr() or member.isblk() or member.isfifo()
    )


def _survey_tar(archive: Path, archive_size: int, limits: ExtractLimits) -> None:
    """Read the whole archive once without writing: it must read to its end and stay within the limits."""
    members = 0
    total = 0
    last_offset = -1
    try:
        with _open_tar_stream(archive) as tf:
            while (member := tf.next()) is not None:
                members += 1
                _check_member_count(archive, members, limits)
                if member.size < 0 or member.offset <= last_offset:
                    raise ExtractError(f"{archive}: corrupt tar headers (offsets go backwards); repack the archive")
                last_offset = member.offset
                if not _carries_data(member):
                    continue
                total += member.size
                _check_totals(archive, total, archive_size, limits)
                if member.isreg():
                    data = tf.extractfile(member)
                    if data is not None:
                        while data.read(CHUNK):
                            pass
    except _READ_ERRORS as exc:
        raise ExtractError(
            f"{archive}: the tar archive is truncated or corrupt ({_one_line(exc)}); copy or download it again"
        ) from None


def _extract_tar(
    archive: Path, archive_size: int, workspace: _Workspace, limits: ExtractLimits, result: Extraction
) -> None:
    _survey_tar(archive, archive_size, limits)
    try:
        with _open_tar_stream(archive) as tf:
            while (member := tf.next()) is not None:
                _extract_tar_member(tf, member, workspace, limits, result)
    except (*_READ_ERRORS, _ReadFailed) as exc:
        if isinstance(exc, OSError) and exc.errno in _DISK_FULL:
            raise _disk_full(archive, exc) from None
        raise ExtractError(
            f"{archive}: the tar archive could not be read a second time ({_one_line(exc)}); copy it again"
        ) from None


def _extract_tar_member(
    tf: tarfile.TarFile, member: tarfile.TarInfo, workspace: _Workspace, limits: ExtractLimits, result: Extraction
) -> None:
    shown = _printable(member.name)
    try:
        try:
            safe = tarfile.data_filter(member, os.fsdecode(workspace.root))
        except tarfile.FilterError as exc:
            raise _Refuse(_filter_reason(exc, member)) from None
        parts = _parts(_encode(safe.name))
        if not parts:
            if safe.isdir():
                return  # the archive's top folder ("./"): the destination itself
            raise _Refuse("empty name")
        if safe.isdir():
            workspace.make_dir(parts)
        elif safe.isreg():
            if safe.size > limits.max_member_bytes:
                raise _Refuse(_too_big(safe.size, limits))
            data = tf.extractfile(member)
            if data is None:  # pragma: no cover - tarfile returns a file object for every regular member
                raise _Refuse("tarfile gave no data for this member")
            mode = 0o644 if safe.mode is None else safe.mode
            result.bytes += workspace.write_file(parts, data, mode, limits.max_member_bytes)
            result.files += 1
        elif safe.issym():
            workspace.make_symlink(parts, _encode(safe.linkname), shown)
            result.files += 1
        elif safe.islnk():
            workspace.make_hardlink(parts, _encode(safe.linkname))
            result.files += 1
        else:  # pragma: no cover - the data filter refuses every other type
            raise _Refuse(_special_reason(member))
    except _Refuse as refusal:
        result.refused.append(Refused(shown, refusal.reason))
    except OSError as exc:
        if exc.errno in _DISK_FULL:
            raise
        result.refused.append(Refused(shown, f"could not be written: {exc.strerror}"))


def _filter_reason(exc: tarfile.FilterError, member: tarfile.TarInfo) -> str:
    link = "hard link" if member.islnk() else "symbolic link"
    target = _printable(member.linkname)
    if isinstance(exc, tarfile.SpecialFileError):
        return _special_reason(member)
    if isinstance(exc, tarfile.AbsoluteLinkError):
        return f"{link} to an absolute path ('{target}')"
    if isinstance(exc, tarfile.LinkOutsideDestinationError):
        return f"{link} pointing outside the destination ('{target}')"
    if isinstance(exc, tarfile.OutsideDestinationError):
        return "would land outside the destination (through '..' or a symbolic link)"
    if isinstance(exc, tarfile.AbsolutePathError):
        return "absolute path that cannot be made relative"
    return f"refused by the tar data filter ({_one_line(exc)})"


def _special_reason(member: tarfile.TarInfo) -> str:
    if member.ischr():
        return "character device file: skipped"
    if member.isblk():
        return "block device file: skipped"
    if member.isfifo():
        return "FIFO (named pipe): skipped"
    return f"unsupported tar member type {member.type!r}: skipped"


# --- zip -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _ZipPlan:
    info: zipfile.ZipInfo
    shown: str
    parts: list[bytes]
    kind: str  # "dir" | "file" | "symlink"
    mode: int


def _extract_zip(
    archive: Path, archive_size: int, workspace: _Workspace, limits: ExtractLimits, result: Extraction
) -> None:
    try:
        zf = zipfile.ZipFile(archive)
    except (*_READ_ERRORS, UnicodeDecodeError, NotImplementedError) as exc:
        raise ExtractError(
            f"{archive}: the zip archive is truncated or corrupt ({_one_line(exc)}); copy or download it again"
        ) from None
    with zf:
        infos = zf.infolist()
        _check_member_count(archive, len(infos), limits)
        plans: list[_ZipPlan | Refused] = [_plan_zip_member(info, limits) for info in infos]
        # whole-archive limits count what would be written: members refused from the directory are never read
        total = sum(p.info.file_size for p in plans if isinstance(p, _ZipPlan) and p.kind != "dir")
        _check_totals(archive, total, archive_size, limits)
        for plan in plans:
            if isinstance(plan, Refused):
                result.refused.append(plan)
                continue
            try:
                _extract_zip_member(zf, plan, workspace, limits, result)
            except _Refuse as refusal:
                result.refused.append(Refused(plan.shown, refusal.reason))
            except OSError as exc:
                if exc.errno in _DISK_FULL:
                    raise _disk_full(archive, exc) from None
                result.refused.append(Refused(plan.shown, f"could not be written: {exc.strerror}"))


def _zip_name(info: zipfile.ZipInfo) -> bytes:
    """The member name as UTF-8 bytes: UTF-8 flag, else valid UTF-8, else cp437 (the zip standard)."""
    if info.flag_bits & _ZIP_UTF8:
        return info.orig_filename.encode("utf-8")
    raw = info.orig_filename.encode("cp437")  # zipfile decoded the raw bytes as cp437: get them back
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return info.orig_filename.encode("utf-8")
    return raw


def _plan_zip_member(info: zipfile.ZipInfo, limits: ExtractLimits) -> _ZipPlan | Refused:
    name = _zip_name(info)
    shown = _printable(name.decode("utf-8"))
    unix_mode = info.external_attr >> 16 if info.create_system == _ZIP_UNIX else 0
    file_type = stat.S_IFMT(unix_mode)
    try:
        if info.flag_bits & _ZIP_ENCRYPTED:
            raise _Refuse("encrypted (password-protected): ask for the archive without a password")
        path = _DRIVE.sub(b"", name.replace(b"\\", b"/"))
        parts = _parts(path)
        if path.endswith(b"/") or file_type == stat.S_IFDIR:
            kind = "dir"
        elif file_type == stat.S_IFLNK:
            kind = "symlink"
            if info.file_size > MAX_LINK_TARGET:
                raise _Refuse(f"symbolic link with a {info.file_size}-byte target: not a real link")
        elif file_type in (0, stat.S_IFREG):
            kind = "file"
            if info.file_size > limits.max_member_bytes:
                raise _Refuse(_too_big(info.file_size, limits))
            ratio = info.file_size / max(info.compress_size, 1)
            if info.file_size > RATIO_FLOOR and ratio > limits.max_ratio:
                raise _Refuse(
                    f"expands {ratio:.0f}x ({info.compress_size} to {info.file_size} bytes), more than the limit "
                    f"of {limits.max_ratio}x (max_ratio): a zip bomb?"
                )
        elif file_type in (stat.S_IFCHR, stat.S_IFBLK):
            raise _Refuse("device file: skipped")
        elif file_type == stat.S_IFIFO:
            raise _Refuse("FIFO (named pipe): skipped")
        else:
            raise _Refuse(f"unsupported file type {oct(file_type)}: skipped")
        if kind != "dir" and info.compress_type not in _ZIP_METHODS:
            raise _Refuse(f"compression method {info.compress_type} is not supported: repack with deflate")
        if not parts and kind != "dir":
            raise _Refuse("empty name")
    except _Refuse as refusal:
        return Refused(shown, refusal.reason)
    mode = 0o755 if unix_mode & 0o100 else 0o644
    return _ZipPlan(info, shown, parts, kind, mode)


def _extract_zip_member(
    zf: zipfile.ZipFile, plan: _ZipPlan, workspace: _Workspace, limits: ExtractLimits, result: Extraction
) -> None:
    if plan.kind == "dir":
        if plan.parts:
            workspace.make_dir(plan.parts)
        return
    try:
        data = zf.open(plan.info)
    except (*_READ_ERRORS, NotImplementedError, RuntimeError) as exc:
        raise _Refuse(f"cannot be read ({_one_line(exc)})") from None
    with data:
        if plan.kind == "symlink":
            try:
                target = data.read(MAX_LINK_TARGET + 1)
            except _READ_ERRORS as exc:
                raise _Refuse(f"data is corrupt ({_one_line(exc)})") from None
            workspace.make_symlink(plan.parts, target, plan.shown)
        else:
            try:
                result.bytes += workspace.write_file(plan.parts, data, plan.mode, limits.max_member_bytes)
            except _ReadFailed as exc:
                raise _Refuse(f"data is corrupt, nothing written ({_one_line(exc.__cause__ or exc)})") from None
    result.files += 1


# --- limits and messages ---------------------------------------------------------------------------


def _check_member_count(archive: Path, members: int, limits: ExtractLimits) -> None:
    if members > limits.max_members:
        raise ExtractError(
            f"{archive}: more than {limits.max_members} members (max_members), nothing extracted; "
            "if the archive is genuine, raise the limit"
        )


def _check_totals(archive: Path, total: int, archive_size: int, limits: ExtractLimits) -> None:
    if total > limits.max_total_bytes:
        raise ExtractError(
            f"{archive}: expands to more than {limits.max_total_bytes} bytes (max_total_bytes), nothing extracted; "
            "if the archive is genuine, raise the limit"
        )
    ratio = total / max(archive_size, 1)
    if total > RATIO_FLOOR and ratio > limits.max_ratio:
        raise ExtractError(
            f"{archive}: expands {ratio:.0f}x ({archive_size} to at least {total} bytes), more than the limit of "
            f"{limits.max_ratio}x (max_ratio), nothing extracted: an archive bomb? if genuine, raise the limit"
        )


def _too_big(size: int, limits: ExtractLimits) -> str:
    return f"{size} bytes, more than the limit of {limits.max_member_bytes} for one member (max_member_bytes)"


def _disk_full(archive: Path, exc: OSError) -> ExtractError:
    return ExtractError(f"{archive}: {exc.strerror} while extracting; free some space and run again")


def _what_it_is(path: Path) -> str:
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError as exc:
        return f"cannot be read ({exc.strerror})"
    if not head:
        return "is empty"
    for magic, (name, _) in _COMPRESSED.items():
        if head.startswith(magic):
            return f"holds {name}-compressed data that is not a tar archive (one compressed file?)"
    if head.startswith(b"\x28\xb5\x2f\xfd"):
        return "is zstd-compressed, which this Python cannot read"
    if head.startswith((b"7z\xbc\xaf\x27\x1c", b"Rar!")):
        return "is a 7-Zip or RAR archive, which is not supported"
    return "is neither a zip nor a tar archive"


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _printable(name: str) -> str:
    """A name for people: undecodable bytes (surrogates) as \\xNN, control characters escaped."""
    out = []
    for char in name:
        code = ord(char)
        if 0xDC80 <= code <= 0xDCFF:
            out.append(f"\\x{code - 0xDC00:02x}")
        elif char.isprintable():
            out.append(char)
        else:
            out.append(repr(char)[1:-1])
    return "".join(out)


def _encode(name: str) -> bytes:
    return name.encode("utf-8", "surrogateescape")


def _parts(path: bytes) -> list[bytes]:
    """Path components below the destination; refuses `..` and NUL, drops leading `/`, `.` and empties."""
    if b"\0" in path:
        raise _Refuse("NUL byte in the name")
    parts = [part for part in path.split(b"/") if part not in (b"", b".")]
    if b".." in parts:
        raise _Refuse("'..' in the name: it could land outside the destination")
    return parts


def _show(parts: list[bytes]) -> str:
    return _printable(os.fsdecode(b"/".join(parts)) if parts else ".")


def _prepare_destination(destination: Path) -> Path:
    try:
        destination.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise ExtractError(f"the destination {destination} exists and is not a folder; choose another") from None
    except OSError as exc:
        raise ExtractError(f"cannot create the destination {destination}: {exc.strerror}") from None
    return Path(os.path.realpath(destination))


# --- the writer ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Link:
    parts: list[bytes]
    target: bytes
    member: str


class _Workspace:
    """Writes below one folder through descriptors, never following a symbolic link."""

    def __init__(self, root: Path) -> None:
        self.root = os.fsencode(root)
        self.fd = os.open(self.root, _DIR_FLAGS)
        self.links: list[_Link] = []

    def __enter__(self) -> _Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        os.close(self.fd)

    # folders

    def _open_dir(self, parts: list[bytes], *, create: bool) -> int:
        """A descriptor of the folder `parts` (the caller closes it); never goes through a link."""
        fd = os.dup(self.fd)
        try:
            for depth, part in enumerate(parts):
                try:
                    child = os.open(part, _DIR_FLAGS, dir_fd=fd)
                except FileNotFoundError:
                    if not create:
                        raise _Refuse(f"'{_show(parts[: depth + 1])}' does not exist") from None
                    with suppress(FileExistsError):
                        os.mkdir(part, 0o755, dir_fd=fd)
                    child = self._open_existing_dir(fd, parts[: depth + 1])
                except OSError as exc:
                    if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
                        raise
                    child = self._open_existing_dir(fd, parts[: depth + 1])
                os.close(fd)
                fd = child
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _open_existing_dir(self, parent_fd: int, parts: list[bytes]) -> int:
        try:
            return os.open(parts[-1], _DIR_FLAGS, dir_fd=parent_fd)
        except OSError as exc:
            if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
                raise
        mode = os.stat(parts[-1], dir_fd=parent_fd, follow_symlinks=False).st_mode
        if stat.S_ISLNK(mode):
            raise _Refuse(f"'{_show(parts)}' is a symbolic link: nothing is written through links") from None
        raise _Refuse(f"'{_show(parts)}' is a file, not a folder") from None

    def make_dir(self, parts: list[bytes]) -> None:
        os.close(self._open_dir(parts, create=True))

    # files and links

    @staticmethod
    def _temp_name() -> bytes:
        return b".repro-audit-partial-" + secrets.token_hex(8).encode()

    @staticmethod
    def _check_replaceable(parent: int, parts: list[bytes]) -> os.stat_result | None:
        """What is already at the name: anything but a folder is replaced (the later member wins)."""
        try:
            existing = os.stat(parts[-1], dir_fd=parent, follow_symlinks=False)
        except FileNotFoundError:
            return None
        if stat.S_ISDIR(existing.st_mode):
            raise _Refuse(f"a folder '{_show(parts)}' is already there")
        return existing

    def write_file(self, parts: list[bytes], data: IO[bytes], mode: int, limit: int) -> int:
        """Copy `data` to the file `parts`, at most `limit` bytes; a file that fails leaves nothing behind."""
        parent = self._open_dir(parts[:-1], create=True)
        try:
            self._check_replaceable(parent, parts)
            temp = self._temp_name()
            written = 0
            try:
                with open(os.open(temp, _NEW_FILE_FLAGS, 0o600, dir_fd=parent), "wb") as out:
                    while True:
                        try:
                            chunk = data.read(CHUNK)
                        except Exception as exc:
                            raise _ReadFailed(str(exc)) from exc
                        if not chunk:
                            break
                        written += len(chunk)
                        if written > limit:
                            raise _Refuse(f"more than {limit} bytes (max_member_bytes), nothing written")
                        out.write(chunk)
                    os.fchmod(out.fileno(), mode & 0o755)
                os.rename(temp, parts[-1], src_dir_fd=parent, dst_dir_fd=parent)
            except BaseException:
                with suppress(OSError):
                    os.unlink(temp, dir_fd=parent)
                raise
            return written
        finally:
            os.close(parent)

    def make_symlink(self, parts: list[bytes], target: bytes, member: str) -> None:
        shown = _printable(os.fsdecode(target))
        if not target or b"\0" in target:
            raise _Refuse("symbolic link with an empty or invalid target")
        if target.startswith(b"/"):
            raise _Refuse(f"symbolic link to an absolute path ('{shown}')")
        parent = self._open_dir(parts[:-1], create=True)
        try:
            try:
                self.resolve([*parts[:-1], *target.split(b"/")])
            except _Refuse as refusal:
                raise _Refuse(f"symbolic link {refusal.reason} ('{shown}')") from None
            self._check_replaceable(parent, parts)
            temp = self._temp_name()
            os.symlink(target, temp, dir_fd=parent)
            try:
                os.rename(temp, parts[-1], src_dir_fd=parent, dst_dir_fd=parent)
            except BaseException:
                with suppress(OSError):
                    os.unlink(temp, dir_fd=parent)
                raise
        finally:
            os.close(parent)
        self.links.append(_Link(parts, target, member))

    def make_hardlink(self, parts: list[bytes], target: bytes) -> None:
        shown = _printable(os.fsdecode(target))
        if target.startswith(b"/"):
            raise _Refuse(f"hard link to an absolute path ('{shown}')")
        try:
            source = self.resolve(target.split(b"/"))
        except _Refuse as refusal:
            raise _Refuse(f"hard link {refusal.reason} ('{shown}')") from None
        if source == parts:
            raise _Refuse("hard link to itself")
        try:
            source_stat = os.lstat(self._path(source))
        except FileNotFoundError:
            raise _Refuse(f"hard link to '{shown}', which is not extracted (missing or refused)") from None
        if not stat.S_ISREG(source_stat.st_mode):
            raise _Refuse(f"hard link to '{shown}', which is not a regular file")
        source_dir = self._open_dir(source[:-1], create=False)
        try:
            parent = self._open_dir(parts[:-1], create=True)
            try:
                existing = self._check_replaceable(parent, parts)
                if existing and (existing.st_dev, existing.st_ino) == (source_stat.st_dev, source_stat.st_ino):
                    return  # already this very file
                temp = self._temp_name()
                os.link(source[-1], temp, src_dir_fd=source_dir, dst_dir_fd=parent, follow_symlinks=False)
                try:
                    os.rename(temp, parts[-1], src_dir_fd=parent, dst_dir_fd=parent)
                except BaseException:
                    with suppress(OSError):
                        os.unlink(temp, dir_fd=parent)
                    raise
            finally:
                os.close(parent)
        finally:
            os.close(source_dir)

    # where links lead

    def _path(self, parts: list[bytes]) -> bytes:
        return b"/".join([self.root, *parts])

    def resolve(self, components: list[bytes]) -> list[bytes]:
        """Where a path below the root leads, following the links on disk as the kernel would.

        Raises _Refuse when it leaves the root. A missing component is taken as it is written (`..`
        after it goes back up): the kernel would not resolve such a path at all, and `recheck_links`
        looks again once everything is extracted.
        """
        resolved: list[bytes] = []
        pending = deque(components)
        hops = 0
        while pending:
            part = pending.popleft()
            if part in (b"", b"."):
                continue
            if part == b"..":
                if not resolved:
                    raise _Refuse("pointing outside the destination")
                resolved.pop()
                continue
            resolved.append(part)
            try:
                mode = os.lstat(self._path(resolved)).st_mode
            except (FileNotFoundError, NotADirectoryError):
                continue
            except OSError as exc:
                raise _Refuse(f"whose target cannot be checked ({exc.strerror})") from None
            if not stat.S_ISLNK(mode):
                continue
            hops += 1
            if hops > MAX_LINK_HOPS:
                raise _Refuse("in a loop of links")
            target = os.readlink(self._path(resolved))
            if target.startswith(b"/"):
                raise _Refuse("pointing outside the destination (through an absolute link)")
            resolved.pop()
            pending.extendleft(reversed(target.split(b"/")))
        return resolved

    def recheck_links(self) -> list[tuple[str, str]]:
        """Remove the links made by this extraction that now lead outside; (member, reason) for each."""
        removed: list[tuple[str, str]] = []
        changed = True
        while changed:
            changed = False
            for link in list(self.links):
                try:
                    parent = self._open_dir(link.parts[:-1], create=False)
                except (_Refuse, OSError):
                    self.links.remove(link)
                    continue
                try:
                    try:
                        current = os.readlink(link.parts[-1], dir_fd=parent)
                    except OSError:
                        current = None
                    if current != link.target:  # replaced by a later member, which is checked on its own
                        self.links.remove(link)
                        continue
                    try:
                        self.resolve([*link.parts[:-1], *link.target.split(b"/")])
                    except _Refuse as refusal:
                        os.unlink(link.parts[-1], dir_fd=parent)
                        self.links.remove(link)
                        shown = _printable(os.fsdecode(link.target))
                        removed.append(
                            (
                                link.member,
                                f"symbolic link {refusal.reason} once later members were in place ('{shown}')",
                            )
                        )
                        changed = True
                finally:
                    os.close(parent)
        return removed
