"""How firmly a dependency is pinned: one grading shared by `RUN` installs and requirement files.

Specifiers are read with `packaging` (PEP 440 / PEP 508); pip's requirement-file syntax (options,
continuation lines, `--hash`, `-r`/`-c`, `-e`) with pip-requirements-parser, fed with text we already
decoded through `EntryTree` so nothing outside the entry is opened. Conda match specs are graded by
their own rules (`numpy=1.26` is a prefix match, `numpy==1.26.4` or `numpy=1.26.4=build` is exact), and
`conda install --file` lists line by line.
"""

from __future__ import annotations

import enum
import ipaddress
import re
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import pip_requirements_parser as pip_req
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import Specifier

COMMIT = re.compile(r"^[0-9a-fA-F]{40}$")  # pip takes any 40 hex digits as a commit
VCS_SCHEMES = ("git+", "hg+", "svn+", "bzr+")
LOCAL_PREFIXES = ("./", "../", "/", "~", "file:")
ARCHIVE_SUFFIXES = (".whl", ".tar.gz", ".tgz", ".zip", ".tar.bz2", ".tar.xz")


class Pin(enum.Enum):
    """Grades from best to worst; `pinned` ones never produce an unpinned-dependency finding."""

    HASHED = "exact pin with hashes"
    EXACT = "exact pin"
    VCS_COMMIT = "VCS reference at a commit"
    LOCAL = "local path"
    URL_HASHED = "archive URL with a hash"
    BOUNDED = "range with an upper bound"
    WILDCARD = "wildcard version"
    URL = "archive URL without a hash"
    LOWER_BOUND = "open-ended range"
    BARE = "no version at all"
    VCS_MUTABLE = "VCS reference without a commit"
    INVALID = "not a valid requirement"

    @property
    def pinned(self) -> bool:
        return self in (Pin.HASHED, Pin.EXACT, Pin.VCS_COMMIT, Pin.LOCAL, Pin.URL_HASHED)

    @property
    def floating(self) -> bool:
        """Nothing stops the next release from being installed: the worst case."""
        return self in (Pin.LOWER_BOUND, Pin.BARE, Pin.VCS_MUTABLE)


@dataclass(frozen=True)
class Graded:
    text: str
    name: str | None
    pin: Pin
    ref: str | None = None  # VCS ref, when there is one
    path: str | None = None  # local path, when there is one
    editable: bool = False


def grade_pip(text: str, hashed: bool = False, editable: bool = False) -> Graded:
    """Grade one pip requirement as written on a command line or a requirement-file line."""
    spec = text.strip()
    if editable or spec.startswith(LOCAL_PREFIXES) or spec in (".", "..") or _looks_like_local_archive(spec):
        if spec.startswith(VCS_SCHEMES):
            return _grade_vcs(spec, None, editable=True)
        return Graded(spec, None, Pin.LOCAL, path=spec.removeprefix("file://"), editable=editable)
    if spec.startswith(VCS_SCHEMES):
        return _grade_vcs(spec, None)
    if re.match(r"^[a-z]+://", spec):
        return _grade_url(spec, None, hashed)
    try:
        req = Requirement(spec)
    except InvalidRequirement:
        return Graded(spec, None, Pin.INVALID)
    if req.url:
        if req.url.startswith(VCS_SCHEMES):
            return _grade_vcs(req.url, req.name)
        if req.url.startswith("file:"):
            return Graded(spec, req.name, Pin.LOCAL, path=req.url.removeprefix("file://"))
        return _grade_url(req.url, req.name, hashed)
    return Graded(spec, req.name, _grade_specifiers(list(req.specifier), hashed))


def _grade_specifiers(specifiers: list[Specifier], hashed: bool) -> Pin:
    if not specifiers:
        return Pin.BARE
    exact = [s for s in specifiers if s.operator in ("==", "===") and not s.version.endswith(".*")]
    if exact:
        return Pin.HASHED if hashed else Pin.EXACT
    if any(s.operator == "==" for s in specifiers):
        return Pin.WILDCARD
    has_upper = any(s.operator in ("<", "<=", "~=") for s in specifiers)
    return Pin.BOUNDED if has_upper else Pin.LOWER_BOUND


def _grade_vcs(url: str, name: str | None, editable: bool = False) -> Graded:
    location = url.split("#", 1)[0]
    path = urlsplit(location.split("+", 1)[1] if "+" in location else location).path
    ref = path.rsplit("@", 1)[1] if "@" in path else None
    pin = Pin.VCS_COMMIT if ref and COMMIT.match(ref) else Pin.VCS_MUTABLE
    return Graded(url, name, pin, ref=ref, editable=editable)


def _grade_url(url: str, name: str | None, hashed: bool) -> Graded:
    has_hash = hashed or re.search(r"#(sha256|sha384|sha512|md5)=", url) is not None
    return Graded(url, name, Pin.URL_HASHED if has_hash else Pin.URL)


def _looks_like_local_archive(spec: str) -> bool:
    return "://" not in spec and " " not in spec and spec.endswith(ARCHIVE_SUFFIXES) and "@" not in spec


CONDA_NAME = re.compile(r"^(?P<name>[A-Za-z0-9_][A-Za-z0-9_.\-]*)(?P<rest>(?:[\s=<>!~\[].*)?)$")
CONDA_VERSION = re.compile(r"^[A-Za-z0-9_.*+!]+$")
CONDA_OPERATORS = ("==", "!=", ">=", "<=", "~=", ">", "<", "=")
CONDA_BUILD_SEPARATOR = re.compile(r"(?<=[^=<>!~,|])=(?=[^=<>!~,|])")  # "1.2.3=py311_0", not ">=1.2"
CONDA_KEY_VALUE = re.compile(r"(\w+)\s*=\s*(?:'([^']*)'|\"([^\"]*)\"|([^,\]]*))")
CONDA_PACKAGE_FILE = re.compile(r"[^/]+-[^-/]+-[^-/]+\.(conda|tar\.bz2)$")
CONDA_FILE_HASH = re.compile(r"#(?:[0-9a-fA-F]{32}|(?:sha256:)?[0-9a-fA-F]{64})$")


def grade_conda(text: str) -> Graded:
    """Grade a conda match spec as conda's `MatchSpec` reads it.

    `pkg`: no version. `pkg=1.26`: a fuzzy prefix (1.26.*). `pkg==1.26.4`, `pkg 1.26.4`, `pkg=1.26.4=build`,
    `pkg==1.26.4=build`, `pkg 1.26.4 build`: exact. `pkg 1.26.*`, `pkg==1.26.*`: wildcards. `pkg>=1.2`: open.
    `pkg>=1.2,<2`: bounded. `channel::pkg` and `pkg[version='>=1.2']` grade as their version. A package
    URL names one build: exact (hashed with `#<md5>`). Written by hand: conda's own parser is not on PyPI.
    """
    spec = text.strip().strip("\"'").strip()
    if "://" in spec or spec.endswith((".conda", ".tar.bz2")) or CONDA_FILE_HASH.search(spec):
        return _grade_conda_package_file(spec)
    match = CONDA_NAME.match(spec.rsplit("::", 1)[-1])  # channel::pkg, channel/subdir::pkg
    if not match:
        return Graded(spec, None, Pin.INVALID)
    name, rest = match.group("name"), match.group("rest").strip()
    bracket_version = None
    if "[" in rest:
        rest, _, brackets = rest.partition("[")
        if not brackets.rstrip().endswith("]"):
            return Graded(spec, name, Pin.INVALID)
        for key, single, double, bare in CONDA_KEY_VALUE.findall(brackets):
            if key == "version":
                bracket_version = (single or double or bare).strip()
    pin = _conda_version_and_build(rest.strip())
    if bracket_version is not None and pin is not Pin.INVALID:
        pin = _conda_version_and_build(bracket_version)  # the bracket overrides the positional version
    return Graded(spec, name, pin)


def _conda_version_and_build(rest: str) -> Pin:
    words = re.sub(r"(?<=[<>=!~,|])\s+|\s+(?=[,|])", "", rest).split()  # ">= 1.0 , < 2" -> ">=1.0,<2"
    if len(words) > 2:
        return Pin.INVALID
    version = words[0] if words else ""
    build = words[1] if len(words) > 1 else None
    if build is None and (separator := CONDA_BUILD_SEPARATOR.search(version)):
        version, build = version[: separator.start()], version[separator.end() :]
    if version.startswith("=") and not version.startswith("==") and not any(c in version for c in ",|"):
        # "=1.26" is the prefix 1.26.*; with a build string ("=1.26.4=py311_0") it is the version itself
        body = version[1:]
        if build is None:
            prefix = _conda_version(body)
            return Pin.WILDCARD if prefix is Pin.EXACT else prefix
        version = body
    return _conda_version(version)


def _conda_version(version: str) -> Pin:
    """A conda version spec: `|` alternatives of `,`-joined constraints."""
    version = version.replace("(", "").replace(")", "")
    if version in ("", "*"):
        return Pin.BARE
    pins = [_conda_constraints(alternative) for alternative in version.split("|")]
    if Pin.INVALID in pins:
        return Pin.INVALID
    if len(pins) == 1:
        return pins[0]
    return Pin.LOWER_BOUND if any(p.floating for p in pins) else Pin.BOUNDED  # one of a few versions


def _conda_constraints(group: str) -> Pin:
    exact = wildcard = upper = lower = False
    for constraint in group.split(","):
        operator = next((op for op in CONDA_OPERATORS if constraint.startswith(op)), "")
        value = constraint[len(operator) :]
        if not CONDA_VERSION.match(value):
            return Pin.INVALID
        star = "*" in value
        if operator in ("", "==") and value != "*":
            wildcard |= star
            exact |= not star
        elif operator == "=":
            wildcard |= value != "*"
        elif operator in ("<", "<="):
            upper = True
        elif operator == "~=":
            upper = lower = True
        elif operator in (">", ">=", "!="):
            lower = True
    if exact:
        return Pin.EXACT
    if wildcard:
        return Pin.WILDCARD
    if upper:
        return Pin.BOUNDED
    return Pin.LOWER_BOUND if lower else Pin.BARE


def _grade_conda_package_file(spec: str) -> Graded:
    """An explicit package (`conda list --explicit`): a URL or path naming one build of one version."""
    location = CONDA_FILE_HASH.sub("", spec)
    file_name = location.rstrip("/").rsplit("/", 1)[-1]
    if not CONDA_PACKAGE_FILE.search(file_name):
        return Graded(spec, None, Pin.INVALID)
    name = file_name.rsplit("-", 2)[0]
    if "://" not in location or location.startswith("file:"):
        return Graded(spec, name, Pin.LOCAL, path=location.removeprefix("file://"))
    return Graded(spec, name, Pin.URL_HASHED if CONDA_FILE_HASH.search(spec) else Pin.EXACT)


def index_problem(url: str) -> str | None:
    """Why an index URL would not be reachable or trustworthy from the organizers' machines."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme == "http":
        return f"plain-http index {host or url}: packages can be swapped in transit and pip refuses it by default"
    if not host:
        return None
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is not None and (address.is_private or address.is_loopback or address.is_link_local):
        return f"index on a private address {host}: unreachable from any other machine"
    if host == "localhost" or "." not in host or host.endswith((".local", ".internal", ".lan", ".corp")):
        return f"index on a local host name {host}: unreachable from any other machine"
    return None


# ---- requirement files ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RequirementLine:
    line: int
    graded: Graded
    hashes: int


@dataclass(frozen=True)
class OptionLine:
    line: int
    name: str  # "requirements", "constraints", "index_url", "extra_index_urls", "find_links", ...
    values: tuple[str, ...]


@dataclass(frozen=True)
class InvalidLine:
    line: int
    message: str


@dataclass
class RequirementFile:
    path: str
    requirements: list[RequirementLine]
    options: list[OptionLine]
    invalid: list[InvalidLine]

    def nested(self) -> Iterator[tuple[OptionLine, str]]:
        for option in self.options:
            if option.name in ("requirements", "constraints"):
                for value in option.values:
                    yield option, value


class _TextParser(pip_req.RequirementsFileParser):  # type: ignore[misc]
    """pip's requirement-file line parser, reading text we already decoded instead of opening files."""

    def __init__(self, text: str) -> None:
        super().__init__(pip_req.get_line_parser())
        self._text = text
        self._plain_options: object = None

    def _parse_line(self, line: str) -> tuple[str, object, list[str]]:
        # pip builds a whole optparse parser for every line; a line with no option gives the same
        # defaults each time, so parse one such line once and reuse its (unmodified) defaults.
        if line.lstrip().startswith("-") or " -" in line or "\t-" in line:
            result: tuple[str, object, list[str]] = self._line_parser(line)
            return result
        if self._plain_options is None:
            self._plain_options = self._line_parser("placeholder")[1]
        return line.strip(), self._plain_options, []

    def _parse_file(self, filename: str, is_constraint: bool) -> Iterator[object]:
        for numbered in pip_req.preprocess(self._text):
            number, line = numbered
            if isinstance(numbered, pip_req.CommentLine):
                continue
            where = pip_req.RequirementLine(line=line, line_number=number, filename=filename)
            try:
                requirement, options, arguments = self._parse_line(line)
            except BaseException as exc:  # pip's optparse raises SystemExit on bad options
                yield pip_req.InvalidRequirementLine(requirement_line=where, error_message=str(exc) or line)
                continue
            yield pip_req.ParsedLine(
                requirement_string=requirement,
                options=options,
                is_constraint=is_constraint,
                requirement_line=where,
                arguments=arguments,
            )


def parse_requirement_file(path: str, text: str) -> RequirementFile:
    result = RequirementFile(path, [], [], [])
    for parsed in _TextParser(text).parse(filename=path, is_constraint=False, include_nested=False):
        if isinstance(parsed, pip_req.InvalidRequirementLine):
            result.invalid.append(InvalidLine(parsed.requirement_line.line_number, parsed.error_message))
            continue
        try:
            handled = list(pip_req.handle_line(parsed_line=parsed))
        except Exception as exc:  # a line pip itself would reject
            result.invalid.append(InvalidLine(parsed.requirement_line.line_number, str(exc) or "invalid line"))
            continue
        for item in handled:
            if item is None:
                continue
            number = item.requirement_line.line_number
            if isinstance(item, pip_req.OptionLine):
                for name, value in item.options.items():
                    values = tuple(value) if isinstance(value, list) else (str(value),)
                    result.options.append(OptionLine(number, name, values))
            elif isinstance(item, pip_req.InvalidRequirementLine):
                result.invalid.append(InvalidLine(number, item.error_message))
            else:
                hashes = len((item.options or {}).get("hashes", []) or [])
                graded = grade_pip(item.requirement_string, hashed=hashes > 0, editable=item.is_editable)
                if graded.pin is Pin.INVALID:
                    result.invalid.append(InvalidLine(number, f"pip cannot read {graded.text!r}"))
                else:
                    result.requirements.append(RequirementLine(number, graded, hashes))
    return result


def parse_conda_file(path: str, text: str) -> RequirementFile:
    """A `conda install --file` list: one match spec per line, `#` comments, and after `@EXPLICIT`
    package URLs (`conda list --explicit`). Lines are graded by `grade_conda`, like environment.yml.

    conda's own reader rewrites `pkg=1.26` in such a file to `pkg 1.26` (exactly 1.26.0, conda/conda#8635),
    which is not what anyone writing it means; the documented match-spec meaning (a prefix) is graded.
    """
    result = RequirementFile(path, [], [], [])
    explicit = False
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line == "@EXPLICIT":
            explicit = True
            continue
        spec = line if explicit else line.split("#", 1)[0].strip()  # explicit URLs carry "#<md5>"
        graded = grade_conda(spec)
        if graded.pin is Pin.INVALID:
            result.invalid.append(InvalidLine(number, f"conda cannot read {spec!r}"))
        else:
            result.requirements.append(RequirementLine(number, graded, 0))
    return result
