"""The cut-off moment of a fix: nothing published at or after it is chosen.

From `--as-of`, else the entry's configured `deadline`, else the date of the entry's last git commit.
A date without a time means the whole of that day (UTC): the cut-off is the next midnight. A time
without a zone is taken as UTC, the zone package indexes and the Hub report in.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import git


class CutoffError(ValueError):
    """A date that cannot be read, or no date to be had: the message says what to give."""


def parse_moment(value: object, what: str) -> datetime:
    """A cut-off from a TOML value or a command-line string: `2023-10-25`, `2023-10-25T18:00:00Z`, ..."""
    if not isinstance(value, datetime | date | str):
        raise CutoffError(f"{what} must be a date such as 2023-10-25 or a time such as 2023-10-25T18:00:00Z")
    try:
        if isinstance(value, datetime):
            moment = value
        elif isinstance(value, date):
            moment = datetime.combine(value + timedelta(days=1), time(0))
        else:
            moment = _parse(value.strip())
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except (ValueError, OverflowError):  # not a date, or one past what a datetime holds (9999-12-31)
        raise CutoffError(
            f"{what} {value!r} is not a usable date: give 2023-10-25 (the whole day) or 2023-10-25T18:00:00Z"
        ) from None


def _parse(text: str) -> datetime:
    try:
        day = date.fromisoformat(text)  # 2023-10-25 or 20231025: the whole day
    except ValueError:
        return datetime.fromisoformat(text.replace("z", "Z"))
    return datetime.combine(day + timedelta(days=1), time(0))


def last_commit(path: Path) -> tuple[datetime, str] | None:
    """When the last commit of the repository holding `path` was made (committer date) and its short id;
    None when `path` is not in a git repository or it has no commit yet."""
    try:
        repo = git.Repo(path, search_parent_directories=True)
        commit = repo.head.commit
    except (git.InvalidGitRepositoryError, git.NoSuchPathError, ValueError):
        return None
    # one second past the commit: what the entrant had when committing was published before it
    return commit.committed_datetime.astimezone(UTC) + timedelta(seconds=1), commit.hexsha[:12]


def choose(as_of: str | None, deadline: datetime | None, path: Path) -> tuple[datetime, str]:
    """The cut-off and a phrase saying where it came from."""
    if as_of is not None:
        return parse_moment(as_of, "--as-of"), "--as-of"
    if deadline is not None:
        return deadline, "the deadline in the entry's [tool.repro-audit]"
    found = last_commit(path)
    if found is not None:
        return found[0], f"the date of the entry's last commit ({found[1]})"
    raise CutoffError(
        f"no cut-off date for {path}: it is not a git repository with a commit and its [tool.repro-audit] "
        "has no deadline; give --as-of 2023-10-25 (the submission deadline)"
    )
