"""Batch runs (`repro-audit run`): entries from a source, stages per entry, state in SQLite, resumable."""
