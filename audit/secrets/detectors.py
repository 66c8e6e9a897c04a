"""Our detect-secrets plugins: the credentials ML submissions leak that detect-secrets has no detector for.

They are ordinary detect-secrets plugins (`RegexBasedDetector` subclasses), so detect-secrets' own scan
can load them too (`detect-secrets scan --plugin audit/secrets/detectors.py`). Each pattern is bounded
on both sides, so a longer identifier that merely contains a token-shaped run is not a token, while a
token right after a JSON escape (`"\\nhf_..."` in a notebook's raw text) or a percent-escape still is.

The last three mend detect-secrets' own plugins whose reported secret is not the whole token (so all
tokens of a kind could share one fingerprint, and redaction left the rest of the token readable):
the GitHub and GitLab patterns capture the token's prefix, which `RegexBasedDetector` then reports as
the secret (Yelp/detect-secrets#858): every GitHub token came out as `ghp`, and a `glcbt-` token
without a partition id not at all; the JWT pattern ends lazily, so it reported `header.payload.`
without the signature. They keep the upstream names and secret types, so a detect-secrets that loads
this file uses them in place of its own.
"""

from __future__ import annotations

import re
from collections.abc import Generator
from typing import Any

from detect_secrets.core.potential_secret import PotentialSecret
from detect_secrets.plugins.base import RegexBasedDetector
from detect_secrets.plugins.github_token import GitHubTokenDetector as _UpstreamGitHubTokenDetector
from detect_secrets.plugins.gitlab_token import GitLabTokenDetector as _UpstreamGitLabTokenDetector
from detect_secrets.plugins.jwt import JwtTokenDetector as _UpstreamJwtTokenDetector
from detect_secrets.util.code_snippet import CodeSnippet

# Before a token: not a word character, unless that character ends a JSON or percent escape
# (`\n`, `\t`, `\u0022`, `%3D`), which is how tokens sit inside notebook sources and URLs.
_OPEN = r"(?:(?<![A-Za-z0-9_])|(?<=\\[nrtbf])|(?<=\\u[0-9A-Fa-f]{4})|(?<=%[0-9A-Fa-f]{2}))"
_CLOSE = r"(?![A-Za-z0-9_])"


class HuggingFaceUserTokenDetector(RegexBasedDetector):
    """HuggingFace user access tokens: `hf_` and 34 ASCII letters or digits, whatever their entropy."""

    secret_type = "HuggingFace User Access Token"
    denylist = (re.compile(_OPEN + r"(hf_[A-Za-z0-9]{34})" + _CLOSE),)


class HuggingFaceOrgTokenDetector(RegexBasedDetector):
    """The legacy organisation API tokens of the HuggingFace Hub: `api_org_` and 34 letters or digits."""

    secret_type = "HuggingFace Organization API Token"
    denylist = (re.compile(_OPEN + r"(api_org_[A-Za-z0-9]{34})" + _CLOSE),)


_HEX40 = r"([0-9a-f]{40})(?![0-9A-Za-z_])"
_QUOTES = r"[\\'\"]{0,2}"


class WandbApiKeyDetector(RegexBasedDetector):
    """Weights & Biases API keys: 40 lowercase hex characters, but only where W&B is named.

    A bare 40-hex string is as likely a git commit id as a key, so the key must sit in a W&B
    context: a `WANDB_API_KEY`-like name, `wandb.login(key=...)`, `wandb login KEY`, or a `.netrc`
    `password` whose machine is `api.wandb.ai` (the machine may be on a nearby line).
    """

    secret_type = "Weights & Biases API Key"
    # Every repetition is bounded: an unbounded `.*` between "wandb" and "key" backtracks cubically on a
    # line like "wandbkey" * 1000 (46 s for 8 KB).
    denylist = (
        # WANDB_API_KEY=..., ENV WANDB_API_KEY ..., os.environ["WANDB_API_KEY"] = "...", wandb_key: ...
        re.compile(
            r"(?i:wandb)[A-Za-z0-9_.\-]{0,30}(?i:key)[A-Za-z0-9_]{0,20}[\\\]'\"]{0,4}\s{0,8}(?:=|:|,|\s)\s{0,8}"
            + _QUOTES
            + _HEX40
        ),
        # wandb.login(key="...") and wandb.login(anonymous="never", key='...')
        re.compile(r"wandb\.login\([^)]{0,200}?\bkey\s{0,8}=\s{0,8}" + _QUOTES + _HEX40),
        # wandb login [--relogin] KEY
        re.compile(r"wandb\s{1,8}login\b[^\n]{0,200}?(?<![0-9A-Za-z_])" + _HEX40),
    )
    _netrc_password = re.compile(r"\bpassword\s+" + _HEX40)
    _netrc_machine = re.compile(r"\bmachine\s+(\S+)")

    def analyze_line(
        self,
        filename: str,
        line: str,
        line_number: int = 0,
        context: CodeSnippet | None = None,
        **kwargs: Any,
    ) -> set[PotentialSecret]:
        # detect-secrets declares `context: CodeSnippet = None` and passes None itself for ad hoc scans.
        found = super().analyze_line(
            filename=filename,
            line=line,
            line_number=line_number,
            context=context,  # type: ignore[arg-type]
            **kwargs,
        )
        match = self._netrc_password.search(line)
        if match and self._netrc_host(line[: match.start()], context) == "api.wandb.ai":
            found.add(PotentialSecret(self.secret_type, filename, match.group(1), line_number))
        return found

    def _netrc_host(self, before: str, context: CodeSnippet | None) -> str | None:
        """The `machine` a `.netrc` password belongs to: the last one named on or above its line."""
        earlier = [before]
        if context is not None:
            earlier = [*context.lines[: context.target_index], before]
        for text in reversed(earlier):
            machines = self._netrc_machine.findall(text)
            if machines:
                return str(machines[-1])
        return None


class GitHubTokenDetector(_UpstreamGitHubTokenDetector):
    """detect-secrets' GitHub token plugin, reporting the whole token rather than its `ghp` prefix."""

    def analyze_string(self, string: str) -> Generator[str, None, None]:
        for regex in self.denylist:
            for match in regex.finditer(string):
                yield match.group(0)


class GitLabTokenDetector(_UpstreamGitLabTokenDetector):
    """detect-secrets' GitLab token plugin, reporting the whole token rather than its `glpat` prefix."""

    def analyze_string(self, string: str) -> Generator[str, None, None]:
        for regex in self.denylist:
            for match in regex.finditer(string):
                yield match.group(0)


class JwtTokenDetector(_UpstreamJwtTokenDetector):
    """detect-secrets' JSON web token plugin, reporting the token with its signature."""

    # A list, as upstream declares it (a ClassVar or tuple would not type-check against the base).
    denylist = [re.compile(r"eyJ[A-Za-z0-9-_=]+\.[A-Za-z0-9-_=]+\.?[A-Za-z0-9-_.+/=]*")]  # noqa: RUF012

    def analyze_string(self, string: str) -> Generator[str, None, None]:
        for token in super().analyze_string(string):
            yield token.rstrip(".")  # a full stop after a token is the sentence's, not the token's
