"""Benchmark ``repro-audit run`` (ingest + static audit + state + reports) on entries given as archives.

The entries are bench_check's synthetic NeurIPS 2023 LLM Efficiency Challenge submissions (same
generator, imported), by default 200 of them with 10,000 files in all and no large weight file: the
point is ingest and the static audit of many small files.  Each entry is then packed as one archive in
the organizers' layout, ``<track>/<user>/<repo>.zip`` (a quarter as ``.tar.gz``; half of the archives
hold a ``<repo>/`` folder, half hold the files at the top), which ``repro-audit run FOLDER`` treats as
one entry each, extracted at ingest.  Every byte comes from seeded ``random.Random`` instances and the
archives carry fixed timestamps and owners, so the same options always give the same files.

Three things are timed side by side in the same invocation, ``--repeat`` times each (alternating which
goes first), as child processes (wall time with ``time.perf_counter``; peak resident memory with
``os.wait4``, whose ``ru_maxrss`` is the largest of the child and the descendants it waited for, so the
biggest single process of a worker pool, not their sum):

* ``repro-audit run ARCHIVES --out OUT --jobs N --plain`` into a fresh ``OUT`` each time;
* the same command again on that finished ``OUT`` (a resume that must do 0 stage runs);
* the peer: ``repro-audit check PLAIN --jobs N`` over the same entries as plain folders (the static
  audit alone: no archives, no state, no per-entry reports), so the difference is the cost of ingest,
  state and reports.

After every run the state is checked (``OUT/state.sqlite``: N entries, N x 2 stages all finished, every
ingest passed, nothing errored) and the N ``report.json`` files counted; after every resume the stage
rows must be exactly as before (same attempts, same end times) and the tool must say "0 stage run(s)".
Goals: the run under 20 s and the resume under 1 s (medians).  A missed goal prints ``GOAL MISSED`` but
still exits 0: this is a measurement, not a test.

Exit status: 0 measured (goals met or not) or archives generated, 1 a tool failed or a verification
failed, 2 bad options, repro-audit missing or too little disk space.

Usage::

    python scripts/bench_run.py                                  # temp dir, 3 runs each, removed afterwards
    python scripts/bench_run.py --repeat 5 --json bench-out/bench-run.json
    python scripts/bench_run.py --workdir bench-out/run --keep   # reuses the archives next time
    python scripts/bench_run.py --generate-only /tmp/bench-run   # only write archives/ and plain/
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import random
import re
import shutil
import sqlite3
import statistics
import sys
import tarfile
import tempfile
import time
import zipfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_check as bc  # a sibling script, not a package
import benchlib  # a sibling module, not a package

PACKER_VERSION = 1
RUN_GOAL_S = 20.0
RESUME_GOAL_S = 1.0
STAGES = ("ingest", "static")
FINISHED = ("passed", "failed", "skipped", "errored")
MANIFEST = "bench-run-archives.json"
ARCHIVE_TIME = (2023, 11, 1, 12, 0, 0)  # every member's timestamp: the same options give the same bytes
ARCHIVE_MTIME = 1698840000  # the same instant as a Unix time, for tar members
OK_EXIT = (0, 1)  # run: 1 = some stage failed on findings; check: 1 = findings at or above --fail-on
_STAGE_RUNS = re.compile(r"(\d+) stage run\(s\) now")


# --------------------------------------------------------------------------------------------------
# The entries: bench_check's plain tree, then one archive per entry
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Layout:
    """What to generate: bench_check's shape plus how the entries are packed."""

    shape: bc.Shape
    tar_share: float


@dataclass
class Corpus:
    """The generated entries, as plain folders and as archives."""

    plain: bc.ArchiveStats
    archives_root: Path
    archives: int
    formats: dict[str, int]
    wrapped: int  # archives whose members sit under one `<repo>/` folder
    archive_bytes: int

    @property
    def archive_mb(self) -> float:
        return self.archive_bytes / bc.MIB


def _entry_dirs(plain: Path) -> list[Path]:
    """The `<track>/<user>/<repo>` folders of the plain tree, in name order."""
    return sorted(
        repo
        for track in plain.iterdir()
        if track.is_dir()
        for user in track.iterdir()
        if user.is_dir()
        for repo in user.iterdir()
        if repo.is_dir()
    )


def _members(entry: Path, prefix: str) -> list[tuple[str, bytes]]:
    members = []
    for dirpath, dirnames, filenames in os.walk(entry):
        dirnames.sort()
        for name in sorted(filenames):
            path = Path(dirpath, name)
            members.append((prefix + path.relative_to(entry).as_posix(), path.read_bytes()))
    return members


def _write_zip(path: Path, members: list[tuple[str, bytes]]) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=ARCHIVE_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data, compresslevel=6)


def _write_tar_gz(path: Path, members: list[tuple[str, bytes]]) -> None:
    with (
        path.open("wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as compressed,
        tarfile.open(fileobj=compressed, mode="w", format=tarfile.PAX_FORMAT) as archive,
    ):
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = ARCHIVE_MTIME
            info.mode = 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            archive.addfile(info, io.BytesIO(data))


def pack_entries(plain: Path, root: Path, layout: Layout) -> Corpus:
    """Pack every entry of the plain tree as `<track>/<user>/<repo>.zip` or `.tar.gz` under `root`."""
    rng = random.Random(f"bench-run/pack/{layout.shape.seed}")
    formats: Counter[str] = Counter()
    wrapped = 0
    total = 0
    for entry in _entry_dirs(plain):
        relative = entry.relative_to(plain)
        fmt = ".tar.gz" if rng.random() < layout.tar_share else ".zip"
        wrap = rng.random() < 0.5
        members = _members(entry, f"{entry.name}/" if wrap else "")
        target = root / relative.parent / (entry.name + fmt)
        target.parent.mkdir(parents=True, exist_ok=True)
        (_write_tar_gz if fmt == ".tar.gz" else _write_zip)(target, members)
        formats[fmt] += 1
        wrapped += wrap
        total += target.stat().st_size
    return Corpus(bc.scan_archive(plain), root, sum(formats.values()), dict(sorted(formats.items())), wrapped, total)


def scan_archives(plain: Path, root: Path) -> Corpus:
    """The corpus as found on disk (a reused workdir)."""
    formats: Counter[str] = Counter()
    wrapped = 0
    total = 0
    for path in sorted(root.rglob("*")):
        if not path.is_file():
            continue
        fmt = ".tar.gz" if path.name.endswith(".tar.gz") else path.suffix
        formats[fmt] += 1
        total += path.stat().st_size
        if fmt == ".zip":
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
        else:
            with tarfile.open(path) as archive:
                names = archive.getnames()
        stem = path.name.removesuffix(fmt)
        wrapped += bool(names) and all(n.startswith(f"{stem}/") for n in names)
    return Corpus(bc.scan_archive(plain), root, sum(formats.values()), dict(sorted(formats.items())), wrapped, total)


def generate(workdir: Path, layout: Layout) -> Corpus:
    """Write `workdir/plain` (bench_check's generator) and `workdir/archives` (one archive per entry)."""
    shape = layout.shape
    needed = 2 * (shape.big_binaries * shape.big_binary_mb * bc.MIB + shape.files * 16 * 1024)
    probe = workdir
    while not probe.exists():
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    if free < needed:
        raise ValueError(
            f"not enough disk space under {probe}: {free / bc.MIB:.0f} MB free, about {needed / bc.MIB:.0f} MB needed"
        )
    plain, archives = workdir / "plain", workdir / "archives"
    if archives.exists() and any(archives.iterdir()):
        raise ValueError(f"{archives} is not empty")
    print(f"generating {shape.entries} entries, {shape.files} files into {plain} ...", file=sys.stderr)
    start = time.perf_counter()
    bc.generate_archive(plain, shape)
    print(f"packing them into {archives} ...", file=sys.stderr)
    corpus = pack_entries(plain, archives, layout)
    print(
        f"  done in {time.perf_counter() - start:.1f} s: {corpus.plain.total_mb:.1f} MB as folders, "
        f"{corpus.archive_mb:.1f} MB as archives",
        file=sys.stderr,
    )
    return corpus


def prepare(workdir: Path, layout: Layout) -> Corpus:
    """Reuse the corpus an earlier run left in `workdir` with the same options, else generate it."""
    manifest = workdir / MANIFEST
    wanted = {
        "generator": bc.GENERATOR_VERSION,
        "packer": PACKER_VERSION,
        **asdict(layout.shape),
        "tar_share": layout.tar_share,
    }
    plain, archives = workdir / "plain", workdir / "archives"
    if any(p.exists() and any(p.iterdir()) for p in (plain, archives)):
        try:
            found = json.loads(manifest.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            found = None
        if found != wanted:
            raise ValueError(
                f"{workdir} holds entries not generated with these options; remove it or pick another --workdir"
            )
        print(f"reusing the entries in {workdir}", file=sys.stderr)
        return scan_archives(plain, archives)
    corpus = generate(workdir, layout)
    manifest.write_text(json.dumps(wanted, indent=2) + "\n", encoding="utf-8")
    return corpus


# --------------------------------------------------------------------------------------------------
# Verification
# --------------------------------------------------------------------------------------------------


class VerificationFailed(Exception):
    """A run did not leave what it should have (state, reports) or a resume ran something."""


@dataclass(frozen=True)
class RunState:
    """What a finished run left in its folder."""

    entries: int
    statuses: dict[str, dict[str, int]]  # stage -> status -> count
    stage_rows: dict[tuple[str, str], tuple[int, str | None]]  # (entry, stage) -> (attempts, ended)
    reports: int
    findings: int  # findings of the static stage, in the state


def read_run(out: Path) -> RunState:
    uri = (out / "state.sqlite").resolve().as_uri() + "?mode=ro"
    try:
        db = sqlite3.connect(uri, uri=True)
    except sqlite3.Error as exc:
        raise VerificationFailed(f"cannot open {out / 'state.sqlite'}: {exc}") from None
    try:
        entries = db.execute("SELECT count(*) FROM entries").fetchone()[0]
        rows = db.execute("SELECT entry, stage, status, attempts, ended FROM stages").fetchall()
        findings = db.execute("SELECT count(*) FROM findings WHERE stage = 'static'").fetchone()[0]
    except sqlite3.Error as exc:
        raise VerificationFailed(f"cannot read {out / 'state.sqlite'}: {exc}") from None
    finally:
        db.close()
    statuses: dict[str, Counter[str]] = {}
    for _entry, stage, status, _attempts, _ended in rows:
        statuses.setdefault(stage, Counter())[status] += 1
    reports = sum(1 for _ in (out / "entries").rglob("report.json")) if (out / "entries").is_dir() else 0
    return RunState(
        entries=entries,
        statuses={stage: dict(sorted(c.items())) for stage, c in sorted(statuses.items())},
        stage_rows={(e, s): (a, ended) for e, s, _status, a, ended in rows},
        reports=reports,
        findings=findings,
    )


def verify_finished(state: RunState, expected: int) -> None:
    problems = []
    if state.entries != expected:
        problems.append(f"{state.entries} entries in the state, expected {expected}")
    for stage in STAGES:
        counts = state.statuses.get(stage, {})
        done = sum(n for status, n in counts.items() if status in FINISHED)
        if done != expected or sum(counts.values()) != expected:
            problems.append(f"stage {stage}: {counts or 'no row'}, expected {expected} finished")
        if counts.get("errored"):
            problems.append(f"stage {stage}: {counts['errored']} errored")
    if state.statuses.get("ingest", {}).get("passed", 0) != expected:
        problems.append(f"ingest: {state.statuses.get('ingest')}, expected {expected} passed")
    extra = set(state.statuses) - set(STAGES)
    if extra:
        problems.append(f"unexpected stages {sorted(extra)}")
    if state.reports != expected:
        problems.append(f"{state.reports} report.json files, expected {expected}")
    if problems:
        raise VerificationFailed("; ".join(problems))


def verify_resume(before: RunState, after: RunState, stderr: Path, expected: int) -> int | None:
    """The resume must leave every stage row as it was; returns the stage runs the tool reported."""
    verify_finished(after, expected)
    changed = [key for key, row in after.stage_rows.items() if before.stage_rows.get(key) != row]
    if changed or len(after.stage_rows) != len(before.stage_rows):
        sample = ", ".join(f"{e}:{s}" for e, s in changed[:3])
        raise VerificationFailed(f"the resume ran {len(changed)} stage(s) again ({sample})")
    said = _stage_runs(stderr)
    if said is not None and said != 0:
        raise VerificationFailed(f"the resume reported {said} stage run(s), expected 0")
    return said


def _stage_runs(stderr: Path) -> int | None:
    found = _STAGE_RUNS.findall(stderr.read_text(encoding="utf-8", errors="replace"))
    return int(found[-1]) if found else None


def check_report(report: Path, expected: int) -> int | None:
    """The peer's entries must be the same N; returns its finding count."""
    try:
        data = json.loads(report.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise VerificationFailed(f"cannot read the check report {report}: {exc}") from None
    entries = data.get("entries") if isinstance(data, dict) else None
    if not isinstance(entries, list) or len(entries) != expected:
        found = len(entries) if isinstance(entries, list) else "no"
        raise VerificationFailed(f"the check report lists {found} entries, expected {expected}")
    return bc._count_findings(bc.REPRO_AUDIT, report, report)


# --------------------------------------------------------------------------------------------------
# Timing
# --------------------------------------------------------------------------------------------------

RUN = "run"
RESUME = "resume"
CHECK = "check"
LABELS = {
    RUN: "run (archives, fresh)",
    RESUME: "run (resume, finished)",
    CHECK: "check (plain folders)",
}


@dataclass
class Series:
    """All runs of one measured command."""

    name: str
    runs: list[bc.Run] = field(default_factory=list)

    @property
    def median_s(self) -> float:
        return statistics.median(r.seconds for r in self.runs)

    @property
    def min_s(self) -> float:
        return min(r.seconds for r in self.runs)

    @property
    def peak_rss_mb(self) -> float:
        return max(r.peak_rss_kib for r in self.runs) / 1024


@dataclass
class Observed:
    """What the verifications saw, for the report."""

    statuses: dict[str, dict[str, int]] = field(default_factory=dict)
    run_findings: int | None = None
    check_findings: int | None = None
    resume_stage_runs: list[int | None] = field(default_factory=list)


def _timed(
    label: str, argv: list[str], logs: Path, attempt: int, repeat: int, series: dict[str, Series]
) -> tuple[bc.Run, Path]:
    stdout = logs / f"{label}-{attempt}.stdout"
    stderr = logs / f"{label}-{attempt}.stderr"
    run = bc.timed_run(argv, stdout, stderr)
    print(
        f"  {attempt}/{repeat}  {LABELS[label]:<24} {run.seconds:8.3f} s  {run.peak_rss_kib / 1024:8.1f} MB"
        f"  exit {run.exit_code}",
        file=sys.stderr,
    )
    if run.exit_code not in OK_EXIT:
        raise bc.ToolFailed(
            f"{LABELS[label]} exited with {run.exit_code} (run {attempt}/{repeat}); stderr:\n{bc._tail(stderr)}"
        )
    series[label].runs.append(run)
    return run, stderr


def _run_and_resume(
    argv: list[str],
    out: Path,
    expected: int,
    logs: Path,
    attempt: int,
    repeat: int,
    series: dict[str, Series],
    observed: Observed,
) -> None:
    _timed(RUN, argv, logs, attempt, repeat, series)
    before = read_run(out)
    verify_finished(before, expected)
    observed.statuses = before.statuses
    observed.run_findings = before.findings
    _, stderr = _timed(RESUME, argv, logs, attempt, repeat, series)
    observed.resume_stage_runs.append(verify_resume(before, read_run(out), stderr, expected))


def _check(
    argv: list[str],
    report: Path,
    expected: int,
    logs: Path,
    attempt: int,
    repeat: int,
    series: dict[str, Series],
    observed: Observed,
) -> None:
    _timed(CHECK, argv, logs, attempt, repeat, series)
    observed.check_findings = check_report(report, expected)


def measure(
    executable: str, corpus: Corpus, workdir: Path, repeat: int, jobs: int
) -> tuple[dict[str, Series], Observed]:
    """Each round: a fresh run then its resume, and the check peer; the peer goes first every other round."""
    runs_dir, logs = workdir / "runs", workdir / "logs"
    for folder in (runs_dir, logs):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
    expected = corpus.plain.entries
    series = {name: Series(name) for name in LABELS}
    observed = Observed()
    for i in range(1, repeat + 1):
        out = runs_dir / f"out-{i}"
        report = logs / f"check-{i}.json"
        run_argv = [
            executable,
            "run",
            str(corpus.archives_root),
            "--stages",
            "static",
            "--out",
            str(out),
            "--jobs",
            str(jobs),
            "--plain",
        ]
        check_argv = [executable, "check", str(corpus.plain.root), "--jobs", str(jobs), "--format", "json"]
        check_argv += ["--output", str(report)]
        peer_first = i % 2 == 0
        if peer_first:
            _check(check_argv, report, expected, logs, i, repeat, series, observed)
        _run_and_resume(run_argv, out, expected, logs, i, repeat, series, observed)
        if not peer_first:
            _check(check_argv, report, expected, logs, i, repeat, series, observed)
        if i < repeat:
            shutil.rmtree(out, ignore_errors=True)  # keep only the last run folder (about twice the corpus each)
    return series, observed


# --------------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------------


def _load() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def _goal(limit: float, value: float | None) -> dict[str, object]:
    return {
        "limit": limit,
        "value": None if value is None else round(value, 4),
        "met": None if value is None else value < limit,
    }


def build_figures(
    layout: Layout,
    corpus: Corpus,
    version: str,
    series: dict[str, Series],
    observed: Observed,
    repeat: int,
    jobs: int,
    load: dict[str, list[float]],
) -> dict[str, object]:
    run, resume, check = series[RUN], series[RESUME], series[CHECK]
    goals = {"run_s": _goal(RUN_GOAL_S, run.median_s), "resume_s": _goal(RESUME_GOAL_S, resume.median_s)}
    return {
        "machine": bc.machine_info(),
        "load_average": load,
        "version": version,
        "corpus": {
            "seed": layout.shape.seed,
            "entries": corpus.plain.entries,
            "tracks": corpus.plain.tracks,
            "files": corpus.plain.files,
            "dockerfiles": corpus.plain.dockerfiles,
            "plain_mb": round(corpus.plain.total_mb, 1),
            "archives": corpus.archives,
            "formats": corpus.formats,
            "wrapped_in_a_folder": corpus.wrapped,
            "archive_mb": round(corpus.archive_mb, 1),
            "big_binaries": layout.shape.big_binaries,
        },
        "repeat": repeat,
        "jobs": jobs,
        "series": {
            name: {
                "command": LABELS[name],
                "median_s": round(s.median_s, 4),
                "min_s": round(s.min_s, 4),
                "peak_rss_mb": round(s.peak_rss_mb, 1),
                "runs": [asdict(r) for r in s.runs],
            }
            for name, s in series.items()
        },
        "run_over_check": round(run.median_s / check.median_s, 3) if check.median_s else None,
        "overhead_s": round(run.median_s - check.median_s, 4),
        "files_per_s": round(corpus.plain.files / run.median_s, 1) if run.median_s else None,
        "verified": {
            "stage_statuses": observed.statuses,
            "static_findings_in_state": observed.run_findings,
            "check_findings": observed.check_findings,
            "resume_stage_runs_reported": observed.resume_stage_runs,
        },
        "goals": goals,
        "goals_met": all(g["met"] for g in goals.values()),
    }


def _goal_line(label: str, goal: dict[str, object]) -> str:
    value = goal["value"]
    shown = f"{value:.3f} s" if isinstance(value, float) else "-"
    status = "not measured" if goal["met"] is None else f"met ({shown})" if goal["met"] else f"GOAL MISSED ({shown})"
    return f"  {label:<24} {status}"


def print_report(figures: dict[str, object]) -> None:
    machine, load, corpus = figures["machine"], figures["load_average"], figures["corpus"]
    series, verified, goals = figures["series"], figures["verified"], figures["goals"]
    assert isinstance(machine, dict) and isinstance(load, dict) and isinstance(corpus, dict)
    assert isinstance(series, dict) and isinstance(verified, dict) and isinstance(goals, dict)
    cpu = machine["cpu_model"] or machine["processor"]
    loads = ", ".join(f"{k} {' '.join(map(str, v)) or '-'}" for k, v in load.items())
    label = 10
    print()
    print(
        f"{'machine':<{label}}{machine['cpu_count']} CPUs ({machine['usable_cpus']} usable), {cpu}; "
        f"{machine['implementation']} {machine['python']}; load average {loads}"
    )
    print(f"{'tool':<{label}}{figures['version']}")
    tracks = ", ".join(f"{k}: {v}" for k, v in corpus["tracks"].items())
    formats = ", ".join(f"{n} {fmt}" for fmt, n in corpus["formats"].items())
    print(
        f"{'entries':<{label}}{corpus['entries']} ({tracks}), {corpus['files']} files, "
        f"{corpus['dockerfiles']} Dockerfiles, {corpus['plain_mb']:.1f} MB as folders; "
        f"{corpus['archives']} archives ({formats}; {corpus['wrapped_in_a_folder']} with a top folder), "
        f"{corpus['archive_mb']:.1f} MB (seed {corpus['seed']})"
    )
    print()
    width = 26
    print(
        f"{'command':<{width}}{'median s':>10}{'min s':>10}{'peak RSS MB':>14}"
        f"   ({figures['repeat']} runs each, --jobs {figures['jobs']})"
    )
    for s in series.values():
        print(f"{s['command']:<{width}}{s['median_s']:>10.3f}{s['min_s']:>10.3f}{s['peak_rss_mb']:>14.1f}")
    print()
    ratio = figures["run_over_check"]
    print(
        f"run / check (medians): {'-' if ratio is None else f'{ratio:.2f}'}; ingest + state + reports cost "
        f"{figures['overhead_s']:.3f} s over the static audit alone; {figures['files_per_s']} files/s"
    )
    statuses = "; ".join(
        f"{stage} " + ", ".join(f"{n} {status}" for status, n in counts.items())
        for stage, counts in verified["stage_statuses"].items()
    )
    print(
        f"verified: {statuses}; {corpus['entries']} report.json; resume stage runs "
        f"{verified['resume_stage_runs_reported']}; findings: run static {verified['static_findings_in_state']}, "
        f"check {verified['check_findings']}"
    )
    print("goals")
    print(_goal_line(f"run < {RUN_GOAL_S:.0f} s", goals["run_s"]))
    print(_goal_line(f"resume < {RESUME_GOAL_S:.0f} s", goals["resume_s"]))
    if figures["goals_met"] is False:
        print("\nGOAL MISSED (a measurement, not a failure: the exit status stays 0)")


# --------------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------------


def _share(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError("must be between 0 and 1")
    return value


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Time `repro-audit run` (ingest + static audit) on synthetic entries packed as archives, "
        "its resume, and `repro-audit check` on the same entries as folders.",
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--workdir",
        type=Path,
        help="folder for the entries, the run folders and the logs (default: a fresh temporary directory, "
        "removed afterwards unless --keep); entries left there by an earlier run with the same options are reused",
    )
    where.add_argument(
        "--generate-only",
        type=Path,
        metavar="DIR",
        help="only write DIR/plain and DIR/archives (DIR absent or empty) and exit",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary workdir")
    bc.add_shape_arguments(parser, entries=200, files=10000, big_binaries=0, big_binary_mb=5)
    parser.add_argument("--tar-share", type=_share, default=0.25, help="share of .tar.gz archives (default 0.25)")
    parser.add_argument("--repeat", type=benchlib.positive, default=3, help="runs per command (default 3)")
    parser.add_argument("--jobs", type=benchlib.positive, default=2, help="--jobs given to both commands (default 2)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the figures as JSON")
    return bc.settle_dockerfiles(parser, parser.parse_args(argv))


def _layout(args: argparse.Namespace) -> Layout:
    return Layout(bc.shape_of(args), args.tar_share)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    layout = _layout(args)

    if args.generate_only is not None:
        target: Path = args.generate_only
        if target.exists() and any(target.iterdir()):
            print(f"error: {target} is not empty", file=sys.stderr)
            return 2
        try:
            corpus = generate(target, layout)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(
            f"{target}: {corpus.plain.entries} entries, {corpus.plain.files} files as folders in plain/, "
            f"{corpus.archives} archives in archives/ ({corpus.formats})"
        )
        return 0

    executable = bc.find_tool(bc.REPRO_AUDIT)
    if executable is None:
        print(
            f"error: `repro-audit` not found next to {sys.executable} or on PATH; install it with:\n"
            "    pip install -e .",
            file=sys.stderr,
        )
        return 2

    load = {"start": _load()}
    temporary = args.workdir is None
    workdir: Path = Path(tempfile.mkdtemp(prefix="repro-audit-bench-run-")) if temporary else args.workdir
    try:
        workdir.mkdir(parents=True, exist_ok=True)
        try:
            corpus = prepare(workdir, layout)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        version = bc._version(executable, bc.REPRO_AUDIT)
        print(
            f"timing run, resume and check: {args.repeat} run(s) each, --jobs {args.jobs}",
            file=sys.stderr,
        )
        try:
            series, observed = measure(executable, corpus, workdir, args.repeat, args.jobs)
        except (bc.ToolFailed, VerificationFailed) as exc:
            kind = "verification failed" if isinstance(exc, VerificationFailed) else "tool failed"
            print(f"error ({kind}): {exc}", file=sys.stderr)
            if temporary and not args.keep:
                print("(rerun with --keep or --workdir to inspect the entries and the run folders)", file=sys.stderr)
            return 1
        load["end"] = _load()
        figures = build_figures(layout, corpus, version, series, observed, args.repeat, args.jobs, load)
        print_report(figures)
        benchlib.write_figures(args.json, figures)
        return 0
    finally:
        benchlib.leave_workdir(workdir, temporary, args.keep)


if __name__ == "__main__":
    sys.exit(main())
