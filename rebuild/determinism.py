"""The determinism check of `repro-audit run --rebuild-twice`: a target built twice without cache should
give the same image. This module compares the two images and says what differs.

What is compared:
- the file systems, path by path: kind (file, directory, symlink, hardlink, other), permission bits
  (setuid/setgid/sticky included), owner, size, content hash of regular files, link targets. The file
  system is read from `docker export` of a container created from the image and never started, so it is
  the flattened result of every layer, streamed through `tarfile` and hashed in chunks;
- the image configs (Env, Cmd, Entrypoint, WorkingDir, User, ExposedPorts, Volumes, Labels, Shell,
  StopSignal, Healthcheck, OnBuild) and the number of layers.

What is ignored, and why:
- timestamps. Every build stamps the files it writes with the time of the build, so two builds of any
  Dockerfile differ there; what makes a build unreproducible is different content, not a later mtime.
  `FileState` does not even carry one;
- the layer digests. A layer's digest covers its tar, timestamps included, so they differ between any two
  builds; only their count is compared;
- labels under `org.repro-audit.`: the run's own bookkeeping (run id, purpose), not the build's;
- what the engine puts into every container and that says nothing about the build. `docker export` on
  Docker Engine 20.10 includes the init layer: an empty `/.dockerenv`, empty `/etc/hostname`,
  `/etc/hosts` and `/etc/resolv.conf` (mode 0755, created at container creation), `/dev` with
  `console`, `pts/` and `shm/` (and the image's own device nodes), empty `/proc` and `/sys`, and an
  `/etc/mtab -> /proc/mounts` symlink when the image has no `/etc/mtab` of its own. These paths are
  skipped; `/etc/mtab` only when it is exactly that symlink, so an image's own `/etc/mtab` is compared.

Device nodes and FIFOs outside `/dev` are of kind "other" and compared by mode and owner only.

Written by hand: the tools that diff container images (container-diff, diffoci) are Go programs that are
not installed here and compare timestamps or layer digests by default; the Docker SDK plus `tarfile`
and `hashlib` do the work in a page of code.

Errors: `snapshot` and `compare_images` raise `docker.errors.DockerException` only: `ImageNotFound` for
a missing image, `APIError` when the engine refuses (creating, exporting, removing the container), and a
plain `DockerException` when the export stream breaks off or is not a readable tar. The comparisons of
finished snapshots and configs never raise.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import posixpath
import tarfile
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any

import docker
import docker.errors

from rebuild.engine import LABEL_PREFIX, sandbox

KIND_FILE = "file"
KIND_DIR = "dir"
KIND_SYMLINK = "symlink"
KIND_HARDLINK = "hardlink"
KIND_OTHER = "other"

# Created by the engine in every container (the init layer), identical whatever the build did.
ENGINE_FILES = frozenset({"/.dockerenv", "/etc/hostname", "/etc/hosts", "/etc/resolv.conf"})
ENGINE_TREES = ("/proc", "/sys", "/dev")
# The init layer adds this symlink only when the image has no /etc/mtab; an image's own one is compared.
ENGINE_MTAB = ("/etc/mtab", "/proc/mounts")

# Config keys compared; the rest (Hostname, Image, AttachStdin...) are filled in by the builder.
CONFIG_KEYS = (
    "Env",
    "Cmd",
    "Entrypoint",
    "WorkingDir",
    "User",
    "ExposedPorts",
    "Volumes",
    "Labels",
    "Shell",
    "StopSignal",
    "Healthcheck",
    "OnBuild",
)
LAYER_COUNT_KEY = "RootFS.Layers (count)"

_CHUNK = 1 << 20
# The engine's export (Go's archive/tar) also writes the file type bits into the mode (0o100644).
_PERMISSION_BITS = 0o7777
_HASH_SHOWN = 12


@dataclass(frozen=True)
class FileState:
    """One path of an image's file system, without timestamps."""

    kind: str  # KIND_FILE | KIND_DIR | KIND_SYMLINK | KIND_HARDLINK | KIND_OTHER
    mode: int  # permission bits, setuid/setgid/sticky included
    uid: int
    gid: int
    size: int  # regular files; a hardlink has its target's size when the target was seen
    sha256: str | None  # regular files; a hardlink has its target's hash when the target was seen
    link: str | None  # symlink target as written; hardlink target as a normalised path


@dataclass(frozen=True)
class PathDifference:
    path: str
    what: str  # "added" | "removed" | "content" | "mode" | "owner" | "type" | "link"
    first: str | None  # the first build's state, short (None: the path is not in the first build)
    second: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "what": self.what, "first": self.first, "second": self.second}


@dataclass(frozen=True)
class ConfigDifference:
    key: str  # a Config key, or LAYER_COUNT_KEY
    first: object
    second: object

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "first": self.first, "second": self.second}


@dataclass(frozen=True)
class DeterminismResult:
    identical: bool
    files: tuple[PathDifference, ...]  # every difference, sorted by path
    config: tuple[ConfigDifference, ...]
    compared_files: int  # paths present in either build

    @property
    def differing_paths(self) -> int:
        return len({d.path for d in self.files})

    def to_dict(self, limit: int = 50) -> dict[str, Any]:
        """JSON-friendly; only the first `limit` file differences, with `truncated` saying whether more
        exist (`differing_paths` counts them all)."""
        shown = self.files[: max(limit, 0)]
        return {
            "identical": self.identical,
            "compared_files": self.compared_files,
            "differing_paths": self.differing_paths,
            "files": [d.to_dict() for d in shown],
            "config": [d.to_dict() for d in self.config],
            "truncated": len(shown) < len(self.files),
        }


# ---- snapshot ----------------------------------------------------------------------------------------


def snapshot(client: docker.DockerClient, image: str, labels: dict[str, str]) -> dict[str, FileState]:
    """The whole file system of `image`, path ("/a/b") -> state, minus what the engine adds to every
    container. The container it reads from is created (never started) with `labels`, so `repro-audit
    clean` finds it if this process dies, and removed before returning."""
    container = client.containers.create(image, command=["true"], labels=labels, network_disabled=True, **sandbox())
    chunks: Iterator[bytes] | None = None
    try:
        chunks = container.export(chunk_size=_CHUNK)
        try:
            return read_file_system(io.BufferedReader(_ChunkStream(chunks), buffer_size=_CHUNK))
        except (tarfile.TarError, OSError) as exc:  # requests' stream errors are OSErrors too
            raise docker.errors.DockerException(f"export of image {image} unreadable: {exc}") from exc
    finally:
        if isinstance(chunks, Generator):
            chunks.close()  # a stream left half read
        with contextlib.suppress(docker.errors.NotFound):
            container.remove(force=True)


def read_file_system(stream: IO[bytes]) -> dict[str, FileState]:
    """Path -> state of every member of a tar read in streaming mode (each member hashed once, in chunks,
    as it passes), skipping the engine's own files. Raises tarfile.TarError or OSError on a bad stream."""
    states: dict[str, FileState] = {}
    with tarfile.open(fileobj=stream, mode="r|") as archive:
        for member in archive:
            path = _normalise(member.name)
            mode = member.mode & _PERMISSION_BITS
            if member.isreg():
                state = FileState(KIND_FILE, mode, member.uid, member.gid, member.size, _hash(archive, member), None)
            elif member.islnk():
                target = _normalise(member.linkname)
                seen = states.get(target)
                state = FileState(
                    KIND_HARDLINK,
                    mode,
                    member.uid,
                    member.gid,
                    seen.size if seen is not None else 0,
                    seen.sha256 if seen is not None else None,
                    target,
                )
            elif member.issym():
                state = FileState(KIND_SYMLINK, mode, member.uid, member.gid, 0, None, member.linkname)
            elif member.isdir():
                state = FileState(KIND_DIR, mode, member.uid, member.gid, 0, None, None)
            else:
                state = FileState(KIND_OTHER, mode, member.uid, member.gid, 0, None, None)
            # skipped only now: /etc/mtab is the engine's only when it is its symlink
            if not _engine_made(path, state):
                states[path] = state
    return states


def _hash(archive: tarfile.TarFile, member: tarfile.TarInfo) -> str:
    digest = hashlib.sha256()
    content = archive.extractfile(member)
    if content is not None:
        while chunk := content.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _normalise(name: str) -> str:
    # "/" + lstrip: normpath keeps a leading "//" as POSIX allows
    return posixpath.normpath("/" + name.lstrip("/"))


def _engine_made(path: str, state: FileState) -> bool:
    if path in ENGINE_FILES:
        return True
    if any(path == tree or path.startswith(tree + "/") for tree in ENGINE_TREES):
        return True
    return (path, state.link) == ENGINE_MTAB and state.kind == KIND_SYMLINK


class _ChunkStream(io.RawIOBase):
    """A readable file over the byte chunks `container.export()` yields, for tarfile's streaming mode."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks: Iterator[bytes] = iter(chunks)
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


# ---- comparisons -------------------------------------------------------------------------------------


def compare_files(first: dict[str, FileState], second: dict[str, FileState]) -> list[PathDifference]:
    """Every difference between two snapshots, sorted by path. A path of another kind in each build is
    one "type" difference; otherwise content, link, mode and owner are each reported when they differ.
    Timestamps are never compared (FileState has none)."""
    differences: list[PathDifference] = []
    for path in sorted(first.keys() | second.keys()):
        before, after = first.get(path), second.get(path)
        if before is None and after is not None:
            differences.append(PathDifference(path, "added", None, _describe(after)))
        elif after is None and before is not None:
            differences.append(PathDifference(path, "removed", _describe(before), None))
        elif before is not None and after is not None and before != after:
            differences.extend(_state_differences(path, before, after))
    return differences


def _state_differences(path: str, before: FileState, after: FileState) -> list[PathDifference]:
    if before.kind != after.kind:
        return [PathDifference(path, "type", _describe(before), _describe(after))]
    found: list[PathDifference] = []
    if (before.sha256, before.size) != (after.sha256, after.size):
        found.append(PathDifference(path, "content", _content(before), _content(after)))
    if before.link != after.link:
        found.append(PathDifference(path, "link", f"-> {before.link}", f"-> {after.link}"))
    if before.mode != after.mode:
        found.append(PathDifference(path, "mode", _mode(before), _mode(after)))
    if (before.uid, before.gid) != (after.uid, after.gid):
        found.append(PathDifference(path, "owner", _owner(before), _owner(after)))
    return found


def _describe(state: FileState) -> str:
    parts = [state.kind]
    if state.kind in (KIND_FILE, KIND_HARDLINK) and state.sha256 is not None:
        parts.append(_content(state))
    if state.link is not None:
        parts.append(f"-> {state.link}")
    parts += [_mode(state), _owner(state)]
    return ", ".join(parts)


def _content(state: FileState) -> str:
    if state.sha256 is None:
        return f"{state.size} bytes"
    return f"sha256 {state.sha256[:_HASH_SHOWN]}… {state.size} bytes"


def _mode(state: FileState) -> str:
    return f"mode {state.mode:04o}"


def _owner(state: FileState) -> str:
    return f"owner {state.uid}:{state.gid}"


def compare_configs(first: dict[str, Any], second: dict[str, Any]) -> list[ConfigDifference]:
    """Differences between two images' inspect data (`client.images.get(id).attrs`, whole: the layers are
    outside "Config"). Compares the CONFIG_KEYS of "Config", labels under `org.repro-audit.` left out,
    and the number of layers of "RootFS". The layer digests are not compared: a layer's digest covers
    its file timestamps, so it differs between any two builds. A missing key, null and an empty list or
    map are the same. Missing or malformed parts of the data count as empty, never raise."""
    first_config, second_config = _mapping(first.get("Config")), _mapping(second.get("Config"))
    differences: list[ConfigDifference] = []
    for key in CONFIG_KEYS:
        before, after = _config_value(first_config, key), _config_value(second_config, key)
        if before != after:
            differences.append(ConfigDifference(key, before, after))
    before_layers, after_layers = _layer_count(first), _layer_count(second)
    if before_layers != after_layers:
        differences.append(ConfigDifference(LAYER_COUNT_KEY, before_layers, after_layers))
    return differences


def _mapping(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _config_value(config: dict[str, Any], key: str) -> object:
    value = config.get(key)
    if key == "Labels" and isinstance(value, dict):
        value = {name: text for name, text in value.items() if not str(name).startswith(LABEL_PREFIX + ".")}
    if value in ("", [], {}):
        return None
    return value


def _layer_count(attrs: dict[str, Any]) -> int:
    layers = _mapping(attrs.get("RootFS")).get("Layers")
    return len(layers) if isinstance(layers, list) else 0


# ---- both --------------------------------------------------------------------------------------------


def compare_images(
    client: docker.DockerClient, first_image: str, second_image: str, labels: dict[str, str]
) -> DeterminismResult:
    """Compare two builds of one target (image ids or tags). `labels` go on the containers the snapshots
    read from. Raises docker.errors.DockerException only (see the module docstring)."""
    first_attrs: dict[str, Any] = client.images.get(first_image).attrs
    second_attrs: dict[str, Any] = client.images.get(second_image).attrs
    first_files = snapshot(client, first_image, labels)
    second_files = snapshot(client, second_image, labels)
    files = tuple(compare_files(first_files, second_files))
    config = tuple(compare_configs(first_attrs, second_attrs))
    return DeterminismResult(
        identical=not files and not config,
        files=files,
        config=config,
        compared_files=len(first_files.keys() | second_files.keys()),
    )
