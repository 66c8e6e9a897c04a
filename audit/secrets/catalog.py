"""Which detect-secrets plugins run, what kind of secret each finds, which rule reports it, and its anchors.

A scan never runs every plugin over every line: that is what makes detect-secrets slow on a tree of
hundreds of megabytes. Each plugin comes with *anchors*, short fixed strings that every secret it can
report contains, compared in lowercase (`hf_` for a HuggingFace token, `akia`/`aws` for AWS...). A
blob holding none of them is dismissed after a few `bytes.find` passes, at memory speed; in the others,
only the lines holding an anchor go through the plugins that own it. `tests/secrets/test_catalog.py` checks, plugin by plugin, that every secret the
plugin reports contains one of its anchors, so the shortcut never loses a secret.

The generic high-entropy plugins have no anchor (any quoted string is a candidate) and are off unless
asked for (`--entropy`): on real entries they produced thousands of false hits.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

from detect_secrets.plugins.aws import AWSKeyDetector
from detect_secrets.plugins.azure_storage_key import AzureStorageKeyDetector
from detect_secrets.plugins.base import BasePlugin
from detect_secrets.plugins.basic_auth import BasicAuthDetector
from detect_secrets.plugins.high_entropy_strings import Base64HighEntropyString, HexHighEntropyString
from detect_secrets.plugins.mailchimp import MailchimpDetector
from detect_secrets.plugins.npm import NpmDetector
from detect_secrets.plugins.openai import OpenAIDetector
from detect_secrets.plugins.private_key import PrivateKeyDetector
from detect_secrets.plugins.pypi_token import PypiTokenDetector
from detect_secrets.plugins.sendgrid import SendGridDetector
from detect_secrets.plugins.slack import SlackDetector
from detect_secrets.plugins.square_oauth import SquareOAuthDetector
from detect_secrets.plugins.stripe import StripeDetector

from audit.secrets.detectors import (
    GitHubTokenDetector,
    GitLabTokenDetector,
    HuggingFaceOrgTokenDetector,
    HuggingFaceUserTokenDetector,
    JwtTokenDetector,
    WandbApiKeyDetector,
)


@dataclass(frozen=True)
class Kind:
    """One kind of secret: the plugin that finds it and the rule that reports it."""

    id: str  # stable, kebab-case: used in fingerprints' redacted labels and in `<REDACTED:id:...>`
    label: str  # for people: "HuggingFace user access token"
    plugin: type[BasePlugin]
    rule: str
    anchors: tuple[str, ...] | None  # lowercase substrings; None: every line is a candidate
    entropy: bool = False  # one of the generic high-entropy plugins (off by default)


KINDS: tuple[Kind, ...] = (
    Kind("huggingface-token", "HuggingFace user access token", HuggingFaceUserTokenDetector, "RA901", ("hf_",)),
    Kind("huggingface-org-token", "HuggingFace organization token", HuggingFaceOrgTokenDetector, "RA902",
         ("api_org_",)),
    Kind("wandb-api-key", "Weights & Biases API key", WandbApiKeyDetector, "RA903", ("wandb", "password")),
    Kind("url-credentials", "password or token inside a URL", BasicAuthDetector, "RA904", ("://",)),
    Kind("aws-key", "AWS access key", AWSKeyDetector, "RA905", ("a3t", "abia", "acca", "akia", "asia", "aws")),
    Kind("azure-storage-key", "Azure storage account key", AzureStorageKeyDetector, "RA905", ("accountkey=",)),
    Kind("github-token", "GitHub token", GitHubTokenDetector, "RA906", ("ghp_", "gho_", "ghu_", "ghs_", "ghr_")),
    Kind("gitlab-token", "GitLab token", GitLabTokenDetector, "RA906",
         ("glpat-", "gldt-", "glft-", "glsoat-", "glrt-", "glcbt-", "glimt-", "glptt-", "glagent-", "gloas-",
          "gr1348941")),
    Kind("private-key", "private key", PrivateKeyDetector, "RA907", ("private key", "putty-user-key-file")),
    Kind("openai-key", "OpenAI API key", OpenAIDetector, "RA908", ("t3blbkfj",)),
    Kind("pypi-token", "PyPI upload token", PypiTokenDetector, "RA908", ("pypi-age",)),
    Kind("slack-token", "Slack token or webhook", SlackDetector, "RA908", ("xox", "hooks.slack.com")),
    Kind("stripe-key", "Stripe live key", StripeDetector, "RA908", ("k_live_",)),
    Kind("sendgrid-key", "SendGrid API key", SendGridDetector, "RA908", ("sg.",)),
    Kind("square-oauth", "Square OAuth secret", SquareOAuthDetector, "RA908", ("sq0csp-",)),
    Kind("npm-token", "npm registry token", NpmDetector, "RA908", (":_authtoken=",)),
    Kind("mailchimp-key", "Mailchimp API key", MailchimpDetector, "RA908", ("-us",)),
    Kind("jwt", "JSON web token", JwtTokenDetector, "RA909", ("eyj",)),
    Kind("base64-high-entropy", "high-entropy base64 string", Base64HighEntropyString, "RA910", None, entropy=True),
    Kind("hex-high-entropy", "high-entropy hex string", HexHighEntropyString, "RA910", None, entropy=True),
)  # fmt: skip

BY_ID = {kind.id: kind for kind in KINDS}
BY_SECRET_TYPE = {kind.plugin.secret_type: kind for kind in KINDS}


@dataclass(frozen=True)
class Detector:
    """A kind with its plugin instance, ready to scan."""

    kind: Kind
    plugin: BasePlugin
    needs_context: bool  # the plugin's `analyze_line` does more than its `analyze_string`

    def wants(self, lowered_line: str) -> bool:
        """Whether the (lowercased) line holds one of this detector's anchors."""
        anchors = self.kind.anchors
        return anchors is None or any(anchor in lowered_line for anchor in anchors)


@dataclass(frozen=True)
class DetectorSet:
    """The detectors of one scan and the anchors of all of them, lowercase bytes."""

    detectors: tuple[Detector, ...]
    anchors: tuple[bytes, ...]  # of the detectors that have anchors
    every_line: bool  # some detector has no anchor (entropy): every line of a text is a candidate
    owners: dict[bytes, tuple[int, ...]]  # anchor -> indexes of the detectors it belongs to
    pattern: re.Pattern[bytes] | None  # every anchor, as one pattern factored by common prefixes

    @property
    def kinds(self) -> tuple[Kind, ...]:
        return tuple(d.kind for d in self.detectors)

    def candidate(self, lowered: bytes) -> bool:
        """Whether an (ASCII-lowercased) blob can hold anything these detectors report."""
        return self.every_line or any(anchor in lowered for anchor in self.anchors)


def select(kind_ids: Sequence[str] | None = None, *, entropy: bool = False) -> DetectorSet:
    """The detectors for these kinds (default: every kind that is on by default, plus entropy if asked)."""
    if kind_ids is None:
        kind_ids = tuple(k.id for k in KINDS if entropy or not k.entropy)
    return _build(tuple(sorted(set(kind_ids))))


@cache
def _build(kind_ids: tuple[str, ...]) -> DetectorSet:
    detectors = tuple(
        Detector(kind, kind.plugin(), kind.entropy or kind.plugin is WandbApiKeyDetector)
        for kind in KINDS
        if kind.id in kind_ids
    )
    owners: dict[bytes, list[int]] = {}
    for index, detector in enumerate(detectors):
        for anchor in detector.kind.anchors or ():
            owners.setdefault(anchor.encode("ascii"), []).append(index)
    for key in owners:  # a match of "abcd" is also a match of an anchor "ab" at the same place
        for shorter in owners:
            if shorter != key and key.startswith(shorter):
                owners[key] = sorted({*owners[key], *owners[shorter]})
    return DetectorSet(
        detectors,
        tuple(sorted(owners)),
        any(d.kind.anchors is None for d in detectors),
        {anchor: tuple(indexes) for anchor, indexes in owners.items()},
        re.compile(_factored(sorted(owners))) if owners else None,
    )


def _factored(anchors: list[bytes]) -> bytes:
    """One alternation of literals, grouped by common prefix (`gh(?:o_|p_|...)`): the regular expression
    engine then tries one branch per first byte instead of every anchor, about twice as fast as a
    `bytes.find` pass per anchor on a large blob."""
    if anchors == [b""]:
        return b""
    by_first: dict[bytes, list[bytes]] = {}
    optional = b"" in anchors
    for anchor in anchors:
        if anchor:
            by_first.setdefault(anchor[:1], []).append(anchor[1:])
    branches = [re.escape(first) + _factored(sorted(rests)) for first, rests in sorted(by_first.items())]
    body = branches[0] if len(branches) == 1 and not optional else b"(?:" + b"|".join(branches) + b")"
    return body + (b"?" if optional else b"")
