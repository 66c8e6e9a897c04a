"""What the `build` stage reports: one finding per target that did not build, named by why it failed,
and one for a build that is not reproducible. Each failure class lists the static rules that predict it,
so a missing COPY source found statically and the same build failing on it are told as one story.
"""

from __future__ import annotations

from audit.issues import StageIssue
from audit.model import Severity

FAMILY = "build"

BASE_IMAGE = StageIssue(
    "RA020",
    "build-base-image-unavailable",
    Severity.HIGH,
    "The build could not start: a base image is neither on the host nor pullable.",
    "A `FROM` names an image the engine does not have and could not (or was not allowed to) pull: a tag "
    "that was deleted or never published, a private image, a nightly tag that has since moved, or a host "
    "whose profile allows no pulls. Floating and prerelease tags (RA101, RA103) are how an entry gets here.",
    "Base the image on a published tag pinned by digest (`FROM name:tag@sha256:...`).",
    family=FAMILY,
)
MISSING_FILE = StageIssue(
    "RA021",
    "build-missing-file",
    Severity.HIGH,
    "A COPY/ADD source is not in the build context: the file existed only on the entrant's machine.",
    "The classic builder and BuildKit both stop when a `COPY` or `ADD` source is missing from the build "
    "context: never committed, kept out by .gitignore or .dockerignore, or in an empty submodule. The "
    "static rules RA501-RA505 and RA509 find most of these without building.",
    "Commit the file (or download it in the build, pinned by checksum), or remove the COPY.",
    family=FAMILY,
)
DEPENDENCY = StageIssue(
    "RA022",
    "build-dependency-resolution",
    Severity.HIGH,
    "An install step could not resolve the dependencies: no matching version, or conflicting pins.",
    "pip (or conda, apt) found no distribution matching a requirement on the index it could reach, or the "
    "requirements contradict each other. Unpinned requirements resolve to whatever is newest on the day of "
    "the rebuild (RA201, RA301), which is how entries that built in 2023 stopped building.",
    "Pin every dependency to the version that worked (`repro-audit fix` can propose the pins).",
    family=FAMILY,
)
NETWORK = StageIssue(
    "RA023",
    "build-network-failure",
    Severity.HIGH,
    "A build step needed the network and could not reach it (DNS, TLS, refused or timed-out connection).",
    "The step downloads something at build time: packages from an index, a git clone, a model from the hub. "
    "On a host whose builds have no network, or when the server is gone, the build fails. Downloads are also "
    "what makes a build depend on the day it runs (RA201, RA401-RA405).",
    "Vendor what the build downloads into the repository, or pin it so a mirror can serve it.",
    family=FAMILY,
)
COMPILATION = StageIssue(
    "RA024",
    "build-compilation-failure",
    Severity.HIGH,
    "A compiler failed during the build (gcc, nvcc, a CUDA extension, a wheel built from source).",
    "Source builds depend on the compiler, the CUDA toolkit and headers of the base image; a CUDA extension "
    "(flash-attn, DeepSpeed ops, bitsandbytes from source) compiled in the build is the usual case (RA701).",
    "Install a prebuilt wheel matching the base image's CUDA and Python, pinned by version.",
    family=FAMILY,
)
TIMEOUT = StageIssue(
    "RA025",
    "build-timeout",
    Severity.HIGH,
    "The build did not finish within the time limit and was stopped.",
    "The competition gave each build a limit; long builds are mostly CUDA extensions compiled from source "
    "(RA701) and models downloaded during the build (RA405). The build was cancelled at its deadline and "
    "nothing of it was left running.",
    "Use prebuilt wheels and download models at run time, pinned by revision.",
    family=FAMILY,
)
OUT_OF_MEMORY = StageIssue(
    "RA026",
    "build-out-of-memory",
    Severity.HIGH,
    "A build step was killed, most likely for using more memory than the host allows (exit code 137).",
    "The step exceeded the memory limit of the host profile; parallel compilation of CUDA extensions "
    "(MAX_JOBS unset) is the usual cause.",
    "Limit parallel compile jobs (MAX_JOBS=2), or install a prebuilt wheel.",
    family=FAMILY,
)
RUN_FAILED = StageIssue(
    "RA027",
    "build-run-failed",
    Severity.HIGH,
    "A RUN step exited with an error.",
    "The command of a RUN step failed for a reason the log does not attribute to the network, a "
    "dependency, a compiler or memory; the evidence lines show its output.",
    "Run the step by hand in the base image and fix the command.",
    family=FAMILY,
)
INVALID_DOCKERFILE = StageIssue(
    "RA028",
    "build-invalid-dockerfile",
    Severity.HIGH,
    "The engine rejected the Dockerfile (syntax error, unknown instruction, no FROM).",
    "The Dockerfile does not parse with the engine that rebuilt it; some syntax (heredocs, `--mount`) needs "
    "BuildKit, which a plain `docker build` on an older engine does not use.",
    "Fix the instruction the message names.",
    family=FAMILY,
)
ENGINE_ERROR = StageIssue(
    "RA029",
    "build-engine-error",
    Severity.MEDIUM,
    "The build failed because of the engine or host (no space left, daemon error), not the entry.",
    "The failure says nothing about the entry: the host ran out of disk, or the engine failed. The build "
    "should be run again once the host is fixed (`repro-audit run ... --rerun build`).",
    "Free disk space on the host or restart the engine, then rerun the build stage.",
    family=FAMILY,
)
NOT_REPRODUCIBLE = StageIssue(
    "RA030",
    "build-not-reproducible",
    Severity.MEDIUM,
    "Two builds of the same target without cache gave different images (--rebuild-twice).",
    "Files differ in content, mode or owner between two builds from the same sources (timestamps are "
    "ignored): the build downloads whatever is newest, writes the date, or generates random data. A rebuild "
    "later will not give the image that was evaluated.",
    "Pin what the build downloads, and do not write dates or random values into the image.",
    family=FAMILY,
)

ISSUES: tuple[StageIssue, ...] = (
    BASE_IMAGE,
    MISSING_FILE,
    DEPENDENCY,
    NETWORK,
    COMPILATION,
    TIMEOUT,
    OUT_OF_MEMORY,
    RUN_FAILED,
    INVALID_DOCKERFILE,
    ENGINE_ERROR,
    NOT_REPRODUCIBLE,
)

BY_CLASS: dict[str, StageIssue] = {
    "base-image": BASE_IMAGE,
    "missing-file": MISSING_FILE,
    "dependency-resolution": DEPENDENCY,
    "network": NETWORK,
    "compilation": COMPILATION,
    "timeout": TIMEOUT,
    "out-of-memory": OUT_OF_MEMORY,
    "run-failed": RUN_FAILED,
    "invalid-dockerfile": INVALID_DOCKERFILE,
    "engine-error": ENGINE_ERROR,
}

PREDICTED_BY: dict[str, tuple[str, ...]] = {
    "base-image": ("RA101", "RA103", "RA104"),
    "missing-file": ("RA501", "RA502", "RA503", "RA504", "RA505", "RA509"),
    "dependency-resolution": ("RA201", "RA202", "RA203", "RA204", "RA301", "RA302", "RA305", "RA307"),
    "network": ("RA201", "RA202", "RA203", "RA301", "RA302", "RA401", "RA402", "RA403", "RA404", "RA405"),
    "compilation": ("RA701",),
    "timeout": ("RA701", "RA405"),
    "out-of-memory": ("RA701",),
    "run-failed": ("RA506",),
    "invalid-dockerfile": ("RA001", "RA002"),
    "engine-error": (),
}
"""The static rules whose findings, on the same target, foretell a failure of each class."""
