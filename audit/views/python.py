"""Calls in Python sources that fetch models and data or open host files, read with `ast`.

A call is recorded with its function name (the last attribute: `AutoModel.from_pretrained` ->
`from_pretrained`), the literal value of its first argument / `repo_id` / model keyword when it is a
string (module-level string constants are followed one step), its `revision` and
`trust_remote_code` keywords, and every absolute path literal among its arguments. Files that
neither call a Hub loader nor hold a host-path literal are not parsed at all: a regular-expression
search is far cheaper than `ast.parse`.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

HUB_FUNCTIONS = frozenset({"from_pretrained", "snapshot_download", "hf_hub_download", "load_dataset", "pipeline"})
PATH_FUNCTIONS = frozenset({"open", "from_pretrained", "load_dataset", "load_from_disk", "read_csv", "read_json"})
HUB_CALL = re.compile(r"\b(from_pretrained|snapshot_download|hf_hub_download|load_dataset|pipeline)\s*\(")
HOST_PATH_LITERAL = re.compile(r"[\"'](/home/|/Users/|/data|/scratch|/mnt/|[A-Za-z]:\\\\)")
REPO_KEYWORDS = ("pretrained_model_name_or_path", "repo_id", "path", "model")


@dataclass(frozen=True)
class Value:
    """A literal argument: its text, or None when it is not a literal (then `expr` shows the code)."""

    text: str | None
    expr: str


@dataclass(frozen=True)
class Call:
    function: str
    line: int
    repo: Value | None  # the model / dataset / repo argument
    revision: Value | None
    trust_remote_code: bool
    strings: tuple[tuple[str, str], ...] = ()  # (argument name or "#n", literal) for path checks


@dataclass
class PythonView:
    path: str
    calls: list[Call] = field(default_factory=list)
    syntax_error: tuple[int, str] | None = None


def parse_python(path: str, text: str) -> PythonView:
    view = PythonView(path)
    if not (HUB_CALL.search(text) or HOST_PATH_LITERAL.search(text)):
        return view  # nothing any rule looks for: skip the parse, by far the costliest step
    try:
        module = ast.parse(text, filename=path)
    except (SyntaxError, ValueError) as exc:
        line = getattr(exc, "lineno", None) or 1
        view.syntax_error = (line, getattr(exc, "msg", None) or str(exc))
        return view
    constants = _module_constants(module)
    for node in ast.walk(module):
        if isinstance(node, ast.Call):
            call = _call(node, constants)
            if call is not None:
                view.calls.append(call)
    view.calls.sort(key=lambda c: c.line)
    return view


def _module_constants(module: ast.Module) -> dict[str, str]:
    found: dict[str, str] = {}
    for stmt in module.body:
        if isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str):
            for target in stmt.targets:
                if isinstance(target, ast.Name):
                    found[target.id] = stmt.value.value
    return found


def _name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return None


def _value(node: ast.expr, constants: dict[str, str]) -> Value:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return Value(node.value, ast.unparse(node))
    if isinstance(node, ast.Name) and node.id in constants:
        return Value(constants[node.id], node.id)
    if isinstance(node, ast.JoinedStr):
        # f"/home/me/{x}": keep the literal prefix, enough to see a host path
        prefix = "".join(v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str))
        return Value(None if len(node.values) > 1 else prefix, ast.unparse(node))
    return Value(None, ast.unparse(node))


def _call(node: ast.Call, constants: dict[str, str]) -> Call | None:
    function = _name(node.func)
    if function not in HUB_FUNCTIONS and function not in PATH_FUNCTIONS:
        return None
    keywords = {kw.arg: kw.value for kw in node.keywords if kw.arg}
    repo_node: ast.expr | None = None
    if function == "pipeline":
        repo_node = keywords.get("model")
        if repo_node is None and len(node.args) >= 2:
            repo_node = node.args[1]
    else:
        for key in REPO_KEYWORDS:
            if key in keywords:
                repo_node = keywords[key]
                break
        if repo_node is None and node.args and not isinstance(node.args[0], ast.Starred):
            repo_node = node.args[0]
    revision = keywords.get("revision")
    remote = keywords.get("trust_remote_code")
    trust = isinstance(remote, ast.Constant) and remote.value is True
    strings: list[tuple[str, str]] = []
    for position, arg in enumerate(node.args):
        literal = _value(arg, constants)
        if literal.text:
            strings.append((f"#{position}", literal.text))
        elif isinstance(arg, ast.JoinedStr):
            strings.append((f"#{position}", _value(arg, constants).expr))
    for key, value in keywords.items():
        literal = _value(value, constants)
        if literal.text:
            strings.append((key, literal.text))
        elif isinstance(value, (ast.List, ast.Tuple, ast.Dict)):
            for element in ast.walk(value):
                if isinstance(element, ast.Constant) and isinstance(element.value, str):
                    strings.append((key, element.value))
    return Call(
        function=function or "",
        line=node.lineno,
        repo=_value(repo_node, constants) if repo_node is not None else None,
        revision=_value(revision, constants) if revision is not None else None,
        trust_remote_code=trust,
        strings=tuple(strings),
    )
