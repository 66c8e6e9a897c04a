"""Calls in Python sources that fetch models and data or open host files, read with `ast`.

A call is recorded with its function name (the last attribute: `AutoModel.from_pretrained` ->
`from_pretrained`), the literal value of its first argument / `repo_id` / model keyword when it is a
string (module-level string constants are followed one step), its `revision` and
`trust_remote_code` keywords, and the literal text of its arguments for path checks (an f-string
by its leading constant text: `/home/me/` for `f"/home/me/{x}"`). Files that
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
        # an f-string without placeholders is a literal; any other is known only by its prefix (_path_literals)
        constant = all(isinstance(v, ast.Constant) for v in node.values)
        return Value(_fstring_prefix(node) if constant else None, ast.unparse(node))
    return Value(None, ast.unparse(node))


def _fstring_prefix(node: ast.JoinedStr) -> str:
    """The constant text an f-string starts with: `/home/me/` for f"/home/me/{x}", "" for f"{root}/x"."""
    prefix = []
    for part in node.values:
        if not (isinstance(part, ast.Constant) and isinstance(part.value, str)):
            break
        prefix.append(part.value)
    return "".join(prefix)


def _path_literals(node: ast.expr, constants: dict[str, str], nested: bool) -> list[str]:
    """What an argument holds that could be a path: its literal text, or the prefix of an f-string.

    With `nested`, string literals anywhere inside the argument count too (`data_files=["/data/a.json"]`),
    except the constant parts of an f-string after a placeholder, which start no path.
    """
    if isinstance(node, ast.JoinedStr):
        prefix = _fstring_prefix(node)
        return [prefix] if prefix else []
    text = _value(node, constants).text
    if text or not nested:
        return [text] if text else []
    inside_fstrings = {id(part) for n in ast.walk(node) if isinstance(n, ast.JoinedStr) for part in n.values}
    found = []
    for element in ast.walk(node):
        if isinstance(element, ast.JoinedStr):
            found.append(_fstring_prefix(element))
        elif (
            isinstance(element, ast.Constant) and isinstance(element.value, str) and id(element) not in inside_fstrings
        ):
            found.append(element.value)
    return [literal for literal in found if literal]


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
        strings.extend((f"#{position}", literal) for literal in _path_literals(arg, constants, nested=False))
    for key, value in keywords.items():
        nested = isinstance(value, (ast.List, ast.Tuple, ast.Dict))
        strings.extend((key, literal) for literal in _path_literals(value, constants, nested=nested))
    return Call(
        function=function or "",
        line=node.lineno,
        repo=_value(repo_node, constants) if repo_node is not None else None,
        revision=_value(revision, constants) if revision is not None else None,
        trust_remote_code=trust,
        strings=tuple(strings),
    )
