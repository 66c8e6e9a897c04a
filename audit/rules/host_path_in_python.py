"""RA507: absolute host paths in `open()`, `from_pretrained()`, `load_dataset()` ... of Python sources."""

from __future__ import annotations

from collections.abc import Iterator

from audit.model import Confidence, Finding, Severity
from audit.rules.base import Rule
from audit.rules.host_paths import host_paths
from audit.views.entry import EntryView
from audit.views.python import PATH_FUNCTIONS


class HostPathInPython(Rule):
    id = "RA507"
    name = "host-path-in-python"
    family = "host-local"
    severity = Severity.MEDIUM
    confidence = Confidence.MEDIUM
    summary = "Python reads a path of the submitter's machine"
    explanation = (
        "Training and serving code that opens `/home/alice/...` or loads weights from `/data/...` works only "
        "where those files are: in the organizers' container the call raises FileNotFoundError."
    )
    fix = "Read the path from an argument or environment variable, and ship or download the file in the image."

    def check(self, view: EntryView) -> Iterator[Finding]:
        for source in view.python_sources:
            for call in source.calls:
                if call.function not in PATH_FUNCTIONS:
                    continue
                for _argument, literal in call.strings:
                    for host_path in host_paths(literal):
                        if not literal.startswith(host_path):
                            continue  # the path must start the argument (or the f-string), not sit inside text
                        yield self.finding(
                            f"{call.function}() reads {host_path}, a path of the submitter's machine",
                            source.path,
                            call.line,
                            evidence=host_path,
                        )
