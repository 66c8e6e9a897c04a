"""Find secrets in one blob of bytes, whatever it is: text, notebook, binary, compressed file or archive.

The blob's name is only a hint; what a blob is gets decided from its bytes (a `.pt` checkpoint is a
zip, a `.log.gz` a gzip stream). Candidate lines are those holding an anchor of some detector (see
`audit.secrets.catalog`); a blob with no anchor at all is dismissed after one pass of a compiled
pattern, which is what keeps a scan of hundreds of megabytes fast.

- Text: decoded as UTF-8 (UTF-16 when it has a byte-order mark), split on `\\n`, lines numbered from 1.
- Notebooks: parsed as JSON; every cell's source and every output (stream text, rich data, error
  tracebacks with their colour codes removed) is scanned with its cell number, then the raw file is
  scanned for anything outside cells (metadata, widget state).
- Binaries (`.pyc`, pickles, swap files...): each anchor is widened to the printable run around it,
  which is scanned as a line; the hit carries a byte offset. Serialisers put a type byte right after a
  string (`N` for None in a `.pyc`), so a fixed-length token followed by exactly one more letter is cut
  there.
- Archives and compressed streams: opened in memory, never extracted, recursively up to a depth, with
  limits on members, total bytes and compression ratio; what a limit stops is reported, never silent.
"""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import re
import tarfile
import zipfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field

from detect_secrets.filters.heuristic import (
    is_likely_id_string,
    is_potential_uuid,
    is_prefixed_with_dollar_sign,
    is_sequential_string,
    is_templated_secret,
)
from detect_secrets.util.code_snippet import get_code_snippet

from audit.secrets.catalog import Detector, DetectorSet, Kind

MiB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    max_file_bytes: int = 64 * MiB  # a file (or archive member) larger than this is not scanned, and said so
    max_depth: int = 3  # archives inside archives
    max_members: int = 10_000  # per archive
    max_archive_bytes: int = 512 * MiB  # uncompressed bytes read from one archive, members included
    max_ratio: int = 200  # uncompressed / compressed size of a member before it counts as a bomb


@dataclass(frozen=True)
class Hit:
    """One secret at one place inside a blob."""

    kind: Kind
    secret: str
    text: str  # the line (or printable run) that holds it, for evidence once redacted
    line: int | None = None  # 1-based; in a notebook, within the cell's source or output
    cell: int | None = None  # notebook cell, 1-based
    output: int | None = None  # notebook output within the cell, 1-based (None: the cell's source)
    offset: int | None = None  # byte offset in a binary blob
    member: str | None = None  # path inside an archive; nested archives joined with "!"


@dataclass(frozen=True)
class Gap:
    """Something a scan could not look into, and why (reported as a finding, never silent)."""

    message: str
    member: str | None = None


@dataclass
class BlobScan:
    hits: list[Hit] = field(default_factory=list)
    gaps: list[Gap] = field(default_factory=list)


_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
_TEXT_SNIFF = 8192
_RUN_LIMIT = 4096
_KEY_BLOCK_LINES = 400  # an 8192-bit RSA key in PEM is about 100 lines
_PRINTABLE = frozenset(range(0x20, 0x7F)) | {0x09}
# A fixed-length token directly followed by one more letter: in a binary, that letter is framing.
# Up to four: pickle protocol 2 writes a memo opcode `q`, its index byte and the next opcode (`u`, `X`)
# right after a string, all of which can be letters or digits.
_FRAMED = re.compile(r"((?:hf_|api_org_)[A-Za-z0-9]{34})([A-Za-z0-9]{1,4})(?![A-Za-z0-9_])")
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")
# What reading a damaged or unusual archive raises: zlib.error for a corrupt deflate stream (it is no
# OSError), NotImplementedError for a compression method zipfile lacks (Deflate64, from Windows).
_DAMAGED = (
    zipfile.BadZipFile,
    tarfile.TarError,
    EOFError,
    OSError,
    lzma.LZMAError,
    zlib.error,
    NotImplementedError,
    ValueError,
)
_FILTERED_KINDS_TEMPLATED = frozenset({"url-credentials", "base64-high-entropy", "hex-high-entropy"})


class ContentScanner:
    """Scans blobs with one set of detectors and limits. Holds no state between blobs."""

    def __init__(self, detectors: DetectorSet, limits: Limits = Limits()) -> None:
        self.detectors = detectors
        self.limits = limits

    # ---- entry points ----------------------------------------------------------------------------

    def scan(self, data: bytes, name: str) -> BlobScan:
        result = BlobScan()
        self._scan_blob(data, name, None, 0, result, _Budget(self.limits.max_archive_bytes))
        return result

    def scan_text(self, text: str, name: str = "") -> list[Hit]:
        """Every secret in a text, with 1-based line numbers."""
        return self._scan_lines(text, name)

    # ---- dispatch --------------------------------------------------------------------------------

    def _scan_blob(
        self, data: bytes, name: str, member: str | None, depth: int, out: BlobScan, budget: _Budget
    ) -> None:
        kind = _sniff_container(data, name)
        if kind is not None:
            if depth >= self.limits.max_depth:
                out.gaps.append(Gap(f"archive nested deeper than {self.limits.max_depth} levels: not opened", member))
                self._scan_plain(data, name, member, out)
                return
            self._scan_container(kind, data, name, member, depth, out, budget)
            return
        if name.endswith(".ipynb") and self._scan_notebook(data, name, member, out):
            return
        self._scan_plain(data, name, member, out)

    def _scan_plain(self, data: bytes, name: str, member: str | None, out: BlobScan) -> None:
        if data[:2] in _UTF16_BOMS:
            text = _decode_text(data)
            if text is not None:
                # Anchors are ASCII: in UTF-16 bytes they never appear as such, so look in the text.
                lowered = text.encode("utf-8", "surrogatepass").lower()
                if self.detectors.candidate(lowered):
                    out.hits.extend(_in_member(self._scan_lines(text, name, lowered), member))
                return
        lowered = data.lower()  # ASCII only: offsets and line breaks stay where they are
        # One search per anchor gives both the verdict (nothing found: done) and where to look.
        found = _anchor_hits(lowered, self.detectors.pattern)
        if not found and not self.detectors.every_line:
            return
        text = _decode_text(data)
        if text is None:
            out.hits.extend(self._scan_binary(data, found, name, member))
        else:
            out.hits.extend(_in_member(self._scan_lines(text, name, lowered, found), member))

    # ---- text ------------------------------------------------------------------------------------

    def _scan_lines(
        self, text: str, name: str, lowered: bytes | None = None, found: list[tuple[int, bytes]] | None = None
    ) -> list[Hit]:
        """Secrets in a text; `lowered` is its UTF-8 bytes lowercased and `found` the anchors found in
        them, when the caller already has them."""
        lines = text.split("\n")
        if self.detectors.every_line:
            wanted: Iterable[tuple[int, tuple[int, ...] | None]] = ((n, None) for n in range(1, len(lines) + 1))
        else:
            if lowered is None:
                lowered = text.encode("utf-8", "surrogatepass").lower()
            if found is None:
                found = _anchor_hits(lowered, self.detectors.pattern)
            wanted = self._candidate_lines(lowered, found)
        hits: list[Hit] = []
        for number, detectors in wanted:
            line = lines[number - 1].rstrip("\r")
            if "\x1b[" in line:  # terminal colour codes (logs): `\x1b[1mhf_...` must not hide the token
                line = _ANSI.sub("", line)
            for hit in self._scan_line(line, number, lines, name, detectors):
                hits.append(_whole_key(hit, lines) if hit.kind.id == "private-key" else hit)
        return hits

    def _candidate_lines(self, lowered: bytes, found: list[tuple[int, bytes]]) -> list[tuple[int, tuple[int, ...]]]:
        """Each line holding an anchor, with the detectors whose anchors it holds (ascending lines)."""
        owners = self.detectors.owners
        lines: dict[int, set[int]] = {}
        line, previous = 1, 0
        for position, anchor in found:
            line += lowered.count(b"\n", previous, position)
            previous = position
            lines.setdefault(line, set()).update(owners[anchor])
        return [(number, tuple(sorted(indexes))) for number, indexes in lines.items()]

    def _scan_line(
        self,
        line: str,
        number: int | None,
        lines: list[str] | None,
        name: str,
        indexes: tuple[int, ...] | None = None,
    ) -> list[Hit]:
        """Secrets in one line; `indexes` names the detectors to run (None: those whose anchors it holds)."""
        every = self.detectors.detectors
        if indexes is None:
            lowered = line.lower()
            detectors = [d for d in every if d.wants(lowered)]
        else:
            detectors = [every[i] for i in indexes]
        found: dict[str, Hit] = {}  # secret -> first kind in catalog order (specific before generic)
        for detector in detectors:
            for secret in self._secrets_in(detector, line, number, lines, name):
                if secret not in found and not _filtered(detector, secret, line):
                    found[secret] = Hit(detector.kind, secret, line, line=number)
        return sorted(found.values(), key=lambda h: line.find(h.secret))

    @staticmethod
    def _secrets_in(detector: Detector, line: str, number: int | None, lines: list[str] | None, name: str) -> list[str]:
        """The plugin's own answer: `analyze_string` for plain patterns (the fast path), `analyze_line`
        with the surrounding lines for plugins that look around (W&B `.netrc`) or filter (entropy)."""
        if not detector.needs_context:
            return [s for s in detector.plugin.analyze_string(line) if s]
        context = get_code_snippet(lines, number) if lines is not None and number is not None else None
        found = detector.plugin.analyze_line(
            filename=name or "blob",
            line=line,
            line_number=number or 0,
            context=context,  # type: ignore[arg-type]  # None is detect-secrets' own default
        )
        return [item.secret_value for item in found if item.secret_value]

    # ---- binaries --------------------------------------------------------------------------------

    def _scan_binary(self, data: bytes, found: list[tuple[int, bytes]], name: str, member: str | None) -> list[Hit]:
        hits: list[Hit] = []
        seen_runs: set[int] = set()
        for position, _anchor in found:
            start, end = _printable_run(data, position)
            if start in seen_runs or end - start < 8:
                continue
            seen_runs.add(start)
            run = data[start:end].decode("ascii")
            unframed = _FRAMED.sub(lambda m: f"{m.group(1)}\0{m.group(2)}", run)
            for hit in self._scan_line(unframed, None, None, name):
                offset = start + max(0, run.find(hit.secret))
                hits.append(Hit(hit.kind, hit.secret, run, offset=offset, member=member))
        return hits

    # ---- notebooks -------------------------------------------------------------------------------

    def _scan_notebook(self, data: bytes, name: str, member: str | None, out: BlobScan) -> bool:
        """Scan cell by cell; False when the file is not a notebook at all (then it is scanned as text)."""
        if not self.detectors.candidate(data.lower()):
            return True
        try:
            notebook = json.loads(data)
        except (ValueError, RecursionError):
            return False
        if not isinstance(notebook, dict):
            return False
        hits: list[Hit] = []
        for number, cell in enumerate(_cells(notebook), start=1):
            source = _joined(cell.get("source", cell.get("input")))
            for hit in self._scan_lines(source, name):
                hits.append(_placed(hit, cell=number))
            for index, text in enumerate(_output_texts(cell), start=1):
                for hit in self._scan_lines(text, name):
                    hits.append(_placed(hit, cell=number, output=index))
        known = {h.secret for h in hits}
        raw = _decode_text(data) or ""
        # Tokens outside cells (metadata, widget state, attachments): placed by raw file line.
        hits.extend(h for h in self._scan_lines(raw, name) if h.secret not in known and not _json_twin(h, known))
        out.hits.extend(_in_member(hits, member))
        return True

    # ---- archives and compressed streams ---------------------------------------------------------

    def _scan_container(
        self, kind: str, data: bytes, name: str, member: str | None, depth: int, out: BlobScan, budget: _Budget
    ) -> None:
        label = member or name
        try:
            if kind == "zip":
                self._scan_zip(data, member, depth, out, budget)
            elif kind == "tar":
                self._scan_tar(data, member, depth, out, budget)
            else:
                inner = _decompress(kind, data, self.limits.max_file_bytes)
                if inner is None:
                    out.gaps.append(
                        Gap(f"{kind} stream expands past {_mib(self.limits.max_file_bytes)}: not scanned", member)
                    )
                    return
                if not budget.take(len(inner)):
                    out.gaps.append(Gap("archive byte budget spent: rest not scanned", member))
                    return
                inner_name = _strip_suffix(name)
                if _sniff_container(inner, inner_name) == "tar":
                    self._scan_tar(inner, member, depth, out, budget)
                else:
                    self._scan_blob(inner, inner_name, member, depth + 1, out, budget)
        except _DAMAGED as exc:
            out.gaps.append(Gap(f"damaged {kind} file {label!r}: {type(exc).__name__}; scanned as bytes", member))
            self._scan_plain(data, name, member, out)

    def _scan_zip(self, data: bytes, member: str | None, depth: int, out: BlobScan, budget: _Budget) -> None:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = [i for i in archive.infolist() if not i.is_dir()]
            for count, info in enumerate(infos):
                inner = _chain(member, _clean_name(info.filename))
                if count >= self.limits.max_members:
                    out.gaps.append(Gap(f"more than {self.limits.max_members} members: the rest not scanned", member))
                    return
                if info.flag_bits & 0x1:
                    out.gaps.append(Gap("encrypted member: not scanned", inner))
                    continue
                if not self._member_fits(info.file_size, info.compress_size, inner, out):
                    continue
                if not budget.take(info.file_size):
                    out.gaps.append(Gap("archive byte budget spent: rest not scanned", member))
                    return
                with archive.open(info) as stream:
                    content = stream.read(self.limits.max_file_bytes + 1)
                if len(content) > self.limits.max_file_bytes:
                    out.gaps.append(Gap("member larger than its header says: not scanned", inner))
                    continue
                self._scan_blob(content, info.filename, inner, depth + 1, out, budget)

    def _scan_tar(self, data: bytes, member: str | None, depth: int, out: BlobScan, budget: _Budget) -> None:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as archive:
            count = 0
            for info in archive:
                if not info.isreg():
                    continue
                inner = _chain(member, _clean_name(info.name))
                if count >= self.limits.max_members:
                    out.gaps.append(Gap(f"more than {self.limits.max_members} members: the rest not scanned", member))
                    return
                count += 1
                if not self._member_fits(info.size, None, inner, out):
                    continue
                if not budget.take(info.size):
                    out.gaps.append(Gap("archive byte budget spent: rest not scanned", member))
                    return
                stream = archive.extractfile(info)
                if stream is None:
                    continue
                content = stream.read(self.limits.max_file_bytes + 1)
                self._scan_blob(content, info.name, inner, depth + 1, out, budget)

    def _member_fits(self, size: int, compressed: int | None, inner: str, out: BlobScan) -> bool:
        if size > self.limits.max_file_bytes:
            out.gaps.append(Gap(f"{_mib(size)} is over the {_mib(self.limits.max_file_bytes)} scan limit", inner))
            return False
        if compressed and size > MiB and size / compressed > self.limits.max_ratio:
            out.gaps.append(Gap(f"compression ratio {size // compressed}:1 looks like a zip bomb: not scanned", inner))
            return False
        return True


@dataclass
class _Budget:
    left: int

    def take(self, amount: int) -> bool:
        if amount > self.left:
            return False
        self.left -= amount
        return True


def _filtered(detector: Detector, secret: str, line: str) -> bool:
    """detect-secrets' own heuristics for placeholders: `$TOKEN`, `{token}`, `<password>`, uuids..."""
    kind = detector.kind
    if kind.id in _FILTERED_KINDS_TEMPLATED and (is_templated_secret(secret) or is_prefixed_with_dollar_sign(secret)):
        return True
    if kind.entropy:
        return is_sequential_string(secret) or is_potential_uuid(secret) or is_likely_id_string(secret, line)
    return False


def _whole_key(hit: Hit, lines: list[str]) -> Hit:
    """A private key is the whole block, not the header detect-secrets reports: two keys of one type must
    not share a fingerprint, and the block is what must not leak."""
    start = (hit.line or 1) - 1
    for index in range(start, min(len(lines), start + _KEY_BLOCK_LINES)):
        if "-----END" in lines[index] and "PRIVATE KEY" in lines[index]:
            block = "\n".join(line.rstrip("\r") for line in lines[start : index + 1])
            return Hit(hit.kind, block, hit.text, hit.line, hit.cell, hit.output, hit.offset, hit.member)
    return hit


def _anchor_hits(lowered: bytes, pattern: re.Pattern[bytes] | None) -> list[tuple[int, bytes]]:
    """Every (position, anchor) in a lowercased blob, by position, overlapping ones included."""
    found: list[tuple[int, bytes]] = []
    if pattern is None:
        return found
    match = pattern.search(lowered)
    while match is not None:
        found.append((match.start(), match.group()))
        match = pattern.search(lowered, match.start() + 1)
    return found


def _printable_run(data: bytes, position: int) -> tuple[int, int]:
    start = end = position
    low = max(0, start - _RUN_LIMIT)
    while start > low and data[start - 1] in _PRINTABLE:
        start -= 1
    high = min(len(data), end + _RUN_LIMIT)
    while end < high and data[end] in _PRINTABLE:
        end += 1
    return start, end


def _decode_text(data: bytes) -> str | None:
    """The text of a blob, or None when it is binary."""
    if data[:2] in _UTF16_BOMS:
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            return None
    if b"\0" in data[:_TEXT_SNIFF]:
        return None
    return data.decode("utf-8", errors="replace")


def _sniff_container(data: bytes, name: str) -> str | None:
    if data[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return "zip"
    if data[:2] == b"\x1f\x8b":
        return "gzip"
    if data[:3] == b"BZh" and name.endswith((".bz2", ".tbz2")):
        return "bzip2"
    if data[:6] == b"\xfd7zXZ\x00":
        return "xz"
    if len(data) >= 262 and data[257:262] == b"ustar":
        return "tar"
    if name.endswith(_TAR_SUFFIXES) and len(data) >= 512 and data[257:262] in (b"ustar", b"\0\0\0\0\0"):
        return "tar" if tarfile.is_tarfile(io.BytesIO(data)) else None
    return None


def _decompress(kind: str, data: bytes, limit: int) -> bytes | None:
    """A whole single-stream compressed blob, or None when it expands past `limit`."""
    if kind == "gzip":
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as stream:
            inner = stream.read(limit + 1)
    elif kind == "bzip2":
        inner = bz2.BZ2Decompressor().decompress(data, max_length=limit + 1)
    else:
        inner = lzma.LZMADecompressor().decompress(data, max_length=limit + 1)
    return None if len(inner) > limit else inner


def _strip_suffix(name: str) -> str:
    for suffix in (".gz", ".bz2", ".xz", ".tgz", ".tbz2", ".txz"):
        if name.endswith(suffix):
            stem = name[: -len(suffix)]
            return stem + ".tar" if suffix.startswith(".t") and suffix != ".tar" else stem
    return name


def _cells(notebook: dict[str, object]) -> list[dict[str, object]]:
    cells = notebook.get("cells")
    if not isinstance(cells, list):  # nbformat 3 kept cells in worksheets
        sheets = notebook.get("worksheets")
        sheets = sheets if isinstance(sheets, list) else []
        cells = [c for ws in sheets if isinstance(ws, dict) and isinstance(ws.get("cells"), list) for c in ws["cells"]]
    return [c for c in cells if isinstance(c, dict)]


def _output_texts(cell: dict[str, object]) -> list[str]:
    outputs = cell.get("outputs")
    if not isinstance(outputs, list):
        return []
    texts = []
    for output in outputs:
        if not isinstance(output, dict):
            continue
        parts = [_joined(output.get("text")), _joined(output.get("traceback"), "\n"), _joined(output.get("evalue"))]
        data = output.get("data")
        if isinstance(data, dict):
            parts.extend(_joined(v) if isinstance(v, str | list) else json.dumps(v) for v in data.values())
        texts.append(_ANSI.sub("", "\n".join(p for p in parts if p)))
    return texts


def _joined(value: object, sep: str = "") -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return sep.join(v for v in value if isinstance(v, str))
    return ""


def _json_twin(hit: Hit, known: set[str]) -> bool:
    """A raw-text hit that is a cell secret seen through JSON escaping (e.g. `\\u0022` around it)."""
    return any(hit.secret in secret or secret in hit.secret for secret in known)


def _placed(hit: Hit, *, cell: int, output: int | None = None) -> Hit:
    return Hit(hit.kind, hit.secret, hit.text, line=hit.line, cell=cell, output=output)


def _in_member(hits: list[Hit], member: str | None) -> list[Hit]:
    if member is None:
        return hits
    return [Hit(h.kind, h.secret, h.text, h.line, h.cell, h.output, h.offset, member) for h in hits]


def _chain(outer: str | None, inner: str) -> str:
    return inner if outer is None else f"{outer}!{inner}"


def _clean_name(name: str) -> str:
    """An archive member name as printable text (tar keeps undecodable bytes as surrogates)."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace").lstrip("/") or "?"


def _mib(size: int) -> str:
    return f"{size / MiB:.1f} MiB" if size >= MiB else f"{size // 1024} KiB"
