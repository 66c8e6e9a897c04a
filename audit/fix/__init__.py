"""`repro-audit fix`: turn the pinning findings of one submission into a patch.

Resolvers (one per kind of pin) look at an `EntryView` and propose `Change`s: edits of the entry's
files and new files, each naming the findings it resolves, or `Note`s saying what they could not
resolve and why. `plan` runs them, drops changes that would overlap, and renders or applies the
result. Resolvers that need a Docker Engine live in `rebuild/` and are wired in by the CLI.
"""
