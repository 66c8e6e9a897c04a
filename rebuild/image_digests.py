"""The base-image resolver of `repro-audit fix`: pin each `FROM name:tag` to the digest it has.

For every FROM that names an image by tag alone (RA102; RA101 for no tag or `latest`), the digest comes
from the Docker Engine: first the engine's own copy of the image (its RepoDigests entry for that
repository: the manifest this host pulled), else the registry, asked through the engine
(`inspect_distribution`), so the engine's registry config, mirrors, credentials and insecure-registry
list apply and nothing here speaks the registry protocol. The reference in the FROM line becomes
`name:tag@sha256:...`: the tag stays for the reader, Docker uses the digest; `--platform` and
`AS alias` are left as written.

A registry keeps no history of tags, so neither source can say what a tag named on the cut-off date:
each change says which one it comes from. A FROM built from ARG values is pinned only when the whole
reference is one global ARG with a literal default that nothing else uses (the default is pinned, a
`--build-arg` still overrides it); otherwise a note says why it was left. A tag still counts as a
pre-release after pinning (RA103 looks at the tag), so only RA101 and RA102 are named as resolved.

Written here: no library maps FROM lines to digests; the Docker SDK does the talking.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import ClassVar

import docker
import docker.errors
import requests

from audit.fix.model import Change, Edit, FixSettings, Note, Progress, Resolves
from audit.fix.text import SourceText, Span
from audit.rules.base_image_floating_tag import BaseImageFloatingTag
from audit.rules.base_image_prerelease_tag import PRERELEASE
from audit.rules.base_image_without_digest import BaseImageWithoutDigest
from audit.rules.images import ImageRef, image_stages, split_image
from audit.views.dockerfile import DockerfileView, Instruction, Stage
from audit.views.entry import EntryView
from rebuild.engine import EngineUnavailable, connect, describe

KIND = "base-image"
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
DEFAULT_DOMAIN = "docker.io"
WHOLE_ARG = re.compile(r"^\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))$")
FROM_KEYWORD = re.compile(r"\s*FROM\b", re.IGNORECASE)


@dataclass(frozen=True)
class Found:
    digest: str
    source: str  # "local": the engine's copy of the image; "registry": asked through the engine


@dataclass(frozen=True)
class Unresolved:
    reason: str


@dataclass(frozen=True)
class Pin:
    """One place to write a digest: the reference characters of a FROM, or of the ARG default it uses."""

    path: str
    reference: str  # what the engine is asked about: name[:tag] with ARG defaults substituted
    image: ImageRef
    span: Span  # the characters replaced by `name:tag@digest`
    stages: tuple[Stage, ...]  # the FROMs it pins (several when they share one ARG)


def repository_key(name: str) -> str:
    """The engine's full name of a repository: `python` and `docker.io/library/python` are one."""
    first, slash, rest = name.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost" or first != first.lower()):
        domain, path = first, rest
    else:
        domain, path = DEFAULT_DOMAIN, name
    if domain == "index.docker.io":  # the name the Hub had before docker.io: the engine reads it as docker.io
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in path:
        path = f"library/{path}"
    return f"{domain}/{path}"


def pinned_reference(image: ImageRef, digest: str) -> str:
    """`name:tag@digest`; an image without a tag gets `latest` written out, the tag that was resolved."""
    return f"{image.name}:{image.tag or 'latest'}@{digest}"


class BaseImageDigests:
    """Pins base images to digests through the Docker Engine at `endpoint` (None: DOCKER_HOST, else the
    local socket)."""

    kind: ClassVar[str] = KIND

    def __init__(self, endpoint: str | None = None) -> None:
        self.endpoint = endpoint

    def propose(self, view: EntryView, settings: FixSettings, progress: Progress) -> Iterable[Change | Note]:
        pins: list[Pin] = []
        results: list[Change | Note] = []
        for item in _pins(view):
            if isinstance(item, Pin):
                pins.append(item)
            else:
                results.append(item)
        if not pins:
            return results
        try:
            client = connect(self.endpoint, timeout=settings.timeout)
        except EngineUnavailable as exc:
            results.append(Note(KIND, None, None, f"base images were not pinned to digests: {exc}"))
            return results
        try:
            lookup = DigestLookup(client)
            for pin in pins:
                progress(f"finding the digest of {pin.reference}")
                found = lookup.digest(pin.reference)
                if isinstance(found, Found):
                    results.append(_change(pin, found, settings))
                else:
                    line = pin.stages[0].instruction.start
                    results.append(
                        Note(KIND, pin.path, line, f"could not resolve a digest for {pin.reference}: {found.reason}")
                    )
        finally:
            client.close()
        return results


class DigestLookup:
    """Digests of image references as one engine knows them, each reference asked once."""

    def __init__(self, client: docker.DockerClient) -> None:
        self.client = client
        self._known: dict[str, Found | Unresolved] = {}

    def digest(self, reference: str) -> Found | Unresolved:
        if reference not in self._known:
            self._known[reference] = self._digest(reference)
        return self._known[reference]

    def _digest(self, reference: str) -> Found | Unresolved:
        local = self.local_digests(reference)
        if local is not None and len(local) == 1:
            return Found(local[0], "local")
        asked = self.registry_digest(reference)
        if isinstance(asked, Found):
            return asked
        if local is None:
            why = "the engine has no such image"
        elif not local:
            why = (
                "the engine knows the image but it was built or imported locally (or pulled under another name), "
                "so it has no registry digest"
            )
        else:
            why = f"the engine has {len(local)} registry digests for it and cannot tell which the tag names"
        return Unresolved(f"{why}, and the registry could not be reached or refused: {asked.reason}")

    def local_digests(self, reference: str) -> list[str] | None:
        """The digests the engine recorded for the image `reference` names, in that image's own repository
        (a copy pulled from a mirror under another name does not count); None when it has no such image."""
        try:
            image = self.client.api.inspect_image(reference)
        except docker.errors.NotFound:
            return None
        except (docker.errors.APIError, requests.exceptions.RequestException):
            return None  # the registry may still know it
        wanted = repository_key(split_image(reference).name)
        found = []
        for entry in image.get("RepoDigests") or ():
            name, _, digest = str(entry).partition("@")
            if repository_key(name) == wanted and DIGEST.match(digest):
                found.append(digest)
        return sorted(set(found))

    def registry_digest(self, reference: str) -> Found | Unresolved:
        try:
            answer = self.client.api.inspect_distribution(reference)
        except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
            return Unresolved(describe(exc))
        digest = str((answer.get("Descriptor") or {}).get("digest") or "")
        if not DIGEST.match(digest):
            return Unresolved(f"the engine's answer holds no sha256 digest ({digest or 'none'})")
        return Found(digest, "registry")


# ---- where the digests go -------------------------------------------------------------------------------


def _pins(view: EntryView) -> Iterator[Pin | Note]:
    """The places to pin, and notes on FROMs that name an image by tag but cannot be pinned safely."""
    seen: set[tuple[str, int]] = set()
    by_arg: dict[tuple[str, int, int], Pin] = {}  # one ARG default shared by several FROMs: one pin
    for path, dockerfile, stage in image_stages(view):
        if (path, stage.instruction.start) in seen:
            continue  # one Dockerfile built by two targets
        seen.add((path, stage.instruction.start))
        image = split_image(stage.base)
        if image.digest:
            continue
        line = stage.instruction.start
        if stage.unresolved:
            names = ", ".join(stage.unresolved)
            yield Note(KIND, path, line, f"FROM {stage.base_raw} uses ARG {names} without a default: nothing to pin")
            continue
        read = view.tree.read_text(path)
        if read is None:
            continue
        source = SourceText(path, read.text)
        if "$" not in stage.base_raw:
            span = _reference_span(source, stage)
            if span is None:
                yield Note(KIND, path, line, f"FROM {stage.base_raw}: the reference was not found in the line")
            else:
                yield Pin(path, stage.base, image, span, (stage,))
            continue
        found = _arg_default_span(source, dockerfile, stage)
        if isinstance(found, str):
            yield Note(KIND, path, line, f"FROM {stage.base_raw} (= {stage.base}) was left: {found}")
            continue
        key = (path, found.start, found.end)
        if key in by_arg:
            previous = by_arg[key]
            by_arg[key] = Pin(path, previous.reference, image, found, (*previous.stages, stage))
        else:
            by_arg[key] = Pin(path, stage.base, image, found, (stage,))
    yield from by_arg.values()


def _reference_span(source: SourceText, stage: Stage) -> Span | None:
    """The characters of the image reference in a FROM (after the keyword and its --flags)."""
    whole = source.instruction_span(stage.instruction)
    keyword = FROM_KEYWORD.match(source.text, whole.start, whole.end)
    start = keyword.end() if keyword else whole.start
    return source.word_span(stage.base_raw, Span(start, whole.end))


def _arg_default_span(source: SourceText, dockerfile: DockerfileView, stage: Stage) -> Span | str:
    """The characters of the ARG default a FROM is made of, when pinning it changes nothing else: the FROM
    is exactly one global ARG, declared once with a literal default, used by nothing but FROM lines.
    Otherwise why it is not safe: pinning a reference assembled from ARGs would make a `--build-arg`
    silently build the pinned image instead of the one asked for."""
    whole = WHOLE_ARG.match(stage.base_raw)
    if whole is None:
        return "the reference is assembled from ARG values; pin the ARG defaults by hand"
    name = whole.group(1) or whole.group(2)
    declared = [ins for ins in dockerfile.instructions if ins.keyword == "ARG" and _declares(ins, name)]
    if len(declared) != 1 or declared[0].stage != -1:
        return f"ARG {name} is declared more than once or inside a stage, so its value is not only the FROM's"
    argument = declared[0]
    used = re.compile(r"\$\{?" + re.escape(name) + r"(?![A-Za-z0-9_])")
    for ins in dockerfile.instructions:
        if ins is not argument and ins.keyword != "FROM" and used.search(ins.value):
            return f"ARG {name} is also used by {ins.keyword} on line {ins.start}"
    span = source.instruction_span(argument)
    default = re.compile(
        r"(?<![A-Za-z0-9_])" + re.escape(name) + r"=(?:\"([^\"$\\]*)\"|'([^'$\\]*)'|([^\s\"'$\\]+))"
    ).search(source.text, span.start, span.end)
    if default is None:
        return f"the default of ARG {name} is not a literal image reference"
    group = next(index for index in (1, 2, 3) if default.group(index) is not None)
    return Span(default.start(group), default.end(group))


def _declares(ins: Instruction, name: str) -> bool:
    return any(word.partition("=")[0] == name for word in ins.rest.split())


def _change(pin: Pin, found: Found, settings: FixSettings) -> Change:
    new = pinned_reference(pin.image, found.digest)
    lines = ", ".join(str(stage.instruction.start) for stage in pin.stages)
    where = "the engine's copy of the image" if found.source == "local" else "its registry, through the engine"
    cutoff = f"{settings.cutoff:%Y-%m-%d %H:%M} UTC"
    if found.source == "local":
        caveat = (
            f"{found.digest} is the digest this host's Docker Engine recorded for {pin.reference} when it pulled "
            "or pushed the image (its RepoDigests entry): a registry keeps no history of tags, so this is what "
            f"the tag named then, not necessarily at the cut-off ({cutoff})"
        )
    else:
        caveat = (
            f"{found.digest} is what {pin.reference} names in its registry today "
            f"({datetime.now(UTC):%Y-%m-%d}, asked through the Docker Engine): a registry keeps no history of "
            f"tags, so it is not necessarily the image the tag named at the cut-off ({cutoff})"
        )
    caveats = [caveat]
    if pin.image.tag and PRERELEASE.search(pin.image.tag.lower()):
        caveats.append(
            f"{pin.image.tag!r} is a pre-release tag: the digest fixes today's build of it, "
            "and RA103 still asks for a released tag"
        )
    rule = BaseImageFloatingTag.id if pin.image.tag in (None, "latest") else BaseImageWithoutDigest.id
    return Change(
        kind=KIND,
        summary=f"{pin.path} line {lines}: base image {pin.reference} pinned to {new} (from {where})",
        edits=(Edit(pin.path, pin.span.start, pin.span.end, new),),
        resolves=tuple(Resolves(rule, pin.path, stage.instruction.start) for stage in pin.stages),
        caveats=tuple(caveats),
    )
