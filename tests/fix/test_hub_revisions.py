"""The hub resolver against a fake Hub on 127.0.0.1: which commit is chosen, which route is asked, the
exact texts after the edits, and every failure as a Note."""

from __future__ import annotations

import hashlib
import itertools
import random
import socket
import string
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from audit.discover import EntrySource
from audit.engine import CheckOptions, audit_entry, entry_view
from audit.fix.hub_revisions import HubRevisions
from audit.fix.model import Change, FixSettings, Note, Resolves
from tests.fix.hub_server import FakeCommit, FakeHub, FakeRepo, serve
from tests.helpers import write_tree

CUTOFF = datetime(2023, 10, 25, tzinfo=UTC)
HUB_RULES = frozenset({"RA601", "RA602", "RA603", "RA405"})


def sha(name: str) -> str:
    return hashlib.sha1(name.encode()).hexdigest()


def commit(name: str, year: int, month: int, day: int) -> FakeCommit:
    return FakeCommit(sha(name), datetime(year, month, day, 12, 30, tzinfo=UTC), title=name)


BASE_HISTORY = [  # newest first, as the Hub lists them; with pages of 2 the chosen one is on page 2
    commit("base-after-2", 2023, 11, 5),
    commit("base-after-1", 2023, 10, 28),
    commit("base-before", 2023, 10, 20),
    commit("base-old", 2023, 9, 1),
    commit("base-init", 2023, 8, 1),
]
BASE = sha("base-before")
TAGGED = sha("base-old")
INSTRUCTIONS = sha("instructions-before")
EVAL_SET = sha("eval-set")


def hub_repos() -> list[FakeRepo]:
    return [
        FakeRepo("acme/base-7b", branches={"main": BASE_HISTORY}, tags={"v1.0": BASE_HISTORY[3]}),
        FakeRepo(
            "acme/instructions",
            repo_type="dataset",
            branches={"main": [commit("instructions-after", 2023, 11, 1), commit("instructions-before", 2023, 10, 1)]},
        ),
        FakeRepo("acme/eval-set", repo_type="dataset", branches={"main": [commit("eval-set", 2023, 10, 10)]}),
        FakeRepo("acme/gated-70b", gated=True),
        FakeRepo("acme/fresh", branches={"main": [commit("fresh", 2023, 12, 1)]}),
    ]


@pytest.fixture
def hub() -> Iterator[FakeHub]:
    with serve(FakeHub(hub_repos(), page_size=2)) as running:
        yield running


def settings(endpoint: str | None, tmp_path: Path, timeout: float = 30.0) -> FixSettings:
    return FixSettings(CUTOFF, "--as-of", hf_endpoint=endpoint, cache_dir=tmp_path / "cache", timeout=timeout)


TRAIN = '''"""Fine-tuning."""

import os

from datasets import load_dataset
from huggingface_hub import hf_hub_download, snapshot_download
from transformers import AutoModelForCausalLM, AutoTokenizer

BASE = "acme/base-7b"

tokenizer = AutoTokenizer.from_pretrained('acme/base-7b')
model = AutoModelForCausalLM.from_pretrained(
    BASE,
    torch_dtype="auto",  # half the memory
    # the custom attention lives in the repository
    trust_remote_code=True,
)
data = load_dataset("acme/instructions", split="train")
config = hf_hub_download("acme/base-7b", "config.json", revision="main")
snapshot_download(repo_id="acme/eval-set", repo_type="dataset")
adapter = AutoModelForCausalLM.from_pretrained("acme/base-7b", revision=os.environ["REV"])
'''

TRAIN_AFTER = f'''"""Fine-tuning."""

import os

from datasets import load_dataset
from huggingface_hub import hf_hub_download, snapshot_download
from transformers import AutoModelForCausalLM, AutoTokenizer

BASE = "acme/base-7b"

tokenizer = AutoTokenizer.from_pretrained('acme/base-7b', revision='{BASE}')
model = AutoModelForCausalLM.from_pretrained(
    BASE,
    torch_dtype="auto",  # half the memory
    # the custom attention lives in the repository
    trust_remote_code=True,
    revision="{BASE}",
)
data = load_dataset("acme/instructions", split="train", revision="{INSTRUCTIONS}")
config = hf_hub_download("acme/base-7b", "config.json", revision="{BASE}")
snapshot_download(repo_id="acme/eval-set", repo_type="dataset", revision="{EVAL_SET}")
adapter = AutoModelForCausalLM.from_pretrained("acme/base-7b", revision=os.environ["REV"])
'''

LAYOUTS = """from transformers import AutoModel


def hanging():
    return AutoModel.from_pretrained("acme/base-7b",
                                     low_cpu_mem_usage=True)


def tagged():
    return AutoModel.from_pretrained(
        "acme/base-7b",
        revision="v1.0"
    )


def closing_alone():
    return AutoModel.from_pretrained(
        "acme/base-7b"
    )
"""

LAYOUTS_AFTER = f"""from transformers import AutoModel


def hanging():
    return AutoModel.from_pretrained("acme/base-7b",
                                     low_cpu_mem_usage=True, revision="{BASE}")


def tagged():
    return AutoModel.from_pretrained(
        "acme/base-7b",
        revision="{TAGGED}"
    )


def closing_alone():
    return AutoModel.from_pretrained(
        "acme/base-7b",
        revision="{BASE}"
    )
"""

DOCKERFILE = """FROM python:3.11-slim
RUN pip install --no-cache-dir huggingface_hub==0.19.4
RUN huggingface-cli download acme/base-7b --local-dir /models/base \\
    && huggingface-cli download acme/instructions data.json --repo-type dataset --revision main
RUN git clone https://huggingface.co/acme/base-7b /models/clone
RUN git clone https://huggingface.co/datasets/acme/instructions && ls instructions
COPY . /app
"""

DOCKERFILE_AFTER = f"""FROM python:3.11-slim
RUN pip install --no-cache-dir huggingface_hub==0.19.4
RUN huggingface-cli download acme/base-7b --revision {BASE} --local-dir /models/base \\
    && huggingface-cli download acme/instructions data.json --repo-type dataset --revision {INSTRUCTIONS}
RUN git clone https://huggingface.co/acme/base-7b /models/clone && git -C /models/clone checkout {BASE}
RUN git clone https://huggingface.co/datasets/acme/instructions instructions && \
git -C instructions checkout {INSTRUCTIONS} && ls instructions
COPY . /app
"""

SCRIPT = """#!/bin/sh
set -e
# hf download acme/base-7b stays a comment
hf download acme/base-7b \\
  --local-dir weights
hf download acme/eval-set --repo-type=dataset; echo done
"""

SCRIPT_AFTER = f"""#!/bin/sh
set -e
# hf download acme/base-7b stays a comment
hf download acme/base-7b --revision {BASE} \\
  --local-dir weights
hf download acme/eval-set --revision {EVAL_SET} --repo-type=dataset; echo done
"""

ENTRY: dict[str, str | bytes] = {
    "train.py": TRAIN,
    "layouts.py": LAYOUTS,
    "Dockerfile": DOCKERFILE,
    "scripts/fetch.sh": SCRIPT,
}
OPTIONS = CheckOptions(jobs=1, history=False)


def propose(root: Path, fix: FixSettings, resolver: HubRevisions | None = None) -> list[Change | Note]:
    view = entry_view(EntrySource(root.name, root, None), None, OPTIONS)
    return list((resolver or HubRevisions()).propose(view, fix, lambda _message: None))


def hub_findings(root: Path) -> set[tuple[str, str, int | None]]:
    report = audit_entry(EntrySource(root.name, root, None), None, OPTIONS)
    return {(f.rule, f.location.path, f.location.line) for f in report.findings if f.rule in HUB_RULES}


def apply(root: Path, changes: list[Change]) -> None:
    """Apply every edit to the files, last first, refusing overlaps."""
    by_path: dict[str, list[tuple[int, int, str]]] = {}
    for change in changes:
        for edit in change.edits:
            by_path.setdefault(edit.path, []).append((edit.start, edit.end, edit.new))
    for path, edits in by_path.items():
        file = root / path
        text = file.read_text(encoding="utf-8")
        edits.sort()
        for (_s1, e1, _n1), (s2, _e2, _n2) in itertools.pairwise(edits):
            assert e1 <= s2, f"overlapping edits in {path}"
        for start, end, new in reversed(edits):
            text = text[:start] + new + text[end:]
        file.write_text(text, encoding="utf-8")


def test_every_hub_finding_is_resolved_and_the_texts_are_exact(tmp_path: Path, hub: FakeHub) -> None:
    root = write_tree(tmp_path / "entry", ENTRY)
    before = hub_findings(root)
    assert {rule for rule, _path, _line in before} == HUB_RULES  # the fixture shows every rule
    results = propose(root, settings(hub.url, tmp_path))
    changes = [r for r in results if isinstance(r, Change)]
    notes = [r for r in results if isinstance(r, Note)]
    resolved = {(r.rule, r.path, r.line) for change in changes for r in change.resolves}
    assert before <= resolved
    assert all(change.kind == "hub" for change in changes)
    # the one call left alone says so: its revision is read from the environment
    assert [(n.path, n.line) for n in notes] == [("train.py", 21)]
    assert "revision=os.environ['REV']" in notes[0].message

    apply(root, changes)
    assert (root / "train.py").read_text() == TRAIN_AFTER
    assert (root / "layouts.py").read_text() == LAYOUTS_AFTER
    assert (root / "Dockerfile").read_text() == DOCKERFILE_AFTER
    assert (root / "scripts/fetch.sh").read_text() == SCRIPT_AFTER
    assert hub_findings(root) == set()


def test_the_commit_before_the_cutoff_is_chosen_and_each_repository_is_asked_once(tmp_path: Path, hub: FakeHub) -> None:
    root = write_tree(tmp_path / "entry", {"train.py": TRAIN, "layouts.py": LAYOUTS})
    messages: list[str] = []
    view = entry_view(EntrySource("entry", root, None), None, OPTIONS)
    results = list(HubRevisions().propose(view, settings(hub.url, tmp_path), messages.append))
    tokenizer = next(r for r in results if isinstance(r, Change) and _where(r) == ("train.py", 11))
    assert tokenizer.edits[0].new == f", revision='{BASE}'"  # not the newest commit of main
    assert BASE_HISTORY[0].id not in str(results)
    assert tokenizer.caveats == ("acme/base-7b: 2 newer commit(s) of main after the cut-off were left out",)
    # main of acme/base-7b is three pages, each asked once for the five calls that read it
    assert hub.paths().count("/api/models/acme/base-7b/commits/main") == 3
    assert sorted(messages) == [
        "resolving the Hub commit of acme/base-7b at 2023-10-25T00:00:00+00:00",
        "resolving the Hub commit of acme/base-7b@v1.0 at 2023-10-25T00:00:00+00:00",
        "resolving the Hub commit of acme/eval-set at 2023-10-25T00:00:00+00:00",
        "resolving the Hub commit of acme/instructions at 2023-10-25T00:00:00+00:00",
    ]


def test_a_dataset_goes_to_the_dataset_route(tmp_path: Path, hub: FakeHub) -> None:
    root = write_tree(
        tmp_path / "entry", {"data.py": 'from datasets import load_dataset\nload_dataset("acme/instructions")\n'}
    )
    results = propose(root, settings(hub.url, tmp_path))
    assert [r.resolves for r in results if isinstance(r, Change)] == [(Resolves("RA601", "data.py", 2),)]
    assert hub.paths() == ["/api/datasets/acme/instructions/commits/main"]


def test_a_tag_is_pinned_to_its_commit_with_a_caveat(tmp_path: Path, hub: FakeHub) -> None:
    root = write_tree(tmp_path / "entry", {"layouts.py": LAYOUTS})
    tagged = next(r for r in propose(root, settings(hub.url, tmp_path)) if isinstance(r, Change) and "tag" in r.summary)
    assert tagged.edits[0].new == TAGGED
    assert tagged.resolves == (Resolves("RA602", "layouts.py", 10),)
    assert "'v1.0' is a tag" in tagged.caveats[0]


ERRORS: dict[str, str | bytes] = {
    "load.py": """from transformers import AutoModel
AutoModel.from_pretrained("acme/gated-70b")
AutoModel.from_pretrained("acme/gone")
AutoModel.from_pretrained("acme/fresh")
""",
    "Dockerfile": "FROM python:3.11-slim\nRUN huggingface-cli download acme/gone --revision dev\n",
}


def test_each_failure_is_a_note_without_traceback_or_token(
    tmp_path: Path, hub: FakeHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = "hf_" + "".join(random.choices(string.ascii_letters, k=34))
    monkeypatch.setenv("HF_TOKEN", token)
    root = write_tree(tmp_path / "entry", ERRORS)
    results = propose(root, settings(hub.url, tmp_path))
    notes = [r for r in results if isinstance(r, Note)]
    assert notes == results
    messages = {(r.path, r.line): r.message for r in notes}
    assert set(messages) == {("load.py", 2), ("load.py", 3), ("load.py", 4), ("Dockerfile", 2)}
    assert "refused access to model acme/gated-70b (401)" in messages[("load.py", 2)]
    assert "set HF_TOKEN" in messages[("load.py", 2)]
    assert messages[("load.py", 3)] == f"no such repository on {hub.url}: model acme/gone"
    assert messages[("Dockerfile", 2)] == f"no such repository on {hub.url}: model acme/gone"
    assert "no commit on 'main' before the cut-off" in messages[("load.py", 4)]
    for message in messages.values():
        assert "Traceback" not in message and token not in message and "hf_" not in message
    # the token was sent: the gated answer is the Hub's answer to it, not to an anonymous request
    assert any(request.authorization == f"Bearer {token}" for request in hub.requests)


def test_a_refused_connection_is_a_note(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    endpoint = f"http://127.0.0.1:{port}"
    root = write_tree(tmp_path / "entry", {"load.py": ERRORS["load.py"]})
    results = propose(root, settings(endpoint, tmp_path))
    assert results == [
        Note("hub", "load.py", line, f"could not reach {endpoint}: connection refused") for line in (2, 3, 4)
    ]


@pytest.fixture(scope="session")
def silent_endpoint() -> Iterator[str]:
    """An endpoint that takes connections and never answers. Open for the whole session: the lookup that
    timed out stays blocked on it, and closing it would send that lookup into huggingface_hub's retries."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        yield f"http://127.0.0.1:{server.getsockname()[1]}"


def test_an_endpoint_that_does_not_answer_is_a_note(tmp_path: Path, silent_endpoint: str) -> None:
    root = write_tree(tmp_path / "entry", {"load.py": ERRORS["load.py"]})
    results = propose(root, settings(silent_endpoint, tmp_path, timeout=1))
    # the first lookup waits for its deadline; the others are told at once that the endpoint is out of reach
    message = f"could not reach {silent_endpoint}: no answer within 1 s"
    assert results == [Note("hub", "load.py", line, message) for line in (2, 3, 4)]


def test_hf_endpoint_is_honoured_when_the_settings_name_none(
    tmp_path: Path, hub: FakeHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    # huggingface_hub read HF_ENDPOINT when it was imported, long before this: only a read at call time sees it
    monkeypatch.setenv("HF_ENDPOINT", hub.url + "/")
    root = write_tree(
        tmp_path / "entry", {"data.py": 'from datasets import load_dataset\nload_dataset("acme/eval-set")\n'}
    )
    results = propose(root, settings(None, tmp_path))
    assert [r.edits[0].new for r in results if isinstance(r, Change)] == [f', revision="{EVAL_SET}"']
    assert hub.paths() == ["/api/datasets/acme/eval-set/commits/main"]


def _where(change: Change) -> tuple[str, int | None]:
    return change.resolves[0].path, change.resolves[0].line
