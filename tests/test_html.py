"""The HTML pages (reports.html) and their charts (reports.svg): read back with the standard library's
html.parser and xml.etree, the way a reader's browser would see them, never compared as strings."""

from __future__ import annotations

import copy
import json
import math
import posixpath
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from typing import Any, ClassVar

import pytest

from reports import svg
from reports.html import entry_html, leaderboard_html, order_families, summary_html, track_slug
from reports.svg import Bar

HOSTILE = '<script>alert(1)</script>"><img src=x onerror=alert(2)>\x00\x1b[31m\x07\u202e'
"""What an entrant can put in a name, a path or a log line: markup, a quote that ends an attribute,
control characters (NUL, an ANSI escape, BEL) and a bidi override."""
DASH = "\u2013"  # between an interval's ends

# ---- sample documents --------------------------------------------------------------------------------


def learner_document() -> dict[str, Any]:
    """A report.json as `repro-audit run` writes it (the pipeline fixtures' learner, trimmed: two HELM
    runs, a few metrics), with the keys scoring adds: verdict, timeline, scores."""
    name = "A100/alice/learner"
    return {
        "schema_version": 1,
        "tool": {"name": "repro-audit", "version": "0.1.0"},
        "name": name,
        "track": "A100",
        "source": {"kind": "folder", "where": "/srv/pipeline/A100/alice/learner"},
        "path": "/srv/pipeline/A100/alice/learner",
        "commit": None,
        "pinned": None,
        "targets": [
            {"dockerfile": "inference/Dockerfile", "context": "inference", "role": "inference",
             "role_reason": "folder 'inference'"},
            {"dockerfile": "train/Dockerfile", "context": "train", "role": "train", "role_reason": "folder 'train'"},
        ],
        "bot_dockerfile": "inference/Dockerfile",
        "stages": [
            {"stage": "build", "status": "passed", "reason": None, "started": "2026-11-24T15:48:53.681+00:00",
             "ended": "2026-11-24T15:48:55.333+00:00", "seconds": 1.652, "attempts": 1, "host": "vm"},
            {"stage": "eval", "status": "passed", "reason": None, "started": "2026-11-24T15:48:57.118+00:00",
             "ended": "2026-11-24T15:49:32.963+00:00", "seconds": 35.845, "attempts": 1, "host": "vm"},
            {"stage": "ingest", "status": "passed", "reason": None, "started": "2026-11-24T15:48:53.643+00:00",
             "ended": "2026-11-24T15:48:53.653+00:00", "seconds": 0.01, "attempts": 1, "host": "vm"},
            {"stage": "static", "status": "passed", "reason": None, "started": "2026-11-24T15:48:53.653+00:00",
             "ended": "2026-11-24T15:48:53.674+00:00", "seconds": 0.021, "attempts": 1, "host": "vm"},
            {"stage": "train", "status": "passed", "reason": None, "started": "2026-11-24T15:48:55.334+00:00",
             "ended": "2026-11-24T15:48:57.115+00:00", "seconds": 1.781, "attempts": 1, "host": "vm"},
        ],
        "counts": {"high": 0, "medium": 0, "low": 2, "info": 0, "suppressed": 0},
        "findings": [
            {"rule": "RA102", "name": "base-image-without-digest", "family": "base-image", "severity": "low",
             "confidence": "high",
             "message": "base image repro-audit-local/python:3.11-bookworm is not pinned to a digest",
             "path": dockerfile, "line": 1, "target": dockerfile,
             "fix": "Append the digest the image has today: `docker inspect --format '{{index .RepoDigests 0}}' IMAGE`.",
             "evidence": "repro-audit-local/python:3.11-bookworm", "related": [], "suppressed": None}
            for dockerfile in ("inference/Dockerfile", "train/Dockerfile")
        ],
        "secrets": [],
        "build": {
            "host": "local", "track": "cpu", "endpoint": "local engine", "limit_seconds": 3600,
            "targets": [
                {"dockerfile": dockerfile, "context": context, "role": context, "status": "built",
                 "limit_seconds": 3600, "seconds": 0.366, "log": f"entries/{name}/{dockerfile}/build.log",
                 "run_containers": 2, "removed_after_deadline": [],
                 "image": {"id": "sha256:3955631e4725102b63b698d2defd73e728d120a4302c0d714a88c093ce5a8140",
                           "tag": "repro-audit/8aec12cc6d4d432c:a100-alice-learner", "size": 232949968, "layers": 3},
                 "image_scan": {"base_layers_skipped": 1, "layers_scanned": 2, "files_scanned": 1,
                                "bytes_scanned": 14616, "secrets": 0, "gaps": [], "read": "layer folders",
                                "seconds": 0.01}}
                for dockerfile, context in (("inference/Dockerfile", "inference"), ("train/Dockerfile", "train"))
            ],
        },
        "train": {
            "host": "local", "track": "cpu", "entry_track": "A100", "dockerfile": "train/Dockerfile",
            "end": "finished", "summary": "training finished", "exit_code": 0, "oom_killed": False,
            "seconds": 0.853, "limit_seconds": 120.0, "memory_limit": 536870912, "output_mount": "/output",
            "output": {"files": 1, "bytes": 237239},
            "gpu": {"status": "skipped", "reason": "host 'local' (track cpu) has no GPU"},
            "note": "ran without a GPU: host 'local' has none (track cpu)",
            "log_tail": ["epoch 20/20  loss 0.2407  pairs 798  0.01s", "wrote /output/model.json"],
            "log": f"entries/{name}/train/train.log",
        },
        "eval": {
            "host": "local", "track": "cpu", "entry_track": "A100", "dockerfile": "inference/Dockerfile",
            "outcome": "evaluated", "conf": {"name": "offline.conf", "path": "/srv/evalsets/offline.conf", "unavailable": []},
            "limit_seconds": 300.0, "weights": "/weights",
            "health": {"healthy": True, "attempts": 1, "seconds": 1.008, "error": None, "exit_code": None,
                       "oom_killed": False},
            "api": {
                "schema_version": 1, "url": "http://172.21.0.2:80", "reachable": True, "passed": True, "error": None,
                "checks": [
                    {"name": "process-shape", "title": "/process answers in the contract's shape", "status": "passed",
                     "detail": "8 token(s) with text, logprob and top_logprob", "request": None, "response_excerpt": None},
                    {"name": "malformed-not-json", "title": "a body that is not JSON gets a 4xx", "status": "passed",
                     "detail": "HTTP 400", "request": None, "response_excerpt": None},
                ],
                "latency": {"requests": 25, "p50_seconds": 0.0018, "p95_seconds": 0.0039,
                            "by_endpoint": {"/process": {"requests": 7, "p50_seconds": 0.0031, "p95_seconds": 0.0051}}},
            },
            "helm": {"status": "ran", "version": "0.5.16", "pinned": True, "suite": "repro-audit", "exit_code": 0,
                     "timed_out": False, "seconds": 8.109, "error": None, "planned": 2, "finished": 2,
                     "unanswered": [], "missing_files": [], "summarize_exit_code": 0, "groups": []},
            "runs": [
                {"name": "custom_mcqa,path=capitals.jsonl,method=multiple_choice_joint:model=neurips_local",
                 "finished": True, "instances": 25, "metrics": {"exact_match": 0.88, "num_references": 4.0}},
                {"name": "custom_mcqa,path=colours.jsonl,method=multiple_choice_joint:model=neurips_local",
                 "finished": True, "instances": 25, "metrics": {"exact_match": 0.92}},
            ],
            "throughput": {"requests": 225, "process_requests": 75, "errors": 0, "span_seconds": 1.129,
                           "requests_per_second": 199.268, "generated_tokens": 75, "generated_tokens_per_second": 66.423,
                           "latency_p50_seconds": 0.0046, "latency_p95_seconds": 0.0095},
            "gpu": {"status": "skipped", "reason": "host 'local' (track cpu) has no GPU"},
            "server": {"running_at_end": True, "exit_code": None, "oom_killed": False},
            "server_log_tail": ["172.21.0.1 POST /process 422 0.1ms"],
            "logs": {"server.log": f"entries/{name}/eval/server.log", "helm-run.log": f"entries/{name}/eval/helm-run.log"},
        },
        "verdict": {"status": "reproducible-with-deviations", "reason": "capitals EM 0.88 against 0.95 claimed"},
        "timeline": [
            {"stage": "build", "status": "passed", "seconds": 1.652, "limit_seconds": 3600.0},
            {"stage": "train", "status": "passed", "seconds": 1.781, "limit_seconds": 120.0},
            {"stage": "eval", "status": "passed", "seconds": 35.845, "limit_seconds": 300.0},
        ],
        "scores": {
            "track": "A100", "definition": "competition", "entries": 7, "rank": 3, "claimed_rank": 1,
            "rank_change": -2, "rank_interval": [2, 4],
            "totals": [
                {"name": "open", "title": "Open evaluation", "value": 0.612, "claimed": 0.7, "difference": -0.088,
                 "interval": [0.55, 0.66]},
                {"name": "hidden", "title": "Hidden evaluation", "value": None, "claimed": None, "difference": None,
                 "interval": None},
                {"name": "full", "title": "Final score", "value": 0.612, "claimed": 0.7, "difference": -0.088,
                 "interval": [0.55, 0.66]},
            ],
            "scenarios": [
                {"set": "open", "title": "Capitals", "mean_win_rate": 0.5,
                 "metrics": [{"title": "Capitals - EM", "lower_is_better": False, "value": 0.88, "claimed": 0.95,
                              "difference": -0.07, "tolerance": 0.03, "within": False, "win_rate": 0.5,
                              "instances": 25}]},
                {"set": "open", "title": "Colours", "mean_win_rate": 0.75,
                 "metrics": [{"title": "Colours - EM", "lower_is_better": False, "value": 0.92, "claimed": 0.93,
                              "difference": -0.01, "tolerance": 0.03, "within": True, "win_rate": 0.75,
                              "instances": 25},
                             {"title": "Colours - ECE", "lower_is_better": True, "value": float("nan"), "claimed": None,
                              "difference": None, "tolerance": None, "within": None, "win_rate": None,
                              "instances": None}]},
            ],
            "note": None,
        },
    }  # fmt: skip


def failing_document(name: str = "4090/u/broken") -> dict[str, Any]:
    """An entry whose build failed with log evidence, whose training timed out and whose server never
    became healthy; with findings of three families, a suppressed one and a secret."""
    doc: dict[str, Any] = renamed(learner_document(), "A100/alice/learner", name)
    doc["track"] = "4090"
    doc["verdict"] = {"status": "not-reproducible", "reason": "the inference image does not build"}
    doc["scores"] = None
    doc["timeline"] = [
        {"stage": "build", "status": "failed", "seconds": 12.0, "limit_seconds": 3600.0},
        {"stage": "train", "status": "failed", "seconds": 8.444, "limit_seconds": 8.0},
        {"stage": "eval", "status": "skipped", "seconds": None, "limit_seconds": 300.0},
    ]
    target = doc["build"]["targets"][0]
    target.update({
        "status": "failed", "class": "missing-copy-source", "summary": "COPY names a file the context does not hold",
        "step": "COPY weights/ /weights", "step_line": 7, "exit_code": None,
        "log": f"entries/{name}/inference/Dockerfile/build.log",
        "evidence": [{"line": 41, "text": "ERROR: failed to compute cache key: \"/weights\": not found"}],
        "predicted_by": [{"rule": "RA001", "path": "inference/Dockerfile", "line": 7,
                          "message": "COPY source `weights/` is missing"}],
    })  # fmt: skip
    target.pop("image")
    doc["train"].update({"end": "timeout", "summary": "training was still running at its limit", "seconds": 8.444,
                         "limit_seconds": 8.0, "log": f"entries/{name}/train/train.log",
                         "log_tail": ["epoch 1/1000", "epoch 2/1000"]})  # fmt: skip
    doc["eval"].update({"outcome": "unhealthy", "api": None, "helm": None, "runs": [], "throughput": None,
                        "health": {"healthy": False, "attempts": 5, "seconds": 5.0,
                                   "error": "/process: no answer: connection refused"},
                        "server_log_tail": ["serving on http://0.0.0.0:8080"],
                        "logs": {"server.log": f"entries/{name}/eval/server.log"}})  # fmt: skip
    finding = doc["findings"][0]
    doc["findings"] = [
        finding | {"rule": "RA201", "family": "train", "severity": "high", "message": "training timed out"},
        finding | {"family": "base-image", "severity": "low"},
        finding | {"family": "base-image", "severity": "low", "path": "train/Dockerfile"},
        finding | {"family": "base-image", "severity": "low", "path": "extra/Dockerfile"},
        finding | {"rule": "RA001", "family": "copy", "severity": "medium", "message": "COPY source missing"},
        finding | {"rule": "RA301", "family": "secrets", "severity": "high", "message": "a token"},
        finding | {"rule": "RA999", "family": "zzz-suppressed", "severity": "high", "message": "waived",
                   "suppressed": {"kind": "inline", "reason": "pinned by the base image"}},
    ]  # fmt: skip
    doc["counts"] = {"high": 2, "medium": 1, "low": 3, "info": 0, "suppressed": 1}
    doc["secrets"] = [{"kind": "huggingface-token", "fingerprint": "ee641a07200d4ee3", "redacted": "hf_…zd (37 chars)",
                       "lives": "both", "paths": ["Dockerfile", "train/run.sh"]}]  # fmt: skip
    doc["stages"] = [s | {"status": "failed", "reason": "1 finding(s)"} if s["stage"] == "build" else s
                     for s in doc["stages"]]  # fmt: skip
    return doc


def renamed(value: Any, old: str, new: str) -> Any:
    """`value` with `old` replaced by `new` in every string."""
    if isinstance(value, dict):
        return {key: renamed(item, old, new) for key, item in value.items()}
    if isinstance(value, list):
        return [renamed(item, old, new) for item in value]
    return value.replace(old, new) if isinstance(value, str) else value


def hostile_document() -> dict[str, Any]:
    """Every string an entrant controls set to HOSTILE (and its variants)."""
    doc = failing_document(f"4090/{HOSTILE}/repo")
    doc["source"]["where"] = HOSTILE
    doc["commit"] = HOSTILE
    doc["verdict"]["reason"] = HOSTILE
    doc["targets"][0]["dockerfile"] = HOSTILE
    doc["build"]["targets"][0]["dockerfile"] = HOSTILE
    doc["build"]["targets"][0]["evidence"] = [{"line": 1, "text": HOSTILE}]
    doc["build"]["targets"][0]["log"] = "https://evil.example/" + HOSTILE
    doc["train"]["log_tail"] = [HOSTILE, "\t" + HOSTILE]
    doc["train"]["log"] = "//evil.example/x"
    doc["eval"]["server_log_tail"] = [HOSTILE]
    doc["eval"]["logs"] = {HOSTILE: "javascript:alert(1)"}
    doc["eval"]["api"] = {"url": HOSTILE, "checks": [{"name": HOSTILE, "title": HOSTILE, "status": HOSTILE,
                          "detail": HOSTILE, "request": {"body": HOSTILE}, "response_excerpt": HOSTILE}]}  # fmt: skip
    for finding in doc["findings"]:
        finding.update({"path": HOSTILE, "message": HOSTILE, "fix": f"`{HOSTILE}`", "family": HOSTILE,
                        "evidence": HOSTILE, "name": HOSTILE})  # fmt: skip
    doc["secrets"][0]["paths"] = [HOSTILE]
    doc["scores"] = copy.deepcopy(learner_document()["scores"])
    doc["scores"]["scenarios"][0]["title"] = HOSTILE
    doc["scores"]["scenarios"][0]["metrics"][0]["title"] = HOSTILE
    doc["scores"]["note"] = HOSTILE
    doc["timeline"][0]["stage"] = HOSTILE
    return doc


def board_document() -> dict[str, Any]:
    """A leaderboard document as `repro-audit score --format json` writes it, two tracks."""

    def entry(name: str, rank: int, full: float | None, claimed: float | None, status: str | None) -> dict[str, Any]:
        return {
            "name": name, "rank": rank, "score_open": full, "score_hidden": None, "score_full": full,
            "scenarios": {"Capitals": {"set": "open", "mean_win_rate": full, "metrics": {"Capitals - EM": 0.8}},
                          "Secret set": {"set": "hidden", "mean_win_rate": None, "metrics": {}}},
            "claimed": None if claimed is None else {"rank": 1, "score_open": claimed, "score_hidden": None,
                                                     "score_full": claimed},
            "rank_change": None if claimed is None else 1 - rank,
            "intervals": None if full is None else {"score_open": [full - 0.1, full + 0.05], "score_hidden": None,
                                                    "score_full": [full - 0.1, full + 0.05], "rank": [1, 3]},
            "verdict": None if status is None else {"status": status, "reason": "because"},
            "report": f"entries/A100/{name}/report.html",
        }  # fmt: skip

    sets = {"open": {"weight": 1 / 3, "evaluated": True}, "hidden": {"weight": 2 / 3, "evaluated": False}}
    return {
        "schema_version": 1, "definition": "competition", "scheme": "neurips-2023",
        "tracks": {
            "A100": {"entries": [entry("alice/learner", 1, 0.8, 0.85, "reproducible"),
                                 entry("bob/half", 2, 0.4, 0.9, "not-reproducible"),
                                 entry("erin/none", 3, None, None, None)],
                     "sets": sets, "note": "the hidden set was not run", "stability": "ranks 1-2 stable"},
            "RTX 4090": {"entries": [entry("carol/x", 1, 0.5, None, "not-evaluated")], "sets": sets,
                         "note": None, "stability": None},
        },
    }  # fmt: skip


def summary_sample() -> dict[str, Any]:
    """summary.json of a run, with the keys verdicts add."""
    ranking = [
        {"name": "4090/u/broken", "track": "4090", "counts": {"high": 2, "medium": 1, "low": 3, "info": 0,
         "suppressed": 1}, "stages": {"build": "failed", "eval": "skipped", "train": "failed"},
         "verdict": "not-reproducible"},
        {"name": "A100/alice/learner", "track": "A100", "counts": {"high": 0, "medium": 0, "low": 2, "info": 0,
         "suppressed": 0}, "stages": {"build": "passed", "eval": "passed", "train": "passed"},
         "verdict": "reproducible"},
    ]  # fmt: skip
    return {
        "schema_version": 1, "tool": {"name": "repro-audit", "version": "0.1.0"}, "entries": 7,
        "stages": {"ingest": {"passed": 7}, "build": {"passed": 5, "failed": 2}, "eval": {"passed": 3, "skipped": 4}},
        "families": {"base-image": {"high": 0, "medium": 0, "low": 14, "info": 0},
                     "train": {"high": 3, "medium": 0, "low": 0, "info": 0}},
        "builds": {"built": 12, "missing-copy-source": 2}, "trainings": {"finished": 4, "timeout": 1},
        "evaluations": {"evaluated": 3, "unhealthy": 1},
        "ranking": ranking,
        "sources": [{"id": "x", "kind": "manifest", "data": {"problems": [{"line": 3, "message": "no URL"}],
                                                           "refused": [{"member": "../x", "reason": "outside"}]}}],
        "verdicts": {"reproducible": 3, "reproducible-with-deviations": 0, "not-reproducible": 2, "not-evaluated": 2},
        "failure_classes": [{"class": "build timeout", "entries": 0, "share": 0.0},
                            {"class": "training timeout", "entries": 1, "share": 0.143},
                            {"class": "failed to build", "entries": 2, "share": 0.286}],
        "leaderboards": {"A100": "leaderboards/index.html#track-a100", "4090": "leaderboards/index.html#track-4090"},
    }  # fmt: skip


# ---- reading a page back -----------------------------------------------------------------------------


class Page(HTMLParser):
    """A page as a browser's parser sees it: every start tag with its attributes (in order, with the
    path of open tags), the text per element id, and what is inside <body>."""

    VOID: ClassVar[set[str]] = {"meta", "link", "br", "img", "input", "hr", "line", "rect", "path", "circle"}

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None], tuple[str, ...]]] = []
        self.stack: list[tuple[str, str | None]] = []
        self.texts: dict[str, list[str]] = {}
        self.all_text: list[str] = []
        self.title = ""
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.tags.append((tag, attributes, tuple(t for t, _ in self.stack)))
        if tag not in self.VOID:
            self.stack.append((tag, attributes.get("id")))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs), tuple(t for t, _ in self.stack)))

    def handle_endtag(self, tag: str) -> None:
        while self.stack:
            if self.stack.pop()[0] == tag:
                break

    def handle_data(self, data: str) -> None:
        self.all_text.append(data)
        if self.stack and self.stack[-1][0] == "title" and "head" in (t for t, _ in self.stack):
            self.title += data
        for _tag, ident in self.stack:
            if ident:
                self.texts.setdefault(ident, []).append(data)

    def text_of(self, ident: str) -> str:
        return " ".join(" ".join(self.texts.get(ident, [])).split())

    def ids(self) -> list[str]:
        return [a["id"] or "" for _t, a, _p in self.tags if a.get("id")]

    def hrefs(self) -> list[str]:
        """Every link's target, in order."""
        return [a["href"] or "" for t, a, _p in self.tags if t == "a" and a.get("href")]

    def body_children(self) -> list[tuple[str, dict[str, str | None]]]:
        """The elements right inside <body>, and right inside <main>, in order."""
        return [(t, a) for t, a, path in self.tags if path in (("html", "body"), ("html", "body", "main"))]


def leaves_the_folder(url: str) -> bool:
    """Whether a URL has a scheme (http:, javascript:, data:, ...), names a host (//) or starts at the root:
    what a browser would not resolve within the run folder. Browsers drop tabs and newlines and trim spaces
    in URLs first."""
    url = re.sub(r"[\t\n\r]", "", url).strip(" \x00-\x1f")
    return bool(re.match(r"[a-zA-Z][a-zA-Z0-9+.-]*:", url)) or url.startswith(("/", "\\"))


def svgs(text: str) -> list[ET.Element]:
    """Every <svg> of a page parsed as XML: fails on one that is not well-formed."""
    found = re.findall(r"<svg\b.*?</svg>", text, flags=re.S)
    return [ET.fromstring(chunk) for chunk in found]


def bar_widths(chart: ET.Element) -> list[float]:
    return [float(rect.get("width", "nan")) for rect in chart.iter("rect") if rect.get("class") == "bar"]


def track_width(chart: ET.Element) -> float:
    return next(float(r.get("width", "nan")) for r in chart.iter("rect") if r.get("class") == "track")


PAGES = {
    "entry": lambda: entry_html(learner_document()),
    "failing": lambda: entry_html(failing_document()),
    "hostile": lambda: entry_html(hostile_document()),
    "leaderboard": lambda: leaderboard_html(board_document()),
    "summary": lambda: summary_html(summary_sample()),
}


# ---- every page --------------------------------------------------------------------------------------


@pytest.mark.parametrize("which", PAGES)
def test_pages_are_complete_documents_with_charset_and_title(which: str) -> None:
    text = PAGES[which]()
    page = Page(text)
    assert text.startswith("<!DOCTYPE html>")
    assert ("meta", {"charset": "utf-8"}) in [(t, a) for t, a, _ in page.tags]
    assert page.title.strip()
    assert len(page.ids()) == len(set(page.ids())), "ids are unique"


@pytest.mark.parametrize("which", PAGES)
def test_pages_reach_nothing_outside_the_run_folder(which: str) -> None:
    text = PAGES[which]()
    page = Page(text)
    assert not [t for t, _a, _p in page.tags if t in ("script", "img", "iframe", "object", "embed", "form", "base")]
    for tag, attributes, _ in page.tags:
        assert not [name for name in attributes if name.startswith("on")], tag
        for name in ("src", "href", "xlink:href", "action", "srcset", "poster", "data"):
            value = attributes.get(name) or ""
            assert not leaves_the_folder(value) or value == "data:,", (tag, name, value)
        style = (attributes.get("style") or "").lower()
        assert "url(" not in style and "@import" not in style
    styles = re.findall(r"<style>(.*?)</style>", text, flags=re.S)
    assert styles and not any("url(" in s or "@import" in s or "http" in s for s in styles)


@pytest.mark.parametrize("which", PAGES)
def test_every_chart_is_well_formed_xml_with_a_title(which: str) -> None:
    text = PAGES[which]()
    charts = svgs(text)
    assert charts, "each sample page has a chart"
    assert text.count("<svg") == len(charts)
    for chart in charts:
        assert chart.get("role") == "img"
        assert chart.get("aria-label")
        assert chart.find("title") is not None and (chart.find("title").text or "").strip()  # type: ignore[union-attr]


@pytest.mark.parametrize("which", PAGES)
def test_no_none_or_nan_reaches_the_reader(which: str) -> None:
    words = " ".join(Page(PAGES[which]()).all_text).split()
    assert not {"None", "nan", "NaN", "null", "inf"} & set(words)


def test_nan_and_null_anywhere_read_as_a_dash() -> None:
    doc = learner_document()
    doc["scores"]["entries"] = math.nan
    doc["scores"]["rank_interval"] = [math.nan, 3]
    doc["stages"][0]["attempts"] = math.nan
    doc["stages"][1]["host"] = None
    doc["train"]["exit_code"] = math.inf
    doc["eval"]["throughput"]["requests_per_second"] = math.nan
    doc["eval"]["api"]["latency"]["by_endpoint"]["/process"]["requests"] = None
    page = Page(entry_html(doc))
    words = set(" ".join(page.all_text).split())
    assert not {"None", "nan", "inf", "null"} & words
    assert "Rank 3 of — in track A100" in page.text_of("scores")


# ---- hostile strings ---------------------------------------------------------------------------------


def test_hostile_strings_appear_only_as_text() -> None:
    text = entry_html(hostile_document())
    page = Page(text)
    assert "<script" not in text.lower() and "<img" not in text.lower()
    assert [t for t, _a, _p in page.tags if t in ("script", "img")] == []
    # what a reader sees: the markup as text, the control characters as U+FFFD
    seen = "".join(page.all_text)
    assert "<script>alert(1)</script>" in seen
    assert '"><img src=x onerror=alert(2)>' in seen
    assert "\ufffd" in seen
    # no control character at all in the page (XML and HTML both reject most of them), no bidi override
    assert not [c for c in text if (ord(c) < 32 and c not in "\n") or 0x7F <= ord(c) < 0xA0 or c == "\u202e"]


def test_hostile_strings_in_the_leaderboard_and_the_summary() -> None:
    board = board_document()
    board["tracks"][HOSTILE] = board["tracks"].pop("A100")
    board["tracks"][HOSTILE]["entries"][0]["name"] = HOSTILE
    board["tracks"][HOSTILE]["entries"][0]["report"] = "https://evil.example/" + HOSTILE
    board["tracks"][HOSTILE]["entries"][1]["verdict"] = {"status": HOSTILE, "reason": HOSTILE}
    board["tracks"][HOSTILE]["note"] = HOSTILE
    summary = summary_sample()
    summary["ranking"][0]["name"] = HOSTILE
    summary["families"][HOSTILE] = {"high": 1}
    summary["failure_classes"][0]["class"] = HOSTILE
    summary["leaderboards"] = {HOSTILE: "javascript:alert(1)#" + HOSTILE, "x": "//evil.example/"}
    summary["verdicts"][HOSTILE] = 1
    for text in (leaderboard_html(board), summary_html(summary)):
        page = Page(text)
        assert "<script" not in text.lower() and "<img" not in text.lower()
        assert "<script>alert(1)</script>" in "".join(page.all_text)
        for _tag, attributes, _ in page.tags:
            href = attributes.get("href") or ""
            assert not leaves_the_folder(href) or href == "data:,", href
        svgs(text)


def test_a_document_of_the_wrong_shape_still_renders() -> None:
    odd: dict[str, Any] = {
        "name": 42, "stages": "x", "findings": [None, 3, {"severity": None}], "secrets": {"a": 1},
        "scores": {"totals": [None], "scenarios": [{"metrics": [None, {"value": "high"}]}], "rank_interval": [1]},
        "timeline": [{"seconds": float("inf"), "limit_seconds": -1}], "eval": {"api": {"checks": [None]}},
        "build": {"targets": [{"evidence": [None]}]}, "verdict": "yes",
    }  # fmt: skip
    for text in (entry_html(odd), entry_html({}), leaderboard_html({"tracks": {"T": {"entries": [None, {}]}}}),
                 leaderboard_html({}), summary_html({}), summary_html({"verdicts": {"x": None}, "ranking": [1]})):  # fmt: skip
        Page(text)
        svgs(text)


# ---- the entry page ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("doc", "status"),
    [(learner_document(), "reproducible-with-deviations"), (failing_document(), "not-reproducible")],
)
def test_the_verdict_comes_first_after_the_header_and_carries_the_status(doc: dict[str, Any], status: str) -> None:
    page = Page(entry_html(doc))
    children = [(t, a) for t, a in page.body_children() if t != "main"]
    assert children[0][0] == "header"
    assert children[1][1].get("id") == "verdict"
    assert children[1][1].get("data-status") == status
    assert status.replace("-", " ") in page.text_of("verdict").lower()
    assert doc["verdict"]["reason"] in page.text_of("verdict")
    tone = {"reproducible-with-deviations": "v-warn", "not-reproducible": "v-bad"}[status]
    assert tone in (children[1][1].get("class") or "").split()


def test_an_entry_without_a_verdict_says_so() -> None:
    doc = learner_document()
    del doc["verdict"], doc["scores"], doc["timeline"]
    page = Page(entry_html(doc))
    assert "no verdict" in page.text_of("verdict").lower()
    assert "no scores" in page.text_of("scores").lower()
    assert "train" in page.text_of("timeline")  # made from the stages for older run folders


def test_the_entry_page_has_every_part_in_order() -> None:
    ids = Page(entry_html(learner_document())).ids()
    wanted = [
        "verdict",
        "scores",
        "winrates",
        "timeline",
        "api",
        "findings",
        "secrets",
        "build",
        "train",
        "eval",
        "logs",
    ]
    assert [i for i in ids if i in wanted] == wanted


def test_scores_show_rank_totals_and_metrics() -> None:
    page = Page(entry_html(learner_document()))
    scores = page.text_of("scores")
    assert "Rank 3 of 7" in scores and f"2{DASH}4" in scores and "▼ 2" in scores
    assert "0.612" in scores and "0.700" in scores and "-0.088" in scores and f"0.550{DASH}0.660" in scores
    assert "Capitals - EM" in scores and "±0.030" in scores and "✗" in scores and "✓" in scores
    assert "(lower is better)" in scores
    assert "nan" not in scores and "—" in scores  # the NaN metric and the empty hidden set


def test_win_rates_are_one_chart_on_a_zero_to_one_scale() -> None:
    text = entry_html(learner_document())
    charts = [c for c in svgs(text) if "win rate" in (c.get("aria-label") or "").lower()]
    assert len(charts) == 1
    widths, full = bar_widths(charts[0]), track_width(charts[0])
    assert widths == pytest.approx([0.5 * full, 0.75 * full], abs=0.01)


def test_the_timeline_draws_each_stage_against_its_limit() -> None:
    text = entry_html(failing_document())
    chart = next(c for c in svgs(text) if "per stage" in (c.get("aria-label") or ""))
    rows = [g for g in chart.iter("g") if "row" in (g.get("class") or "")]
    assert len(rows) == 3
    assert [g.get("class", "").split()[1] for g in rows] == ["tone-bad", "tone-bad", "tone-neutral"]
    values = ["".join(t.itertext()) for t in chart.iter("text") if t.get("class") == "value"]
    assert values == ["12 s of 1 h", "8.44 s of 8 s — over", "skipped"]
    assert len([line for line in chart.iter("line") if line.get("class") == "limit"]) == 3
    build, train = bar_widths(chart)  # log scale: 12 s of an hour still shows, and stays left of its limit
    limits = [float(line.get("x1", "nan")) for line in chart.iter("line") if line.get("class") == "limit"]
    plot_x = float(next(r for r in chart.iter("rect") if r.get("class") == "track").get("x", "nan"))
    assert 0 < build < limits[0] - plot_x
    assert train > limits[1] - plot_x  # over its limit


def test_findings_are_grouped_by_family_worst_first_with_suppressed_ones_folded() -> None:
    text = entry_html(failing_document())
    findings = text[text.index('id="findings"') : text.index('id="secrets"')]
    families = re.findall(r'<section class="family">\n<h3>([^<]*) <span', findings)
    assert families == ["secrets", "train", "copy", "base-image"]  # high (alphabetical on ties of count), medium, low
    folded = findings[findings.index("<details") :]
    assert "waived" in folded and "pinned by the base image" in folded
    assert "waived" not in findings[: findings.index("<details")]
    assert "Fix:" in findings and "<code>docker inspect" in findings


def test_order_families_by_highest_severity_then_count() -> None:
    def f(severity: str) -> dict[str, Any]:
        return {"severity": severity}

    families = {"a": [f("low")] * 5, "b": [f("medium")], "c": [f("high"), f("low")], "d": [f("high")], "e": [f("?")]}
    assert [name for name, _ in order_families(families)] == ["c", "d", "b", "a", "e"]


def test_secrets_api_and_failure_logs_are_shown() -> None:
    page = Page(entry_html(failing_document()))
    secrets = page.text_of("secrets")
    assert "huggingface-token" in secrets and "hf_…zd (37 chars)" in secrets and "ee641a07200d4ee3" in secrets
    assert "train/run.sh" in secrets and "both" in secrets
    assert "never became healthy" in page.text_of("api")
    logs = page.text_of("logs")
    assert '"/weights": not found' in logs and "epoch 2/1000" in logs and "serving on http://0.0.0.0:8080" in logs
    assert "RA001" in page.text_of("build") and "line 7" in page.text_of("build")


def test_the_api_contract_lists_every_check() -> None:
    doc = learner_document()
    doc["eval"]["api"]["checks"][1] |= {"status": "failed", "request": {"method": "POST", "body": "{cut"},
                                        "response_excerpt": "HTTP 500: boom"}  # fmt: skip
    api = Page(entry_html(doc)).text_of("api")
    assert "1 of 2 checks passed" in api
    assert "a body that is not JSON gets a 4xx" in api and "HTTP 500: boom" in api and '"{cut"' in api


@pytest.mark.parametrize("name", ["A100/alice/learner", "4090/u/broken", "solo", "deep/er/still/repo"])
def test_links_from_an_entry_page_resolve_to_its_logs(name: str) -> None:
    run = "/run"
    doc = failing_document(name)
    page = Page(entry_html(doc))
    folder = posixpath.join(run, "entries", name)
    hrefs = {href for href in page.hrefs() if not href.startswith("#")}
    expected = {
        f"entries/{name}/inference/Dockerfile/build.log",
        f"entries/{name}/train/Dockerfile/build.log",
        f"entries/{name}/train/train.log",
        f"entries/{name}/eval/server.log",
    }
    resolved = {posixpath.normpath(posixpath.join(folder, href)) for href in hrefs}
    assert resolved == {posixpath.join(run, path) for path in expected}


def test_links_are_percent_encoded() -> None:
    doc = failing_document("A100/a b/c#d")
    doc["train"]["log"] = "entries/A100/a b/c#d/train/train?.log"
    hrefs = [href for href in Page(entry_html(doc)).hrefs() if "train/train" in href]
    assert hrefs and all(h == "../../../../entries/A100/a%20b/c%23d/train/train%3F.log" for h in hrefs)


# ---- the leaderboard page ----------------------------------------------------------------------------


def test_the_leaderboard_has_one_section_per_track() -> None:
    page = Page(leaderboard_html(board_document()))
    sections = [a for t, a, _ in page.tags if t == "section" and "track" in (a.get("class") or "").split()]
    assert [a.get("id") for a in sections] == ["track-a100", "track-rtx-4090"]
    assert track_slug("A100") == "a100" and track_slug("RTX 4090") == "rtx-4090"


def test_the_leaderboard_table_shows_reproduced_and_claimed_side_by_side() -> None:
    text = leaderboard_html(board_document())
    page = Page(text)
    track = page.text_of("track-a100")
    assert "alice/learner" in track and "0.800 0.850" in track and "▲" not in track.split("bob/half")[0]
    assert "2 ▼1" in track and f"0.700{DASH}0.850" in track and f"1{DASH}3" in track
    assert "Reproducible" in track and "Not reproducible" in track
    assert "the hidden set was not run" in track and "ranks 1-2 stable" in track
    assert "Secret set" in track  # the win-rate table's scenarios, open first then hidden
    links = [href for href in page.hrefs() if "report.html" in href]
    assert "../entries/A100/alice/learner/report.html" in links
    resolved = posixpath.normpath(posixpath.join("/run/leaderboards", links[0]))
    assert resolved == "/run/entries/A100/alice/learner/report.html"


def test_the_final_score_chart_has_intervals_and_claimed_ticks() -> None:
    text = leaderboard_html(board_document())
    chart = next(c for c in svgs(text) if "A100" in (c.get("aria-label") or ""))
    assert len([p for p in chart.iter("path") if p.get("class") == "interval"]) == 2
    assert len([line for line in chart.iter("line") if line.get("class") == "marker"]) == 2
    widths, full = bar_widths(chart), track_width(chart)
    assert widths == pytest.approx([0.8 * full, 0.4 * full], abs=0.01)  # a 0..1 scale; the third is missing
    assert "missing" in ["".join(t.itertext()) for t in chart.iter("text") if t.get("class") == "value"]


# ---- the summary page --------------------------------------------------------------------------------


def test_the_summary_has_verdicts_failure_classes_and_links() -> None:
    text = summary_html(summary_sample())
    page = Page(text)
    children = [(t, a) for t, a in page.body_children() if t != "main"]
    assert children[0][0] == "header" and children[1][1].get("id") == "verdicts"
    assert "Not reproducible" in page.text_of("verdicts") and "29%" in page.text_of("verdicts")
    assert "failed to build" in page.text_of("failure-classes") and "28.6%" in page.text_of("failure-classes")
    hrefs = page.hrefs()
    assert "leaderboards/index.html#track-a100" in hrefs
    assert "entries/4090/u/broken/report.html" in hrefs
    chart = next(c for c in svgs(text) if "failure class" in (c.get("aria-label") or ""))
    widths, full = bar_widths(chart), track_width(chart)
    assert widths == pytest.approx([0.286 * full, 0.143 * full, 0.0], abs=0.01)  # most entries first
    for part in ("stages", "entries", "families", "sources"):
        assert page.text_of(part), part
    assert "manifest line 3: no URL" in page.text_of("sources")
    # entries in the summary's order: most problems first, with their verdicts
    entries = page.text_of("entries")
    assert entries.index("4090/u/broken") < entries.index("A100/alice/learner")
    assert entries.index("Not reproducible") < entries.index("A100/alice/learner") < entries.index("Reproducible")


def test_a_summary_where_no_entry_failed_says_so() -> None:
    summary = summary_sample()
    for item in summary["failure_classes"]:
        item.update(entries=0, share=0.0)
    assert "No entry failed" in Page(summary_html(summary)).text_of("failure-classes")


def test_an_empty_timeline_is_made_from_the_stages() -> None:
    doc = learner_document()
    doc["timeline"] = []  # not filled in yet
    chart = next(c for c in svgs(entry_html(doc)) if "per stage" in (c.get("aria-label") or ""))
    assert len(bar_widths(chart)) == 3


def test_a_summary_of_an_older_run_folder_says_what_it_lacks() -> None:
    summary = summary_sample()
    for key in ("verdicts", "failure_classes", "leaderboards"):
        del summary[key]
    page = Page(summary_html(summary))
    assert "predates" in page.text_of("verdicts") and "predates" in page.text_of("failure-classes")


# ---- the chart writer --------------------------------------------------------------------------------


def test_bars_scale_to_the_maximum() -> None:
    chart = ET.fromstring(svg.bars([Bar("half", 0.5), Bar("full", 1.0), Bar("over", 3.0)], title="t", maximum=1.0))
    half, full, over = bar_widths(chart)
    assert half == pytest.approx(full / 2, abs=0.01)
    assert over == full == track_width(chart)


def test_bars_default_maximum_is_the_largest_value() -> None:
    chart = ET.fromstring(svg.bars([Bar("a", 2.0), Bar("b", 8.0, marker=4.0)], title="t"))
    assert bar_widths(chart) == pytest.approx([track_width(chart) / 4, track_width(chart)], abs=0.01)


@pytest.mark.parametrize("value", [None, math.nan, math.inf])
def test_missing_values_are_drawn_as_missing(value: float | None) -> None:
    text = svg.bars([Bar("gone", value), Bar("here", 1.0)], title="t")
    chart = ET.fromstring(text)
    assert len(bar_widths(chart)) == 1
    shown = ["".join(t.itertext()) for t in chart.iter("text") if t.get("class") == "value"]
    assert shown == ["missing", "1"]
    assert "nan" not in text.lower() and "inf" not in text.lower() and "None" not in text


@pytest.mark.parametrize("maximum", [0.0, -1.0, math.nan, None])
def test_a_zero_or_broken_scale_draws_no_bar_and_no_nan(maximum: float | None) -> None:
    text = svg.bars([Bar("zero", 0.0), Bar("neg", -1.0, interval=(math.nan, 1.0))], title="t", maximum=maximum)
    chart = ET.fromstring(text)
    assert all(w == 0 for w in bar_widths(chart))
    assert "nan" not in text.lower()


def test_an_empty_chart_says_so() -> None:
    chart = ET.fromstring(svg.bars([], title="nothing"))
    assert "no data" in "".join(chart.itertext())
    assert float(chart.get("height", "0")) > 0


def test_bar_text_is_escaped_and_cleaned() -> None:
    text = svg.bars([Bar(HOSTILE, 1.0, tone=HOSTILE, text=HOSTILE)], title=HOSTILE)
    chart = ET.fromstring(text)
    assert "<script>" in chart.get("aria-label", "")
    assert "<script" not in text
    assert all(g.get("class") == "row tone-neutral" for g in chart.iter("g") if "row" in (g.get("class") or ""))


def test_long_labels_are_shortened_but_kept_whole_in_the_tooltip() -> None:
    label = "a-very-long-entry-name/" * 6
    chart = ET.fromstring(svg.bars([Bar(label, 1.0)], title="t"))
    shown = next("".join(t.itertext()) for t in chart.iter("text") if t.get("text-anchor") == "end")
    assert shown.endswith("…") and len(shown) < len(label)
    assert label in "".join(next(g for g in chart.iter("g")).find("title").itertext())  # type: ignore[union-attr]


def test_log_scale_puts_decades_at_equal_distances() -> None:
    rows = [Bar("a", 1.0), Bar("b", 10.0), Bar("c", 100.0)]
    chart = ET.fromstring(
        svg.bars(rows, title="t", maximum=100.0, log=True, ticks=((1, "1"), (10, "10"), (100, "100")))
    )
    a, b, c = bar_widths(chart)
    assert a == 0 and b == pytest.approx(c / 2, abs=0.01)
    assert [t.text for t in chart.iter("text") if t.get("text-anchor") == "middle"] == ["1", "10", "100"]


def test_the_sample_documents_are_json() -> None:
    """The samples are documents as written to disk (the NaN metric aside)."""
    for doc in (learner_document(), failing_document(), board_document(), summary_sample()):
        json.loads(json.dumps(doc))
