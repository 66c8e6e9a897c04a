"""Why a `docker build` failed, told in words an entrant understands.

The build stage keeps what the classic builder printed (the `stream` text of the Engine API's /build:
`Step 3/4 : RUN ...`, ` ---> Running in <id>`, the RUN's own output, its stderr wrapped in `ESC[91m` ...
`ESC[0m`) and the daemon's final error message (`errorDetail.message`). `classify` reads both and returns a
`Failure`: one class, one plain sentence, the log lines that decided it, the failing step, the RUN's exit
code and, when it can be told, what the failure is about (a file, an image, a requirement).

Rules of judgement, in order:

1. A build stopped at its deadline (`timed_out`) is a TIMEOUT, whatever else the log says: the kill that
   stops it makes the RUN end with 137, which would otherwise read as memory.
2. Only the FAILING step is read: the lines after the last `Step N/M :` header (the whole log when there
   is no header), plus that header and the daemon's message. Earlier steps succeeded; a warning there
   explains nothing.
3. Every line is matched against one table of compiled patterns (`SIGNALS`), each with a class and a
   priority; the exit code adds one more (`EXIT_CODE_SIGNALS`: 137 is memory, 127 a missing command). The
   strongest signal found decides the class. The numbers encode the judgement:
   - the daemon's own message decides base-image, missing-file, invalid-dockerfile and engine failures
     (100 and up): the step never ran, or the engine itself broke (no space left on device);
   - within a RUN's output, the most specific evidence wins: a compiler's `file.c:12:3: error:` (about 76)
     beats pip's `Failed building wheel` (55), which beats the generic exit code (10);
   - pip's `No matching distribution` / `from versions: none` (60) is weaker than the connection, DNS and
     TLS retries printed before it (70): pip that never reached the index found no version because of the
     network, not because of the pin. It stays a dependency failure with `--no-index` (no retries), when
     the index listed versions but none fits (80), and on `ResolutionImpossible` (82);
   - `Killed` (86) plus exit 137 (88) is memory, and so is a compiler killed by a signal (95);
   - a signal may belong to one instruction: a registry address in the daemon's message is the base image
     for a FROM step, a download for an ADD step.
4. Evidence is the lines that carry the deciding class's signals (at most three per pattern, `MAX_EVIDENCE`
   in all), plus the strongest signals it overrode (the `No matching distribution` that the network
   explains), in log order. Line numbers are 1-based positions in the `log` sequence given; an element
   holding several lines gives all of them its number. The daemon's message, when it is not itself a line of
   the log, is cited as line `DAEMON_MESSAGE_LINE` (0) and listed last.
5. Nothing matched: an unknown daemon message is an engine failure; a RUN that failed without any
   recognisable line is RUN_FAILED, with the last lines it wrote to stderr as evidence.

Summaries are clauses that read after "the build failed:" (lower case, no final full stop).

Bad input never raises: elements that are bytes or other objects are turned into text, control characters
are dropped, very long lines are cut before matching, and only the last `MAX_SCAN_LINES` lines of the
failing step are read. Written by hand: no library classifies Docker build logs.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum


class FailureClass(StrEnum):
    BASE_IMAGE = "base-image"  # base image not found or not pullable
    MISSING_FILE = "missing-file"  # COPY/ADD source missing from the build context
    DEPENDENCY = "dependency-resolution"  # no matching distribution, conflicting pins, apt/conda unresolvable
    NETWORK = "network"  # DNS, TLS, connection refused or timed out, proxy
    COMPILATION = "compilation"  # gcc/g++/nvcc/ninja, wheel builds, CUDA toolchain
    TIMEOUT = "timeout"  # stopped at the build deadline
    OUT_OF_MEMORY = "out-of-memory"  # exit 137, Killed, MemoryError, compiler killed
    RUN_FAILED = "run-failed"  # a RUN command failed otherwise
    INVALID_DOCKERFILE = "invalid-dockerfile"  # parse error, unknown instruction, no FROM
    ENGINE = "engine-error"  # the engine itself failed (disk full, daemon error)


@dataclass(frozen=True)
class Failure:
    """Why one build failed."""

    kind: FailureClass
    summary: str  # one plain clause for the entrant: "pip found no version of foo==1.0 on the index it could reach"
    evidence: tuple[tuple[int, str], ...]  # (1-based log line number or DAEMON_MESSAGE_LINE, text without escapes)
    step: str | None  # the failing step as the log names it: "Step 4/4 : RUN python3 -c ..."
    exit_code: int | None  # the RUN's exit code when known (None after a deadline's kill)
    subject: str | None = None  # the missing file, the base image, the unresolved requirement... when told


DAEMON_MESSAGE_LINE = 0  # evidence "line" of the daemon's error message when the log does not hold it
MAX_EVIDENCE = 8
MAX_SCAN_LINES = 10_000  # of the failing step, from its end: a failing build stops soon after its cause
_PER_SIGNAL = 3
_MAX_LINE_CHARS = 4_000  # matched: a longer line keeps its start and end (`_clip`)
_EVIDENCE_CHARS = 400
_SUPPORTING_PRIORITY = 50  # an overridden signal at least this strong is still shown as evidence
_INSTRUCTION_CHARS = 80


class _Where(StrEnum):
    MESSAGE = "message"  # the daemon's error message
    OUTPUT = "output"  # a line the failing step printed
    STEP = "step"  # the failing step's `Step N/M : ...` header


_MSG = frozenset({_Where.MESSAGE})
_OUT = frozenset({_Where.OUTPUT})
_BOTH = frozenset({_Where.MESSAGE, _Where.OUTPUT})
_HEADER = frozenset({_Where.STEP})


@dataclass(frozen=True)
class Signal:
    """One pattern of the table: a line it matches is evidence of `kind`, as strong as `priority`.

    `summaries` are tried in order; the first whose placeholders all have values is used. Placeholders: the
    pattern's named groups, `subject` (chosen over all the class's matches), `instruction` (the failing
    step, e.g. `RUN pip install x`), `code` (the exit code) and `detail` (RUN_FAILED: the last stderr line).
    """

    kind: FailureClass
    priority: int
    regex: re.Pattern[str]
    summaries: tuple[str, ...]
    where: frozenset[_Where] = _OUT
    prefer_last: bool = False  # the last match tells most (a traceback's final exception), not the first
    subject_rank: int = 0  # whose `subject` group wins when several matches have one
    instruction: str | None = None  # counts only when the failing step is this instruction (or unknown)


def _signal(
    kind: FailureClass,
    priority: int,
    pattern: str,
    *summaries: str,
    where: frozenset[_Where] = _OUT,
    ignore_case: bool = False,
    prefer_last: bool = False,
    subject_rank: int = 0,
    instruction: str | None = None,
) -> Signal:
    flags = re.IGNORECASE if ignore_case else 0
    compiled = re.compile(pattern, flags)
    return Signal(kind, priority, compiled, summaries, where, prefer_last, subject_rank, instruction)


@dataclass(frozen=True)
class ExitCodeSignal:
    kind: FailureClass
    priority: int
    summaries: tuple[str, ...]


_F = FailureClass

# ---- the table ---------------------------------------------------------------------------------------
# Priorities: 100+ the daemon's message decides; 70-95 specific evidence in a RUN's output; 40-60 evidence
# that a stronger line may explain; 10-35 generic failures of a RUN. One row per pattern, so the table
# reads as a table: the formatter is kept out of it.
# fmt: off
SIGNALS: tuple[Signal, ...] = (
    # -- the engine itself --
    _signal(_F.ENGINE, 120, r"no space left on device", "the build machine ran out of disk space (no space left on device)", where=_BOTH, ignore_case=True),
    _signal(_F.ENGINE, 110, r"failed to register layer|error creating overlay mount|devmapper:|failed to create shim|OCI runtime (?:create|exec|start) failed|max depth exceeded", "the Docker engine failed while building (not a problem of the submission)", where=_MSG),
    _signal(_F.ENGINE, 110, r"Cannot connect to the Docker daemon|error during connect|unexpected EOF|error from daemon in stream|context canceled", "the connection to the Docker engine broke during the build", where=_MSG),
    # -- the Dockerfile cannot be read --
    _signal(_F.INVALID_DOCKERFILE, 110, r"[Dd]ockerfile parse error (?:on )?line (?P<line>\d+): unknown instruction: (?P<subject>\S+)", "the Dockerfile has an unknown instruction {subject} on line {line}", where=_MSG),
    _signal(_F.INVALID_DOCKERFILE, 110, r"[Dd]ockerfile parse error (?:on )?line (?P<line>\d+): (?P<detail>.+)", "the Dockerfile cannot be parsed: line {line}: {detail}", where=_MSG),
    _signal(_F.INVALID_DOCKERFILE, 110, r"unknown instruction: (?P<subject>\S+)", "the Dockerfile has an unknown instruction {subject}", where=_MSG),
    _signal(_F.INVALID_DOCKERFILE, 110, r"no build stage in current context|Please provide a source image with `from`", "the Dockerfile does not start with FROM (no base image before the first instruction)", where=_MSG),
    _signal(_F.INVALID_DOCKERFILE, 110, r"the Dockerfile \((?P<subject>[^)]*)\) cannot be empty|file with no instructions", "the Dockerfile has no instructions", where=_MSG),
    _signal(_F.INVALID_DOCKERFILE, 110, r"Cannot locate specified Dockerfile: (?P<subject>\S+)", "there is no Dockerfile at {subject}", where=_MSG),
    _signal(_F.INVALID_DOCKERFILE, 105, r"failed to parse (?P<subject>[^:]+): (?P<detail>.+)", "the Dockerfile cannot be parsed: {detail}", where=_MSG),
    _signal(_F.INVALID_DOCKERFILE, 105, r"failed to process \"(?P<subject>[^\"]*)\": (?P<detail>.+)", "the Dockerfile uses a variable it cannot expand ({subject}: {detail})", where=_MSG),
    _signal(_F.INVALID_DOCKERFILE, 105, r"When using (?:COPY|ADD) with more than one source file, the destination must be a directory and end with a /", "a COPY of several files needs a destination folder ending in /", where=_MSG),
    _signal(_F.INVALID_DOCKERFILE, 105, r"^(?P<subject>[A-Z]+) requires (?:at least |exactly )?(?:one|two|\d+) arguments?|Syntax error - can't find = in", "the Dockerfile has an instruction with the wrong arguments", where=_MSG),
    # -- the base image --
    _signal(_F.BASE_IMAGE, 105, r"pull access denied for (?P<subject>[^,\s]+)", "the base image {subject} does not exist or is private (pull access denied)", where=_MSG),
    _signal(_F.BASE_IMAGE, 105, r"manifest for (?P<subject>\S+) not found|manifest unknown", "the base image {subject} has no such tag", "the base image's tag does not exist", where=_MSG),
    _signal(_F.BASE_IMAGE, 105, r"no matching manifest for (?P<detail>.+?) in the manifest list", "the base image {subject} has no build for this machine ({detail})", "the base image has no build for this machine ({detail})", where=_MSG),
    _signal(_F.BASE_IMAGE, 105, r"invalid reference format", "the base image reference {subject} is not valid", "the base image reference is not valid", where=_MSG),
    _signal(_F.BASE_IMAGE, 105, r"(?:repository|No such image:) (?P<subject>\S+?)(?: not found|$)|failed to resolve (?:source metadata|reference) for (?P<ref>\S+)", "the base image {subject} cannot be found", "the base image {ref} cannot be found", where=_MSG),
    _signal(_F.BASE_IMAGE, 105, r"toomanyrequests|unauthorized: (?:authentication required|incorrect username)", "the registry refused to hand out the base image {subject} (rate limit or login required)", "the registry refused to hand out the base image (rate limit or login required)", where=_MSG),
    _signal(_F.BASE_IMAGE, 100, r"Get \"?https?://(?P<host>[^/\s\"]+)[^\s\"]*\"?: (?P<detail>.+)", "the base image {subject} is not on this machine and its registry {host} cannot be reached", "the base image is not on this machine and its registry {host} cannot be reached", where=_MSG, instruction="FROM"),
    _signal(_F.NETWORK, 100, r"(?:failed to GET|Get \"?)(?P<subject>https?://[^\s\"]+)", "ADD could not download {subject}", where=_MSG, instruction="ADD"),
    _signal(_F.BASE_IMAGE, 40, r"^Step \d+/\d+ : FROM (?:--platform=\S+\s+)?(?P<subject>\S+)", "the base image {subject} could not be used", where=_HEADER, ignore_case=True, subject_rank=1),
    # -- COPY / ADD of a file the build context lacks --
    _signal(_F.MISSING_FILE, 105, r"(?:COPY|ADD) failed: file not found in build context or excluded by \.dockerignore: stat (?P<subject>.+?): file does not exist", "{subject} is not in the submission (or .dockerignore excludes it), so COPY cannot add it", where=_MSG, subject_rank=1),
    _signal(_F.MISSING_FILE, 105, r"(?:COPY|ADD) failed: stat /var/lib/docker/tmp/docker-builder\d+/(?P<subject>\S+): no such file or directory", "{subject} is not in the submission, so COPY cannot add it", where=_MSG, subject_rank=1),
    _signal(_F.MISSING_FILE, 105, r"(?:COPY|ADD) failed: no source files were specified", "COPY names {subject}, which matches no file in the submission", "COPY names files that are not in the submission", where=_MSG),
    _signal(_F.MISSING_FILE, 105, r"(?:COPY|ADD) failed: forbidden path outside the build context: (?P<subject>\S+)", "COPY reaches outside the submission's folder ({subject}); Docker only sees the files inside it", where=_MSG, subject_rank=1),
    _signal(_F.MISSING_FILE, 105, r"failed to compute cache key: \"?/?(?P<subject>[^\"\s]+)\"?: not found", "{subject} is not in the submission, so COPY cannot add it", where=_MSG, subject_rank=1),
    _signal(_F.MISSING_FILE, 35, r"^Step \d+/\d+ : (?:COPY|ADD)\s+(?:--\S+\s+)*(?P<subject>[^\s\[]\S*)", "COPY of {subject} failed", where=_HEADER, ignore_case=True),
    # -- memory --
    _signal(_F.OUT_OF_MEMORY, 95, r"Killed signal terminated program (?P<subject>\S+)", "the compiler ({subject}) was killed, most likely for memory; build with fewer parallel jobs (MAX_JOBS) or more memory"),
    _signal(_F.OUT_OF_MEMORY, 90, r"virtual memory exhausted", "the compiler ran out of memory (virtual memory exhausted)"),
    _signal(_F.OUT_OF_MEMORY, 86, r"^\s*Killed\s*$|^\S.*: line \d+:\s+\d+ Killed\b|\d+ Killed\s+\S", "{instruction} was killed, most likely for memory (exit {code})", "the step was killed, most likely for memory"),
    _signal(_F.OUT_OF_MEMORY, 86, r"\bMemoryError\b|Cannot allocate memory|std::bad_alloc|CUDA out of memory|OutOfMemoryError|\boom-kill", "{instruction} ran out of memory", "the step ran out of memory"),
    # -- the network --
    _signal(_F.NETWORK, 72, r"Retrying \(Retry\(total=\d+.*after connection broken by '(?P<reason>\w+)\(.*': /simple/(?P<subject>[^/\s]+)/", "pip could not reach the package index to download {subject} ({reason}); the build has no working network", "pip could not reach the package index ({reason}); the build has no working network"),
    _signal(_F.NETWORK, 70, r"Retrying \(Retry\(total=\d+.*after connection broken by '(?P<reason>\w+)\(", "pip could not reach the package index ({reason}); the build has no working network"),
    _signal(_F.NETWORK, 72, r"Could not fetch URL (?P<url>\S+): There was a problem confirming the ssl certificate", "pip could not check the TLS certificate of the package index; the build's network or proxy is in the way"),
    _signal(_F.NETWORK, 72, r"wget: bad address '(?P<subject>[^']+)'|unable to resolve host address '(?P<host>[^']+)'|Resolving (?P<rhost>\S+?) (?:\([^)]*\))?\.\.\. failed", "wget could not resolve the address of {subject}; the build has no working network", "wget could not resolve a host name; the build has no working network"),
    _signal(_F.NETWORK, 72, r"wget: (?:can't connect to remote host|download timed out|error getting response)|Connecting to (?P<subject>\S+) .*failed: (?P<detail>.+)", "wget could not connect to {subject}: {detail}", "wget could not connect; the build has no working network"),
    _signal(_F.NETWORK, 72, r"curl: \((?P<curl>6|7|28|35|52|56|60)\) (?P<detail>.+)", "curl could not download (error {curl}: {detail})"),
    _signal(_F.NETWORK, 72, r"Temporary failure resolving '(?P<subject>[^']+)'|Could not resolve '(?P<host>[^']+)'", "apt could not resolve {subject}; the build has no working network", "apt could not resolve its mirror; the build has no working network"),
    _signal(_F.NETWORK, 70, r"^(?:W|E|Err):?.*(?:Failed to fetch|Could not connect to|Unable to connect to) (?P<subject>\S+)", "apt could not download from {subject}", "apt could not reach its mirror"),
    _signal(_F.NETWORK, 72, r"fatal: unable to access '(?P<subject>[^']+)': (?P<detail>.+)", "git could not reach {subject} ({detail})"),
    _signal(_F.NETWORK, 72, r"Could not resolve host:? (?P<subject>[^\s;,]+)|ssh: Could not resolve hostname (?P<ssh>[^:\s]+)", "the host {subject} could not be resolved; the build has no working network", "a host name could not be resolved; the build has no working network"),
    _signal(_F.NETWORK, 72, r"We couldn't connect to '(?P<subject>[^']+)'", "the Hugging Face Hub ({subject}) could not be reached during the build"),
    _signal(_F.NETWORK, 72, r"CondaHTTPError: HTTP 000 CONNECTION FAILED for url <(?P<subject>[^>]+)>", "conda could not reach {subject}"),
    _signal(_F.NETWORK, 70, r"Temporary failure in name resolution|Name or service not known|nodename nor servname|No address associated with hostname|getaddrinfo (?:failed|ENOTFOUND|EAI_AGAIN)|\bEAI_AGAIN\b", "a host name could not be resolved; the build has no working network"),
    _signal(_F.NETWORK, 70, r"Failed to establish a new connection|Network is unreachable|No route to host|Connection refused|Connection reset by peer|Connection timed out|Read timed out|ConnectTimeoutError|ReadTimeoutError|\bETIMEDOUT\b|\bECONNREFUSED\b", "a connection failed during the build; the build has no working network"),
    _signal(_F.NETWORK, 70, r"CERTIFICATE_VERIFY_FAILED|certificate verify failed|SSLError|SSL: |x509: certificate|gnutls_handshake\(\) failed|OpenSSL SSL_connect", "a TLS connection failed during the build (certificate or proxy)"),
    _signal(_F.NETWORK, 70, r"ProxyError|Tunnel connection failed|proxyconnect tcp", "a proxy refused a connection during the build"),
    _signal(_F.NETWORK, 68, r"requests\.exceptions\.ConnectionError|MaxRetryError|httpx\.ConnectError|ClientConnectorError|urlopen error|LocalEntryNotFoundError", "a download failed for lack of network during the build"),
    _signal(_F.NETWORK, 60, r"Some index files failed to download", "apt could not refresh its package lists (no network)"),
    # -- dependency resolution --
    _signal(_F.DEPENDENCY, 82, r"ResolutionImpossible|Cannot install (?P<subject>.+?) because these package versions have conflicting dependencies|because these package versions have conflicting dependencies|The conflict is caused by:", "the pinned requirements conflict with each other ({subject}); pip cannot satisfy them all", "the pinned requirements conflict with each other; pip cannot satisfy them all"),
    _signal(_F.DEPENDENCY, 82, r"^\s*The user requested (?:\(constraint\) )?(?P<subject>\S+)|^\s*\S+ [\w.!+*-]+ depends on (?P<dep>\S+)", "the pinned requirements conflict with each other ({subject}); pip cannot satisfy them all", "the pinned requirements conflict with each other; pip cannot satisfy them all"),
    _signal(_F.DEPENDENCY, 80, r"Could not find a version that satisfies the requirement (?P<subject>\S+) \(from versions: (?!none\))(?P<versions>[^)]+)\)", "pip found no version of {subject} among those the index offers ({versions})", subject_rank=1),
    _signal(_F.DEPENDENCY, 80, r"requires a different Python: (?P<detail>.+)", "a requirement needs another Python version ({detail})"),
    _signal(_F.DEPENDENCY, 80, r"THESE PACKAGES DO NOT MATCH THE HASHES|Hashes are required in --require-hashes mode", "the hashes in the lock file do not match what pip downloaded (or some are missing)"),
    _signal(_F.DEPENDENCY, 80, r"version solving failed|No solution found when resolving dependencies|UnsatisfiableError|LibMambaUnsatisfiableError|Could not solve for environment specs", "the dependency solver found no set of versions that satisfies every requirement"),
    _signal(_F.DEPENDENCY, 78, r"(?:ERROR: )?(?:Invalid requirement|Double requirement given): '?(?P<subject>[^']+)'?", "pip cannot read the requirement {subject}"),
    _signal(_F.DEPENDENCY, 78, r"E: Version '(?P<version>[^']+)' for '(?P<subject>[^']+)' was not found|E: Package '(?P<pkg>[^']+)' has no installation candidate", "apt has no {subject} {version}", "apt has no installable version of {subject}", "apt has no installable version of a package"),
    _signal(_F.DEPENDENCY, 78, r"The following packages have unmet dependencies|you have held broken packages", "apt cannot satisfy the packages' dependencies"),
    _signal(_F.DEPENDENCY, 75, r"PackagesNotFoundError|ResolvePackageNotFound|The following packages are not available from current channels|nothing provides (?P<subject>\S+)", "conda has no package {subject} in its channels", "conda cannot find some packages in its channels"),
    _signal(_F.DEPENDENCY, 60, r"Could not find a version that satisfies the requirement (?P<subject>\S+) \(from versions: none\)", "pip found no version of {subject} on the index it could reach", subject_rank=1),
    _signal(_F.DEPENDENCY, 60, r"No matching distribution found for (?P<subject>\S+)", "pip found no version of {subject} on the index it could reach"),
    _signal(_F.DEPENDENCY, 60, r"E: Unable to locate package (?P<subject>\S+)", "apt knows no package {subject} (is the name right, and did apt-get update run in the same RUN?)"),
    # -- compilation --
    _signal(_F.COMPILATION, 78, r"fatal error: (?P<header>[\w./+-]+\.(?:h|hh|hpp|hxx|cuh)): No such file or directory", "the compiler cannot find the header {header} (a -dev package or the CUDA toolkit is missing from the image)"),
    _signal(_F.COMPILATION, 78, r"error: command '(?P<tool>[^']+)' failed: No such file or directory|(?:^|: )(?P<missing>gcc|g\+\+|cc|c\+\+|nvcc|cmake|make|ninja): (?:command )?not found", "the compiler {tool} is not installed in the image", "the build tool {missing} is not installed in the image"),
    _signal(_F.COMPILATION, 78, r"CUDA_HOME environment variable is not set|The detected CUDA version \((?P<detail>[^)]*)\) mismatches", "{subject} needs the CUDA toolkit (nvcc, CUDA_HOME) to build, and the image has none that matches", "a CUDA extension needs the CUDA toolkit (nvcc, CUDA_HOME) to build, and the image has none that matches"),
    _signal(_F.COMPILATION, 78, r"nvcc fatal\s*:\s*(?P<detail>.+)", "the CUDA compiler failed: nvcc fatal: {detail}"),
    _signal(_F.COMPILATION, 76, r"^(?P<source>[^\s:]+\.(?:c|cc|cpp|cxx|cu|cuh|h|hpp|pyx)):\d+(?::\d+)?: (?:fatal )?error: (?P<detail>.+)|^(?P<cu>[^\s:]+\.cu)\(\d+\): error: (?P<cudetail>.+)", "compiling {source} failed: {detail}", "compiling {cu} failed: {cudetail}"),
    _signal(_F.COMPILATION, 76, r"error: command '(?P<compiler>[^']+)' failed with exit (?:code|status) \d+|(?:^|\s)(?:gcc|g\+\+|cc1plus|cc1|clang\+*|c\+\+|x86_64-linux-gnu-gcc)(?:-\d+)?: (?:fatal )?error: (?P<detail>.+)", "the C/C++ compiler failed: {detail}", "the C/C++ compiler ({compiler}) failed while building {subject}", "the C/C++ compiler ({compiler}) failed"),
    _signal(_F.COMPILATION, 76, r"Error compiling objects for extension|FlashAttention is only supported on (?P<detail>.+)|Unable to pre-compile (?P<op>\w+)", "a CUDA extension failed to build: FlashAttention is only supported on {detail}", "the DeepSpeed op {op} failed to build", "a CUDA extension of {subject} failed to build", "a CUDA extension failed to build"),
    _signal(_F.COMPILATION, 76, r"error: can't find Rust compiler|error: could not compile `(?P<crate>[^`]+)`", "{subject} needs the Rust compiler to build from source (no wheel for this Python and platform)", "a package needs the Rust compiler to build from source (no wheel for this Python and platform)"),
    _signal(_F.COMPILATION, 74, r"collect2: error: ld returned \d+ exit status|/usr/bin/ld: cannot find -l(?P<library>\S+)|undefined reference to", "linking failed: the library {library} is not in the image", "linking failed"),
    _signal(_F.COMPILATION, 72, r"ninja: build stopped: subcommand failed|^FAILED: (?P<object>\S+\.o)\b|CMake Error", "the native build (ninja/CMake) of {subject} failed", "the native build (ninja/CMake) failed"),
    _signal(_F.COMPILATION, 70, r"No CUDA runtime is found", "{subject} is built as a CUDA extension on a machine without CUDA", "a CUDA extension is built on a machine without CUDA"),
    _signal(_F.COMPILATION, 55, r"Failed building wheel for (?P<subject>\S+)|Could not build wheels for (?P<wheels>.+?), which is required|Building wheel for (?P<building>\S+) \([^)]*\)(?: did not run successfully|: finished with status 'error')", "pip could not build {subject} from source", "pip could not build {wheels} from source", "pip could not build {building} from source", subject_rank=1),
    _signal(_F.COMPILATION, 45, r"Getting requirements to build wheel did not run successfully|Preparing metadata \([^)]*\) did not run successfully|metadata-generation-failed", "pip could not prepare {subject} for building (its setup script failed)", "pip could not prepare a package for building (its setup script failed)"),
    # -- a RUN that failed otherwise --
    _signal(_F.RUN_FAILED, 40, r"Could not open requirements file: .*No such file or directory: '(?P<subject>[^']+)'", "pip cannot find {subject} inside the image: COPY it before installing"),
    _signal(_F.RUN_FAILED, 35, r"ModuleNotFoundError: No module named '(?P<subject>[^']+)'", "{instruction} imports {subject}, which is not installed in the image", "the step imports {subject}, which is not installed in the image"),
    _signal(_F.RUN_FAILED, 32, r"^(?:/bin/(?:ba|da)?sh: (?:\d+: |line \d+: )?)(?P<subject>[^\s:]+): (?:command )?not found", "{subject} is not installed in the image (command not found)"),
    _signal(_F.RUN_FAILED, 25, r"^(?P<detail>(?:\w+\.)*\w*(?:Error|Exception): .+)$", "{instruction} failed with exit code {code}: {detail}", "{instruction} failed: {detail}", "the step failed: {detail}", prefer_last=True),
    _signal(_F.RUN_FAILED, 20, r"^(?P<detail>(?:ERROR|Error|error|FATAL|Fatal|fatal|E)(?:\[[^\]]*\])?:\s*\S.*)$", "{instruction} failed with exit code {code}: {detail}", "{instruction} failed: {detail}", "the step failed: {detail}", prefer_last=True),
    _signal(_F.RUN_FAILED, 10, r"The command '(?P<command>.*)' returned a non-zero code: (?P<status>\d+)|process \"(?P<process>.*)\" did not complete successfully: exit code: (?P<bkstatus>\d+)", "{instruction} failed with exit code {code}: {detail}", "{instruction} failed with exit code {code}", "the step failed with exit code {code}", where=_MSG),
)

EXIT_CODE_SIGNALS: dict[int, ExitCodeSignal] = {
    137: ExitCodeSignal(_F.OUT_OF_MEMORY, 88, ("{instruction} was killed, most likely for memory (exit 137)", "the step was killed, most likely for memory (exit 137)")),
    127: ExitCodeSignal(_F.RUN_FAILED, 30, ("{instruction} runs a command the image does not have (exit 127): {detail}", "{instruction} runs a command the image does not have (exit 127)")),
    126: ExitCodeSignal(_F.RUN_FAILED, 30, ("{instruction} runs a file that is not executable (exit 126)",)),
    139: ExitCodeSignal(_F.RUN_FAILED, 30, ("{instruction} crashed (segmentation fault, exit 139)", "the step crashed (segmentation fault, exit 139)")),
}
# fmt: on

# the strongest first: the first pattern a line matches is its signal (ties keep the table's order)
_BY_PRIORITY = sorted(enumerate(SIGNALS), key=lambda indexed: -indexed[1].priority)

# tie-break between classes at equal priority: the one the entrant can act on least ambiguously first
_CLASS_ORDER = (
    _F.ENGINE, _F.INVALID_DOCKERFILE, _F.BASE_IMAGE, _F.MISSING_FILE, _F.OUT_OF_MEMORY,
    _F.NETWORK, _F.DEPENDENCY, _F.COMPILATION, _F.RUN_FAILED, _F.TIMEOUT,
)  # fmt: skip

_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-Z\\-_]?")
_SGR = re.compile(r"\x1b\[([0-9;]*)m")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_NEWLINE = re.compile(r"\r\n|\n|\r")
_STEP_HEADER = re.compile(r"^Step \d+/\d+ : (?P<instruction>.*)$")
_BUILDER_NOISE = re.compile(
    r"^ ---> |^Removing intermediate container |^Successfully (?:built|tagged) |^Sending build context to Docker daemon"
)
_EXIT_STATUS = re.compile(r"returned a non-zero code: (\d+)|did not complete successfully: exit code: (\d+)")


def strip_ansi(text: str) -> str:
    """`text` without terminal escape sequences (colours, cursor moves, titles)."""
    return _ANSI.sub("", _as_text(text))


def run_exit_code(error: str | None) -> int | None:
    """The exit code of the RUN named in a daemon error ("... returned a non-zero code: N"), else None."""
    match = _EXIT_STATUS.search(_as_text(error))
    if match is None:
        return None
    digits = match.group(1) or match.group(2)
    return int(digits) if len(digits) <= 9 else None


@dataclass(frozen=True)
class _Line:
    number: int  # 1-based position in the log sequence; DAEMON_MESSAGE_LINE for the daemon's message
    text: str  # escape sequences and control characters removed
    stderr: bool  # printed in the builder's stderr colour


@dataclass(frozen=True)
class _Match:
    kind: FailureClass
    priority: int
    summaries: tuple[str, ...]
    line: _Line
    order: int  # position among all lines considered (the daemon's message last)
    source: int  # the signal's index in SIGNALS; -1: EXIT_CODE_SIGNALS
    groups: dict[str, str]
    prefer_last: bool = False
    subject_rank: int = 0


def classify(
    log: Sequence[str], error: str | None, *, exit_code: int | None = None, timed_out: bool = False
) -> Failure:
    """Why the build whose output is `log` and whose final daemon message is `error` failed."""
    lines = _log_lines(log)
    header_at = next((i for i in range(len(lines) - 1, -1, -1) if _STEP_HEADER.match(lines[i].text)), None)
    header = lines[header_at] if header_at is not None else None
    output = lines[header_at + 1 :] if header_at is not None else lines
    output = [line for line in output[-MAX_SCAN_LINES:] if not _BUILDER_NOISE.match(line.text)]
    step = header.text if header else None
    instruction = _shorten(_STEP_HEADER.sub(r"\g<instruction>", header.text), _INSTRUCTION_CHARS) if header else None
    code = exit_code if exit_code is not None or timed_out else run_exit_code(error)
    message = _daemon_message(error, lines, code)

    context: dict[str, str] = {}
    if instruction:
        context["instruction"] = f"`{instruction}`"
    if code is not None:
        context["code"] = str(code)

    if timed_out:
        return _timed_out(header, output, step, code, context)

    verb = instruction.split(maxsplit=1)[0].upper() if instruction else None
    matches = _matches(header, output, message, code, verb)
    if not matches:
        return _unrecognised(header, output, message if _as_text(error).strip() else None, step, code, context)

    kind = max(matches, key=lambda m: (m.priority, -_CLASS_ORDER.index(m.kind))).kind
    own = [m for m in matches if m.kind == kind]
    deciding = max(own, key=lambda m: (m.priority, m.order if m.prefer_last else -m.order))
    subject = _subject(own)
    evidence = _evidence(own, [m for m in matches if m.kind != kind and m.priority >= _SUPPORTING_PRIORITY])
    if kind == _F.RUN_FAILED and "detail" not in deciding.groups:
        tail = _stderr_tail(output)
        if tail:
            context["detail"] = tail[-1].text
            if all(m.line is message for m in own):
                evidence = _in_log_order([*tail, *(m.line for m in own)])
    values = {**context, **({"subject": subject} if subject else {}), **deciding.groups}
    summary = _render(deciding.summaries, values) or f"the build failed ({kind.value})"
    return Failure(kind, summary, _as_evidence(evidence), step, code, subject)


# ---- reading the log ---------------------------------------------------------------------------------


def _as_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", "replace")
    try:
        return str(value)
    except Exception:  # an object whose __str__ fails is junk, and junk never stops the classification
        return ""


def _log_lines(log: Sequence[str]) -> list[_Line]:
    """The log's lines, split where an element holds several, each with its element's number."""
    lines: list[_Line] = []
    stderr = False
    elements: list[object]
    if log is None or isinstance(log, str | bytes | bytearray):
        elements = [log]
    else:
        try:
            elements = list(log)
        except TypeError:  # not iterable after all: read it as one text
            elements = [log]
    for number, element in enumerate(elements, start=1):
        for piece in _NEWLINE.split(_as_text(element)):
            starts_red = stderr
            turned_red = False
            for codes in _SGR.findall(piece):
                for code in codes.split(";") if codes else ["0"]:
                    if code in {"31", "91"}:
                        stderr = turned_red = True
                    elif code in {"0", "39", ""}:
                        stderr = False
            text = _CONTROL.sub("", strip_ansi(piece)).rstrip()
            if text:
                lines.append(_Line(number, _clip(text), starts_red or turned_red))
    return lines


def _daemon_message(error: str | None, lines: list[_Line], code: int | None) -> _Line | None:
    """The daemon's message as a line: the log's own line when the log holds it, else DAEMON_MESSAGE_LINE.
    No message given: the log's last line that is neither a header nor the builder's chatter (where a build
    stage that logs the error puts it); or, with only an exit code known, that code."""
    text = " ".join(_CONTROL.sub(" ", strip_ansi(_as_text(error))).split())
    if not text:
        last = lines[-1] if lines else None
        if last is not None and not _STEP_HEADER.match(last.text) and not _BUILDER_NOISE.match(last.text):
            return last
        return _Line(DAEMON_MESSAGE_LINE, f"exit code {code}", False) if code is not None else None
    for line in reversed(lines[-50:]):
        if line.text.strip() == _clip(text):
            return line
    return _Line(DAEMON_MESSAGE_LINE, _clip(text), False)


def _matches(
    header: _Line | None, output: list[_Line], message: _Line | None, code: int | None, verb: str | None
) -> list[_Match]:
    """The strongest signal of each line read: the step's header, its output, the daemon's message (a
    line of the output when the log holds it, read then as both). `verb`: the failing step's instruction."""
    read: list[tuple[frozenset[_Where], _Line]] = [(_HEADER, header)] if header is not None else []
    message_in_output = False
    for line in output:
        if line is message:
            message_in_output = True
            read.append((_BOTH, line))
        else:
            read.append((_OUT, line))
    if message is not None and not message_in_output:
        read.append((_MSG, message))
    found: list[_Match] = []
    for order, (wheres, line) in enumerate(read):
        best: _Match | None = None
        for source, signal in _BY_PRIORITY:
            if signal.where.isdisjoint(wheres) or (signal.instruction and verb and signal.instruction != verb):
                continue
            hit = signal.regex.search(line.text)
            if hit is not None:
                groups = {k: _shorten(v.strip(), 160) for k, v in hit.groupdict().items() if v and v.strip()}
                best = _Match(signal.kind, signal.priority, signal.summaries, line, order, source, groups,
                              signal.prefer_last, signal.subject_rank)  # fmt: skip
                break
        by_code = EXIT_CODE_SIGNALS.get(code) if code is not None and line is message else None
        if by_code is not None and (best is None or by_code.priority > best.priority):
            best = _Match(by_code.kind, by_code.priority, by_code.summaries, line, order, -1, {})
        if best is not None:
            found.append(best)
    return found


def _subject(matches: list[_Match]) -> str | None:
    ranked = sorted(matches, key=lambda m: (-m.subject_rank, -m.priority, m.order))
    return next((m.groups["subject"] for m in ranked if "subject" in m.groups), None)


def _evidence(own: list[_Match], supporting: list[_Match]) -> list[_Line]:
    """The deciding class's lines (at most _PER_SIGNAL per pattern, strongest first), then the strongest
    signals it overrode, cut at MAX_EVIDENCE and put back in log order."""
    chosen: list[_Line] = []
    per_signal: dict[int, list[_Match]] = {}
    for match in sorted(own, key=lambda m: m.order):
        per_signal.setdefault(match.source, []).append(match)
    kept: list[_Match] = []
    for group in per_signal.values():
        kept.extend(group[-_PER_SIGNAL:] if group[0].prefer_last else group[:_PER_SIGNAL])
    for match in sorted(kept, key=lambda m: -m.priority) + sorted(supporting, key=lambda m: -m.priority):
        if len(chosen) < MAX_EVIDENCE and all(match.line is not line for line in chosen):
            chosen.append(match.line)
    return _in_log_order(chosen)


def _in_log_order(lines: list[_Line]) -> list[_Line]:
    unique: list[_Line] = []
    for line in lines:
        if all(line is not seen for seen in unique):
            unique.append(line)
    return sorted(unique, key=lambda line: (line.number == DAEMON_MESSAGE_LINE, line.number))


def _as_evidence(lines: list[_Line]) -> tuple[tuple[int, str], ...]:
    return tuple((line.number, _shorten(line.text, _EVIDENCE_CHARS)) for line in lines[:MAX_EVIDENCE])


def _stderr_tail(output: list[_Line], count: int = 3) -> list[_Line]:
    """The last lines the step wrote to stderr; the last lines it wrote at all when none went there."""
    red = [line for line in output if line.stderr]
    return (red or output)[-count:]


def _timed_out(
    header: _Line | None, output: list[_Line], step: str | None, code: int | None, context: dict[str, str]
) -> Failure:
    summaries = (
        "the build did not finish before its deadline; it was still running {instruction}",
        "the build did not finish before its deadline",
    )
    shown = [header] if header is not None else []
    return Failure(
        _F.TIMEOUT,
        _render(summaries, context) or summaries[-1],
        _as_evidence(_in_log_order([*shown, *output[-2:]])),
        step,
        code,
    )


def _unrecognised(
    header: _Line | None,
    output: list[_Line],
    message: _Line | None,
    step: str | None,
    code: int | None,
    context: dict[str, str],
) -> Failure:
    """No signal at all: a daemon message nobody knows is the engine's; no message, the step's."""
    if message is not None:
        summary = f"the Docker engine stopped the build: {_shorten(message.text, 200)}"
        return Failure(_F.ENGINE, summary, _as_evidence([message]), step, code)
    tail = _stderr_tail(output)
    if header is None and not tail:
        return Failure(
            _F.ENGINE, "the build stopped without any output or error message from the engine", (), step, code
        )
    summaries = (
        "{instruction} failed with exit code {code}: {detail}",
        "{instruction} failed: {detail}",
        "{instruction} failed",
        "the build failed: {detail}",
    )
    values = {**context, **({"detail": tail[-1].text} if tail else {})}
    kind = _F.RUN_FAILED if header is None or header.text.split(" : ", 1)[-1].upper().startswith("RUN") else _F.ENGINE
    return Failure(kind, _render(summaries, values) or "the build failed", _as_evidence(tail), step, code)


def _render(summaries: tuple[str, ...], values: dict[str, str]) -> str | None:
    for template in summaries:
        try:
            return template.format_map(values)
        except (KeyError, IndexError, ValueError):
            continue
    return None


def _clip(text: str) -> str:
    """A line cut to what is matched: its start and its end. The end is kept because the engine puts the
    decisive words last (`The command '<a RUN of several KB>' returned a non-zero code: 4`)."""
    if len(text) <= _MAX_LINE_CHARS:
        return text
    half = _MAX_LINE_CHARS // 2
    return text[:half] + " [...] " + text[-half:]


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
