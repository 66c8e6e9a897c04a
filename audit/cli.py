"""The command line: parses arguments, wires the engine and the renderers, returns an exit code.

`main(argv)` is the composition root; everything it does is callable from Python. One handler maps
exceptions to exit codes: usage, config and internal errors are 2 (an internal error also writes a
crash log), no entry found is 3, Ctrl-C is 130. The exit codes are a documented contract (README).
"""

from __future__ import annotations

import argparse
import dataclasses
import fnmatch
import io
import json
import os
import sys
import tempfile
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console

from audit import __version__
from audit import baseline as baseline_module
from audit.baseline import Baseline, BaselineError
from audit.config import DEFAULT_SECRET_MAX_FILE_BYTES, ConfigError
from audit.discover import DiscoveryError
from audit.engine import CheckOptions, run_check
from audit.fix.model import KINDS as FIX_KINDS
from audit.fix.run import DEFAULT_TIMEOUT as DEFAULT_FIX_TIMEOUT
from audit.fix.run import FixError, FixOptions, run_fix
from audit.ingest.issues import ISSUES as INGEST_ISSUES
from audit.issues import StageIssue
from audit.model import CheckResult, Severity
from audit.rules import REGISTRY
from audit.rules.base import Rule
from audit.runner.run import BeforeHook, RunError, RunOptions, run_lock
from audit.runner.run import run as run_batch
from audit.runner.stages import STAGES, RunContext, Stage
from audit.runner.state import State, StateError, now
from audit.secrets.catalog import select as select_detectors
from audit.secrets.content import Limits
from audit.secrets.redact import SALT_ENV, default_salt
from audit.secrets.scan import SecretOptions
from audit.secrets.scrub import ScrubError, run_scrub
from audit.secrets.verify import DEFAULT_BASE_URL as DEFAULT_VERIFY_URL
from audit.secrets.verify import VerifyConfigError, check_base_url
from reports import hosts_table, json_v1, run_report, sarif, scrub_report, terminal
from reports.guard import guard
from reports.progress import LiveProgress, PlainProgress
from reports.score_inputs import ScoreInputError
from reports.scoring import SchemeError

STAGE_NAMES = [*(stage.name for stage in STAGES), "build", "train", "eval"]
ENGINE_STAGES = ("build", "train", "eval")  # the stages that need a Docker Engine
"""Every stage `repro-audit run` knows, in pipeline order (`build` comes from `rebuild/`)."""
EXIT_OK = 0
"""Nothing at or above --fail-on."""
EXIT_FINDINGS = 1
"""At least one finding at or above --fail-on that is not suppressed."""
EXIT_ERROR = 2
"""Usage, configuration or internal error."""
EXIT_NO_ENTRIES = 3
"""No entry was found under the given paths."""
EXIT_INTERRUPTED = 130

FORMATS = ("terminal", "json", "sarif")
"""What `check --format` writes."""
PROBE_FORMATS = ("terminal", "json")
SCORE_FORMATS = ("terminal", "json", "markdown", "csv", "html")


class _GuardedConsole(Console):
    """A console for messages built from user input (paths, arguments): passed through the secret guard."""

    def print(self, *objects: object, **kwargs: Any) -> None:
        kwargs.setdefault("soft_wrap", True)  # an error is one line, whatever the terminal's width
        super().print(*(guard(o) if isinstance(o, str) else o for o in objects), **kwargs)


class UsageError(Exception):
    """Arguments that do not fit together; the message says what to change."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{message} (see {self.prog} --help)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="repro-audit",
        description="Audit machine-learning competition submissions for reproducibility.",
    )
    parser.add_argument("--version", action="version", version=f"repro-audit {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    check = commands.add_parser(
        "check",
        help="static audit: unpinned dependencies, host-local artifacts, risky builds, credentials",
        description=(
            "Audit one submission folder or an organizers' archive (<track>/<user>/<repo>/). "
            "Exit codes: 0 nothing at or above --fail-on, 1 findings at or above it, 2 usage/config/internal "
            "error, 3 no entry found."
        ),
    )
    check.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="a submission folder or an archive folder")
    check.add_argument(
        "--format",
        dest="destinations",
        action=_FormatAction,
        choices=FORMATS,
        help="output format (terminal, json, sarif); repeat it, each followed by its --output, to write several",
    )
    check.add_argument(
        "--output",
        dest="destinations",
        action=_OutputAction,
        type=Path,
        metavar="FILE",
        help="file for the --format just before it (default: standard output)",
    )
    check.add_argument(
        "--fail-on",
        type=_severity,
        metavar="SEVERITY",
        help="exit 1 when a finding is at or above this severity: info, low, medium, high (default: high)",
    )
    check.add_argument("--config", type=Path, metavar="FILE", help="TOML config for every entry (instead of their own)")
    check.add_argument(
        "--select",
        action="append",
        default=[],
        metavar="RULES",
        help="only these rules: ids, id prefixes or families, comma-separated (e.g. RA2,host-local)",
    )
    check.add_argument(
        "--ignore",
        action="append",
        default=[],
        metavar="RULES",
        help="skip these rules (ids, id prefixes or families, comma-separated), on top of the config's ignore",
    )
    check.add_argument(
        "--isolated",
        action="store_true",
        help="ignore [tool.repro-audit] and inline suppressions found in the audited trees (organizers' mode)",
    )
    check.add_argument(
        "--min-severity",
        type=_severity,
        default=Severity.LOW,
        metavar="SEVERITY",
        help="lowest severity shown in the terminal report (default: low; JSON always has all)",
    )
    check.add_argument("--show-suppressed", action="store_true", help="list suppressed findings in the terminal report")
    check.add_argument("--jobs", type=int, default=0, metavar="N", help="worker processes (default: one per CPU)")
    secrets = check.add_argument_group("secrets")
    secrets.add_argument(
        "--entropy",
        action="store_true",
        help="also run detect-secrets' generic high-entropy detectors (RA910; noisy, off by default)",
    )
    secrets.add_argument(
        "--no-history", dest="history", action="store_false", help="do not scan the git history of repositories"
    )
    secrets.add_argument(
        "--secret-max-file-bytes",
        type=_byte_count,
        metavar="N",
        help="files larger than this are not searched for secrets, and are reported (RA911; default: 64 MiB)",
    )
    secrets.add_argument(
        "--verify",
        action="store_true",
        help="ask HuggingFace (whoami) whether each HuggingFace token found is live, revoked or unknown; "
        "sends the tokens to --verify-url and nowhere else (off by default)",
    )
    secrets.add_argument(
        "--verify-url",
        default=DEFAULT_VERIFY_URL,
        metavar="URL",
        help=f"base URL asked by --verify (default: {DEFAULT_VERIFY_URL}; https, or http to a loopback address)",
    )
    secrets.add_argument(
        "--verify-timeout",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="how long --verify waits for each answer (default: 5)",
    )
    secrets.add_argument(
        "--baseline",
        type=Path,
        metavar="FILE",
        help="known secrets (fingerprint, rule, path): reported as suppressed instead of failing the run",
    )
    secrets.add_argument(
        "--update-baseline",
        action="store_true",
        help="write the secrets found in this run to the --baseline file (created if missing)",
    )

    scrub = commands.add_parser(
        "scrub",
        help="write a release copy with every secret redacted, git history rewritten, and rescan it",
        description=(
            "Copy SRC (a submission or an archive folder) to DEST, replace every secret found by "
            "<REDACTED:kind:fingerprint> (binary files holding one are removed), rewrite git history with "
            "git-filter-repo, then rescan DEST. SRC is never modified. Exit codes: 0 the copy is clean, "
            "1 secrets remain in the copy, 2 usage or internal error, 3 no entry found."
        ),
    )
    scrub.add_argument("source", type=Path, metavar="SRC", help="a submission folder or an archive folder")
    scrub.add_argument("destination", type=Path, metavar="DEST", help="a new (or empty) folder for the release copy")
    scrub.add_argument("--entropy", action="store_true", help="also redact what the high-entropy detectors find")
    scrub.add_argument(
        "--no-history", dest="history", action="store_false", help="leave git history alone (not recommended)"
    )
    scrub.add_argument(
        "--secret-max-file-bytes", type=_byte_count, metavar="N", help="files larger than this are not searched"
    )
    scrub.add_argument("--json", type=Path, metavar="FILE", help="also write what was done as JSON")

    run = commands.add_parser(
        "run",
        help="batch audit: every entry of a folder, archive or manifest through every stage, resumable",
        description=(
            "Ingest SOURCE (a submission or archive folder, a .zip/.tar.* archive, or a .tsv/.csv manifest of git "
            "URLs) into --out DIR and run every stage on every entry; state lives in DIR/state.sqlite, so running "
            "again resumes. Exit codes: 0 every stage passed, 1 some stage failed or errored (after all entries "
            "ran), 2 usage or internal error, 3 no entry found, 130 interrupted (resumable)."
        ),
    )
    run.add_argument("source", type=Path, metavar="SOURCE", help="folder, archive (.zip, .tar.*) or manifest")
    run.add_argument("--out", type=Path, required=True, metavar="DIR", help="run folder (created; reused to resume)")
    run.add_argument("--jobs", type=int, default=0, metavar="N", help="entries in parallel (default: one per CPU)")
    run.add_argument(
        "--rerun", action="append", default=[], choices=STAGE_NAMES, help="run this stage again even if finished"
    )
    run.add_argument(
        "--entries", action="append", default=[], metavar="PATTERN", help="only entries whose name matches (glob)"
    )
    run.add_argument(
        "--fail-on",
        type=_severity,
        default=Severity.HIGH,
        metavar="SEVERITY",
        help="a static finding at or above this severity fails the entry's static stage (default: high)",
    )
    run.add_argument("--isolated", action="store_true", help="ignore the entries' own configs and inline pragmas")
    run.add_argument("--entropy", action="store_true", help="also run the high-entropy secret detectors")
    run.add_argument("--no-history", dest="history", action="store_false", help="do not scan git history")
    run.add_argument("--clone-timeout", type=float, default=600.0, metavar="SECONDS", help="per clone (default: 600)")
    run.add_argument("--plain", action="store_true", help="a line per stage instead of a live display")
    run.add_argument(
        "--stages",
        type=_stage_list,
        default=None,
        metavar="LIST",
        help=f"comma-separated stages to run, of {', '.join(STAGE_NAMES)} (default: all); ingest always runs and "
        "a stage's prerequisites are added",
    )
    rebuild = run.add_argument_group("rebuild (a Docker Engine)")
    rebuild.add_argument(
        "--hosts",
        type=Path,
        metavar="FILE",
        help="host profiles (TOML); default: the local engine, track cpu, no pulls",
    )
    rebuild.add_argument(
        "--build-timeout", type=_duration, metavar="DURATION", help="per build, e.g. 90s, 45m (default: 60m)"
    )
    rebuild.add_argument("--train-timeout", type=_duration, metavar="DURATION", help="per training run (default: 24h)")
    rebuild.add_argument(
        "--eval-timeout", type=_duration, metavar="DURATION", help="per evaluation (default: open 300m, closed 600m)"
    )
    rebuild.add_argument("--no-cache", action="store_true", help="build without the engine's cache")
    rebuild.add_argument(
        "--rebuild-twice",
        action="store_true",
        help="build each target twice without cache and compare the two images (determinism)",
    )
    rebuild.add_argument(
        "--build-arg", action="append", default=[], metavar="KEY=VALUE", help="a build argument for every target"
    )
    rebuild.add_argument(
        "--helm",
        metavar="PATH",
        help="the HELM to evaluate with: its environment's bin folder or helm-run (default: $REPRO_AUDIT_HELM, "
        "this environment, the one scripts/helm-env.sh made, then PATH)",
    )
    rebuild.add_argument(
        "--overrides",
        type=Path,
        metavar="FILE",
        help="the organizers' per-entry settings (TOML: output and weights paths, evaluation set, limits); "
        "default: overrides.toml at the root of a folder archive, if there is one",
    )

    _add_scoring_arguments(run.add_argument_group("scoring"))

    report = commands.add_parser(
        "report",
        help="re-render a run's reports and leaderboards from its state, without running anything",
        description=(
            "Write DIR/entries/<name>/report.{json,md,html}, DIR/leaderboards/ and DIR/summary.{json,md,html} from "
            "DIR/state.sqlite."
        ),
    )
    report.add_argument("out", type=Path, metavar="DIR", help="a folder written by `repro-audit run`")
    _add_scoring_arguments(report.add_argument_group("scoring"))

    score = commands.add_parser(
        "score",
        help="scores and leaderboards as the competition computed them, compared with claimed results",
        description=(
            "Score every entry of a track: win rates per metric, mean win rate per scenario, geometric mean per "
            "set, final score (1/3 open + 2/3 hidden), rank; with --claimed, the reproduced values against the "
            "claimed ones. Exit codes: 0 scored (and within tolerance of the claims), 1 some metric or final score "
            "is outside its tolerance of the claimed value, 2 usage error or unreadable input."
        ),
    )
    given = score.add_mutually_exclusive_group(required=True)
    given.add_argument(
        "--metrics",
        type=Path,
        metavar="FILE",
        help='JSON: {"entry": {"MMLU - EM": 0.41, ...}} (null = missing), or {"tracks": {"A100": {...}}}',
    )
    given.add_argument("--run", type=Path, metavar="DIR", help="a folder written by `repro-audit run`")
    score.add_argument(
        "--track", metavar="NAME", help="with --run: only this track; with a flat --metrics file: its track's name"
    )
    score.add_argument(
        "--format", choices=SCORE_FORMATS, default="terminal", help=f"output format ({', '.join(SCORE_FORMATS)})"
    )
    score.add_argument("--output", type=Path, metavar="FILE", help="write to FILE (default: standard output)")
    _add_scoring_arguments(score)

    hosts = commands.add_parser(
        "hosts",
        help="check the host profiles: engine reachable, version, GPUs a container sees, free disk",
        description=(
            "Check every host profile of --hosts FILE (default: the built-in `local` profile). Exit codes: 0 every "
            "profile is usable, 1 some profile is not, 2 usage error."
        ),
    )
    hosts.add_argument("--hosts", type=Path, metavar="FILE", help="host profiles (TOML)")
    hosts.add_argument("--format", choices=("terminal", "json"), default="terminal", help="output format")
    hosts.add_argument("--helm", metavar="PATH", help="the HELM the eval stage would use (see `run --helm`)")

    clean = commands.add_parser(
        "clean",
        help="remove the containers, images and networks a run left in its Docker Engines",
        description=(
            "Remove everything `repro-audit run --out DIR` created in its engines (found by the run's label and "
            "its build logs): after a crash, a killed run, or when the images are no longer needed."
        ),
    )
    clean.add_argument("out", type=Path, metavar="DIR", help="a folder written by `repro-audit run`")
    clean.add_argument("--keep-images", action="store_true", help="remove containers and networks only")

    probe = commands.add_parser(
        "probe",
        help="check a running inference server against the competition's API (/process, /tokenize, /decode)",
        description=(
            "Send HELM's requests to the inference server at URL (such as http://127.0.0.1:8080) and check its "
            "answers: shapes and JSON types, echo_prompt, max_new_tokens, determinism at temperature 0, "
            "tokenize/decode round trip, a 2048-token prompt, 4xx for malformed requests. Exit codes: 0 every "
            "check passed, 1 the server breaks the contract (or a check could not run), 2 no HTTP answer at "
            "all, or a usage error."
        ),
    )
    probe.add_argument("url", metavar="URL", help="the server's base URL: http://HOST:PORT")
    probe.add_argument("--timeout", type=float, default=60.0, metavar="SECONDS", help="per request (default: 60)")
    probe.add_argument("--format", choices=PROBE_FORMATS, default="terminal", help="output format (terminal, json)")
    probe.add_argument(
        "--output", type=Path, metavar="FILE", help="write the report to FILE (default: standard output)"
    )

    fix = commands.add_parser(
        "fix",
        help="propose (or write) the pins that make a submission rebuild as it was on its deadline",
        description=(
            "Resolve what PATH's Dockerfiles and sources leave floating as it was at the cut-off date: Python "
            "dependencies into hashed lock files (pip-compile against the index as of the date), base images to "
            "digests, git clones and VCS requirements to commits, Hub models and datasets to revisions. Prints a "
            "unified diff (git apply accepts it) with the findings each change resolves; --write applies it. "
            "Exit codes: 0 nothing left to pin, 1 changes proposed and not written or pinning findings left, "
            "2 usage error (a dirty tree with --write, no cut-off date)."
        ),
    )
    fix.add_argument("path", type=Path, metavar="PATH", help="the folder of one submission")
    fix.add_argument(
        "--as-of",
        metavar="DATE",
        help="the cut-off: 2023-10-25 (the whole day, UTC) or 2023-10-25T18:00:00Z "
        "(default: the entry's configured deadline, else its last commit's date)",
    )
    fix.add_argument("--write", action="store_true", help="apply the changes (refused on a dirty git tree)")
    fix.add_argument("--force", action="store_true", help="with --write: write even into a dirty or non-git tree")
    fix.add_argument("--index-url", metavar="URL", help="package index to resolve against (default: PyPI)")
    fix.add_argument(
        "--python-version", metavar="X.Y", help="the images' Python, where their base image does not tell it"
    )
    fix.add_argument(
        "--hf-endpoint", metavar="URL", help="HuggingFace Hub endpoint (default: HF_ENDPOINT, else the Hub)"
    )
    fix.add_argument(
        "--skip",
        action="append",
        default=[],
        metavar="KIND",
        help=f"leave one kind of pin alone ({', '.join(FIX_KINDS)}); repeatable",
    )
    fix.add_argument(
        "--timeout", type=float, default=DEFAULT_FIX_TIMEOUT, metavar="SECONDS", help="limit of one resolution"
    )
    fix.add_argument("--format", choices=("diff", "json"), default="diff", help="what goes to standard output")
    fix.add_argument("--quiet", action="store_true", help="no progress lines on standard error")

    rules = commands.add_parser("rules", help="list the rules, or explain one", description="List or explain rules.")
    rules.add_argument("rule", nargs="?", help="a rule id such as RA201")
    return parser


def _add_scoring_arguments(group: Any) -> None:
    group.add_argument(
        "--claimed",
        type=Path,
        metavar="FILE",
        help="the entries' claimed results (same JSON as --metrics; may add rank, score_full), e.g. the published "
        "leaderboard",
    )
    group.add_argument(
        "--scheme",
        type=Path,
        metavar="FILE",
        help="scoring scheme (TOML, see reports/schemes/neurips-2023.toml); default: the scheme.toml next to the "
        "entries' evaluation conf, else the competition's",
    )
    group.add_argument(
        "--win-rate",
        choices=("competition", "helm"),
        default="competition",
        help="competition: ties 1/(c(c-1)), divided by n, missing values worst (default); helm: HELM's mean win "
        "rate, ties half, divided by n-1, missing values skipped",
    )
    group.add_argument(
        "--tolerance",
        type=_fraction,
        metavar="X",
        help="one absolute tolerance for every metric (default: the Wilson 95%% interval of accuracy metrics "
        "over their instances, else 0.01)",
    )
    group.add_argument(
        "--score-tolerance",
        type=_fraction,
        default=0.05,
        metavar="X",
        help="for scores without a bootstrap interval (default: 0.05)",
    )
    group.add_argument(
        "--bootstrap",
        type=int,
        default=1000,
        metavar="N",
        help="resamples of the evaluated instances for 95%% intervals of scores and ranks (default: 1000; 0: none)",
    )
    group.add_argument("--seed", type=int, default=0, metavar="N", help="the bootstrap's random seed (default: 0)")


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (value >= 0 and value < float("inf")):
        raise argparse.ArgumentTypeError(f"{text!r}: give a number of 0 or more")
    return value


def _score_settings(args: argparse.Namespace) -> Any:
    from reports.reproduction import Tolerance
    from reports.score_inputs import Settings, load_values
    from reports.scoring import Definition, competition_scheme, load_scheme

    if args.bootstrap < 0 or args.bootstrap == 1:
        raise UsageError(f"--bootstrap {args.bootstrap}: give 0 (no intervals) or 2 or more resamples")
    # files named on the command line are read now: an error in one is said before any work, exit 2
    scheme = load_scheme(args.scheme) if args.scheme is not None else competition_scheme()
    if args.claimed is not None:
        load_values(args.claimed, "claimed results", track=None, scheme=scheme, claimed=True)
    return Settings(
        scheme_file=args.scheme,
        claimed_file=args.claimed,
        definition=Definition(args.win_rate),
        tolerance=Tolerance(score=args.score_tolerance, fixed=args.tolerance),
        replicates=args.bootstrap,
        seed=args.seed,
    )


class _FormatAction(argparse.Action):
    """`--format F` starts a new (format, output) pair."""

    def __call__(
        self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: object, option: object = None
    ) -> None:
        pairs = list(getattr(namespace, self.dest, None) or [])
        pairs.append([values, None])
        setattr(namespace, self.dest, pairs)


class _OutputAction(argparse.Action):
    """`--output FILE` completes the pair of the --format before it (or guesses it from the extension)."""

    def __call__(
        self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: object, option: object = None
    ) -> None:
        pairs = list(getattr(namespace, self.dest, None) or [])
        path = Path(str(values))
        if pairs and pairs[-1][1] is None:
            pairs[-1][1] = path
        elif path.suffix in (".json", ".sarif"):
            pairs.append([path.suffix[1:], path])
        else:
            raise UsageError(f"--output {path}: put a --format before it (terminal, json or sarif)")
        setattr(namespace, self.dest, pairs)


def _stage_list(text: str) -> tuple[str, ...]:
    names = tuple(s.strip() for s in text.split(",") if s.strip())
    unknown = [n for n in names if n not in STAGE_NAMES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown stage {unknown[0]!r}" if unknown else "give at least one stage"
        ) from None
    return names


def _duration(text: str) -> float:
    from rebuild.hosts import parse_duration

    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _selectors(items: list[str]) -> tuple[str, ...]:
    return tuple(s.strip() for item in items for s in item.split(",") if s.strip())


def _byte_count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of bytes") from None
    if value < 1024:
        raise argparse.ArgumentTypeError("give at least 1024 bytes")
    return value


def _severity(text: str) -> Severity:
    try:
        return Severity.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def main(argv: Sequence[str] | None = None) -> int:
    for stream in (sys.stdout, sys.stderr):  # file names that are not UTF-8 must print, not crash
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="backslashreplace")
    stderr = _GuardedConsole(stderr=True, highlight=False)
    try:
        return _run(list(sys.argv[1:] if argv is None else argv))
    except KeyboardInterrupt:
        stderr.print("repro-audit: interrupted")
        return EXIT_INTERRUPTED
    except (
        UsageError,
        ConfigError,
        DiscoveryError,
        BaselineError,
        ScrubError,
        VerifyConfigError,
        RunError,
        StateError,
        SchemeError,
        ScoreInputError,
        FixError,
    ) as exc:
        stderr.print(f"repro-audit: error: {exc}", markup=False)
        return EXIT_ERROR
    except OSError as exc:
        stderr.print(f"repro-audit: error: {exc.strerror or exc}: {exc.filename or ''}", markup=False)
        return EXIT_ERROR
    except Exception as exc:
        log = _write_crash_log(exc)
        stderr.print(
            f"repro-audit: internal error: {type(exc).__name__}: {exc}. This is a bug in repro-audit; the details "
            f"are in {log}, please attach it to a bug report.",
            markup=False,
        )
        return EXIT_ERROR


def _run(argv: list[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "rules":
        return _rules(args.rule)
    if args.command == "scrub":
        return _scrub(args)
    if args.command == "run":
        return _run_batch(args)
    if args.command == "report":
        return _report(args.out, _score_settings(args))
    if args.command == "score":
        return _score(args)
    if args.command == "hosts":
        return _hosts(args)
    if args.command == "clean":
        return _clean(args.out, keep_images=args.keep_images)
    if args.command == "probe":
        return _probe(args)
    if args.command == "fix":
        return _fix(args)
    if args.command != "check":
        parser.print_help()
        return EXIT_ERROR
    destinations = _destinations(args.destinations or [["terminal", None]])
    if args.update_baseline and args.baseline is None:
        raise UsageError("--update-baseline needs --baseline FILE: the file to write")
    known = None
    if args.baseline is not None and (args.baseline.exists() or not args.update_baseline):
        known = baseline_module.load(args.baseline)
    options = CheckOptions(
        fail_on=args.fail_on,
        config_file=args.config,
        select=_selectors(args.select),
        ignore=_selectors(args.ignore),
        isolated=args.isolated,
        jobs=max(0, args.jobs),
        entropy=args.entropy,
        history=args.history,
        secret_max_file_bytes=args.secret_max_file_bytes,
        baseline=None if args.update_baseline else known,
        salt=known.salt if known is not None else None,
        verify_url=check_base_url(args.verify_url) if args.verify else None,
        verify_timeout=max(0.1, args.verify_timeout),
    )
    result = run_check(args.paths, options)
    if args.update_baseline:
        result = _update_baseline(result, args.baseline, known)
    if not result.entries:
        Console(stderr=True).print(
            f"repro-audit: no submission found under {', '.join(map(str, args.paths))}: give a folder that holds "
            "a repository, or an archive laid out as <track>/<user>/<repo>/",
            markup=False,
        )
        return EXIT_NO_ENTRIES
    for fmt, output in destinations:
        _emit(result, fmt, output, args.min_severity, args.show_suppressed)
    return EXIT_FINDINGS if result.failing() else EXIT_OK


def _run_batch(args: argparse.Namespace) -> int:
    scoring = _score_settings(args)  # a bad scoring option is said before the run, not after
    check = CheckOptions(isolated=args.isolated, entropy=args.entropy, history=args.history, jobs=1)
    context = RunContext(
        run_dir=args.out.resolve(), check=check, fail_on=args.fail_on, clone_timeout=max(1.0, args.clone_timeout)
    )
    selected, before = _stages(args)
    options = RunOptions(
        out=args.out,
        jobs=max(0, args.jobs),
        rerun=tuple(args.rerun),
        entries=tuple(args.entries),
        context=context,
        stages=selected,
        before=before,
    )
    console = Console(stderr=True, highlight=False)
    live = console.is_terminal and not args.plain
    progress = LiveProgress(console) if live else PlainProgress(console)
    try:
        result = run_batch(args.source, options, progress)
    finally:
        if isinstance(progress, LiveProgress):
            progress.stop()
    try:
        entries = result.state.entries()
        if not entries:
            console.print(f"repro-audit: no submission found in {args.source}", markup=False)
            return EXIT_NO_ENTRIES
        _write_run_reports(result.state, args.out, scoring)
        stages = result.state.stages()
    finally:
        result.state.close()
    failed = [s for s in stages if s.status in ("failed", "errored") and _wanted_entry(s.entry, options.entries)]
    console.print(
        f"repro-audit: {len(entries)} entries{_verdict_counts(args.out)}, {result.ran} stage run(s) now; reports in "
        f"{args.out}/summary.html",
        markup=False,
    )
    if result.interrupted:
        if any(stage.name in ENGINE_STAGES for stage in selected):
            _clean_after_interrupt(args.out, console)
        console.print("repro-audit: interrupted; run the same command again to resume", markup=False)
        return EXIT_INTERRUPTED
    return EXIT_FINDINGS if failed else EXIT_OK


def _verdict_counts(out: Path) -> str:
    """ " (1 reproducible, 5 not reproducible)" from the summary just written; "" if it cannot be read."""
    try:
        verdicts = json.loads((out / "summary.json").read_text(encoding="utf-8")).get("verdicts") or {}
    except (OSError, ValueError):
        return ""
    said = [f"{count} {status.replace('-', ' ')}" for status, count in verdicts.items() if count]
    return f" ({', '.join(said)})" if said else ""


def _stages(args: argparse.Namespace) -> tuple[tuple[Stage, ...], tuple[BeforeHook, ...]]:
    """The stage objects of `--stages` (with ingest and every prerequisite), and what runs before them."""
    wanted = set(args.stages or STAGE_NAMES) | {"ingest"}
    if "eval" in wanted:
        wanted.add("train")  # the server may serve what training produced (the overrides' `weights`)
    if "train" in wanted:
        wanted.add("build")  # training runs the image the build made
    if "build" in wanted:
        wanted.add("static")  # the build links its failures to the static findings that predicted them
    stages: list[Stage] = [stage for stage in STAGES if stage.name in wanted]
    before: list[BeforeHook] = []
    if wanted & set(ENGINE_STAGES):
        from rebuild.build import BuildOptions, BuildStage
        from rebuild.eval import EvalOptions, EvalStage
        from rebuild.train import TrainOptions, TrainStage

        hosts = tuple(_host_profiles(args))
        overrides = _overrides(args)
        build_args = dict(_key_value(item) for item in args.build_arg)
        stages.append(
            BuildStage(
                BuildOptions(
                    hosts=hosts, no_cache=args.no_cache, rebuild_twice=args.rebuild_twice, build_args=build_args
                )
            )
        )
        if "train" in wanted:
            stages.append(TrainStage(TrainOptions(hosts=hosts, overrides=overrides)))
        if "eval" in wanted:
            stages.append(EvalStage(EvalOptions(hosts=hosts, overrides=overrides, helm=args.helm)))
        before.append(_EngineHousekeeping(tuple(h.endpoint for h in hosts)))
    return tuple(stages), tuple(before)


def _host_profiles(args: argparse.Namespace) -> list[Any]:
    from rebuild.hosts import LOCAL, HostsError, load_hosts, with_timeouts

    try:
        hosts = load_hosts(args.hosts) if getattr(args, "hosts", None) else [LOCAL]
    except HostsError as exc:
        raise UsageError(str(exc)) from None
    return with_timeouts(
        hosts,
        build=getattr(args, "build_timeout", None),
        train=getattr(args, "train_timeout", None),
        evaluation=getattr(args, "eval_timeout", None),
    )


def _overrides(args: argparse.Namespace) -> Any:
    """The overrides file given, else `overrides.toml` at the root of a folder source, else none."""
    from rebuild.overrides import FILE_NAME, Overrides, OverridesError, load_overrides

    path = getattr(args, "overrides", None)
    if path is None:
        found = Path(args.source) / FILE_NAME
        if not found.is_file():
            return Overrides()
        path = found
    try:
        return load_overrides(path)
    except OverridesError as exc:
        raise UsageError(str(exc)) from None


def _key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise UsageError(f"--build-arg {text!r}: write KEY=VALUE")
    return key.strip(), value


class _EngineHousekeeping:
    """Before the stages of a run that builds: remember the run's engines (for `repro-audit clean`) and
    remove the containers an earlier, killed attempt of this run left in them."""

    def __init__(self, endpoints: tuple[str | None, ...]) -> None:
        self.endpoints = endpoints

    def __call__(self, state: State, context: RunContext, progress: Any) -> None:
        from rebuild.clean import clean_run

        known = json.loads(state.meta("engines") or "[]")
        state.set_meta("engines", json.dumps(list(dict.fromkeys([*known, *self.endpoints]))))
        report = clean_run(context.run_dir, context.run_id, self.endpoints, since=_created(state), images=False)
        if report.containers:
            progress.note(f"removed {len(report.containers)} container(s) an earlier attempt of this run left")
        for problem in report.problems:  # said once, before hundreds of entries each skip their build
            progress.note(f"{problem}; builds on that host will be skipped")


def _clean_after_interrupt(out: Path, console: Console) -> None:
    try:
        removed = _clean_run_folder(out, keep_images=True)
    except (RunError, StateError) as exc:
        console.print(f"repro-audit: could not clean up: {exc}", markup=False)
        return
    if removed.containers:
        console.print(f"repro-audit: removed {len(removed.containers)} container(s) of the interrupted builds")


def _clean_run_folder(out: Path, *, keep_images: bool) -> Any:
    from rebuild.clean import clean_run

    if not (out / "state.sqlite").is_file():
        raise UsageError(f"{out} holds no run (no state.sqlite): give the --out folder of `repro-audit run`")
    with run_lock(out):
        state = State(out / "state.sqlite")
        try:
            run_id, engines, since = state.run_id(), json.loads(state.meta("engines") or "[null]"), _created(state)
        finally:
            state.close()
        return clean_run(out, run_id, engines, since=since, images=not keep_images)


def _created(state: State) -> float:
    """When the run folder's state was made (Unix time): what the run created in an engine is younger."""
    from datetime import datetime

    text = state.meta("created")
    try:
        return datetime.fromisoformat(text).timestamp() if text else 0.0
    except ValueError:
        return 0.0


def _clean(out: Path, *, keep_images: bool) -> int:
    report = _clean_run_folder(out, keep_images=keep_images)
    console = _GuardedConsole(stderr=True, highlight=False)
    console.print(
        f"repro-audit: removed {len(report.containers)} container(s), {len(report.images)} image(s) and "
        f"{len(report.networks)} network(s) of the run in {out}",
        markup=False,
    )
    for problem in report.problems:
        console.print(f"repro-audit: could not clean: {problem}", markup=False)
    return EXIT_FINDINGS if report.problems else EXIT_OK


def _hosts(args: argparse.Namespace) -> int:
    from rebuild.checks import check_evaluator, check_host

    checks = [check_host(profile) for profile in _host_profiles(args)]
    rows = [check.to_dict() for check in checks]
    helm = check_evaluator(args.helm)
    if args.format == "json":
        print(guard(json.dumps({"schema_version": 1, "hosts": rows, "helm": helm}, indent=2)))
    else:
        hosts_table.render(rows, Console(highlight=False), helm)
    return EXIT_OK if all(check.usable for check in checks) else EXIT_FINDINGS


def _probe(args: argparse.Namespace) -> int:
    """`repro-audit probe URL`: 0 the contract is kept, 1 it is not, 2 the server gave no HTTP answer."""
    import math

    from rebuild.probe import ProbeUrlError, probe
    from reports import probe_report

    if not (math.isfinite(args.timeout) and args.timeout > 0):
        raise UsageError(f"--timeout {args.timeout}: give a positive number of seconds")
    if args.output is not None:
        _parent(args.output)  # a folder that does not exist is said before the probe, not after
    try:
        report = probe(args.url, timeout=args.timeout)
    except ProbeUrlError as exc:
        raise UsageError(str(exc)) from None
    if args.format == "json":
        text = probe_report.render_json(report.document())
    else:
        # soft_wrap: rich must not break a line inside a token, or the guard below could not recognise it
        console = (
            Console(highlight=False, soft_wrap=True)
            if args.output is None
            else Console(no_color=True, width=120, highlight=False, soft_wrap=True)
        )
        with console.capture() as captured:
            probe_report.render(report.document(), console)
        text = captured.get()
    if args.output is None:
        sys.stdout.write(guard(text))
        sys.stdout.flush()
    else:
        _write_atomically(args.output, guard(text))
    if not report.reachable:
        return EXIT_ERROR
    return EXIT_OK if report.passed else EXIT_FINDINGS


def _write_run_reports(state: State, out: Path, scoring: Any) -> None:
    """Write the reports unless those on disk were written after the state last changed (a resumed run
    with nothing left to do need not rewrite hundreds of files)."""
    written, changed = state.meta("reports_written"), state.last_change()
    same_scoring = state.meta("reports_scoring") == _scoring_key(scoring)
    fresh = written is not None and (changed is None or written >= changed)
    if fresh and same_scoring and (out / "summary.json").is_file():
        return
    run_report.write_all(state, out, scoring)
    state.set_meta("reports_written", now())
    state.set_meta("reports_scoring", _scoring_key(scoring))


def _scoring_key(scoring: Any) -> str:
    """What the reports were scored with: the options, and the named files' sizes and times (a claimed
    file edited since is a reason to write them again)."""
    files = [p for p in (scoring.scheme_file, scoring.claimed_file) if p is not None]
    stamps = [[str(p), p.stat().st_size, p.stat().st_mtime_ns] if p.is_file() else [str(p)] for p in files]
    return json.dumps([repr(scoring), stamps])


def _wanted_entry(name: str, patterns: tuple[str, ...]) -> bool:
    return not patterns or any(fnmatch.fnmatchcase(name, p) for p in patterns)


def _report(out: Path, scoring: Any) -> int:
    if not (out / "state.sqlite").is_file():
        raise UsageError(f"{out} holds no run (no state.sqlite): give the --out folder of `repro-audit run`")
    state = State(out / "state.sqlite")
    try:
        written = run_report.write_all(state, out, scoring)
        state.set_meta("reports_written", now())
        state.set_meta("reports_scoring", _scoring_key(scoring))
    finally:
        state.close()
    Console(stderr=True, highlight=False).print(
        f"repro-audit: wrote {len(written)} report file(s) in {out}", markup=False
    )
    return EXIT_OK


def _score(args: argparse.Namespace) -> int:
    """`repro-audit score`: 0 scored, 1 something outside its tolerance of the claims, 2 bad input."""
    from reports import leaderboard, score_inputs
    from reports.scoring import competition_scheme, load_scheme

    settings = _score_settings(args)
    if args.output is not None:
        _parent(args.output)
    if args.run is not None:
        if not (args.run / "state.sqlite").is_file():
            raise UsageError(f"{args.run} holds no run (no state.sqlite): give the --out folder of `repro-audit run`")
        state = State(args.run / "state.sqlite")
        try:
            results, options, warnings = score_inputs.score_run(state, settings, args.track)
        finally:
            state.close()
        if not results:
            raise UsageError(
                f"{args.run} has no entry in track {args.track!r}" if args.track else f"{args.run} has no entry"
            )
    else:
        scheme = load_scheme(args.scheme) if args.scheme is not None else competition_scheme()
        values, warnings = score_inputs.load_values(args.metrics, "metrics file", track=args.track, scheme=scheme)
        if not any(values.values()):
            raise UsageError(f"{args.metrics} holds no entry" + (f" in track {args.track!r}" if args.track else ""))
        tracks = {name: score_inputs.TrackData(table=dict(entries)) for name, entries in values.items()}
        results, options, more = score_inputs.score_tracks(tracks, scheme, settings)
        warnings += more
    stderr = _GuardedConsole(stderr=True, highlight=False)
    for warning in warnings:
        stderr.print(f"repro-audit: warning: {warning}", markup=False)
    board = leaderboard.document(results, options)
    if args.format == "json":
        text = leaderboard.render_json(board)
    elif args.format == "markdown":
        text = leaderboard.render_markdown(board)
    elif args.format == "csv":
        text = leaderboard.render_csv(board)
    elif args.format == "html":
        from reports import html

        text = html.leaderboard_html(board)
    else:
        console = (
            Console(highlight=False, soft_wrap=True)
            if args.output is None
            else Console(no_color=True, width=160, highlight=False, soft_wrap=True)
        )
        with console.capture() as captured:
            leaderboard.render_terminal(board, console)
        text = captured.get()
    if args.output is None:
        sys.stdout.write(guard(text))
        sys.stdout.flush()
    else:
        _write_atomically(args.output, guard(text))
    outside = [name for result in results for name in leaderboard.outside_tolerance(result)]
    return EXIT_FINDINGS if outside else EXIT_OK


def _fix(args: argparse.Namespace) -> int:
    # imported here: the resolvers bring libcst, huggingface_hub and pip-tools, which `check` must not pay for
    from audit.fix import plan as fix_plan
    from audit.fix.git_sources import GitSources
    from audit.fix.hub_revisions import HubRevisions
    from audit.fix.model import Resolver
    from audit.fix.python_deps import PythonDependencies
    from rebuild.image_digests import BaseImageDigests

    if args.force and not args.write:
        raise UsageError("--force only matters with --write")
    if args.timeout <= 0:
        raise UsageError("--timeout must be a positive number of seconds")
    skip = frozenset(word.strip() for value in args.skip for word in value.split(",") if word.strip())
    options = FixOptions(
        as_of=args.as_of,
        write=args.write,
        force=args.force,
        index_url=args.index_url,
        python_version=args.python_version,
        hf_endpoint=args.hf_endpoint,
        skip=skip,
        timeout=args.timeout,
    )
    console = _GuardedConsole(stderr=True, highlight=False)

    def progress(message: str) -> None:
        if not args.quiet:
            console.print(f"repro-audit fix: {message}", markup=False)

    resolvers: list[Resolver] = [PythonDependencies(), BaseImageDigests(), GitSources(), HubRevisions()]
    result = run_fix(args.path, options, resolvers, progress)
    if args.format == "json":
        document = fix_plan.as_json(result.plan)
        document["written"] = result.written
        document["left"] = [fix_plan.finding_json(f) for f in result.left]
        sys.stdout.write(guard(json.dumps(document, indent=2)) + "\n")
    else:
        sys.stdout.write(guard(fix_plan.patch(result.plan)))
    for line in fix_plan.summary_lines(result.plan, left=result.left):
        console.print(line, markup=False)
    if result.written:
        console.print(f"wrote: {', '.join(result.written)}", markup=False)
    elif result.pending:
        console.print("nothing written: run again with --write to apply these changes", markup=False)
    return EXIT_FINDINGS if result.pending or result.left else EXIT_OK


def _scrub(args: argparse.Namespace) -> int:
    limits = Limits(max_file_bytes=args.secret_max_file_bytes or DEFAULT_SECRET_MAX_FILE_BYTES)
    options = SecretOptions(entropy=args.entropy, history=args.history, limits=limits)
    console = _GuardedConsole(stderr=True, highlight=False)
    console.print(f"repro-audit: copying {args.source} to {args.destination} and scrubbing the copy", markup=False)
    result = run_scrub(args.source, args.destination, select_detectors(entropy=args.entropy), options)
    if not result.entries:
        console.print(f"repro-audit: no submission found under {args.source}", markup=False)
        return EXIT_NO_ENTRIES
    text = scrub_report.render_text(result)
    sys.stdout.write(guard(text))
    if args.json is not None:
        _write_atomically(args.json, guard(scrub_report.render_json(result)))
    return EXIT_OK if result.clean else EXIT_FINDINGS


def _update_baseline(result: CheckResult, path: Path, known: Baseline | None) -> CheckResult:
    """Write every secret of this run to the baseline, then report them as the baseline now makes them."""
    salt = known.salt if known is not None else default_salt()
    private = known.private_salt if known is not None else bool(os.environ.get(SALT_ENV))
    fresh = dataclasses.replace(Baseline.of(result.all_findings(), salt), private_salt=private)
    baseline_module.save(fresh, path)
    Console(stderr=True, highlight=False).print(
        f"repro-audit: baseline {path} now holds {len(fresh.entries)} secret(s)", markup=False
    )
    return result.with_baseline(fresh.holds)


def _destinations(pairs: list[list[object]]) -> list[tuple[str, Path | None]]:
    destinations = [(str(fmt), out if isinstance(out, Path) else None) for fmt, out in pairs]
    if sum(1 for _fmt, out in destinations if out is None) > 1:
        raise UsageError("only one format can go to standard output: give --output FILE after the others")
    return destinations


def _emit(result: CheckResult, fmt: str, output: Path | None, min_severity: Severity, show_suppressed: bool) -> None:
    """Render, pass the text through the secret guard, then write it (files atomically)."""
    if fmt == "json":
        text = json_v1.render(result)
    elif fmt == "sarif":
        text = sarif.render(result)
    else:
        # soft_wrap: rich must not break a line inside a token, or the guard below could not recognise it
        console = (
            Console(highlight=False, soft_wrap=True)
            if output is None
            else Console(no_color=True, width=120, highlight=False, soft_wrap=True)
        )
        with console.capture() as captured:
            terminal.render(result, console, min_severity, show_suppressed)
        text = captured.get()
    if output is None:
        sys.stdout.write(guard(text))
        sys.stdout.flush()
    else:
        _write_atomically(output, guard(text))


def _parent(path: Path) -> Path:
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise UsageError(f"cannot write {path}: folder {parent} does not exist")
    return parent


def _write_atomically(path: Path, text: str) -> None:
    """Write next to the target then rename, so an interrupted run never leaves half a report."""
    with tempfile.NamedTemporaryFile(
        "w", encoding="utf-8", errors="backslashreplace", dir=_parent(path), delete=False
    ) as handle:
        handle.write(text)
    os.replace(handle.name, path)


def _rules(rule_id: str | None) -> int:
    console = Console(highlight=False)
    from rebuild.issues import ISSUES as REBUILD_ISSUES

    every: list[Rule | StageIssue] = [*INGEST_ISSUES, *REBUILD_ISSUES, *REGISTRY]
    if rule_id is None:
        for rule in every:
            off = "" if rule.enabled_by_default else "  (off by default)"
            console.print(
                f"{rule.id}  {rule.name:<34} {rule.family:<13} {rule.severity.label:<7} {rule.summary}{off}",
                markup=False,
            )
        return EXIT_OK
    matches = [r for r in every if r.id.upper() == rule_id.upper() or r.name == rule_id]
    if not matches:
        raise UsageError(f"no rule {rule_id!r}: `repro-audit rules` lists them")
    rule = matches[0]
    console.print(
        f"{rule.id} {rule.name} ({rule.family}, {rule.severity.label}, confidence {rule.confidence.label})",
        markup=False,
    )
    console.print(f"\n{rule.explanation}\n\nFix: {rule.fix}", markup=False)
    return EXIT_OK


def _write_crash_log(exc: BaseException) -> str:
    text = "".join(traceback.format_exception(exc))
    try:
        with tempfile.NamedTemporaryFile("w", prefix="repro-audit-crash-", suffix=".log", delete=False) as handle:
            handle.write(guard(f"repro-audit {__version__}\nargv: {sys.argv}\n\n{text}"))
        return handle.name
    except OSError:
        return "(no crash log: the temporary folder is not writable)"


if __name__ == "__main__":
    raise SystemExit(main())
