"""Write the competition's evaluation sets as HELM run-entry confs, from ``rebuild/evalsets/scenarios.toml``.

Each set's budget is spread evenly over its scenarios, then each scenario's share over its
sub-scenarios: integer division, the remainder one instance each to the first ones in the data's order
(``rebuild.evalsets.spread``). Every entry carries its share as ``max_eval_instances=N`` in its
description, which crfm-helm 0.5.16 applies per entry (see ``rebuild.evalsets``). A sub-scenario whose
share comes out 0 (a budget smaller than the number of scenarios or sub-scenarios) cannot be covered:
the script names each one and fails, or with ``--allow-uncovered`` leaves them out and names them.

This is a thin command line over ``rebuild.evalsets``, which does the spreading and the writing.

Usage::

    python scripts/make_confs.py                 # rewrite rebuild/evalsets/{open,closed,coarse}.conf
    python scripts/make_confs.py --check         # exit 1 when a committed conf differs from the data
    python scripts/make_confs.py --set open --budget 100 --allow-uncovered --output /tmp/smoke.conf
    python scripts/make_confs.py --set closed --include-unavailable --output -   # for the competition's fork

Exit status: 0 confs written or in sync; 1 a conf is out of date (``--check``) or sub-scenarios cannot
be covered; 2 bad options or an unusable data file; 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

# Run from a checkout, the script must use the checkout's package and data, not an installed copy.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rebuild.evalsets import DATA, EvalSetError, plan, read_catalogue, render_conf

EXIT_OK = 0
EXIT_DIFFERS = 1
EXIT_ERROR = 2
EXIT_INTERRUPTED = 130


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    custom = args.budget is not None or args.include_unavailable
    if custom and (args.output is None or len(args.set or []) != 1):
        parser.error("--budget and --include-unavailable need exactly one --set and an --output")
    if args.output is not None and (args.check or len(args.set or []) != 1):
        parser.error("--output takes exactly one --set, and not --check")
    try:
        return _run(args)
    except EvalSetError as exc:
        print(f"make_confs: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except OSError as exc:
        print(f"make_confs: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


def _run(args: argparse.Namespace) -> int:
    catalogue = read_catalogue(args.data)
    names = args.set or list(catalogue.sets)
    status = EXIT_OK
    for name in names:
        result = plan(catalogue, name, args.budget)
        if result.uncovered:
            verdict = "left out" if args.allow_uncovered else "cannot be covered"
            print(
                f"{name}: {len(result.uncovered)} sub-scenario(s) get no instances at a budget of "
                f"{result.evalset.budget} and {verdict}:",
                file=sys.stderr,
            )
            for item in result.uncovered:
                print(f"  {item}", file=sys.stderr)
            if not args.allow_uncovered:
                status = EXIT_DIFFERS
                continue
        text = render_conf(result.evalset, catalogue.helm_release, include_unavailable=args.include_unavailable)
        if args.output == "-":
            sys.stdout.write(text)
            continue
        target = Path(args.output) if args.output else args.data.with_name(f"{name}.conf")
        current = target.read_text(encoding="utf-8") if target.is_file() else None
        if args.check:
            if current != text:
                what = "missing" if current is None else "out of date"
                print(f"{target} is {what}; run python scripts/make_confs.py", file=sys.stderr)
                status = EXIT_DIFFERS
            continue
        if current == text:
            print(f"{target} unchanged ({result.evalset.total} instances, {len(result.evalset.runs)} entries)")
            continue
        target.write_text(text, encoding="utf-8")
        print(f"wrote {target} ({result.evalset.total} instances, {len(result.evalset.runs)} entries)")
    return status


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="make_confs.py",
        description="Write the competition's evaluation sets as HELM run-entry confs.",
    )
    parser.add_argument(
        "--check", action="store_true", help="only compare the confs with the data; exit 1 if any differs"
    )
    parser.add_argument(
        "--data", type=Path, default=DATA, help="the data file (default: %(default)s); confs go next to it"
    )
    parser.add_argument("--set", action="append", metavar="NAME", help="only this set (repeatable; default: every set)")
    parser.add_argument("--budget", type=int, help="spread this many instances instead of the set's budget")
    parser.add_argument("--output", metavar="FILE", help="write the one --set here ('-': standard output)")
    parser.add_argument(
        "--allow-uncovered",
        action="store_true",
        help="leave out the sub-scenarios whose share is 0 instead of failing",
    )
    parser.add_argument(
        "--include-unavailable",
        action="store_true",
        help="write entries the pinned HELM lacks as live entries (for a HELM that has them)",
    )
    return parser


if __name__ == "__main__":
    sys.exit(main())
