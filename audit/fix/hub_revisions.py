"""The `hub` resolver: pins Hugging Face Hub downloads to the commit their branch had at the cut-off.

What it rewrites is what RA601, RA602, RA603 and RA405 report:
- Python calls (`from_pretrained`, `snapshot_download`, `hf_hub_download`, `load_dataset`, `pipeline`)
  with a literal repository get `revision="<commit>"`, or their branch or tag replaced by it. The call is
  edited through libcst so that nothing else of the file changes: a multi-line call keeps its layout,
  comments and trailing comma, and the new argument takes the quotes of the repository literal.
- `huggingface-cli download` / `hf download` in Dockerfile RUN lines and in the entry's `.sh` files get
  `--revision <commit>` after the repository.
- `git clone https://huggingface.co/ORG/NAME [DIR]` in a RUN gets `&& git -C DIR checkout <commit>`.

The commit is the newest one of the branch (the revision named, else `main`) created before the cut-off,
from `HfApi.list_repo_commits` against `settings.hf_endpoint`, else `HF_ENDPOINT`, else the Hub; a tag
gives the commit it names. Each lookup runs in a daemon thread with `settings.timeout` as its deadline,
because huggingface_hub sends these requests without a timeout and retries a refused connection for
about 20 seconds. Failures (gated, missing, unreachable, no commit before the cut-off) are Notes whose
text is made here from the status code, never from the library's message or the token. The shell-word
spans are found with `audit.fix.text`; no library edits shell words in place.
"""

from __future__ import annotations

import os
import re
import shlex
import socket
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar, Generic, TypeVar
from urllib.parse import urlsplit

import libcst as cst
from huggingface_hub import HfApi
from huggingface_hub.errors import (
    GatedRepoError,
    HfHubHTTPError,
    OfflineModeIsEnabled,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from libcst.metadata import MetadataWrapper, PositionProvider

from audit.fix.model import Change, Edit, FixSettings, Note, Progress, Resolves
from audit.fix.text import SourceText, Span
from audit.rules.fetches import GIT_VALUE_OPTIONS, clones
from audit.rules.hub import COMMIT, HUB_FUNCTIONS, hub_calls, is_hub_repo, revision_problem, unpinned_hub_calls
from audit.rules.model_download_at_build import DOWNLOAD_LIST_OPTIONS, DOWNLOAD_VALUE_OPTIONS, cli_download
from audit.views.dockerfile import DockerfileView
from audit.views.entry import EntryView
from audit.views.python import REPO_KEYWORDS, Call, parse_python
from audit.views.shell import SimpleCommand, split_commands

KIND = "hub"
DEFAULT_ENDPOINT = "https://huggingface.co"
DATASET_FUNCTIONS = frozenset({"load_dataset"})
REPO_TYPES = frozenset({"model", "dataset", "space"})
PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")
HUB_HOST = re.compile(r"(^|\.)huggingface\.co$", re.IGNORECASE)

T = TypeVar("T")


@dataclass(frozen=True)
class Pin:
    """The commit a repository's revision is pinned to."""

    repo_id: str
    commit: str
    date: datetime
    revision: str  # the branch or tag it was read from
    tag: bool
    newer: int  # commits of the branch made at or after the cut-off, left out


@dataclass(frozen=True)
class Unresolved:
    message: str


Lookup = Callable[[str, str, str | None], "Pin | Unresolved"]


class HubRevisions:
    kind: ClassVar[str] = KIND

    def __init__(self) -> None:
        # one lookup per (endpoint, repository, revision) for the whole run, shared by every entry
        self._cache: dict[tuple[str, str, str, str, datetime], Pin | Unresolved] = {}
        self._unreachable: dict[str, str] = {}  # endpoint -> why: asked once, not once per repository
        self._lock = threading.Lock()

    def propose(self, view: EntryView, settings: FixSettings, progress: Progress) -> Iterator[Change | Note]:
        def lookup(repo_id: str, repo_type: str, revision: str | None) -> Pin | Unresolved:
            return self.resolve(repo_id, repo_type, revision, settings, progress)

        yield from _python_changes(view, lookup)
        yield from _dockerfile_changes(view, lookup)
        yield from _script_changes(view, lookup)

    # ---- the Hub ------------------------------------------------------------------------------------

    def resolve(
        self, repo_id: str, repo_type: str, revision: str | None, settings: FixSettings, progress: Progress
    ) -> Pin | Unresolved:
        """The commit of `revision` (a branch, a tag; None: main) of a repository at the cut-off."""
        endpoint = endpoint_of(settings)
        key = (endpoint, repo_type, repo_id, revision or "main", settings.cutoff)
        with self._lock:
            if key in self._cache:
                return self._cache[key]
            if endpoint in self._unreachable:
                return Unresolved(self._unreachable[endpoint])
        named = repo_id if revision in (None, "main") else f"{repo_id}@{revision}"
        progress(f"resolving the Hub commit of {named} at {settings.cutoff.isoformat()}")
        unreachable = _probe(endpoint, settings.timeout)
        if unreachable is not None:
            with self._lock:
                self._unreachable[endpoint] = unreachable
            return Unresolved(unreachable)
        outcome = _with_deadline(
            lambda: _ask_hub(endpoint, repo_id, repo_type, revision, settings.cutoff), settings.timeout
        )
        shown = shown_endpoint(endpoint)
        if outcome is None:
            message = f"could not reach {shown}: no answer within {settings.timeout:g} s"
            result: Pin | Unresolved = Unresolved(message)
            with self._lock:
                self._unreachable[endpoint] = message
        elif outcome.error is not None:
            result = Unresolved(_explain(outcome.error, shown, repo_id, repo_type, revision))
            if _is_transport_error(outcome.error):
                with self._lock:
                    self._unreachable[endpoint] = result.message
        else:
            assert outcome.value is not None
            result = outcome.value
        with self._lock:
            self._cache[key] = result
        return result


def endpoint_of(settings: FixSettings) -> str:
    # read at call time: huggingface_hub reads HF_ENDPOINT once, when it is first imported
    return (settings.hf_endpoint or os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def _probe(endpoint: str, timeout: float) -> str | None:
    """Why the endpoint cannot be reached, None when a TCP connection opens (or goes through a proxy).

    Asked before huggingface_hub is: it retries a refused connection for about 20 seconds, and a lookup
    still retrying after its deadline would close the library's shared HTTP client under later lookups.
    """
    if any(os.environ.get(name) for name in PROXY_VARIABLES):
        return None  # the proxy is the one to connect to: let the library go through it
    parts = urlsplit(endpoint)
    host = parts.hostname or ""
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except ConnectionRefusedError:
        reason = "connection refused"
    except socket.gaierror:
        reason = f"the name {host} does not resolve"
    except TimeoutError:
        reason = f"no answer within {timeout:g} s"
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
    return f"could not reach {shown_endpoint(endpoint)}: {reason}"


def shown_endpoint(endpoint: str) -> str:
    """The endpoint without any user:password@ it may carry."""
    parts = urlsplit(endpoint)
    if parts.username is None and parts.password is None:
        return endpoint
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return parts._replace(netloc=host + port).geturl()


def _ask_hub(endpoint: str, repo_id: str, repo_type: str, revision: str | None, cutoff: datetime) -> Pin | Unresolved:
    api = HfApi(endpoint=endpoint)
    branch = revision or "main"
    tag = False
    if revision is not None and revision != "main":
        refs = api.list_repo_refs(repo_id, repo_type=repo_type)
        if revision in {ref.name for ref in refs.tags} and revision not in {ref.name for ref in refs.branches}:
            tag = True
        elif revision not in {ref.name for ref in refs.branches}:
            return Unresolved(f"{repo_id} has no branch or tag {revision!r} on {shown_endpoint(endpoint)}")
    commits = api.list_repo_commits(repo_id, repo_type=repo_type, revision=branch)
    if not commits:
        return Unresolved(f"{repo_id} has no commit on {branch!r}")
    if tag:
        # a tag names one commit whatever its date; the list starts with it
        return Pin(repo_id, commits[0].commit_id, commits[0].created_at, branch, True, 0)
    before = [commit for commit in commits if commit.created_at < cutoff]
    if not before:
        first = min(commit.created_at for commit in commits)
        return Unresolved(
            f"{repo_id} has no commit on {branch!r} before the cut-off {cutoff.isoformat()} "
            f"(its first is of {first.date().isoformat()})"
        )
    chosen = max(before, key=lambda commit: commit.created_at)
    return Pin(repo_id, chosen.commit_id, chosen.created_at, branch, False, len(commits) - len(before))


def _explain(error: BaseException, endpoint: str, repo_id: str, repo_type: str, revision: str | None) -> str:
    """A Note's text for a failed lookup: made from the error's kind and status only, so that nothing the
    library or the server put in its message (request headers, a URL with credentials) is shown."""
    status = _status(error)
    if isinstance(error, OfflineModeIsEnabled):
        return f"{repo_id} not looked up: HF_HUB_OFFLINE is set"
    if isinstance(error, GatedRepoError) or status in (401, 403):
        return (
            f"{endpoint} refused access to {repo_type} {repo_id} ({status}): it is gated or private; "
            "set HF_TOKEN to a token that has access and run again"
        )
    if isinstance(error, RevisionNotFoundError):
        return f"{repo_id} has no revision {revision or 'main'!r} on {endpoint}"
    if isinstance(error, RepositoryNotFoundError) or status == 404:
        return f"no such repository on {endpoint}: {repo_type} {repo_id}"
    if isinstance(error, HfHubHTTPError):
        return f"{endpoint} answered {status} for {repo_type} {repo_id}"
    if _is_transport_error(error):
        names = _class_names(error)
        reason = "timed out" if "TimeoutException" in names else "connection refused" if "ConnectError" in names else ""
        return f"could not reach {endpoint}" + (f": {reason}" if reason else f" ({type(error).__name__})")
    return f"looking up {repo_id} on {endpoint} failed ({type(error).__name__})"


def _class_names(error: BaseException) -> set[str]:
    return {cls.__name__ for cls in type(error).__mro__}


def _is_transport_error(error: BaseException) -> bool:
    """A request that got no answer. Told by class name: huggingface_hub's HTTP client (httpx, now its fork
    httpx2) is its own business, and so is which of them a future 1.x or 2.x uses."""
    if _status(error) is not None:
        return False  # an answer (huggingface_hub's HTTP errors are OSErrors too)
    return isinstance(error, OSError) or bool(
        _class_names(error) & {"TransportError", "ConnectError", "TimeoutException"}
    )


def _status(error: BaseException) -> int | None:
    response = getattr(error, "response", None)
    status = getattr(response, "status_code", None)
    return status if isinstance(status, int) else None


@dataclass
class _Outcome(Generic[T]):
    value: T | None = None
    error: BaseException | None = None


def _with_deadline(work: Callable[[], T], timeout: float) -> _Outcome[T] | None:
    """Run `work` in a daemon thread; None when it has not finished within `timeout` seconds (the thread is
    left to end on its own: a daemon does not hold up the exit)."""
    outcome: _Outcome[T] = _Outcome()

    def run() -> None:
        try:
            outcome.value = work()
        except Exception as exc:  # reported as a Note by the caller
            outcome.error = exc

    thread = threading.Thread(target=run, name="hub-lookup", daemon=True)
    thread.start()
    thread.join(timeout)
    return None if thread.is_alive() else outcome


def _describe(pin: Pin) -> str:
    how = f"tag {pin.revision!r}" if pin.tag else f"{pin.revision} as of the cut-off"
    return f"{pin.commit[:12]} ({how}, committed {pin.date.date().isoformat()})"


def _caveats(pin: Pin) -> tuple[str, ...]:
    if pin.tag:
        return (
            f"{pin.repo_id}: {pin.revision!r} is a tag; pinned to the commit it names now, committed "
            f"{pin.date.isoformat()}, whatever the cut-off: a tag can have been moved since the entry used it",
        )
    if pin.newer:
        return (f"{pin.repo_id}: {pin.newer} newer commit(s) of {pin.revision} after the cut-off were left out",)
    return ()


# ---- Python sources ---------------------------------------------------------------------------------


@dataclass
class _Target:
    call: Call
    rule: str


def _python_changes(view: EntryView, lookup: Lookup) -> Iterator[Change | Note]:
    local_dirs = set(view.tree.dirs)
    for source in view.python_sources:
        targets: list[_Target] = []
        for call, literal in hub_calls(source, local_dirs):
            problem = revision_problem(call)
            if problem is None:
                if call.revision is not None and call.revision.text is None and literal:
                    yield Note(KIND, source.path, call.line,
                               f"{call.function}({_repo_expr(call)}) takes revision={call.revision.expr}, set at "
                               "run time: left alone")  # fmt: skip
                continue
            if not literal:
                if call.trust_remote_code:  # RA603 reports it: say why it stays
                    yield Note(KIND, source.path, call.line,
                               f"{call.function}({_repo_expr(call)}): the repository is computed at run time; "
                               "pin its revision by hand")  # fmt: skip
                continue
            rule = "RA603" if call.trust_remote_code else ("RA601" if call.revision is None else "RA602")
            targets.append(_Target(call, rule))
        if targets:
            yield from _pin_python_file(view, source.path, targets, lookup)


def _repo_expr(call: Call) -> str:
    return call.repo.expr if call.repo else ""


def _pin_python_file(view: EntryView, path: str, targets: list[_Target], lookup: Lookup) -> Iterator[Change | Note]:
    read = view.tree.read_text(path)
    if read is None:
        return
    text = read.text
    try:
        wrapper = MetadataWrapper(cst.parse_module(text), unsafe_skip_copy=True)
    except cst.ParserSyntaxError:
        for target in targets:
            yield Note(KIND, path, target.call.line, "libcst cannot parse this file: not rewritten")
        return
    finder = _CallFinder()
    wrapper.visit(finder)
    used: set[int] = set()
    for target in targets:
        node = finder.match(target.call, used)
        if node is None:
            yield Note(KIND, path, target.call.line, f"{target.call.function} call not found again: not rewritten")
            continue
        used.add(id(node))
        repo_type = _python_repo_type(target.call.function, node)
        if repo_type is None:
            yield Note(KIND, path, target.call.line,
                       f"{target.call.function}({_repo_expr(target.call)}): repo_type= is not a known literal; "
                       "not rewritten")  # fmt: skip
            continue
        assert target.call.repo is not None and target.call.repo.text is not None
        repo_id = target.call.repo.text.strip()
        revision = target.call.revision.text if target.call.revision is not None else None
        pin = lookup(repo_id, repo_type, revision)
        if isinstance(pin, Unresolved):
            yield Note(KIND, path, target.call.line, pin.message)
            continue
        new_text = wrapper.module.visit(_PinCall(node, pin.commit)).code
        caveats = _caveats(pin)
        if any(arg.star == "**" for arg in node.args):
            caveats += (f"{path}:{target.call.line}: the call also passes **kwargs; they must not hold revision",)
        yield Change(
            kind=KIND,
            summary=f"{target.call.function}({repo_id!r}) in {path}:{target.call.line} pinned to {_describe(pin)}",
            edits=(narrow_edit(path, text, new_text),),
            resolves=(Resolves(target.rule, path, target.call.line),),
            caveats=caveats,
        )


def narrow_edit(path: str, old: str, new: str) -> Edit:
    """The one Edit that turns `old` into `new`: the characters between their common prefix and suffix."""
    start = 0
    limit = min(len(old), len(new))
    while start < limit and old[start] == new[start]:
        start += 1
    end_old, end_new = len(old), len(new)
    while end_old > start and end_new > start and old[end_old - 1] == new[end_new - 1]:
        end_old -= 1
        end_new -= 1
    return Edit(path, start, end_old, new[start:end_new])


class _CallFinder(cst.CSTVisitor):
    """Hub calls of a module with their line, to be matched with the calls `ast` found."""

    METADATA_DEPENDENCIES = (PositionProvider,)

    def __init__(self) -> None:
        self.found: list[tuple[int, str, cst.Call]] = []

    def visit_Call(self, node: cst.Call) -> None:
        name = _function_name(node.func)
        if name in HUB_FUNCTIONS:
            line = self.get_metadata(PositionProvider, node).start.line
            self.found.append((line, name, node))

    def match(self, call: Call, used: set[int]) -> cst.Call | None:
        """The node of `call`: same line and function, and the same repository when it can be read."""
        candidates = [node for line, name, node in self.found if line == call.line and name == call.function]
        candidates = [node for node in candidates if id(node) not in used]
        for node in candidates:
            if call.repo is not None and _repo_matches(node, call):
                return node
        return candidates[0] if len(candidates) == 1 else None


def _function_name(func: cst.BaseExpression) -> str | None:
    if isinstance(func, cst.Attribute):
        return func.attr.value
    if isinstance(func, cst.Name):
        return func.value
    return None


def _keyword(node: cst.Call, name: str) -> cst.Arg | None:
    for arg in node.args:
        if arg.keyword is not None and arg.keyword.value == name:
            return arg
    return None


def _repo_argument(node: cst.Call, function: str) -> cst.BaseExpression | None:
    """The node `audit.views.python` takes as the repository, found the same way."""
    if function == "pipeline":
        model = _keyword(node, "model")
        if model is not None:
            return model.value
        positional = [arg for arg in node.args if arg.keyword is None and not arg.star]
        return positional[1].value if len(positional) >= 2 else None
    for key in REPO_KEYWORDS:
        found = _keyword(node, key)
        if found is not None:
            return found.value
    if node.args and node.args[0].keyword is None and not node.args[0].star:
        return node.args[0].value
    return None


def _repo_matches(node: cst.Call, call: Call) -> bool:
    assert call.repo is not None
    value = _repo_argument(node, call.function)
    if isinstance(value, (cst.SimpleString, cst.ConcatenatedString)):
        return value.evaluated_value == call.repo.text
    if isinstance(value, cst.Name):
        return value.value == call.repo.expr
    return False


def _python_repo_type(function: str, node: cst.Call) -> str | None:
    if function in DATASET_FUNCTIONS:
        return "dataset"
    given = _keyword(node, "repo_type")
    if given is None or (isinstance(given.value, cst.Name) and given.value.value == "None"):
        return "model"
    if isinstance(given.value, cst.SimpleString):
        value = given.value.evaluated_value
        if isinstance(value, str) and value in REPO_TYPES:
            return value
    return None


class _PinCall(cst.CSTTransformer):
    """Gives one call `revision="<commit>"`: its revision's value replaced, or a new last argument laid out
    like the arguments before it."""

    def __init__(self, target: cst.Call, commit: str) -> None:
        super().__init__()
        self.target = target
        self.commit = commit

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.Call:
        if original_node is not self.target:
            return updated_node
        quote = _quote_of(updated_node)
        literal = cst.SimpleString(f"{quote}{self.commit}{quote}")
        args = list(updated_node.args)
        for index, arg in enumerate(args):
            if arg.keyword is not None and arg.keyword.value == "revision":
                value = arg.value
                if isinstance(value, cst.SimpleString):
                    literal = cst.SimpleString(f"{value.quote}{self.commit}{value.quote}")
                args[index] = arg.with_changes(value=literal)
                return updated_node.with_changes(args=args)
        return updated_node.with_changes(args=_append(updated_node, args, literal))


def _quote_of(node: cst.Call) -> str:
    for arg in node.args:
        if isinstance(arg.value, cst.SimpleString):
            return arg.value.quote if arg.value.quote in ("'", '"') else '"'
    return '"'


def _append(node: cst.Call, args: list[cst.Arg], literal: cst.SimpleString) -> list[cst.Arg]:
    new = cst.Arg(value=literal, keyword=cst.Name("revision"), equal=cst.AssignEqual(
        whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace("")))  # fmt: skip
    if not args:
        return [new]
    last = args[-1]
    indent = _argument_indent(node, args)
    if isinstance(last.comma, cst.Comma):
        after = last.comma.whitespace_after
        if isinstance(after, cst.ParenthesizedWhitespace):
            # one argument per line with a trailing comma: the new one goes on its own line, the comma and
            # comment of the old last line stay where they were, the closing parenthesis keeps its indent
            args[-1] = last.with_changes(comma=last.comma.with_changes(whitespace_after=after.with_changes(
                last_line=indent)))  # fmt: skip
            trailing = cst.Comma(whitespace_after=cst.ParenthesizedWhitespace(
                first_line=cst.TrailingWhitespace(), indent=True, last_line=after.last_line))  # fmt: skip
            return [*args, new.with_changes(comma=trailing)]
        args[-1] = last.with_changes(comma=last.comma.with_changes(whitespace_after=cst.SimpleWhitespace(" ")))
        return [*args, new.with_changes(comma=cst.Comma(whitespace_after=after))]
    before_paren = last.whitespace_after_arg
    if isinstance(before_paren, cst.ParenthesizedWhitespace):
        # the closing parenthesis on its own line, no trailing comma: keep it so
        comma = cst.Comma(whitespace_after=cst.ParenthesizedWhitespace(
            first_line=cst.TrailingWhitespace(), indent=True, last_line=indent))  # fmt: skip
        args[-1] = last.with_changes(comma=comma, whitespace_after_arg=cst.SimpleWhitespace(""))
        return [*args, new.with_changes(whitespace_after_arg=before_paren)]
    args[-1] = last.with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")),
                                 whitespace_after_arg=cst.SimpleWhitespace(""))  # fmt: skip
    return [*args, new.with_changes(whitespace_after_arg=before_paren)]


def _argument_indent(node: cst.Call, args: Sequence[cst.Arg]) -> cst.SimpleWhitespace:
    """The indentation the arguments of a multi-line call have (relative to the enclosing block)."""
    for arg in reversed(args[:-1]):
        if isinstance(arg.comma, cst.Comma) and isinstance(arg.comma.whitespace_after, cst.ParenthesizedWhitespace):
            return arg.comma.whitespace_after.last_line
    if isinstance(node.whitespace_before_args, cst.ParenthesizedWhitespace):
        return node.whitespace_before_args.last_line
    return cst.SimpleWhitespace("    ")


# ---- shell: Dockerfiles and scripts -------------------------------------------------------------------


def _dockerfile_changes(view: EntryView, lookup: Lookup) -> Iterator[Change | Note]:
    seen: set[str] = set()
    for target, dockerfile in view.dockerfiles():
        path = target.target.dockerfile
        read = view.tree.read_text(path)
        if path in seen or read is None:
            continue
        seen.add(path)
        source = SourceText(path, read.text)
        for step in dockerfile.runs():
            for cmd in step.commands:
                download = cli_download(cmd)
                if download is None or _pinned(download[1]):
                    continue
                line = step.instruction.line_of(download[0])
                span = source.command_span(step.instruction, cmd)
                spans = _word_spans(source, cmd.argv, span) if span is not None else None
                yield from _download_change(source, cmd, spans, line, Resolves("RA405", path, line), lookup)
            for snippet in step.python:
                for call, _problem in unpinned_hub_calls(parse_python(path, snippet.code)):
                    line = snippet.line + call.line - 1 if snippet.how == "python heredoc" else snippet.line
                    yield Note(KIND, path, line,
                               f"{snippet.how} calls {call.function}({_repo_expr(call)}) inside a RUN: not rewritten; "
                               'add revision="<commit>" by hand')  # fmt: skip
        yield from _clone_changes(source, dockerfile, lookup)


def _pinned(revision: str | None) -> bool:
    return revision is not None and ("$" in revision or COMMIT.match(revision) is not None)


def _script_changes(view: EntryView, lookup: Lookup) -> Iterator[Change | Note]:
    for path in sorted(view.tree.files):
        if not path.endswith(".sh") or view.config.path_ignored(path):
            continue
        read = view.tree.read_text(path)
        if read is None:
            continue
        source = SourceText(path, read.text)
        lines = read.text.splitlines()
        first = 0
        while first < len(lines):
            last = first
            while lines[last].endswith("\\") and last + 1 < len(lines):
                last += 1  # a continued line: one command over several lines
            span = source.lines_span(first + 1, last + 1)
            comment = lines[first].lstrip().startswith("#")
            first = last + 1
            if comment:
                continue
            cursor = span.start
            for cmd in split_commands(source.text[span.start : span.end]):
                spans = _word_spans(source, cmd.argv, Span(cursor, span.end))
                if spans is not None:
                    cursor = spans[-1].end
                download = cli_download(cmd)
                if download is None or _pinned(download[1]):
                    continue
                line = source.line_of(spans[0].start) if spans else source.line_of(span.start)
                yield from _download_change(source, cmd, spans, line, None, lookup)


def _word_spans(source: SourceText, argv: list[str], within: Span) -> list[Span] | None:
    """Where each word of `argv` is, found one after the other inside `within`."""
    spans: list[Span] = []
    cursor = within.start
    for word in argv:
        found = source.word_span(word, Span(cursor, within.end))
        if found is None:
            return None
        spans.append(found)
        cursor = found.end
    return spans


def _download_change(
    source: SourceText,
    cmd: SimpleCommand,
    spans: list[Span] | None,
    line: int,
    resolves: Resolves | None,
    lookup: Lookup,
) -> Iterator[Change | Note]:
    repo, revision = cli_download(cmd) or ("?", None)
    what = f"{cmd.program} download {repo}"
    if repo.startswith("hf://") or not is_hub_repo(repo) or "$" in repo:
        yield Note(KIND, source.path, line, f"{what}: the repository is not a literal Hub id; not rewritten")
        return
    if spans is None:
        yield Note(KIND, source.path, line, f"{what}: the command was not found in the text; not rewritten")
        return
    repo_type = _option_value(cmd.argv, "--repo-type") or "model"
    if repo_type not in REPO_TYPES:
        yield Note(KIND, source.path, line, f"{what}: --repo-type {repo_type} is not model, dataset or space")
        return
    pin = lookup(repo, repo_type, revision)
    if isinstance(pin, Unresolved):
        yield Note(KIND, source.path, line, pin.message)
        return
    argv = cmd.argv
    if revision is None:
        at = spans[_repo_index(argv, repo)].end
        edit = Edit(source.path, at, at, f" --revision {pin.commit}")
    else:
        index = next(i for i, word in enumerate(argv) if word == "--revision" or word.startswith("--revision="))
        if argv[index] == "--revision":
            edit = Edit(source.path, spans[index + 1].start, spans[index + 1].end, pin.commit)
        else:
            edit = Edit(source.path, spans[index].start, spans[index].end, f"--revision={pin.commit}")
    yield Change(
        kind=KIND,
        summary=f"{what} in {source.path}:{line} pinned to {_describe(pin)}",
        edits=(edit,),
        resolves=(resolves,) if resolves is not None else (),
        caveats=_caveats(pin),
    )


def _option_value(argv: list[str], option: str) -> str | None:
    for index, word in enumerate(argv):
        if word == option and index + 1 < len(argv):
            return argv[index + 1]
        if word.startswith(option + "="):
            return word.split("=", 1)[1]
    return None


def _repo_index(argv: list[str], repo: str) -> int:
    """The index of the repository word: the first `repo` that is not the value of an option."""
    takes_value = DOWNLOAD_VALUE_OPTIONS | DOWNLOAD_LIST_OPTIONS | {"--revision"}
    for index in range(2, len(argv)):
        if argv[index] == repo and argv[index - 1] not in takes_value:
            return index
    return argv.index(repo, 2)


def _clone_changes(source: SourceText, dockerfile: DockerfileView, lookup: Lookup) -> Iterator[Change | Note]:
    for clone in clones(dockerfile):
        if "huggingface.co" not in clone.url or clone.pinned:
            continue
        line = clone.step.instruction.line_of(clone.url)
        resolves = Resolves("RA405", source.path, line)
        parsed = _hub_clone_url(clone.url)
        if parsed is None:
            yield Note(KIND, source.path, line, "git clone of a Hub URL that names no repository: not rewritten")
            continue
        repo_type, repo_id = parsed
        span = source.command_span(clone.step.instruction, clone.command)
        spans = _word_spans(source, clone.command.argv, span) if span is not None else None
        if spans is None:
            yield Note(KIND, source.path, line, f"git clone of {repo_id}: the command was not found in the text")
            continue
        pin = lookup(repo_id, repo_type, clone.branch)
        if isinstance(pin, Unresolved):
            yield Note(KIND, source.path, line, pin.message)
            continue
        argv = clone.command.argv
        positional = _clone_positionals(argv)
        url_index = positional[0]
        end = spans[-1].end
        edits: tuple[Edit, ...]
        if len(positional) > 1:
            folder_span = spans[positional[1]]
            folder = source.text[folder_span.start : folder_span.end]  # as written: quotes and $VARS kept
            edits = (Edit(source.path, end, end, f" && git -C {folder} checkout {pin.commit}"),)
        else:
            folder = shlex.quote(clone.folder)
            checkout = f" && git -C {folder} checkout {pin.commit}"
            at = spans[url_index].end
            if at == end:
                edits = (Edit(source.path, at, at, f" {folder}{checkout}"),)
            else:
                edits = (Edit(source.path, at, at, f" {folder}"), Edit(source.path, end, end, checkout))
        caveats = _caveats(pin)
        if any(word == "--depth" or word.startswith(("--depth=", "--shallow")) for word in argv):
            caveats += (
                f"{source.path}:{line}: the clone is shallow; checking out {pin.commit[:12]} needs its history: "
                "drop --depth",
            )
        yield Change(
            kind=KIND,
            summary=f"git clone of {repo_id} in {source.path}:{line} checked out at {_describe(pin)}",
            edits=edits,
            resolves=(resolves,),
            caveats=caveats,
        )


def _clone_positionals(argv: list[str]) -> list[int]:
    """Indexes of the URL and the folder of `git clone`, option values skipped."""
    start = argv.index("clone") + 1
    found: list[int] = []
    skip = False
    for index in range(start, len(argv)):
        word = argv[index]
        if skip:
            skip = False
        elif word in GIT_VALUE_OPTIONS:
            skip = True
        elif not word.startswith("-"):
            found.append(index)
    return found


def _hub_clone_url(url: str) -> tuple[str, str] | None:
    """(repo type, repo id) of a Hub git URL; the URL's credentials, if any, are dropped."""
    parts = urlsplit(url)
    if not HUB_HOST.search(parts.hostname or ""):
        return None
    names = [name for name in parts.path.split("/") if name]
    repo_type = "model"
    if names and names[0] in ("datasets", "spaces"):
        repo_type, names = names[0][:-1], names[1:]
    if not names or len(names) > 2:
        return None
    names[-1] = names[-1].removesuffix(".git")
    repo_id = "/".join(names)
    return (repo_type, repo_id) if is_hub_repo(repo_id) else None
