"""Secrets baked into a built image: what `docker history`, `docker inspect` and `docker save` give away.

A token can reach an image without ever sitting in the repository: `ENV HF_TOKEN=...` with the value
passed in by a script, `ARG HF_TOKEN` used by a `RUN` (the classic builder writes every build argument a
step uses into the history, `|1 HF_TOKEN=... /bin/sh -c ...`), a `LABEL`, or `huggingface-cli login`
run during the build, which writes `~/.cache/huggingface/token`. `scan_image` looks in three places:

- the image config: every `Env` variable and every label (the base image's included: a container of
  this image gets them all);
- the history, every step (`CreatedBy`), the base image's steps included, since `docker history` on
  this image shows them;
- the files the build's own layers add. Layers are read from a `docker save` stream, one layer tar at
  a time and one file at a time, so the image is never held in memory. The save tar puts
  `manifest.json` (which says which layer tar is which layer) after the layers, so the layer tars are
  spooled to a temporary folder first; a layer whose digest is one of the base image's `RootFS` layers
  is dropped as soon as it has been read, so the spool holds only the build's own layers. A file
  deleted by a later layer is still in the image (every layer ships), and is reported with the layer
  that removed it. Whiteout entries (`.wh.*`) are not files and are not scanned.

Everything a finding holds has the shape of the tree's secret rules (`audit.rules.secrets`): the same
rule per kind (RA901 for a HuggingFace token...), the same message head (`<label> <redacted>,
fingerprint <fp>`), fingerprints salted with `SecretOptions.salt`, evidence redacted before it is cut.
`target` is the Dockerfile the image was built from.

Locations: `path` is `image:<dockerfile>`, so the image's findings group apart from the tree's in reports
and a baseline (which keys on fingerprint, rule and path) tells an image's secret from the same secret
in a file; `member` says where in the image, in the `!`-joined style archive members already use:

- `config:Env`, `line` = the variable's 1-based position in the config's `Env` list;
- `config:Labels`, `line` = the label's 1-based position in the config's `Labels`;
- `history:<n>`, the n-th step of the history, oldest first (the reverse of `docker history`), 1-based;
- `layer <n>:/<path>`, a file of the n-th layer (1-based, base image's layers first, the order of
  `RootFS.Layers` and of `docker inspect`), with the hit's line, byte offset or notebook cell, and
  `!<member>` appended when the file is an archive holding the secret.

The terminal shows them as `image:Dockerfile!layer 3:/root/.cache/huggingface/token:1` and
`image:Dockerfile!config:Env:2`; JSON as `"path": "image:Dockerfile", "member": "layer 3:/root/..."`.

`SecretInfo.lives` is `"image"` and `in_tree` False: this module does not know the entry's tree scan
(the caller can match fingerprints against it).

Written by hand: no library reads `docker save` streams layer by layer (the Docker SDK only hands out the
raw stream); the secret detection itself is `audit.secrets`.
"""

from __future__ import annotations

import hashlib
import io
import json
import lzma
import os
import posixpath
import tarfile
import tempfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from stat import S_ISCHR, S_ISREG
from typing import IO, Any

import docker
import docker.errors

from audit.model import Finding, Location, SecretInfo
from audit.rules import BY_ID
from audit.secrets import catalog, redact
from audit.secrets.content import ContentScanner, Hit
from audit.secrets.redact import Redactor
from audit.secrets.scan import FoundSecret, Place, SecretOptions
from rebuild.engine import describe

IMAGE_PREFIX = "image:"
LIVES_IMAGE = "image"  # `SecretInfo.lives` of a secret found in a built image

_SAVE_CHUNK = 1024 * 1024
_COPY_CHUNK = 1024 * 1024
_MAX_MANIFEST_BYTES = 16 * 1024 * 1024
_EVIDENCE_CONTEXT = 80  # as audit.rules.secrets
_WHITEOUT = ".wh."
_OPAQUE = ".wh..wh..opq"
# What reading a damaged layer tar can raise (zlib.error and lzma.LZMAError are no OSError).
_DAMAGED = (tarfile.TarError, OSError, EOFError, zlib.error, lzma.LZMAError, ValueError)


@dataclass(frozen=True)
class ImageScan:
    """What a scan of one built image found, and what it could not look into."""

    findings: tuple[Finding, ...]  # secret findings (RA901-RA910), target = the Dockerfile
    layers_scanned: int  # the build's own layers opened
    files_scanned: int  # regular files of those layers read and scanned
    bytes_scanned: int
    gaps: tuple[str, ...]  # each a short sentence: a file over the size limit, an unreadable layer...
    read_folders: bool = False  # the layers were read in the engine's overlay2 folders, not from docker save


def image_path(dockerfile: str) -> str:
    """The `Location.path` of everything found in the image built from `dockerfile`."""
    return IMAGE_PREFIX + dockerfile


def scan_image(
    client: docker.DockerClient,
    image_id: str,
    *,
    dockerfile: str,
    base_layers: int,
    options: SecretOptions | None = None,
    spool_dir: str | Path | None = None,
    local_files: bool = False,
) -> ImageScan:
    """Every secret in the config and history of image `image_id` and in the files of its layers from
    `base_layers` on (the first `base_layers` layers are the final stage's base image: not scanned).

    `spool_dir` is where the build's own layers are spooled while the save stream is read (default: the
    system's temporary folder); the spool is removed before this returns. With `local_files` (the engine
    runs on this machine), an overlay2 engine's layer folders are read in place instead: `docker save`
    streams the base image's layers too, which costs seconds for a large base, and they are not scanned. Raises
    `docker.errors.ImageNotFound` when there is no such image and ValueError for a `base_layers` that
    the image does not have; an engine that fails while the image is read is a gap, not an error.
    """
    if base_layers < 0:
        raise ValueError(f"base_layers must not be negative, got {base_layers}")
    options = options or SecretOptions()
    image = client.images.get(image_id)
    layer_ids: list[str] = list((image.attrs.get("RootFS") or {}).get("Layers") or [])
    if base_layers > len(layer_ids):
        raise ValueError(f"image {image_id} has {len(layer_ids)} layers, fewer than the {base_layers} base layers")
    scanner = ContentScanner(catalog.select(entropy=options.entropy), options.limits)
    found = _Found(image_path(dockerfile), options.salt)
    config = image.attrs.get("Config") or {}
    _scan_config(config, scanner, found)
    layers = _LayerScan(scanner, found, options.limits.max_file_bytes)
    try:
        _scan_history(image.history(), scanner, found)
    except (docker.errors.DockerException, OSError) as exc:
        layers.gaps.append(f"the image history could not be read from the engine ({describe(exc)}): not scanned")
    own = _own_layer_dirs(image.attrs, base_layers, len(layer_ids)) if local_files else None
    if own is not None:
        for number, folder in own:
            layers.scan_folder(folder, number)
    else:
        try:
            with tempfile.TemporaryDirectory(prefix="repro-audit-image-", dir=spool_dir) as spool:
                base_only = set(layer_ids[:base_layers]) - set(layer_ids[base_layers:])
                saved = _spool_save(image.save(chunk_size=_SAVE_CHUNK), Path(spool), base_only)
                layers.scan_saved(saved, base_layers, len(layer_ids))
        except (docker.errors.DockerException, *_DAMAGED) as exc:
            layers.gaps.append(
                f"the image could not be read from the engine ({describe(exc)}): its files were not scanned"
            )
    return ImageScan(
        findings=tuple(found.findings(dockerfile, layers.whiteouts)),
        layers_scanned=layers.layers_scanned,
        files_scanned=layers.files_scanned,
        bytes_scanned=layers.bytes_scanned,
        gaps=tuple(layers.gaps),
        read_folders=own is not None,
    )


# ---- what was found --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Spot:
    """One place a secret sits in the image: the place (member, line...) and how a message names it."""

    place: Place
    where: str
    layer: int | None = None  # a file's layer (1-based) and path, to tell whether a later layer removed it
    file: str | None = None


@dataclass
class _Found:
    path: str  # of every location: image:<dockerfile>
    salt: str
    secrets: dict[str, tuple[FoundSecret, list[_Spot]]] = field(default_factory=dict)  # value -> ..., in order

    def add(self, hit: Hit, spot: _Spot) -> None:
        entry = self.secrets.get(hit.secret)
        if entry is None:
            entry = (FoundSecret(hit.kind, hit.secret, redact.fingerprint(hit.secret, self.salt)), [])
            self.secrets[hit.secret] = entry
        entry[1].append(spot)

    def findings(self, dockerfile: str, removals: _Removals) -> Iterator[Finding]:
        redactor = Redactor(self.secrets)
        for secret, spots in self.secrets.values():
            rule = BY_ID[secret.kind.rule]
            label = f"{secret.kind.label} {secret.redacted}, fingerprint {secret.fingerprint}"
            info = SecretInfo(
                kind=secret.kind.id,
                fingerprint=secret.fingerprint,
                redacted=secret.redacted,
                lives=LIVES_IMAGE,
                in_tree=False,
            )
            for spot in spots:
                message = f"{label} {spot.where}"
                if spot.layer is not None and spot.file is not None:
                    removed_in = removals.removed_in(spot.file, spot.layer)
                    if removed_in is not None:
                        message += f"; removed in layer {removed_in}, but layer {spot.layer} still ships it"
                yield rule.finding(
                    redactor(message),
                    self.path,
                    target=dockerfile,
                    location=spot.place.location,
                    evidence=_evidence(spot.place.text, secret.value, redactor),
                    secret=info,
                )


def _evidence(text: str, value: str, redactor: Redactor) -> str:
    """As `audit.rules.secrets._evidence`: every secret in the text redacted first, then cut around this one."""
    label = redact.redacted(value)
    text = redactor(text.replace("\0", "")).strip()
    at = text.find(label)
    if len(text) > 2 * _EVIDENCE_CONTEXT + len(label) and at >= 0:
        start = max(0, at - _EVIDENCE_CONTEXT)
        end = at + len(label) + _EVIDENCE_CONTEXT
        text = ("…" if start else "") + text[start:end] + ("…" if end < len(text) else "")
    return text


# ---- config and history ----------------------------------------------------------------------------


def _scan_config(config: dict[str, Any], scanner: ContentScanner, found: _Found) -> None:
    for number, variable in enumerate(config.get("Env") or [], start=1):
        text = str(variable)
        name = text.partition("=")[0]
        where = f"in the built image's environment (variable {name})"
        _scan_text(text, "config:Env", number, where, scanner, found)
    labels = config.get("Labels") or {}
    for number, (key, value) in enumerate(labels.items(), start=1):
        where = f"in a label of the built image ({key})"
        _scan_text(f"{key}={value}", "config:Labels", number, where, scanner, found)


def _scan_history(history: list[dict[str, Any]], scanner: ContentScanner, found: _Found) -> None:
    for number, step in enumerate(reversed(history), start=1):  # the engine lists the newest step first
        created_by = step.get("CreatedBy") or ""
        if created_by:
            where = f"in step {number} of the built image's history (what `docker history` shows)"
            _scan_text(created_by, f"history:{number}", None, where, scanner, found)


def _scan_text(text: str, member: str, line: int | None, where: str, scanner: ContentScanner, found: _Found) -> None:
    for hit in scanner.scan_text(text, member):
        place = Place(Location(found.path, line, member=member), hit.text)
        found.add(hit, _Spot(place, where))


# ---- the save stream -------------------------------------------------------------------------------


class _ChunkStream(io.RawIOBase):
    """A file object over an iterator of byte chunks (the Docker SDK's save stream), read once."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._pending = chunk
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size


@dataclass
class _Saved:
    """What the save stream held: its manifest and the spooled files, by their name in the stream."""

    manifest: Any = None
    files: dict[str, Path] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)  # a name -> the name it links to

    def file(self, name: str) -> Path | None:
        for _ in range(8):  # links to links, but never a loop
            if name in self.files:
                return self.files[name]
            if name not in self.links:
                return None
            name = self.links[name]
        return None


def _spool_save(chunks: Iterable[bytes], spool: Path, base_only: set[str]) -> _Saved:
    """Reads a `docker save` stream once: keeps `manifest.json` in memory and every other file in
    `spool`, except layer tars whose digest is in `base_only` (deleted once read)."""
    saved = _Saved()
    with tarfile.open(fileobj=_ChunkStream(chunks), mode="r|") as stream:
        for number, member in enumerate(stream):
            name = _normal(member.name)
            if member.issym():
                saved.links[name] = _normal(posixpath.join(posixpath.dirname(name), member.linkname))
            elif member.islnk():
                saved.links[name] = _normal(member.linkname)
            elif not member.isreg():
                continue
            elif name == "manifest.json":
                source = stream.extractfile(member)
                if source is not None and member.size <= _MAX_MANIFEST_BYTES:
                    try:
                        saved.manifest = json.loads(source.read())
                    except ValueError:
                        saved.manifest = None  # said as a gap: no readable manifest
            else:
                source = stream.extractfile(member)
                if source is None:
                    continue
                target = spool / str(number)
                digest = _copy(source, target)
                if f"sha256:{digest}" in base_only:
                    target.unlink()  # a base image layer: never scanned, so not kept
                else:
                    saved.files[name] = target
    return saved


def _copy(source: IO[bytes], target: Path) -> str:
    """Copies `source` into the file `target` and returns its SHA-256 (a layer tar's diff id)."""
    digest = hashlib.sha256()
    with target.open("wb") as out:
        while chunk := source.read(_COPY_CHUNK):
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest()


# ---- layers ----------------------------------------------------------------------------------------


@dataclass
class _Removals:
    """The paths each layer deletes (whiteouts) and the folders it empties (opaque whiteouts)."""

    removed: dict[int, list[str]] = field(default_factory=dict)
    emptied: dict[int, list[str]] = field(default_factory=dict)

    def removed_in(self, path: str, layer: int) -> int | None:
        """The first layer after `layer` that deletes `path` (or a folder holding it), if any."""
        later = sorted({n for n in (*self.removed, *self.emptied) if n > layer})
        for number in later:
            if any(path == gone or path.startswith(gone + "/") for gone in self.removed.get(number, ())):
                return number
            if any(path.startswith(folder + "/") for folder in self.emptied.get(number, ())):
                return number
        return None


@dataclass
class _LayerScan:
    scanner: ContentScanner
    found: _Found
    max_file_bytes: int
    layers_scanned: int = 0
    files_scanned: int = 0
    bytes_scanned: int = 0
    gaps: list[str] = field(default_factory=list)
    whiteouts: _Removals = field(default_factory=_Removals)

    def scan_saved(self, saved: _Saved, base_layers: int, expected: int) -> None:
        manifest = saved.manifest
        if not (isinstance(manifest, list) and manifest and isinstance(manifest[0], dict)):
            self.gaps.append("the saved image has no readable manifest.json: its files were not scanned")
            return
        layer_names = manifest[0].get("Layers") or []
        if len(layer_names) != expected:
            # Which layers are the base's is known by position only: say that the positions may be off.
            self.gaps.append(
                f"the saved image lists {len(layer_names)} layers where the engine reports {expected}: "
                f"the layers after the first {base_layers} were scanned, which may not be the build's own"
            )
        for index, name in enumerate(layer_names):
            if index < base_layers:
                continue
            number = index + 1
            spooled = saved.file(_normal(str(name)))
            if spooled is None:
                self.gaps.append(f"layer {number} is missing from the saved image: not scanned")
                continue
            self._scan_layer(spooled, number)
            spooled.unlink()  # the spool shrinks as layers are done

    def _scan_layer(self, spooled: Path, number: int) -> None:
        self.layers_scanned += 1
        try:
            with spooled.open("rb") as raw, tarfile.open(fileobj=raw, mode="r|*") as layer:
                for member in layer:
                    self._scan_member(layer, member, number)
        except _DAMAGED as exc:
            self.gaps.append(f"layer {number} could not be read ({describe(exc)}): the rest of it was not scanned")

    def _scan_member(self, layer: tarfile.TarFile, member: tarfile.TarInfo, number: int) -> None:
        path = _normal(_printable(member.name))
        folder, base = posixpath.split(path)
        if base == _OPAQUE:
            self.whiteouts.emptied.setdefault(number, []).append(folder)
            return
        if base.startswith(_WHITEOUT):
            gone = posixpath.join(folder, base[len(_WHITEOUT) :])
            self.whiteouts.removed.setdefault(number, []).append(gone)
            return
        if not member.isreg():
            return  # folders, links (a hard link's data is its target's, scanned there), devices
        source = layer.extractfile(member)
        if source is not None:
            self._scan_file(path, member.size, source, number)

    def scan_folder(self, folder: Path, number: int) -> None:
        """A layer as the overlay2 driver keeps it: its files, a whiteout is a 0:0 character device, an
        emptied folder has the `trusted.overlay.opaque` attribute."""
        self.layers_scanned += 1
        for root, dirs, files in os.walk(folder, onerror=lambda exc: self.gaps.append(f"layer {number}: {exc}")):
            here = Path(root)
            relative = here.relative_to(folder).as_posix()
            relative = "" if relative == "." else relative
            if relative and _opaque(here):
                self.whiteouts.emptied.setdefault(number, []).append(relative)
            for name in dirs + files:
                entry = here / name
                path = _normal(_printable(posixpath.join(relative, name)))
                try:
                    stat = entry.lstat()
                except OSError:
                    continue
                if S_ISCHR(stat.st_mode) and stat.st_rdev == 0:
                    self.whiteouts.removed.setdefault(number, []).append(path)
                elif S_ISREG(stat.st_mode):
                    try:
                        with entry.open("rb") as source:
                            self._scan_file(path, stat.st_size, source, number)
                    except OSError as exc:
                        self.gaps.append(f"/{path} in layer {number} could not be read ({describe(exc)})")

    def _scan_file(self, path: str, size: int, source: IO[bytes], number: int) -> None:
        shown = f"/{path}"
        if size > self.max_file_bytes:
            limit = _size(self.max_file_bytes)
            self.gaps.append(f"{shown} in layer {number} is larger than the {limit} secret-scan limit: not scanned")
            return
        data = source.read()
        self.files_scanned += 1
        self.bytes_scanned += len(data)
        blob = self.scanner.scan(data, posixpath.basename(path))
        prefix = f"layer {number}:{shown}"
        for hit in blob.hits:
            member_text = prefix if hit.member is None else f"{prefix}!{hit.member}"
            location = Location(
                self.found.path, hit.line, member=member_text, cell=hit.cell, output=hit.output, offset=hit.offset
            )
            where = f"in a file of the built image ({shown}, layer {number})"
            self.found.add(hit, _Spot(Place(location, hit.text), where, layer=number, file=path))
        for gap in blob.gaps:
            inside = shown if gap.member is None else f"{shown}!{gap.member}"
            self.gaps.append(f"{inside} in layer {number}: {gap.message}")


# ---- small helpers ---------------------------------------------------------------------------------


def _own_layer_dirs(attrs: dict[str, Any], base_layers: int, expected: int) -> list[tuple[int, Path]] | None:
    """The folders of the build's own layers (numbered from 1, base first) when the engine's overlay2
    folders are on this machine and readable; None otherwise (then `docker save` is read)."""
    driver = attrs.get("GraphDriver") or {}
    data = driver.get("Data") or {}
    if driver.get("Name") != "overlay2" or not data.get("UpperDir"):
        return None
    lower = [Path(p) for p in str(data.get("LowerDir") or "").split(":") if p]
    folders = [*reversed(lower), Path(str(data["UpperDir"]))]  # bottom layer first
    if len(folders) != expected:
        return None
    own = [(index + 1, folder) for index, folder in enumerate(folders) if index >= base_layers]
    if not all(os.access(folder, os.R_OK | os.X_OK) and folder.is_dir() for _n, folder in own):
        return None
    return own


def _opaque(folder: Path) -> bool:
    try:
        return os.getxattr(folder, "trusted.overlay.opaque", follow_symlinks=False) == b"y"
    except OSError:
        return False


def _normal(name: str) -> str:
    """A tar member name without its leading `./` or `/`, normalised (`a/./b` -> `a/b`)."""
    name = posixpath.normpath("/" + name.lstrip("/"))
    return name.lstrip("/")


def _printable(name: str) -> str:
    """A member name as text: tarfile keeps undecodable bytes as surrogates, which cannot be printed."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _size(limit: int) -> str:
    mib = 1024 * 1024
    return f"{limit // mib} MiB" if limit % mib == 0 else f"{limit:,} bytes"
