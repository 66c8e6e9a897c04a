"""The `build` stage of `repro-audit run`: every target of the entry built by a real Docker Engine, on
the host profile of the entry's track, under the profile's wall-clock limit.

Per target, in order:
1. The base images are looked up on the host first. One that is missing on a host that allows no pulls
   fails the target at once (the engine would otherwise try to pull it anyway).
2. The build runs with the profile's memory limit, network policy and the run's labels; its output goes
   to `DIR/entries/<entry>/<dockerfile>/build.log` as it comes. At the deadline it is cancelled and
   nothing of it is left running (`rebuild.engine.build`).
3. A failure is classified from the log and the engine's error (`rebuild.classify`) and reported as one
   finding, linked to the static findings that predicted it (same target, rule ids of the class).
4. A built image is measured (id, size, layers, base image digests) and scanned for secrets in its
   configuration and in the layers the build added (`rebuild.image_secrets`).
5. With `--rebuild-twice`, the target is built again without cache and the two images are compared
   (`rebuild.determinism`).

The stage is `failed` when a target did not build or a finding reaches `--fail-on`; `skipped` (with the
reason) when the entry has no Dockerfile or no engine answers.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import docker
import docker.errors
import requests

from audit.model import Location, Severity
from audit.runner.stages import Prior, RunContext, StageOutcome
from audit.runner.state import EntryRow
from audit.serialize import finding_dict
from audit.views.dockerfile import DockerfileView, parse_dockerfile, substitute
from rebuild import engine, issues
from rebuild.classify import Failure, FailureClass, classify
from rebuild.hosts import LOCAL, HostProfile, host_for
from rebuild.slots import host_slot

_TAG_SAFE = re.compile(r"[^a-z0-9_.-]+")
_STEP = re.compile(r"^Step (\d+)/(\d+) :")


@dataclass(frozen=True)
class BuildOptions:
    """Picklable: travels to the worker processes with the stage."""

    hosts: tuple[HostProfile, ...] = (LOCAL,)
    no_cache: bool = False
    rebuild_twice: bool = False
    build_args: dict[str, str] = field(default_factory=dict)
    scan_secrets: bool = True


@dataclass(frozen=True)
class TargetSpec:
    dockerfile: str  # entry-relative
    context: str  # entry-relative
    role: str


class BuildStage:
    name = "build"
    needs: tuple[str, ...] = ("ingest", "static")

    def __init__(self, options: BuildOptions | None = None) -> None:
        self.options = options or BuildOptions()

    def run(self, entry: EntryRow, context: RunContext, prior: dict[str, Prior]) -> StageOutcome:
        if entry.path is None:
            return StageOutcome("skipped", "the entry was not ingested")
        root = Path(entry.path)
        targets = _targets(root, prior.get("static"))
        if not targets:
            return StageOutcome("skipped", "the entry has no Dockerfile to build")
        host = host_for(entry.name, entry.track, list(self.options.hosts), gpu=False)
        if host is None:  # only when no host at all was given
            return StageOutcome("skipped", "no host profile to build on")
        static_findings = prior["static"].findings if "static" in prior else ()
        build_args = {**_configured_build_args(root, context), **self.options.build_args}
        builder = _EntryBuild(entry, root, context, host, self.options, static_findings, build_args)
        try:
            with host_slot(context.run_dir, host, "build", host.builds) as waited:
                client = engine.connect(host.endpoint)
                try:
                    results = [builder.target(client, target) for target in targets]
                finally:
                    client.close()
        except engine.EngineUnavailable as exc:
            return StageOutcome("skipped", str(exc), data={"host": host.name})
        findings = [f for result in results for f in result.findings]
        data = {
            "host": host.name,
            "track": host.track,
            "endpoint": host.where,
            "limit_seconds": host.timeouts.build,
            "waited_for_host_seconds": round(waited, 3),
            "targets": [r.data for r in results],
        }
        artifacts = {f"{r.data['dockerfile']}/{kind}": path for r in results for kind, path in r.logs.items()}
        return StageOutcome(
            _status(results, findings, context.fail_on),
            _reason(results, findings, context.fail_on),
            tuple(finding_dict(f) for f in findings),
            data,
            artifacts=artifacts,
        )


@dataclass
class _TargetResult:
    data: dict[str, Any]
    findings: list[Any] = field(default_factory=list)
    logs: dict[str, str] = field(default_factory=dict)

    @property
    def built(self) -> bool:
        return bool(self.data["status"] == "built")


class _EntryBuild:
    def __init__(
        self,
        entry: EntryRow,
        root: Path,
        context: RunContext,
        host: HostProfile,
        options: BuildOptions,
        static_findings: tuple[dict[str, Any], ...],
        build_args: dict[str, str],
    ) -> None:
        self.build_args = build_args
        self.entry = entry
        self.root = root
        self.context = context
        self.host = host
        self.options = options
        self.static_findings = static_findings

    def target(self, client: docker.DockerClient, target: TargetSpec) -> _TargetResult:
        """One target; an engine that fails or goes away in the middle ends this target as an engine
        error, keeping what the others found."""
        try:
            return self._target(client, target)
        except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
            result = _TargetResult(
                {"dockerfile": target.dockerfile, "context": target.context, "role": target.role, "status": "failed"}
            )
            failure = Failure(
                FailureClass.ENGINE, f"the engine failed: {engine.describe(exc)}", (), None, None, subject=None
            )
            return self._failed(result, target, None, failure, None)

    def _target(self, client: docker.DockerClient, target: TargetSpec) -> _TargetResult:
        dockerfile = self.root / target.dockerfile
        build_context = self.root / target.context
        log_dir = self.context.run_dir / "entries" / self.entry.name / target.dockerfile
        result = _TargetResult(
            {
                "dockerfile": target.dockerfile,
                "context": target.context,
                "role": target.role,
                "status": "not-built",
                "limit_seconds": self.host.timeouts.build,
            }
        )
        view = _view(dockerfile)
        outside = _outside(self.root, dockerfile, build_context)
        if outside is not None:
            return self._failed(result, target, view, outside, None)
        bases, missing = self._bases(client, view)
        result.data["bases"] = bases
        if missing is not None:
            return self._failed(result, target, view, _missing_base(missing, self.host), None)
        tag = _tag(self.context.run_id, self.entry.name, target.dockerfile)
        labels = engine.run_labels(self.context.run_id or "unlabelled", "build", self.entry.name, target.dockerfile)
        first = self._build(target, dockerfile, build_context, log_dir / "build.log", tag, labels, result, "build.log")
        if first.outcome != "built":
            return self._failed(result, target, view, _classified(first, log_dir / "build.log"), first)
        assert first.image_id is not None
        result.data["status"] = "built"
        result.data["image"] = _image_facts(client, first.image_id, tag)
        if self.options.scan_secrets:
            started = time.monotonic()
            self._scan_image(client, first.image_id, target, view, result)
            result.data["image_scan"]["seconds"] = round(time.monotonic() - started, 3)
        if self.options.rebuild_twice:
            self._rebuild(client, target, dockerfile, build_context, log_dir, tag, labels, first.image_id, result)
        return result

    # ---- steps ---------------------------------------------------------------------------------------

    def _bases(
        self, client: docker.DockerClient, view: DockerfileView | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """The base images of the Dockerfile's stages as the host has them; the first missing one when the
        host may not pull."""
        if view is None:
            return [], None
        values = {**view.global_args, **self.build_args}
        found: list[dict[str, Any]] = []
        aliases = {s.alias.lower() for s in view.stages if s.alias}
        references = [
            (substitute(stage.base_raw, values), stage.base_is_stage) for stage in view.stages
        ]  # FROM, then images named by COPY --from (the engine pulls those too)
        for ins in view.of("COPY", "ADD"):
            source = ins.flags.get("from")
            if source and not source.isdigit() and source.lower() not in aliases:
                references.append((substitute(source, values), False))
        for (reference, unresolved), is_stage in references:
            if is_stage or unresolved or reference.lower() == "scratch" or not reference:
                continue
            if any(b["reference"] == reference for b in found):
                continue
            try:
                image = client.images.get(reference)
            except docker.errors.ImageNotFound:
                if not self.host.pull:
                    return found, reference
                found.append({"reference": reference, "id": None, "digests": [], "layers": 0, "present": False})
                continue
            except docker.errors.APIError:  # an invalid reference: the build reports it in its own words
                continue
            found.append(
                {
                    "reference": reference,
                    "id": image.id,
                    "digests": list(image.attrs.get("RepoDigests") or []),
                    "layers": len((image.attrs.get("RootFS") or {}).get("Layers") or []),
                    "present": True,
                }
            )
        return found, None

    def _build(
        self,
        target: TargetSpec,
        dockerfile: Path,
        build_context: Path,
        log: Path,
        tag: str,
        labels: dict[str, str],
        result: _TargetResult,
        kind: str,
        *,
        nocache: bool | None = None,
    ) -> engine.BuildResult:
        spec = engine.BuildSpec(
            context=build_context,
            dockerfile=dockerfile,
            tag=tag,
            labels=labels,
            log=log,
            deadline=self.host.timeouts.build,
            build_args=dict(self.build_args),
            nocache=(self.options.no_cache or self.options.rebuild_twice) if nocache is None else nocache,
            pull=False,
            memory=self.host.memory,
            network=self.host.network,
        )
        built = engine.build(self.host.endpoint, spec)
        result.logs[kind] = log.relative_to(self.context.run_dir).as_posix()
        if kind == "build.log":
            result.data.update(
                seconds=round(built.seconds, 3),
                log=result.logs[kind],
                run_containers=len(built.containers),
                removed_after_deadline=list(built.removed_by_us),
            )
        return built

    def _failed(
        self,
        result: _TargetResult,
        target: TargetSpec,
        view: DockerfileView | None,
        failure: Failure,
        built: engine.BuildResult | None,
    ) -> _TargetResult:
        result.data["status"] = "timeout" if failure.kind == FailureClass.TIMEOUT else "failed"
        issue = issues.BY_CLASS[failure.kind.value]
        predicted = _predicting(self.static_findings, failure, target.dockerfile)
        line = _step_line(view, failure.step)
        evidence = [text for _number, text in failure.evidence]
        message = failure.summary
        if failure.step:
            message += f" ({failure.step.strip()[:160]})"
        if predicted:
            message += "; predicted by " + ", ".join(sorted({p["rule"] for p in predicted}))
        related = tuple(Location(p["path"], p.get("line")) for p in predicted)
        result.findings.append(
            issue.finding(
                message,
                target.dockerfile,
                line=line,
                target=target.dockerfile,
                evidence=evidence[0] if evidence else None,
                related=related,
            )
        )
        result.data.update(
            {
                "class": failure.kind.value,
                "rule": issue.id,
                "summary": failure.summary,
                "step": failure.step,
                "step_line": line,
                "exit_code": failure.exit_code,
                "subject": failure.subject,
                "evidence": [{"line": number, "text": text} for number, text in failure.evidence],
                "predicted_by": [
                    {"rule": p["rule"], "path": p["path"], "line": p.get("line"), "message": p["message"]}
                    for p in predicted
                ],
            }
        )
        if built is not None and built.intermediate_images:
            _remove_images(self.host.endpoint, built.intermediate_images, built.started)
        return result

    def _scan_image(
        self,
        client: docker.DockerClient,
        image_id: str,
        target: TargetSpec,
        view: DockerfileView | None,
        result: _TargetResult,
    ) -> None:
        from audit.secrets import redact
        from audit.secrets.content import Limits
        from audit.secrets.scan import SecretOptions
        from rebuild.image_secrets import scan_image

        check = self.context.check
        options = SecretOptions(
            entropy=bool(check and check.entropy),
            history=False,
            limits=Limits(max_file_bytes=(check.secret_max_file_bytes if check else None) or Limits().max_file_bytes),
            salt=(check.salt if check and check.salt else redact.default_salt()),
        )
        base_layers = _base_layers(view, result.data.get("bases", []))
        local = (self.host.endpoint or os.environ.get("DOCKER_HOST") or "unix://").startswith("unix://")
        scan = scan_image(
            client, image_id, dockerfile=target.dockerfile, base_layers=base_layers, options=options, local_files=local
        )
        result.findings.extend(scan.findings)
        result.data["image_scan"] = {
            "base_layers_skipped": base_layers,
            "layers_scanned": scan.layers_scanned,
            "files_scanned": scan.files_scanned,
            "bytes_scanned": scan.bytes_scanned,
            "secrets": len(scan.findings),
            "gaps": list(scan.gaps),
            "read": "layer folders" if scan.read_folders else "docker save",
        }

    def _rebuild(
        self,
        client: docker.DockerClient,
        target: TargetSpec,
        dockerfile: Path,
        build_context: Path,
        log_dir: Path,
        tag: str,
        labels: dict[str, str],
        first_id: str,
        result: _TargetResult,
    ) -> None:
        from rebuild.determinism import compare_images

        second_tag = tag[:120] + "-second"
        labels = {**labels, engine.LABEL_PURPOSE: "determinism"}
        second = self._build(
            target, dockerfile, build_context, log_dir / "build-2.log", second_tag, labels, result, "build-2.log",
            nocache=True,
        )  # fmt: skip
        if second.outcome != "built" or second.image_id is None:
            _remove_images(self.host.endpoint, second.intermediate_images, second.started)
            result.data["determinism"] = {
                "identical": False,
                "error": f"the second build did not finish: {second.error}",
            }
            result.findings.append(
                issues.NOT_REPRODUCIBLE.finding(
                    f"built once, but the second build without cache failed: {second.error}",
                    target.dockerfile,
                    target=target.dockerfile,
                )
            )
            return
        try:
            comparison = compare_images(client, first_id, second.image_id, labels)
        except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
            result.data["determinism"] = {"identical": None, "error": f"the images could not be compared: {exc}"}
            return
        finally:
            with contextlib.suppress(docker.errors.DockerException, requests.exceptions.RequestException):
                client.images.remove(second_tag, force=True)
        result.data["determinism"] = comparison.to_dict()
        if not comparison.identical:
            shown = [f"{d.path} ({d.what})" for d in comparison.files[:5]]
            shown += [f"config {d.key}" for d in comparison.config[: max(0, 5 - len(shown))]]
            more = comparison.differing_paths + len(comparison.config) - len(shown)
            message = "two builds without cache differ: " + ", ".join(shown) + (f" and {more} more" if more > 0 else "")
            result.findings.append(
                issues.NOT_REPRODUCIBLE.finding(
                    message, target.dockerfile, target=target.dockerfile, evidence=shown[0] if shown else None
                )
            )


# ---- helpers -------------------------------------------------------------------------------------------


def _configured_build_args(root: Path, context: RunContext) -> dict[str, str]:
    """`build-args` of the config: the organizers' `--config` file, else the entry's own
    `[tool.repro-audit]` (unless `--isolated`). A config that does not load was reported by the static
    stage (RA008) and gives none."""
    from audit.config import ConfigError, from_pyproject_text, load_file

    check = context.check
    try:
        if check is not None and check.config_file is not None:
            return dict(load_file(check.config_file).build_args)
        if check is not None and check.isolated:
            return {}
        project = root / "pyproject.toml"
        if not project.is_file():
            return {}
        config = from_pyproject_text(project.read_text(encoding="utf-8", errors="replace"), "pyproject.toml")
    except (ConfigError, OSError):
        return {}
    return dict(config.build_args) if config is not None else {}


def _targets(root: Path, static: Prior | None) -> list[TargetSpec]:
    """The targets the static stage found; discovered here when it did not run (e.g. `--stages build`
    on a run whose static stage was skipped)."""
    if static is not None and static.data.get("targets") is not None:
        return [TargetSpec(t["dockerfile"], t["context"], t["role"]) for t in static.data["targets"]]
    from audit.config import Config
    from audit.discover import EntrySource, build_entry
    from audit.tree import EntryTree

    tree = EntryTree(root)
    entry = build_entry(EntrySource(root.name, root, None), tree, Config().contexts)
    return [TargetSpec(t.dockerfile, t.context, t.role.value) for t in entry.targets]


def _view(dockerfile: Path) -> DockerfileView | None:
    try:
        text = dockerfile.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    return parse_dockerfile(dockerfile.name, text)


def _tag(run_id: str, entry: str, dockerfile: str) -> str:
    """`repro-audit/<run id>:<entry>-<dockerfile>-<hash>`, lower case, within Docker's 128 characters."""
    digest = hashlib.sha256(f"{entry}\0{dockerfile}".encode()).hexdigest()[:10]
    readable = _TAG_SAFE.sub("-", f"{entry}-{dockerfile}".lower()).strip("-.")[:100] or "target"
    return f"repro-audit/{run_id or 'unlabelled'}:{readable}-{digest}"


def _image_facts(client: docker.DockerClient, image_id: str, tag: str) -> dict[str, Any]:
    image = client.images.get(image_id)
    return {
        "id": image.id,
        "tag": tag,
        "size": int(image.attrs.get("Size") or 0),
        "layers": len((image.attrs.get("RootFS") or {}).get("Layers") or []),
    }


def _base_layers(view: DockerfileView | None, bases: list[dict[str, Any]]) -> int:
    """How many layers of the image come from the final stage's base image (not scanned for secrets:
    they are not the entry's; an earlier stage's files reach the image only through COPY --from)."""
    if view is None or not view.stages:
        return 0
    stage = view.stages[-1]
    aliases = {s.alias.lower(): s for s in view.stages if s.alias}
    seen = 0
    while stage.base_is_stage and seen < len(view.stages):
        stage = aliases.get(stage.base.lower(), stage)
        seen += 1
    if stage.base.lower() == "scratch":
        return 0
    return next((int(b["layers"]) for b in bases if b["reference"] in (stage.base, stage.base_raw)), 0)


def _classified(built: engine.BuildResult, log: Path) -> Failure:
    if built.failed_in == "context":
        return Failure(FailureClass.INVALID_DOCKERFILE, built.error or "", (), None, None, subject=None)
    if built.failed_in == "engine":
        return Failure(FailureClass.ENGINE, built.error or "", (), None, None, subject=None)
    lines = log.read_text(encoding="utf-8", errors="replace").splitlines() if log.exists() else []
    return classify(lines, built.error, timed_out=built.outcome == "timeout")


def _outside(root: Path, dockerfile: Path, context: Path) -> Failure | None:
    """A build context or Dockerfile that is not a folder / file inside the entry (an entrant's config
    can name `../..`): refused before anything is sent to the engine."""
    entry = root.resolve()
    for what, path in (("build context", context), ("Dockerfile", dockerfile)):
        resolved = path.resolve()
        if not resolved.is_relative_to(entry):
            return Failure(
                FailureClass.INVALID_DOCKERFILE,
                f"the {what} {path.relative_to(root) if path.is_relative_to(root) else path} is outside the "
                "entry: refused",
                (),
                None,
                None,
                subject=str(path.name),
            )
    if not context.is_dir():
        return Failure(
            FailureClass.MISSING_FILE, f"the build context folder {context.relative_to(root)} does not exist",
            (), None, None, subject=str(context.relative_to(root)),
        )  # fmt: skip
    if not dockerfile.is_file():
        return Failure(
            FailureClass.MISSING_FILE, f"the Dockerfile {dockerfile.relative_to(root)} is not a file",
            (), None, None, subject=str(dockerfile.relative_to(root)),
        )  # fmt: skip
    return None


def _missing_base(reference: str, host: HostProfile) -> Failure:
    return Failure(
        kind=FailureClass.BASE_IMAGE,
        summary=(
            f"base image {reference} is not on host {host.name!r} and its profile allows no pulls "
            "(set pull = true in a host profile to let the engine pull it)"
        ),
        evidence=(),
        step=None,
        exit_code=None,
        subject=reference,
    )


def _predicting(static: tuple[dict[str, Any], ...], failure: Failure, dockerfile: str) -> list[dict[str, Any]]:
    """The static findings that foretold this failure: a rule of the class, on the same target; for a
    missing file, those naming the same file first."""
    rules = issues.PREDICTED_BY.get(failure.kind.value, ())
    found = [
        f
        for f in static
        if f["rule"] in rules
        and f.get("suppressed") is None
        and (f.get("target") == dockerfile or f["path"] == dockerfile or _untargeted_requirement(f))
    ]
    if failure.subject:
        subject = failure.subject.strip("/")
        naming = [f for f in found if subject and subject in (f.get("message") or "") + (f.get("evidence") or "")]
        if naming:
            return naming
    return found


def _untargeted_requirement(finding: dict[str, Any]) -> bool:
    """A requirement file's finding not tied to one Dockerfile (the file may be installed by several)."""
    return finding.get("target") is None and finding.get("family") == "requirements"


def _step_line(view: DockerfileView | None, step: str | None) -> int | None:
    """The Dockerfile line of the classic builder's `Step N/M :`. It counts the instructions from the first,
    then one step per build label it appends, so M may exceed the Dockerfile's count."""
    if view is None or not step:
        return None
    match = _STEP.match(step.strip())
    if match is None:
        return None
    number, total = int(match.group(1)), int(match.group(2))
    if total < len(view.instructions) or not 1 <= number <= len(view.instructions):
        return None
    return view.instructions[number - 1].start


def _remove_images(endpoint: str | None, images: tuple[str, ...], since: float) -> None:
    """Drop the images a failed build's steps created. Their ids come from the build log, which RUN
    steps can write to: only an untagged image created since the build started is removed, and one
    that another image builds on stays (the engine refuses)."""
    try:
        client = engine.connect(endpoint)
    except engine.EngineUnavailable:
        return
    try:
        for image in reversed(images):
            with contextlib.suppress(docker.errors.DockerException, requests.exceptions.RequestException):
                attrs = client.api.inspect_image(image)
                if attrs.get("RepoTags") or _created(attrs) < since - 1:
                    continue
                client.api.remove_image(attrs["Id"], noprune=False)
    finally:
        client.close()


def _created(attrs: dict[str, Any]) -> float:
    text = str(attrs.get("Created") or "")
    try:  # the engine writes nanoseconds: keep microseconds for fromisoformat
        head, _, rest = text.partition(".")
        digits = "".join(c for c in rest if c.isdigit())[:6]
        zone = rest[len("".join(c for c in rest if c.isdigit())) :] or "Z"
        return datetime.fromisoformat(f"{head}.{digits or '0'}{zone.replace('Z', '+00:00')}").timestamp()
    except ValueError:
        return 0.0


def _status(results: list[_TargetResult], findings: list[Any], fail_on: Severity) -> str:
    if any(r.data.get("class") == FailureClass.ENGINE.value for r in results):
        return "errored"
    if not all(r.built for r in results):
        return "failed"
    return "failed" if any(f.counts and f.severity >= fail_on for f in findings) else "passed"


def _reason(results: list[_TargetResult], findings: list[Any], fail_on: Severity) -> str | None:
    broken = [r for r in results if not r.built]
    parts = []
    if broken:
        listed = ", ".join(f"{r.data.get('class', r.data['status'])} ({r.data['dockerfile']})" for r in broken)
        parts.append(f"{len(broken)} of {len(results)} target(s) did not build: {listed}")
    blocking = [f for f in findings if f.counts and f.severity >= fail_on and f.family != issues.FAMILY]
    if blocking:
        parts.append(f"{len(blocking)} finding(s) in the images at or above {fail_on.label}")
    return "; ".join(parts) or None
