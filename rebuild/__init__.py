"""Everything of repro-audit that needs a Docker Engine: host profiles, the engine wrapper (deadlines,
labels, sandbox, cleanup) and the stages that build and run the entries' images.

Imports `audit` (the model, the views, the secret scanner), never `reports` or the CLI.
"""
