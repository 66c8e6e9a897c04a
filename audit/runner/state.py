"""A run's state in SQLite (`DIR/state.sqlite`): entries, stage runs, findings, artifacts.

Everything a resumed run or `repro-audit report` needs lives here, written by the main process only
(workers return results; they never open the database). WAL mode with `synchronous=FULL`: every stage
result is one transaction, committed when the stage ends, so a process killed at any moment (SIGKILL
included) leaves either the whole result or none of it, and the database is never corrupt.

A stage is *finished* when its status is passed, failed, skipped or errored; a resumed run does not run
it again unless asked (`--rerun`). A stage left `running` (the process died) or `interrupted` (Ctrl-C)
runs again.
"""

from __future__ import annotations

import json
import socket
import sqlite3
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1
FINISHED = ("passed", "failed", "skipped", "errored")
STATUSES = ("pending", "running", "interrupted", *FINISHED)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sources (
    id TEXT PRIMARY KEY,            -- the SOURCE as given, resolved
    kind TEXT NOT NULL,             -- folder | archive | manifest
    prepared_at TEXT,               -- when extraction / reading finished (NULL: not yet)
    data TEXT NOT NULL DEFAULT '{}' -- JSON: refused members, manifest problems...
);
CREATE TABLE IF NOT EXISTS entries (
    name TEXT PRIMARY KEY,          -- <track>/<user>/<repo>, unique in the run
    position INTEGER NOT NULL,      -- order of discovery
    track TEXT,
    source_kind TEXT NOT NULL,      -- folder | archive | git
    source TEXT NOT NULL,           -- folder path, archive path and member, or git URL
    path TEXT,                      -- where the entry's files are on disk (NULL until ingested)
    data TEXT NOT NULL DEFAULT '{}' -- JSON: manifest row, commit, pinned, refused members...
);
CREATE TABLE IF NOT EXISTS stages (
    entry TEXT NOT NULL REFERENCES entries(name),
    stage TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT,
    started TEXT,
    ended TEXT,
    host TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    data TEXT NOT NULL DEFAULT '{}', -- JSON: exit information, counts, what the stage returned
    PRIMARY KEY (entry, stage)
);
CREATE TABLE IF NOT EXISTS findings (
    entry TEXT NOT NULL,
    stage TEXT NOT NULL,
    seq INTEGER NOT NULL,
    data TEXT NOT NULL,             -- the finding in the JSON report's shape
    PRIMARY KEY (entry, stage, seq)
);
CREATE TABLE IF NOT EXISTS artifacts (
    entry TEXT NOT NULL,
    stage TEXT NOT NULL,
    kind TEXT NOT NULL,             -- log, report...
    path TEXT NOT NULL,             -- relative to the run folder
    PRIMARY KEY (entry, stage, kind)
);
"""


class StateError(Exception):
    """The state file cannot be used (another tool's file, a newer schema); the message says what to do."""


@dataclass(frozen=True)
class EntryRow:
    name: str
    position: int
    track: str | None
    source_kind: str
    source: str
    path: str | None
    data: dict[str, Any]


@dataclass(frozen=True)
class StageRow:
    entry: str
    stage: str
    status: str
    reason: str | None
    started: str | None
    ended: str | None
    host: str | None
    attempts: int
    data: dict[str, Any]

    @property
    def finished(self) -> bool:
        return self.status in FINISHED


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class State:
    """The state database of one run folder. Not shared across processes: the runner owns it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._db = sqlite3.connect(path, isolation_level=None, timeout=30)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=ON")
            with self.transaction():
                for statement in _statements(_SCHEMA):
                    self._db.execute(statement)
                found = self._db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
                if found is None:
                    self._db.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
                    self._db.execute("INSERT INTO meta VALUES ('created', ?)", (now(),))
                elif found[0] != str(SCHEMA_VERSION):
                    raise StateError(
                        f"{path} was written by another version of repro-audit (schema {found[0]}); "
                        "use a new --out folder"
                    )
        except sqlite3.DatabaseError as exc:
            raise StateError(f"{path} is not a repro-audit state database ({exc}); use a new --out folder") from None

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # ---- meta ------------------------------------------------------------------------------------

    def meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction() as db:
            db.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = ?",
                       (key, value, value))  # fmt: skip

    def run_id(self) -> str:
        """The run's id, made once: the label of everything the run creates outside its folder."""
        known = self.meta("run_id")
        if known is None:
            known = uuid.uuid4().hex[:16]
            with self.transaction() as db:
                db.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('run_id', ?)", (known,))
            known = self.meta("run_id") or known
        return known

    def last_change(self) -> str | None:
        """When a stage last started or ended: reports written after that are up to date."""
        row = self._db.execute(
            "SELECT MAX(MAX(COALESCE(ended, '')), MAX(COALESCE(started, ''))) FROM stages"
        ).fetchone()
        return row[0] if row and row[0] else None

    # ---- sources ---------------------------------------------------------------------------------

    def source(self, source_id: str) -> tuple[str, str | None, dict[str, Any]] | None:
        row = self._db.execute("SELECT kind, prepared_at, data FROM sources WHERE id = ?", (source_id,)).fetchone()
        return None if row is None else (row[0], row[1], json.loads(row[2]))

    def sources(self) -> list[dict[str, Any]]:
        rows = self._db.execute("SELECT id, kind, prepared_at, data FROM sources ORDER BY id").fetchall()
        return [{"id": r[0], "kind": r[1], "prepared_at": r[2], "data": json.loads(r[3])} for r in rows]

    def source_prepared(self, source_id: str, kind: str, data: dict[str, Any]) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT INTO sources (id, kind, prepared_at, data) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, prepared_at = excluded.prepared_at, "
                "data = excluded.data",
                (source_id, kind, now(), json.dumps(data)),
            )

    # ---- entries ---------------------------------------------------------------------------------

    def add_entries(self, rows: Iterable[EntryRow]) -> None:
        """Record discovered entries (already known ones are left as they are), with pending stages."""
        with self.transaction() as db:
            for row in rows:
                db.execute(
                    "INSERT OR IGNORE INTO entries (name, position, track, source_kind, source, path, data) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (row.name, row.position, row.track, row.source_kind, row.source, row.path, json.dumps(row.data)),
                )

    def update_entry(self, name: str, *, path: str | None = None, data: dict[str, Any] | None = None) -> None:
        with self.transaction() as db:
            if path is not None:
                db.execute("UPDATE entries SET path = ? WHERE name = ?", (path, name))
            if data is not None:
                db.execute("UPDATE entries SET data = ? WHERE name = ?", (json.dumps(data), name))

    def entries(self) -> list[EntryRow]:
        rows = self._db.execute(
            "SELECT name, position, track, source_kind, source, path, data FROM entries ORDER BY position, name"
        ).fetchall()
        return [EntryRow(r[0], r[1], r[2], r[3], r[4], r[5], json.loads(r[6])) for r in rows]

    def entry(self, name: str) -> EntryRow | None:
        row = self._db.execute(
            "SELECT name, position, track, source_kind, source, path, data FROM entries WHERE name = ?", (name,)
        ).fetchone()
        return None if row is None else EntryRow(row[0], row[1], row[2], row[3], row[4], row[5], json.loads(row[6]))

    # ---- stages ----------------------------------------------------------------------------------

    def stage(self, entry: str, stage: str) -> StageRow | None:
        row = self._db.execute(
            "SELECT entry, stage, status, reason, started, ended, host, attempts, data FROM stages "
            "WHERE entry = ? AND stage = ?",
            (entry, stage),
        ).fetchone()
        return None if row is None else _stage_row(row)

    def stages(self, entry: str | None = None) -> list[StageRow]:
        query = "SELECT entry, stage, status, reason, started, ended, host, attempts, data FROM stages"
        rows = (
            self._db.execute(query + " WHERE entry = ?", (entry,)).fetchall()
            if entry is not None
            else self._db.execute(query).fetchall()
        )
        return [_stage_row(r) for r in rows]

    def start_stage(self, entry: str, stage: str) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT INTO stages (entry, stage, status, started, ended, host, attempts) "
                "VALUES (?, ?, 'running', ?, NULL, ?, 1) "
                "ON CONFLICT (entry, stage) DO UPDATE SET status = 'running', reason = NULL, "
                "started = excluded.started, ended = NULL, host = excluded.host, attempts = attempts + 1",
                (entry, stage, now(), socket.gethostname()),
            )

    def finish_stage(
        self,
        entry: str,
        stage: str,
        status: str,
        *,
        reason: str | None = None,
        findings: Iterable[dict[str, Any]] = (),
        artifacts: dict[str, str] | None = None,
        data: dict[str, Any] | None = None,
    ) -> None:
        """The stage's whole result, in one transaction: status, findings, artifacts."""
        if status not in STATUSES:
            raise ValueError(f"unknown stage status {status!r}")
        with self.transaction() as db:
            db.execute(
                "UPDATE stages SET status = ?, reason = ?, ended = ?, data = ? WHERE entry = ? AND stage = ?",
                (status, reason, now(), json.dumps(data or {}), entry, stage),
            )
            db.execute("DELETE FROM findings WHERE entry = ? AND stage = ?", (entry, stage))
            db.executemany(
                "INSERT INTO findings (entry, stage, seq, data) VALUES (?, ?, ?, ?)",
                [(entry, stage, seq, json.dumps(f, ensure_ascii=False)) for seq, f in enumerate(findings)],
            )
            db.execute("DELETE FROM artifacts WHERE entry = ? AND stage = ?", (entry, stage))
            db.executemany(
                "INSERT INTO artifacts (entry, stage, kind, path) VALUES (?, ?, ?, ?)",
                [(entry, stage, kind, path) for kind, path in (artifacts or {}).items()],
            )

    def mark_unfinished(self, status: str = "interrupted") -> int:
        """Stages left `running` (by a crash or Ctrl-C) become `status`; returns how many."""
        with self.transaction() as db:
            cursor = db.execute("UPDATE stages SET status = ?, ended = ? WHERE status = 'running'", (status, now()))
            return cursor.rowcount

    def findings(self, entry: str, stage: str | None = None) -> list[dict[str, Any]]:
        if stage is None:
            rows = self._db.execute("SELECT data FROM findings WHERE entry = ? ORDER BY stage, seq", (entry,))
        else:
            rows = self._db.execute(
                "SELECT data FROM findings WHERE entry = ? AND stage = ? ORDER BY seq", (entry, stage)
            )
        return [json.loads(r[0]) for r in rows.fetchall()]

    def artifacts(self, entry: str) -> dict[str, str]:
        rows = self._db.execute("SELECT stage, kind, path FROM artifacts WHERE entry = ?", (entry,)).fetchall()
        return {f"{stage}/{kind}": path for stage, kind, path in rows}


def _stage_row(row: tuple[Any, ...]) -> StageRow:
    return StageRow(row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7], json.loads(row[8]))


def _statements(script: str) -> list[str]:
    """The schema's statements one by one (executescript would commit outside our transaction)."""
    text = "\n".join(line.split("--", 1)[0] for line in script.splitlines())
    return [s.strip() for s in text.split(";") if s.strip()]
