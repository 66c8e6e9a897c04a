"""The HTML pages of a run: one entry's reproducibility-and-score report (`entry_html`), the leaderboards
of every track (`leaderboard_html`) and the batch summary (`summary_html`).

Pure functions from the JSON documents written next to them (report.json, the leaderboard document,
summary.json) to one self-contained HTML string each: inline CSS, charts as inline SVG (`reports.svg`), no
script, no font, no image, no link that leaves the run folder; a Content-Security-Policy that forbids
all of it again in case a string ever slipped through. Every string of a document is untrusted (entrants
name their repositories, files and log lines): it reaches the page only through `_e` (control characters
replaced, HTML-escaped, quotes included) and links only through `_href` (percent-encoded, always relative).
Documents of older run folders lack keys and hold nulls: every key is optional, a missing value is "—".

Where the pages live, for their relative links: an entry's at DIR/entries/<name>/report.html (the name
has slashes: "A100/alice/learner"), the leaderboards at DIR/leaderboards/index.html, the summary at
DIR/summary.html; paths in the documents are relative to DIR.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import quote

from reports import svg
from reports.svg import Bar

# ---- vocabulary --------------------------------------------------------------------------------------

VERDICTS = {
    "reproducible": ("Reproducible", "good"),
    "reproducible-with-deviations": ("Reproducible with deviations", "warn"),
    "not-reproducible": ("Not reproducible", "bad"),
    "not-evaluated": ("Not evaluated", "neutral"),
}
"""Verdict status -> (what the page says, tone)."""

_SEVERITY_RANK = {"high": 3, "medium": 2, "low": 1, "info": 0}
_SEVERITIES = ("high", "medium", "low", "info")
_GOOD = {"passed", "built", "finished", "evaluated", "healthy", "reproducible", "ran"}
_NEUTRAL = {"skipped", "not-run", "pending", "running", "unknown", "not-evaluated", ""}
_WARN = {"reproducible-with-deviations", "partial", "errored-once"}
_STAGE_ORDER = ("ingest", "static", "build", "train", "eval", "score")
_TIME_TICKS = (
    (0.001, "1 ms"),
    (0.01, "10 ms"),
    (0.1, "0.1 s"),
    (1, "1 s"),
    (10, "10 s"),
    (60, "1 min"),
    (600, "10 min"),
    (3600, "1 h"),
    (6 * 3600, "6 h"),
    (86400, "1 d"),
)
_UNIT_TICKS = ((0.0, "0"), (0.25, "0.25"), (0.5, "0.5"), (0.75, "0.75"), (1.0, "1"))
_PERCENT_TICKS = ((0.0, "0 %"), (0.25, "25 %"), (0.5, "50 %"), (0.75, "75 %"), (1.0, "100 %"))
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")
_CODE_SPAN = re.compile(r"`([^`]+)`")

_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"

_CSS = """
:root{--good:#1b7f3b;--warn:#9a5b00;--bad:#b3261e;--neutral:#5f6b76;--line:#d8dee4;--muted:#59636e;
--bg-good:#e9f6ee;--bg-warn:#fff3dc;--bg-bad:#fdeceb;--bg-neutral:#eef1f4;--code:#f3f4f6}
*{box-sizing:border-box}
body{margin:0 auto;max-width:1000px;padding:16px 20px 40px;color:#1f2328;background:#fff;
font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
header h1{font-size:1.55rem;margin:.2em 0 .3em;overflow-wrap:anywhere}
h2{font-size:1.25rem;margin:1.8em 0 .5em;padding-bottom:.2em;border-bottom:1px solid var(--line)}
h3{font-size:1.05rem;margin:1.3em 0 .4em;overflow-wrap:anywhere}
p{margin:.45em 0}
a{color:#0b57d0}
ul{padding-left:1.3em}
.meta{list-style:none;margin:0;padding:0;display:flex;flex-wrap:wrap;gap:.2em 1.4em;color:var(--muted)}
.meta strong{color:#1f2328}
.verdict{margin:14px 0 10px;padding:12px 18px;border-left:10px solid var(--neutral);background:var(--bg-neutral);
border-radius:6px;-webkit-print-color-adjust:exact;print-color-adjust:exact}
.verdict .status{margin:0;font-size:2.1rem;font-weight:750;line-height:1.15;color:var(--neutral)}
.verdict .reason{margin:.35em 0 0;font-size:1.08rem;overflow-wrap:anywhere}
.verdict.v-good{border-color:var(--good);background:var(--bg-good)}.verdict.v-good .status{color:var(--good)}
.verdict.v-warn{border-color:var(--warn);background:var(--bg-warn)}.verdict.v-warn .status{color:var(--warn)}
.verdict.v-bad{border-color:var(--bad);background:var(--bg-bad)}.verdict.v-bad .status{color:var(--bad)}
.figures{list-style:none;margin:.7em 0 0;padding:0;display:flex;flex-wrap:wrap;gap:.3em 1.6em}
nav.parts{margin:6px 0 0;font-size:.92rem;display:flex;flex-wrap:wrap;gap:.2em .9em}
.scroll{overflow-x:auto;margin:.5em 0}
table{border-collapse:collapse;width:100%;font-size:.92rem}
th,td{padding:4px 8px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
thead th{background:#f6f8fa;font-weight:600;white-space:nowrap}
tbody th{font-weight:600}
tr.group th{background:#fafbfc;padding-top:10px}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,"Liberation Mono",monospace}
code{font-size:.86em;background:var(--code);padding:0 .25em;border-radius:3px;overflow-wrap:anywhere}
pre{font-size:12.5px;line-height:1.4;background:#f6f8fa;border:1px solid var(--line);border-radius:4px;
padding:8px 10px;margin:.4em 0;white-space:pre-wrap;overflow-wrap:anywhere}
.muted{color:var(--muted)}
.small{font-size:.88rem}
.tone-good{color:var(--good)}.tone-warn{color:var(--warn)}.tone-bad{color:var(--bad)}.tone-neutral{color:var(--neutral)}
.badge{display:inline-block;padding:0 .5em;border:1px solid currentColor;border-radius:1em;font-size:.8rem;
font-weight:600;white-space:nowrap;line-height:1.5}
.sev-high{color:var(--bad)}.sev-medium{color:var(--warn)}.sev-low{color:#0b57d0}.sev-info{color:var(--neutral)}
.finding{border-left:3px solid var(--line);padding:2px 0 2px 12px;margin:.7em 0}
.finding.sev-high{border-color:var(--bad)}.finding.sev-medium{border-color:var(--warn)}
.finding p{color:#1f2328}
.finding .head{margin:0}
details{margin:.6em 0}
summary{cursor:pointer;font-weight:600}
svg.chart{display:block;max-width:100%;height:auto;margin:.6em 0}
.chart-note{font-size:.88rem;color:var(--muted)}
footer{margin-top:3em;font-size:.85rem;color:var(--muted)}
@media (max-width:640px){body{padding:10px 12px 30px;font-size:14px}.verdict .status{font-size:1.6rem}
th,td{padding:3px 5px}}
@media print{body{max-width:none;padding:0;font-size:10.5pt}nav.parts{display:none}a{color:inherit}
.verdict,pre,tr,.finding,svg.chart{break-inside:avoid}h2,h3{break-after:avoid}.scroll{overflow:visible}}
"""

# ---- the entry's report ------------------------------------------------------------------------------

_ENTRY_PARTS = (
    ("scores", "Scores"),
    ("winrates", "Win rates"),
    ("timeline", "Timeline"),
    ("api", "API"),
    ("findings", "Findings"),
    ("secrets", "Secrets"),
    ("build", "Build"),
    ("train", "Training"),
    ("eval", "Evaluation"),
    ("logs", "Logs"),
)


def entry_html(doc: dict[str, Any]) -> str:
    """One entry's report, for DIR/entries/<name>/report.html: the verdict first, then scores, win
    rates, the stages' timeline, the API contract, the findings (worst family first), secrets, the
    build, training and evaluation, and log excerpts with links to the full logs."""
    doc = _d(doc)
    name = _t(doc.get("name")) if doc.get("name") else "unnamed entry"
    up = _up_from_entry(doc.get("name"))
    body = [
        _entry_verdict(doc),
        _nav(_ENTRY_PARTS),
        _scores(_d(doc.get("scores")) if isinstance(doc.get("scores"), dict) else None),
        _winrates(_d(doc.get("scores"))),
        _timeline(doc),
        _api(_d(_d(doc.get("eval")).get("api")), doc),
        _findings(_l(doc.get("findings"))),
        _secrets(_l(doc.get("secrets"))),
        _build(doc, up),
        _train(_d(doc.get("train")), doc, up),
        _evaluation(_d(doc.get("eval")), doc, up),
        _logs(doc, up),
    ]
    return _page(f"{name} — reproducibility report", _entry_header(doc, name), body, _d(doc.get("tool")))


def _entry_header(doc: dict[str, Any], name: str) -> str:
    source = _d(doc.get("source"))
    facts = [f"track <strong>{_e(doc.get('track') or 'unknown')}</strong>"]
    if source:
        facts.append(f"source {_e(source.get('kind') or '')} {_code(source.get('where'))}")
    if doc.get("commit"):
        pinned = "pinned by the manifest" if doc.get("pinned") else "NOT pinned: the default branch's head"
        facts.append(f"commit {_code(doc.get('commit'))} ({pinned})")
    items = "".join(f"<li>{fact}</li>" for fact in facts)
    return f'<h1>{_e(name)}</h1>\n<ul class="meta">{items}</ul>'


def _entry_verdict(doc: dict[str, Any]) -> str:
    verdict = _d(doc.get("verdict"))
    figures = []
    scores = _d(doc.get("scores"))
    if scores.get("rank") is not None:
        figures.append(
            f"rank <strong>{_e(scores.get('rank'))}</strong> of {_e(scores.get('entries'))} "
            f"in {_e(scores.get('track') or doc.get('track'))}"
        )
    final = next((t for t in map(_d, _l(scores.get("totals"))) if t.get("name") == "full"), {})
    if _f(final.get("value")) is not None:
        claimed = f" (claimed {_fixed(final.get('claimed'))})" if _f(final.get("claimed")) is not None else ""
        figures.append(f"final score <strong>{_fixed(final.get('value'))}</strong>{claimed}")
    counts = _counts(doc)
    figures.append("findings: " + ", ".join(f"{counts[s]} {s}" for s in _SEVERITIES[:3]))
    stopped = [s for s in map(_d, _l(doc.get("stages"))) if s.get("status") not in ("passed", None)]
    if stopped:
        figures.append("stages: " + ", ".join(f"{_e(s.get('stage'))} {_e(s.get('status'))}" for s in stopped))
    items = "".join(f"<li>{figure}</li>" for figure in figures)
    return _verdict_box(verdict, f'<ul class="figures">{items}</ul>')


def _verdict_box(verdict: dict[str, Any], extra: str = "") -> str:
    status = verdict.get("status")
    if isinstance(status, str) and status:
        label, tone = VERDICTS.get(status, (status, "neutral"))
        reason = verdict.get("reason") or ""
    else:
        label, tone, status = "No verdict", "neutral", ""
        reason = "this run folder holds no verdict (it predates them, or the entry was not scored)"
    return (
        f'<section id="verdict" class="verdict v-{tone}" data-status="{_e(status)}">\n'
        f'<p class="status">{_e(label)}</p>\n<p class="reason">{_rich(reason)}</p>\n{extra}\n</section>'
    )


def _counts(doc: dict[str, Any]) -> dict[str, int]:
    counts = _d(doc.get("counts"))
    if counts:
        return {s: _i(counts.get(s)) or 0 for s in (*_SEVERITIES, "suppressed")}
    found = {s: 0 for s in (*_SEVERITIES, "suppressed")}
    for finding in map(_d, _l(doc.get("findings"))):
        key = "suppressed" if finding.get("suppressed") is not None else finding.get("severity")
        if key in found:
            found[key] += 1
    return found


def _scores(scores: dict[str, Any] | None) -> str:
    if scores is None:
        return _section(
            "scores",
            "Scores",
            '<p class="muted">No scores: the entry was not scored (not '
            "evaluated, or this run folder predates scoring).</p>",
        )
    parts = []
    definition = scores.get("definition")
    how = f"win rates by the {_e(definition)} definition" if definition else "win rates by an unknown definition"
    if scores.get("scheme"):
        how += f", scheme {_e(scores.get('scheme'))}"
    if scores.get("rank") is not None:
        line = (
            f"Rank <strong>{_e(scores.get('rank'))}</strong> of {_e(scores.get('entries'))} "
            f"in track {_e(scores.get('track'))}"
        )
    else:
        line = f"Not ranked in track {_e(scores.get('track'))} ({_e(scores.get('entries'))} entries)"
    notes = []
    if _pair(scores.get("rank_interval")) is not None:
        notes.append(f"95% interval {_interval(scores.get('rank_interval'), 0)}")
    share = _f(scores.get("first_share"))
    if share is not None:
        notes.append(f"first in {share:.0%} of resamples")
    if notes:
        line += " (" + "; ".join(notes) + ")"
    if scores.get("claimed_rank") is not None:
        line += f"; claimed rank {_e(scores.get('claimed_rank'))}: {_rank_change(scores.get('rank_change'))}"
    parts.append(f"<p>{line}; {how}.</p>")
    rows = []
    for total in map(_d, _l(scores.get("totals"))):
        rows.append(
            [
                f"<th>{_e(total.get('title') or total.get('name'))}</th>",
                _num_cell(_fixed(total.get("value"))),
                _num_cell(_fixed(total.get("claimed"))),
                _num_cell(_signed(total.get("difference"))),
                _num_cell(_interval(total.get("interval"))),
                _num_cell(_within(total.get("within"))),
            ]
        )
    if rows:
        parts.append(
            _table(["", "reproduced", "claimed", "difference", "95% interval", "within"], rows, numeric=range(1, 6))
        )
    deviations = [d for d in _l(scores.get("deviations")) if d is not None]
    if deviations:
        parts.append("<p>Outside the tolerance of the claim: " + ", ".join(_e(d) for d in deviations) + ".</p>")
    for key in ("stability", "note"):
        if scores.get(key):
            parts.append(f'<p class="muted">{_rich(scores.get(key))}</p>')
    parts.append(_metrics_table(_l(scores.get("scenarios"))))
    return _section("scores", "Scores", "\n".join(parts))


def _metrics_table(scenarios: list[Any]) -> str:
    if not scenarios:
        return '<p class="muted">No per-scenario metrics.</p>'
    head = ["metric", "value", "claimed", "difference", "tolerance", "within", "win rate", "instances"]
    bodies = []
    for scenario in map(_d, scenarios):
        mean = _fixed(scenario.get("mean_win_rate"))
        rows = [
            f'<tr class="group"><th colspan="8">{_e(scenario.get("title"))} '
            f'<span class="muted small">{_e(scenario.get("set") or "")} set · mean win rate {mean}</span></th></tr>'
        ]
        for metric in map(_d, _l(scenario.get("metrics"))):
            lower = ' <span class="muted small">(lower is better)</span>' if metric.get("lower_is_better") else ""
            tolerance = _f(metric.get("tolerance"))
            shown = "—" if tolerance is None else f"±{_fixed(tolerance)}"
            basis = f' title="{_e(metric.get("basis"))}"' if metric.get("basis") else ""
            cells = [
                f"<td>{_e(metric.get('title'))}{lower}</td>",
                _num_cell(_fixed(metric.get("value"))),
                _num_cell(_fixed(metric.get("claimed"))),
                _num_cell(_signed(metric.get("difference"))),
                f'<td class="num"{basis}>{shown}</td>',
                _num_cell(_within(metric.get("within"))),
                _num_cell(_fixed(metric.get("win_rate"))),
                _num_cell(_e(_i(metric.get("instances")))),
            ]
            rows.append("<tr>" + "".join(cells) + "</tr>")
        bodies.append("<tbody>" + "\n".join(rows) + "</tbody>")
    header = (
        "<thead><tr>"
        + "".join(f"<th{_num_class(i, range(1, 8))}>{h}</th>" for i, h in enumerate(head))
        + "</tr></thead>"
    )
    return (
        f'<h3>Metrics per scenario</h3>\n<div class="scroll"><table>{header}\n' + "\n".join(bodies) + "</table></div>"
    )


def _winrates(scores: dict[str, Any]) -> str:
    scenarios = [_d(s) for s in _l(scores.get("scenarios"))]
    if not scenarios:
        return _section("winrates", "Win rates", '<p class="muted">No win rates.</p>')
    rows = []
    for scenario in scenarios:
        within = [_d(m).get("within") for m in _l(scenario.get("metrics"))]
        tone = "bad" if False in within else "good" if within and all(w is True for w in within) else "neutral"
        label = f"{_t(scenario.get('title'))} ({_t(scenario.get('set'))})"
        rows.append(Bar(label, _f(scenario.get("mean_win_rate")), tone))
    chart = svg.bars(rows, title="Mean win rate per scenario (0 to 1)", maximum=1.0, ticks=_UNIT_TICKS)
    note = (
        '<p class="chart-note">Green: every metric of the scenario within the tolerance of the claim; red: '
        "one is not; grey: nothing claimed.</p>"
    )
    return _section("winrates", "Win rates", chart + "\n" + note)


def _timeline(doc: dict[str, Any]) -> str:
    steps = _timeline_steps(doc)
    parts = []
    if steps:
        rows = []
        for step in steps:
            seconds, limit, status = _f(step.get("seconds")), _f(step.get("limit_seconds")), _t(step.get("status"))
            if seconds is None:
                shown = status
            else:
                shown = _duration(seconds) + (f" of {_duration(limit)}" if limit is not None else "")
                if limit is not None and seconds > limit:
                    shown += " — over"
            rows.append(
                Bar(f"{_t(step.get('stage'))} ({status})", seconds, _tone(step.get("status")), limit=limit, text=shown)
            )
        top = max((v for s in steps for v in (_f(s.get("seconds")), _f(s.get("limit_seconds"))) if v), default=0.0)
        parts.append(
            svg.bars(
                rows,
                title="Time per stage against its limit (log scale)",
                maximum=top * 1.3 or None,
                log=True,
                ticks=_TIME_TICKS,
            )
        )
        parts.append(
            '<p class="chart-note">Log scale: each gridline is a tenfold (or a named) duration; the dashed '
            "line is the stage's limit.</p>"
        )
    stages = sorted(map(_d, _l(doc.get("stages"))), key=_stage_key)
    if stages:
        rows_html = [
            [
                f"<th>{_e(s.get('stage'))}</th>",
                f"<td>{_status(s.get('status'))}</td>",
                _num_cell(_duration(s.get("seconds")) if s.get("seconds") is not None else "—"),
                _num_cell(_e(s.get("attempts"))),
                f"<td>{_e(s.get('host'))}</td>",
                f"<td>{_rich(s.get('reason') or '')}</td>",
            ]
            for s in stages
        ]
        parts.append(_table(["stage", "status", "time", "attempts", "host", "reason"], rows_html, numeric=(2, 3)))
    if not parts:
        parts.append('<p class="muted">No stage ran.</p>')
    return _section("timeline", "Timeline", "\n".join(parts))


def _timeline_steps(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """doc["timeline"], or for older run folders the same made from the stages and the limits."""
    if _l(doc.get("timeline")):
        return [_d(step) for step in _l(doc.get("timeline"))]
    limits = {
        "build": _d(doc.get("build")).get("limit_seconds"),
        "train": _d(doc.get("train")).get("limit_seconds"),
        "eval": _d(doc.get("eval")).get("limit_seconds"),
    }
    return [
        {
            "stage": s.get("stage"),
            "status": s.get("status"),
            "seconds": s.get("seconds"),
            "limit_seconds": limits[s["stage"]],
        }
        for s in sorted(map(_d, _l(doc.get("stages"))), key=_stage_key)
        if s.get("stage") in limits
    ]


def _api(api: dict[str, Any], doc: dict[str, Any]) -> str:
    if not api:
        why = (
            "the server never became healthy"
            if _d(doc.get("eval")).get("outcome") == "unhealthy"
            else ("no evaluation ran" if not doc.get("eval") else "the probe did not run")
        )
        return _section("api", "API contract", f'<p class="muted">Not checked: {why}.</p>')
    checks = [_d(c) for c in _l(api.get("checks"))]
    passed = sum(1 for c in checks if c.get("status") == "passed")
    tone = "good" if checks and passed == len(checks) else "bad" if checks else "neutral"
    parts = [
        f'<p><strong class="tone-{tone}">{passed} of {len(checks)} checks passed</strong> at {_code(api.get("url"))}'
        + ("" if api.get("reachable", True) else ' — <strong class="tone-bad">not reachable</strong>')
        + ".</p>"
    ]
    if api.get("error"):
        parts.append(f'<p class="tone-bad">{_rich(api.get("error"))}</p>')
    rows = []
    for check in checks:
        detail = _rich(check.get("detail") or "")
        shown = []
        if check.get("request") is not None:
            request = check.get("request")
            shown.append(
                '<p class="small">Request:</p>'
                + _pre(json.dumps(request, indent=1, ensure_ascii=False, default=str).splitlines())
            )
        if check.get("response_excerpt"):
            shown.append('<p class="small">Answer:</p>' + _pre(_t(check.get("response_excerpt")).splitlines()))
        if shown:
            detail += '<details><summary class="small">request and answer</summary>' + "".join(shown) + "</details>"
        rows.append(
            [
                f"<td>{_status(check.get('status'))}</td>",
                f"<td>{_rich(check.get('title') or check.get('name'))}</td>",
                f"<td>{detail}</td>",
            ]
        )
    if rows:
        parts.append(_table(["status", "check", "detail"], rows))
    latency = _d(api.get("latency"))
    endpoints = _d(latency.get("by_endpoint"))
    if endpoints:
        rows = [
            [
                f"<td>{_code(endpoint)}</td>",
                _num_cell(_e(_d(v).get("requests"))),
                _num_cell(_duration(_d(v).get("p50_seconds"))),
                _num_cell(_duration(_d(v).get("p95_seconds"))),
            ]
            for endpoint, v in endpoints.items()
        ]
        parts.append("<h3>Probe latency</h3>")
        parts.append(_table(["endpoint", "requests", "p50", "p95"], rows, numeric=(1, 2, 3)))
    return _section("api", "API contract", "\n".join(parts))


def _findings(findings: list[Any]) -> str:
    every = [_d(f) for f in findings]
    active = [f for f in every if f.get("suppressed") is None]
    suppressed = [f for f in every if f.get("suppressed") is not None]
    parts = []
    if not every:
        parts.append('<p class="tone-good">Nothing found.</p>')
    families: dict[str, list[dict[str, Any]]] = {}
    for finding in active:
        families.setdefault(_t(finding.get("family") or "other"), []).append(finding)
    for family, members in order_families(families):
        members.sort(key=lambda f: (-_severity_rank(f), _t(f.get("path")), _i(f.get("line")) or 0))
        counts = [f"{n} {s}" for s in _SEVERITIES if (n := sum(1 for f in members if f.get("severity") == s))]
        parts.append(
            f'<section class="family">\n<h3>{_e(family)} <span class="muted small">{", ".join(counts)}</span></h3>'
        )
        parts += [_finding(f) for f in members]
        parts.append("</section>")
    if suppressed:
        inner = "".join(_finding(f) for f in suppressed)
        parts.append(
            f'<details class="suppressed"><summary>Suppressed ({len(suppressed)})</summary>\n{inner}</details>'
        )
    title = f"Findings ({len(active)}" + (f", {len(suppressed)} suppressed)" if suppressed else ")")
    return _section("findings", title, "\n".join(parts))


def order_families(families: dict[str, list[dict[str, Any]]]) -> list[tuple[str, list[dict[str, Any]]]]:
    """Findings' families worst first: by the highest severity among them, then by how many, then by name."""
    return sorted(
        families.items(),
        key=lambda item: (-max((_severity_rank(f) for f in item[1]), default=-1), -len(item[1]), item[0]),
    )


def _finding(finding: dict[str, Any]) -> str:
    severity = _t(finding.get("severity"))
    css = f"sev-{severity}" if severity in _SEVERITY_RANK else "sev-info"
    where = _where(finding)
    head = (
        f'<p class="head"><span class="badge {css}">{_e(severity)}</span> <strong>{_e(finding.get("rule"))}</strong> '
        f'<span class="muted">{_e(finding.get("name") or "")}</span> {_code(where)}</p>'
    )
    parts = [f'<article class="finding {css}">', head, f"<p>{_rich(finding.get('message') or '')}</p>"]
    if finding.get("fix"):
        parts.append(f"<p><strong>Fix:</strong> {_rich(finding.get('fix'))}</p>")
    evidence = finding.get("evidence")
    if evidence:
        lines = _t(evidence).splitlines()
        parts.append(_pre(lines) if len(lines) > 1 else f'<p class="small">Evidence: {_code(evidence)}</p>')
    related = [_d(r) for r in _l(finding.get("related"))]
    if related:
        shown = ", ".join(_code(_where(r)) for r in related)
        parts.append(f'<p class="small">Related: {shown}</p>')
    facts = []
    if finding.get("confidence"):
        facts.append(f"confidence {_e(finding.get('confidence'))}")
    if finding.get("target"):
        facts.append(f"build target {_code(finding.get('target'))}")
    if facts:
        parts.append(f'<p class="small muted">{"; ".join(facts)}</p>')
    why = finding.get("suppressed")
    if why is not None:
        why = _d(why)
        by = f" ({_e(why.get('by') or why.get('kind'))})" if why.get("by") or why.get("kind") else ""
        parts.append(f'<p class="small"><strong>Suppressed</strong>{by}: {_rich(why.get("reason") or "")}</p>')
    parts.append("</article>")
    return "\n".join(parts)


def _secrets(secrets: list[Any]) -> str:
    if not secrets:
        return _section("secrets", "Secrets", '<p class="tone-good">No secret found.</p>')
    rows = [
        [
            f"<td>{_e(s.get('kind'))}</td>",
            f"<td>{_code(s.get('redacted'))}</td>",
            f"<td>{_code(s.get('fingerprint'))}</td>",
            f"<td>{_e(s.get('lives'))}</td>",
            "<td>" + "<br>".join(_code(p) for p in _l(s.get("paths"))) + "</td>",
        ]
        for s in map(_d, secrets)
    ]
    intro = (
        f'<p class="tone-bad"><strong>{len(secrets)} distinct secret(s)</strong>; shown redacted, with a salted '
        'fingerprint. A secret in the history ("history" or "both") stays readable after it is deleted '
        "from the tree: rotate it.</p>"
    )
    return _section(
        "secrets",
        f"Secrets ({len(secrets)})",
        intro + _table(["kind", "redacted", "fingerprint", "lives in", "paths"], rows),
    )


def _build(doc: dict[str, Any], up: str) -> str:
    parts = [_stage_note(doc, "build")]
    targets = [_d(t) for t in _l(doc.get("targets"))]
    if targets:
        rows = [
            [
                f"<td>{_code(t.get('dockerfile'))}</td>",
                f"<td>{_e(t.get('role'))}</td>",
                f"<td>{_e(t.get('role_reason'))}</td>",
                f"<td>{_code(t.get('context'))}</td>",
            ]
            for t in targets
        ]
        parts.append("<h3>Build targets</h3>")
        parts.append(_table(["Dockerfile", "role", "why", "context"], rows))
    if doc.get("bot_dockerfile"):
        parts.append(f"<p>Dockerfile the competition's bot would have built: {_code(doc.get('bot_dockerfile'))}</p>")
    build = _d(doc.get("build"))
    if build:
        limit = _f(build.get("limit_seconds"))
        parts.append(
            f"<h3>Builds</h3>\n<p>On host {_code(build.get('host'))} ({_e(build.get('track'))}, "
            f"{_e(build.get('endpoint'))})" + (f", limit {_duration(limit)} per build." if limit else ".") + "</p>"
        )
        rows = []
        for target in map(_d, _l(build.get("targets"))):
            status = target.get("status")
            result = (
                _status(status) if status == "built" else _status(target.get("class") or status, tone=_tone(status))
            )
            image = _d(target.get("image"))
            facts = ""
            if image:
                facts = (
                    f"{_code(_t(image.get('id'))[7:19])} {_mib(image.get('size'))}, {_e(image.get('layers'))} layers"
                )
            rows.append(
                [
                    f"<td>{_code(target.get('dockerfile'))}</td>",
                    f"<td>{result}</td>",
                    _num_cell(_duration(target.get("seconds"))),
                    f"<td>{facts}</td>",
                ]
            )
        parts.append(_table(["Dockerfile", "result", "time", "image"], rows, numeric=(2,)))
        for index, target in enumerate(map(_d, _l(build.get("targets")))):
            parts.append(_target_story(target, index, up))
    return _section("build", "Build", "\n".join(p for p in parts if p))


def _target_story(target: dict[str, Any], index: int, up: str) -> str:
    """Why a target failed, what predicted it, what the determinism check and the image scan found."""
    name = _code(target.get("dockerfile"))
    parts = []
    if target.get("status") not in ("built", None):
        step = f" at line {_e(target.get('step_line'))}" if target.get("step_line") else ""
        parts.append(
            f'<h3>{name}: <span class="tone-bad">{_e(target.get("class") or target.get("status"))}</span>{step}</h3>'
        )
        if target.get("summary"):
            parts.append(f"<p>{_rich(target.get('summary'))}</p>")
        if target.get("step"):
            parts.append(f"<p>Failing step: {_code(_t(target.get('step')).strip())}</p>")
        if target.get("exit_code") is not None:
            parts.append(f"<p>Exit code {_e(target.get('exit_code'))}.</p>")
        if target.get("evidence"):
            parts.append(f'<p><a href="#log-build-{index}">The build log\'s lines that tell why</a></p>')
        predicted = [_d(p) for p in _l(target.get("predicted_by"))]
        if predicted:
            causes = "".join(
                f"<li><strong>{_e(p.get('rule'))}</strong> {_code(_where(p))}: {_rich(p.get('message') or '')}</li>"
                for p in predicted
            )
            parts.append(f"<p>Predicted by the static audit:</p><ul>{causes}</ul>")
        parts.append(_paragraph(_log_link("Full build log", target.get("log"), up)))
    determinism = _d(target.get("determinism"))
    if determinism and not determinism.get("identical"):
        parts.append(f'<h3>{name}: <span class="tone-bad">not reproducible</span></h3>')
        if determinism.get("error"):
            parts.append(f"<p>{_rich(determinism.get('error'))}</p>")
        items = [f"<li>{_code(_d(d).get('path'))}: {_e(_d(d).get('what'))}</li>" for d in _l(determinism.get("files"))]
        items += [f"<li>config {_code(_d(d).get('key'))} differs</li>" for d in _l(determinism.get("config"))]
        if determinism.get("truncated"):
            items.append(f"<li>… {_e(determinism.get('differing_paths'))} differing paths in all</li>")
        if items:
            parts.append("<ul>" + "".join(items) + "</ul>")
    scan = _d(target.get("image_scan"))
    if scan.get("gaps"):
        parts.append(
            f"<p>The image scan of {name} could not look into:</p><ul>"
            + "".join(f"<li>{_rich(gap)}</li>" for gap in _l(scan.get("gaps")))
            + "</ul>"
        )
    return "\n".join(p for p in parts if p)


def _train(train: dict[str, Any], doc: dict[str, Any], up: str) -> str:
    parts = [_stage_note(doc, "train")]
    if train:
        end = train.get("end")
        parts.append(
            f"<p>{_code(train.get('dockerfile'))} on host {_code(train.get('host'))} ({_e(train.get('track'))}): "
            f"{_status(end)} after {_duration(train.get('seconds'))} of {_duration(train.get('limit_seconds'))}; "
            f"{_rich(train.get('summary') or '')}.</p>"
        )
        facts = []
        if train.get("exit_code") is not None:
            facts.append(f"exit code {_e(train.get('exit_code'))}")
        if train.get("oom_killed"):
            facts.append('<strong class="tone-bad">killed for memory</strong>')
        if train.get("memory_limit"):
            facts.append(f"memory limit {_mib(train.get('memory_limit'))}")
        output = _d(train.get("output"))
        facts.append(
            f"output {_code(train.get('output_mount'))}: {_e(_i(output.get('files')) or 0)} file(s), "
            f"{_mib(output.get('bytes') or 0)}"
        )
        parts.append("<p>" + "; ".join(facts) + ".</p>")
        if train.get("note"):
            parts.append(f'<p class="muted">Note: {_rich(train.get("note"))}.</p>')
        parts.append(_gpu(_d(train.get("gpu")), utilisation=True))
        if end != "finished" and train.get("log_tail"):
            parts.append('<p><a href="#log-train">The training log\'s last lines</a></p>')
        parts.append(_paragraph(_log_link("Full training log", train.get("log"), up)))
    return _section("train", "Training", "\n".join(p for p in parts if p) or '<p class="muted">No training ran.</p>')


def _evaluation(evaluation: dict[str, Any], doc: dict[str, Any], up: str) -> str:
    parts = [_stage_note(doc, "eval")]
    if evaluation:
        conf = _d(evaluation.get("conf"))
        parts.append(
            f"<p>{_code(evaluation.get('dockerfile'))} on host {_code(evaluation.get('host'))} "
            f"({_e(evaluation.get('track'))}), set {_code(conf.get('name'))}, limit "
            f"{_duration(evaluation.get('limit_seconds'))}: {_status(evaluation.get('outcome'))}.</p>"
        )
        if conf.get("unavailable"):
            parts.append("<p>Not available here: " + ", ".join(_code(u) for u in _l(conf.get("unavailable"))) + ".</p>")
        health = _d(evaluation.get("health"))
        if health:
            state = (
                '<span class="tone-good">healthy</span>'
                if health.get("healthy")
                else f'<span class="tone-bad">never healthy</span> ({_rich(health.get("error"))})'
            )
            parts.append(
                f"<p>Health: {state} after {_e(health.get('attempts'))} attempt(s), "
                f"{_duration(health.get('seconds') or 0)}.</p>"
            )
        parts.append(_helm(_d(evaluation.get("helm")), [_d(r) for r in _l(evaluation.get("runs"))]))
        speed = _d(evaluation.get("throughput"))
        if speed.get("requests"):
            parts.append(
                f"<p>Throughput: {_e(speed.get('requests_per_second'))} requests/s, "
                f"{_e(speed.get('generated_tokens_per_second'))} generated tokens/s; /process latency p50 "
                f"{_duration(speed.get('latency_p50_seconds'))}, p95 {_duration(speed.get('latency_p95_seconds'))}"
                + (f"; {_e(speed.get('errors'))} error(s)" if speed.get("errors") else "")
                + ".</p>"
            )
        parts.append(_gpu(_d(evaluation.get("gpu")), utilisation=False))
        server = _d(evaluation.get("server"))
        if server and not server.get("running_at_end", True):
            why = " (killed for memory)" if server.get("oom_killed") else ""
            parts.append(
                f'<p class="tone-bad">The server had exited by the end: exit code {_e(server.get("exit_code"))}{why}.</p>'
            )
        if evaluation.get("outcome") != "evaluated" and evaluation.get("server_log_tail"):
            parts.append('<p><a href="#log-eval">The server log\'s last lines</a></p>')
        logs = _d(evaluation.get("logs"))
        if logs:
            items = "".join(f"<li>{_log_link(_t(kind), path, up)}</li>" for kind, path in logs.items())
            parts.append(f"<p>Logs:</p><ul>{items}</ul>")
    return _section("eval", "Evaluation", "\n".join(p for p in parts if p) or '<p class="muted">No evaluation ran.</p>')


def _helm(helm: dict[str, Any], runs: list[dict[str, Any]]) -> str:
    if not helm:
        return ""
    if helm.get("status") == "skipped":
        return f"<p>HELM not run: {_rich(helm.get('reason'))}.</p>"
    timed_out = ' <strong class="tone-bad">(stopped at the limit)</strong>' if helm.get("timed_out") else ""
    parts = [
        f"<p>HELM {_e(helm.get('version'))}: {_e(helm.get('finished'))} of {_e(helm.get('planned'))} run(s) "
        f"finished in {_duration(helm.get('seconds') or 0)}{timed_out}.</p>"
    ]
    if helm.get("error"):
        parts.append(f'<p class="tone-bad">{_rich(helm.get("error"))}</p>')
    if helm.get("unanswered"):
        parts.append("<p>Unanswered: " + ", ".join(_code(u) for u in _l(helm.get("unanswered"))) + "</p>")
    if runs:
        rows = []
        for run in runs:
            score = _f(_d(run.get("metrics")).get("exact_match")) if run.get("finished") else None
            shown = _fixed(score) if score is not None else ("unanswered" if not run.get("finished") else "—")
            rows.append([f"<td>{_code(run.get('name'))}</td>", _num_cell(_e(run.get("instances"))), _num_cell(shown)])
        parts.append(_table(["run", "instances", "exact match"], rows, numeric=(1, 2)))
    return "\n".join(parts)


def _gpu(gpu: dict[str, Any], *, utilisation: bool) -> str:
    if not gpu:
        return ""
    if gpu.get("status") == "sampled":
        used = (
            f", utilisation {_e(gpu.get('mean_utilization_percent'))}% on average ({_e(gpu.get('samples'))} samples)"
            if utilisation
            else ""
        )
        return f"<p>GPU: peak {_e(gpu.get('peak_memory_mib'))} MiB of {_e(gpu.get('total_memory_mib'))} MiB{used}.</p>"
    return f'<p class="muted">GPU sampling skipped: {_rich(gpu.get("reason"))}.</p>'


def _stage_note(doc: dict[str, Any], stage: str) -> str:
    """A stage that did not pass, said in one line (a skip is a value with its reason)."""
    row = next((s for s in map(_d, _l(doc.get("stages"))) if s.get("stage") == stage), None)
    if row is None or row.get("status") == "passed":
        return ""
    reason = f": {_rich(row.get('reason'))}" if row.get("reason") else ""
    return f"<p>Stage {_status(row.get('status'))}{reason}</p>"


def _logs(doc: dict[str, Any], up: str) -> str:
    parts = []
    build, train, evaluation = _d(doc.get("build")), _d(doc.get("train")), _d(doc.get("eval"))
    for index, target in enumerate(map(_d, _l(build.get("targets")))):
        evidence = [_d(e) for e in _l(target.get("evidence"))]
        if target.get("status") in ("built", None) or not evidence:
            continue
        lines = [f"{_t(e.get('line')):>5}  {_t(e.get('text'))}" for e in evidence]
        parts.append(
            f'<h3 id="log-build-{index}">Build of {_code(target.get("dockerfile"))}: '
            f"{_e(target.get('class') or target.get('status'))}</h3>\n{_pre(lines)}"
        )
    if train and train.get("end") != "finished" and train.get("log_tail"):
        parts.append(
            f'<h3 id="log-train">Training: {_e(train.get("end"))}, last lines</h3>\n'
            + _pre([_t(line) for line in _l(train.get("log_tail"))])
        )
    if evaluation and evaluation.get("outcome") != "evaluated" and evaluation.get("server_log_tail"):
        parts.append(
            f'<h3 id="log-eval">Server: {_e(evaluation.get("outcome"))}, last lines</h3>\n'
            + _pre([_t(line) for line in _l(evaluation.get("server_log_tail"))])
        )
    if not parts:
        parts.append('<p class="muted">No log excerpt: no build, training or evaluation failed.</p>')
    links = [(f"build of {_t(t.get('dockerfile'))}", t.get("log")) for t in map(_d, _l(build.get("targets")))]
    links.append(("training", train.get("log")))
    links += [(f"evaluation: {_t(kind)}", path) for kind, path in _d(evaluation.get("logs")).items()]
    items = [f"<li>{_log_link(label, path, up)}</li>" for label, path in links if isinstance(path, str) and path]
    if items:
        parts.append("<h3>Full logs</h3>\n<ul>" + "".join(items) + "</ul>")
    return _section("logs", "Logs", "\n".join(parts))


def _log_link(label: str, path: Any, up: str) -> str:
    """ "label: path" with the path linked relatively from the page `up` below the run folder; "" without a path."""
    href = _href(path, up)
    return "" if href is None else f'{_e(label)}: <a href="{_e(href)}">{_code(path)}</a>'


def _up_from_entry(name: Any) -> str:
    """From DIR/entries/<name>/ back to DIR: one "../" for "entries", one per part of the name."""
    depth = 1
    for part in _t(name).split("/") if isinstance(name, str) else ():
        if part in ("", "."):
            continue
        depth += -1 if part == ".." else 1
    return "../" * max(depth, 0)


# ---- leaderboards ------------------------------------------------------------------------------------


def leaderboard_html(board: dict[str, Any]) -> str:
    """Every track's leaderboard in one page, for DIR/leaderboards/index.html: per track the ranking
    (reproduced and claimed scores side by side, rank change, 95% intervals, verdicts, links to the
    entries' reports), a chart of the final scores and the mean win rate per scenario."""
    board = _d(board)
    tracks = _d(board.get("tracks"))
    definition = board.get("definition_title") or board.get("definition")
    facts = [f"win rates: <strong>{_e(definition or 'unknown definition')}</strong>"]
    if board.get("scheme"):
        facts.append(f"scheme {_e(board.get('scheme'))}")
    facts.append(f"{len(tracks)} track(s)")
    header = '<h1>Leaderboards</h1>\n<ul class="meta">' + "".join(f"<li>{f}</li>" for f in facts) + "</ul>"
    slugs = _slugs(list(tracks))
    body = []
    if len(tracks) > 1:
        body.append(_nav([(f"track-{slugs[t]}", f"Track {_t(t)}") for t in tracks]))
    if not tracks:
        body.append('<p class="muted">No track was scored.</p>')
    for track, content in tracks.items():
        body.append(_track(track, _d(content), slugs[track]))
    return _page("Leaderboards", header, body, _d(board.get("tool")))


def track_slug(track: str) -> str:
    """The id of a track's section in the leaderboard page ("A100" -> "a100"; "#track-" + slug links to it)."""
    return re.sub(r"[^a-z0-9]+", "-", track.lower()).strip("-") or "track"


def _slugs(tracks: list[str]) -> dict[str, str]:
    seen: dict[str, str] = {}
    used: set[str] = set()
    for track in tracks:
        slug, n = track_slug(_t(track)), 2
        base = slug
        while slug in used:
            slug, n = f"{base}-{n}", n + 1
        used.add(slug)
        seen[track] = slug
    return seen


def _track(track: str, content: dict[str, Any], slug: str) -> str:
    entries = [_d(e) for e in _l(content.get("entries"))]
    sets = _d(content.get("sets"))
    parts = [f"<h2>Track {_e(track)}</h2>"]
    if sets:
        described = []
        for name, info in sets.items():
            info = _d(info)
            weight = _f(info.get("weight"))
            evaluated = "evaluated" if info.get("evaluated") else '<strong class="tone-warn">not evaluated</strong>'
            described.append(
                f"{_e(info.get('title') or name)} (weight {'—' if weight is None else f'{weight:.0%}'}, {evaluated})"
            )
        parts.append(
            "<p>Sets: "
            + "; ".join(described)
            + f". {len(entries)} entries"
            + (f", {_e(content.get('replicates'))} bootstrap replicates" if content.get("replicates") else "")
            + ".</p>"
        )
    for key in ("note", "stability"):
        if content.get(key):
            parts.append(f'<p class="muted">{_rich(content.get(key))}</p>')
    columns = [*(str(name) for name in sets), "full"]
    titles = {name: _t(_d(sets.get(name)).get("title") or name) for name in sets} | {"full": "Final"}
    head_top = (
        '<tr><th rowspan="2" class="num">rank</th><th rowspan="2">entry</th><th rowspan="2">verdict</th>'
        + "".join(f'<th colspan="2" class="num">{_e(titles[c])}</th>' for c in columns)
        + '<th colspan="2" class="num">95% interval</th></tr>'
    )
    head_low = "<tr>" + '<th class="num">ours</th><th class="num">claimed</th>' * len(columns)
    head_low += '<th class="num">final</th><th class="num">rank</th></tr>'
    rows = []
    for entry in entries:
        claimed, intervals = _d(entry.get("claimed")), _d(entry.get("intervals"))
        change = _rank_change(entry.get("rank_change"), short=True)
        cells = [
            _num_cell(f"{_e(entry.get('rank'))}" + (f" {change}" if entry.get("rank_change") is not None else "")),
            f"<td>{_entry_link(entry.get('name'), entry.get('report'), '../')}</td>",
            f"<td>{_verdict_badge(entry.get('verdict'))}</td>",
        ]
        for column in columns:
            cells.append(_num_cell(f"<strong>{_fixed(entry.get(f'score_{column}'))}</strong>"))
            cells.append(_num_cell(_fixed(claimed.get(f"score_{column}"))))
        cells.append(_num_cell(_interval(intervals.get("score_full"))))
        cells.append(_num_cell(_interval(intervals.get("rank"), 0)))
        rows.append("<tr>" + "".join(cells) + "</tr>")
    if rows:
        parts.append(
            f'<div class="scroll"><table><thead>{head_top}{head_low}</thead><tbody>'
            + "\n".join(rows)
            + "</tbody></table></div>"
        )
        parts.append(_final_chart(track, entries))
        parts.append(_winrate_table(entries))
    else:
        parts.append('<p class="muted">No entry in this track.</p>')
    return f'<section class="track" id="track-{_e(slug)}">\n' + "\n".join(parts) + "\n</section>"


def _final_chart(track: str, entries: list[dict[str, Any]]) -> str:
    which, title = "full", "Final score"
    if all(_f(e.get("score_full")) is None for e in entries):
        which, title = "open", "Open evaluation score (no final score)"
    rows = []
    for entry in entries:
        claimed, intervals = _d(entry.get("claimed")), _d(entry.get("intervals"))
        status = _d(entry.get("verdict")).get("status")
        tone = VERDICTS.get(status, ("", "neutral"))[1] if isinstance(status, str) else "neutral"
        label = (
            f"{_t(entry.get('rank'))}. {_t(entry.get('name'))}"
            if entry.get("rank") is not None
            else _t(entry.get("name"))
        )
        rows.append(
            Bar(
                label,
                _f(entry.get(f"score_{which}")),
                tone,
                interval=_pair(intervals.get(f"score_{which}")),
                marker=_f(claimed.get(f"score_{which}")),
            )
        )
    values = [v for row in rows for v in (row.value, row.marker, *(row.interval or ())) if v is not None]
    unit_range = all(0 <= v <= 1 for v in values)
    chart = svg.bars(
        rows,
        title=f"{title}, track {track}",
        maximum=1.0 if unit_range else None,
        ticks=_UNIT_TICKS if unit_range else (),
    )
    return (
        f'<h3>{_e(title)}</h3>\n{chart}\n<p class="chart-note">Bars: reproduced, coloured by verdict; whiskers: '
        "95% bootstrap interval; black tick: the claimed score.</p>"
    )


def _winrate_table(entries: list[dict[str, Any]]) -> str:
    scenarios: dict[str, str] = {}
    for entry in entries:
        for title, info in _d(entry.get("scenarios")).items():
            scenarios.setdefault(title, _t(_d(info).get("set") or ""))
    if not scenarios:
        return ""
    ordered = sorted(scenarios, key=lambda t: (scenarios[t] != "open", list(scenarios).index(t)))
    head = ["entry", *ordered]
    rows = []
    for entry in entries:
        found = _d(entry.get("scenarios"))
        rows.append(
            [f"<th>{_e(entry.get('name'))}</th>"]
            + [_num_cell(_fixed(_d(found.get(t)).get("mean_win_rate"))) for t in ordered]
        )
    header = (
        "<thead><tr>"
        + "".join(
            f"<th{_num_class(i, range(1, len(head)))}>{_e(h)}"
            + (f'<br><span class="muted small">{_e(scenarios[h])}</span>' if i and scenarios[h] else "")
            + "</th>"
            for i, h in enumerate(head)
        )
        + "</tr></thead>"
    )
    body = "".join("<tr>" + "".join(r) + "</tr>" for r in rows)
    return (
        f'<h3>Mean win rate per scenario</h3>\n<div class="scroll"><table>{header}<tbody>{body}</tbody></table></div>'
    )


def _verdict_badge(verdict: Any) -> str:
    """A verdict ({"status", "reason"}, or just its status) as a coloured badge; "—" without one."""
    status = verdict if isinstance(verdict, str) else _d(verdict).get("status")
    if not isinstance(status, str) or not status:
        return "—"
    label, tone = VERDICTS.get(status, (status, "neutral"))
    reason = _d(verdict).get("reason")
    title = f' title="{_e(reason)}"' if reason else ""
    return f'<span class="badge tone-{tone}"{title}>{_e(label)}</span>'


def _entry_link(name: Any, report: Any, up: str) -> str:
    href = _href(report, up)
    return f'<a href="{_e(href)}">{_e(name)}</a>' if href else _e(name)


# ---- the batch summary -------------------------------------------------------------------------------


def summary_html(summary: dict[str, Any]) -> str:
    """The batch summary, for DIR/summary.html: verdicts (with a chart), failure classes (with a chart),
    links to the leaderboards, then entries per stage status, the entries most problems first (linked to
    their reports), findings per family, builds, trainings and evaluations, and the source's problems."""
    summary = _d(summary)
    total = _i(summary.get("entries"))
    facts = [f"<strong>{_e(total)}</strong> entries"]
    header = '<h1>Run summary</h1>\n<ul class="meta">' + "".join(f"<li>{f}</li>" for f in facts) + "</ul>"
    body = [
        _verdict_counts(summary.get("verdicts"), total),
        _failure_classes(summary.get("failure_classes"), total),
        _leaderboard_links(summary.get("leaderboards")),
        _stage_table(_d(summary.get("stages"))),
        _ranking(_l(summary.get("ranking"))),
        _family_table(_d(summary.get("families"))),
        _outcomes(summary),
        _source_problems(_l(summary.get("sources"))),
    ]
    return _page("Run summary", header, body, _d(summary.get("tool")))


def _verdict_counts(verdicts: Any, total: int | None) -> str:
    if not isinstance(verdicts, dict) or not verdicts:
        return _section("verdicts", "Verdicts", '<p class="muted">No verdicts: this run folder predates them.</p>')
    ordered = [s for s in VERDICTS if s in verdicts] + [s for s in verdicts if s not in VERDICTS]
    whole = total or sum(_i(verdicts.get(s)) or 0 for s in ordered) or None
    rows, table = [], []
    for status in ordered:
        count = _i(verdicts.get(status))
        label, tone = VERDICTS.get(status, (_t(status), "neutral"))
        share = f" ({count / whole:.0%})" if count is not None and whole else ""
        rows.append(Bar(label, count, tone, text=f"{_t(count)}{share}"))
        table.append(
            [
                f'<th><span class="tone-{tone}">{_e(label)}</span></th>',
                _num_cell(_e(count)),
                _num_cell(_e(share.strip(" ()")) or "—"),
            ]
        )
    chart = svg.bars(rows, title="Entries per verdict", maximum=float(whole) if whole else None)
    return _section(
        "verdicts", "Verdicts", chart + "\n" + _table(["verdict", "entries", "share"], table, numeric=(1, 2))
    )


def _failure_classes(classes: Any, total: int | None) -> str:
    if not isinstance(classes, list):
        return _section(
            "failure-classes",
            "Why entries failed",
            '<p class="muted">No failure classes: this run folder predates them.</p>',
        )
    items = sorted(map(_d, classes), key=lambda item: -(_i(item.get("entries")) or 0))  # most first, stable
    if not any(_i(item.get("entries")) for item in items):
        return _section("failure-classes", "Why entries failed", '<p class="tone-good">No entry failed.</p>')
    rows, table = [], []
    for item in items:
        count = _i(item.get("entries"))
        share = _f(item.get("share"))
        if share is None and count is not None and total:
            share = count / total
        shown = f"{_t(count)} ({'—' if share is None else f'{share:.1%}'})"
        rows.append(Bar(_t(item.get("class")), share, "bad", text=shown))
        table.append(
            [
                f"<td>{_e(item.get('class'))}</td>",
                _num_cell(_e(count)),
                _num_cell("—" if share is None else f"{share:.1%}"),
            ]
        )
    chart = svg.bars(rows, title="Share of entries per failure class", maximum=1.0, ticks=_PERCENT_TICKS)
    return _section(
        "failure-classes",
        "Why entries failed",
        chart + "\n" + _table(["failure class", "entries", "share"], table, numeric=(1, 2)),
    )


def _leaderboard_links(links: Any) -> str:
    if not isinstance(links, dict) or not links:
        return _section("leaderboards", "Leaderboards", '<p class="muted">No leaderboard in this run folder.</p>')
    items = []
    for track, path in links.items():
        href = _href(path, "", fragment=True)
        label = f"Track {_t(track)}"
        items.append(f'<li><a href="{_e(href)}">{_e(label)}</a></li>' if href else f"<li>{_e(label)}</li>")
    return _section("leaderboards", "Leaderboards", "<ul>" + "".join(items) + "</ul>")


def _stage_table(stages: dict[str, Any]) -> str:
    if not stages:
        return _section("stages", "Stages", '<p class="muted">No stage ran.</p>')
    statuses = sorted({_t(s) for counts in stages.values() for s in _d(counts)})
    rows = [
        [f"<th>{_e(stage)}</th>"] + [_num_cell(_e(_d(counts).get(s, 0))) for s in statuses]
        for stage, counts in sorted(stages.items(), key=lambda item: _stage_key({"stage": item[0]}))
    ]
    head = ["stage", *statuses]
    return _section("stages", "Entries per stage status", _table(head, rows, numeric=range(1, len(head))))


def _ranking(ranking: list[Any]) -> str:
    if not ranking:
        return _section("entries", "Entries", '<p class="muted">No entry.</p>')
    rows = []
    for entry in map(_d, ranking):
        name = entry.get("name")
        report = f"entries/{name}/report.html" if isinstance(name, str) and name else None
        stages = ", ".join(
            f"{_e(stage)} {_status(status)}"
            for stage, status in sorted(_d(entry.get("stages")).items(), key=lambda i: _stage_key({"stage": i[0]}))
        )
        counts = _d(entry.get("counts"))
        rows.append(
            [
                f"<td>{_entry_link(name, report, '')}</td>",
                f"<td>{_e(entry.get('track') or '')}</td>",
                f"<td>{_verdict_badge(entry.get('verdict'))}</td>",
                f"<td>{stages}</td>",
            ]
            + [_num_cell(_e(_i(counts.get(s)) or 0)) for s in _SEVERITIES]
        )
    head = ["entry", "track", "verdict", "stages", *_SEVERITIES]
    return _section("entries", "Entries, most problems first", _table(head, rows, numeric=range(4, len(head))))


def _family_table(families: dict[str, Any]) -> str:
    if not families:
        return _section("families", "Findings per family", '<p class="tone-good">No finding.</p>')
    rows = [
        [f"<th>{_e(family)}</th>"] + [_num_cell(_e(_i(_d(c).get(s)) or 0)) for s in _SEVERITIES]
        for family, c in families.items()
    ]
    return _section("families", "Findings per family", _table(["family", *_SEVERITIES], rows, numeric=range(1, 5)))


def _outcomes(summary: dict[str, Any]) -> str:
    parts = []
    for key, title, what in (
        ("builds", "Builds", "targets"),
        ("trainings", "Training", "entries"),
        ("evaluations", "Evaluation", "entries"),
    ):
        counts = _d(summary.get(key))
        if counts:
            rows = [[f"<td>{_status(result)}</td>", _num_cell(_e(count))] for result, count in counts.items()]
            parts.append(f"<h3>{title}</h3>\n" + _table(["result", what], rows, numeric=(1,)))
    return _section("outcomes", "Builds, training and evaluation", "\n".join(parts) or '<p class="muted">None ran.</p>')


def _source_problems(sources: list[Any]) -> str:
    items = []
    for source in map(_d, sources):
        data = _d(source.get("data"))
        items += [
            f"<li>manifest line {_e(_d(p).get('line'))}: {_rich(_d(p).get('message'))}</li>"
            for p in _l(data.get("problems"))
        ]
        items += [
            f"<li>archive member {_code(_d(r).get('member'))} refused: {_rich(_d(r).get('reason'))}</li>"
            for r in _l(data.get("refused"))
        ]
    if not items:
        return _section("sources", "Source problems", '<p class="tone-good">None.</p>')
    return _section("sources", "Source problems", "<ul>" + "".join(items) + "</ul>")


# ---- shared pieces -----------------------------------------------------------------------------------


def _page(title: str, header: str, body: Iterable[str], tool: dict[str, Any]) -> str:
    version = f"repro-audit {_e(tool.get('version'))}" if tool.get("version") else "repro-audit"
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">\n'
        '<meta name="referrer" content="no-referrer">\n'
        '<link rel="icon" href="data:,">\n'
        f"<title>{_e(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        f"<header>\n{header}\n</header>\n<main>\n" + "\n".join(part for part in body if part) + "\n</main>\n"
        f"<footer>Written by {version}; self-contained: no script, no request.</footer>\n</body>\n</html>\n"
    )


def _section(ident: str, title: str, body: str) -> str:
    return f'<section id="{ident}">\n<h2>{_e(title)}</h2>\n{body}\n</section>'


def _paragraph(inner: str) -> str:
    return f"<p>{inner}</p>" if inner else ""


def _nav(parts: Sequence[tuple[str, str]]) -> str:
    links = "".join(f'<a href="#{_e(ident)}">{_e(title)}</a>' for ident, title in parts)
    return f'<nav class="parts" aria-label="Parts of the page">{links}</nav>'


def _table(head: Sequence[str], rows: Sequence[Sequence[str]], *, numeric: Iterable[int] = ()) -> str:
    """A table from plain header texts and rows of finished cells (<td>/<th> HTML)."""
    right = set(numeric)
    header = "".join(f"<th{_num_class(i, right)}>{_e(h)}</th>" for i, h in enumerate(head))
    body = "\n".join("<tr>" + "".join(row) + "</tr>" for row in rows)
    return f'<div class="scroll"><table><thead><tr>{header}</tr></thead><tbody>\n{body}\n</tbody></table></div>'


def _num_class(index: int, numeric: Iterable[int]) -> str:
    return ' class="num"' if index in set(numeric) else ""


def _num_cell(inner: str) -> str:
    return f'<td class="num">{inner}</td>'


def _status(status: Any, *, tone: str | None = None) -> str:
    return f'<span class="badge tone-{tone or _tone(status)}">{_e(status if status is not None else "unknown")}</span>'


def _tone(status: Any) -> str:
    text = status if isinstance(status, str) else ""
    if text in _GOOD:
        return "good"
    if text in _NEUTRAL:
        return "neutral"
    if text in _WARN:
        return "warn"
    return "bad"


def _rank_change(change: Any, *, short: bool = False) -> str:
    """Claimed rank minus reproduced rank as an arrow: ▲ moved up, ▼ moved down."""
    value = _i(change)
    if value is None:
        return "—"
    if value == 0:
        return '<span class="muted" title="the claimed rank">=</span>' if short else '<span class="muted">= same</span>'
    if value > 0:
        return f'<span class="tone-good" title="{value} above the claimed rank">▲{"" if short else " "}{value}</span>'
    return f'<span class="tone-bad" title="{-value} below the claimed rank">▼{"" if short else " "}{-value}</span>'


def _within(value: Any) -> str:
    if value is True:
        return '<span class="tone-good" title="within the tolerance">✓</span>'
    if value is False:
        return '<span class="tone-bad" title="outside the tolerance">✗</span>'
    return "—"


def _where(item: dict[str, Any]) -> str:
    """ "path:line" of a finding or a location (just the path without a line)."""
    return _t(item.get("path") or "") + (f":{_t(item.get('line'))}" if item.get("line") else "")


def _severity_rank(finding: dict[str, Any]) -> int:
    return _SEVERITY_RANK.get(_t(finding.get("severity")), -1)


def _stage_key(stage: dict[str, Any]) -> tuple[int, str]:
    name = _t(stage.get("stage"))
    return (_STAGE_ORDER.index(name) if name in _STAGE_ORDER else len(_STAGE_ORDER), name)


def _href(path: Any, up: str, *, fragment: bool = False) -> str | None:
    """A link to a file of the run folder, from a page `up` below it: always relative (leading slashes
    dropped, ":" and every other special character percent-encoded), so no document string can make it
    point at another host or scheme. A "#" is part of the file name unless `fragment` (a link into a page)."""
    if not isinstance(path, str) or not path.strip():
        return None
    target, anchor = path.partition("#")[::2] if fragment else (path, "")
    href = up + quote(target.lstrip("/\\"), safe="/", errors="replace")
    if anchor:
        href += "#" + quote(anchor, safe="-_.", errors="replace")
    return href


def _pre(lines: Iterable[str]) -> str:
    """Log lines in a <pre>: terminal escapes dropped, tabs expanded, other control characters shown as
    U+FFFD, then escaped."""
    cleaned = [_ANSI.sub("", line).expandtabs(4).rstrip("\r\n") for line in lines]
    return "<pre>" + "\n".join(svg.text(line) for line in cleaned) + "</pre>"


def _d(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _l(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _f(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _i(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return int(value)


def _pair(value: Any) -> tuple[float, float] | None:
    if not isinstance(value, list | tuple) or len(value) != 2:
        return None
    lo, hi = _f(value[0]), _f(value[1])
    return None if lo is None or hi is None else (lo, hi)


def _t(value: Any) -> str:
    """Any document value as plain text: None and non-finite numbers are "—"."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return svg.number(value) if math.isfinite(value) else "—"
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    return json.dumps(value, ensure_ascii=False, default=str)


def _e(value: Any) -> str:
    """Any document value as escaped HTML text (also safe inside a double-quoted attribute)."""
    return svg.text(_t(value))


def _code(value: Any) -> str:
    return f"<code>{_e(value)}</code>"


def _rich(value: Any) -> str:
    """Escaped text in which `backticked` spans (as the rules' messages and fix hints write them) are code."""
    return _CODE_SPAN.sub(r"<code>\1</code>", _e(value))


def _fixed(value: Any, digits: int = 3) -> str:
    number = _f(value)
    if number is None:
        return "—"
    return f"{number:,.0f}" if abs(number) >= 10**6 else f"{number:.{digits}f}"


def _signed(value: Any, digits: int = 3) -> str:
    number = _f(value)
    return "—" if number is None else f"{number:+.{digits}f}"


def _interval(value: Any, digits: int = 3) -> str:
    pair = _pair(value)
    return "—" if pair is None else f"{_fixed(pair[0], digits)}\u2013{_fixed(pair[1], digits)}"


def _duration(value: Any) -> str:
    seconds = _f(value)
    if seconds is None:
        return "—"
    if seconds < 60:
        return svg.number(seconds, "s")
    if seconds < 3600:
        minutes, rest = divmod(round(seconds), 60)
        return f"{minutes} min" + (f" {rest} s" if rest else "")
    hours, rest = divmod(round(seconds), 3600)
    return f"{hours} h" + (f" {rest // 60} min" if rest // 60 else "")


def _mib(value: Any) -> str:
    size = _f(value)
    if size is None:
        return "—"
    return f"{size / 1024**3:.1f} GiB" if size >= 1024**3 else f"{size / 1024**2:.1f} MiB"
