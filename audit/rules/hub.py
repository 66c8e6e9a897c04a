"""Which Hugging Face Hub calls are unpinned: shared by the hub rules and RA405.

Not a rule module. A call loads from the Hub when its repository argument is a literal that looks
like a Hub id (`org/name` or `name`) and is not a local path or a folder of the entry; calls whose
repository is computed at run time are judged too, with low confidence.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from audit.views.python import Call, PythonView

COMMIT = re.compile(r"^[0-9a-fA-F]{40}$")
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
HUB_FUNCTIONS = frozenset({"from_pretrained", "snapshot_download", "hf_hub_download", "load_dataset", "pipeline"})
# dataset builders that read local files, not Hub repositories
LOCAL_BUILDERS = frozenset({"json", "csv", "parquet", "text", "arrow", "pandas", "imagefolder", "audiofolder",
                            "webdataset", "xml", "sql", "generator"})  # fmt: skip
FILE_SUFFIXES = (".json", ".jsonl", ".csv", ".txt", ".pt", ".bin", ".safetensors", ".parquet", ".py", ".yaml")


def is_hub_repo(text: str, local_dirs: set[str] | frozenset[str] = frozenset()) -> bool:
    stripped = text.strip()
    if not stripped or stripped.startswith(("/", ".", "~")) or stripped in local_dirs:
        return False
    return HUB_ID.match(stripped) is not None and not stripped.lower().endswith(FILE_SUFFIXES)


def revision_problem(call: Call) -> str | None:
    """Why this call's revision does not pin the download, None when it does (or cannot be told)."""
    if call.revision is None:
        return "without revision="
    if call.revision.text is None:
        return None  # computed at run time: cannot be judged
    if COMMIT.match(call.revision.text):
        return None
    return f"with revision={call.revision.text!r}, a branch or tag, not a commit"


def hub_calls(view: PythonView, local_dirs: set[str] | frozenset[str] = frozenset()) -> Iterator[tuple[Call, bool]]:
    """Calls that load from the Hub, with whether the repository is a literal (True) or computed."""
    for call in view.calls:
        if call.function not in HUB_FUNCTIONS or call.repo is None:
            continue
        if call.function == "load_dataset" and call.repo.text and call.repo.text.lower() in LOCAL_BUILDERS:
            continue
        if call.repo.text is not None:
            if is_hub_repo(call.repo.text, local_dirs):
                yield call, True
        elif call.function != "pipeline":
            yield call, False


def unpinned_hub_calls(view: PythonView) -> Iterator[tuple[Call, str]]:
    for call, literal in hub_calls(view):
        problem = revision_problem(call)
        if literal and problem:
            yield call, problem
