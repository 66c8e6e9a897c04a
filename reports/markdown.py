"""Text that goes into Markdown tables and code spans, made safe from what entrants wrote."""

from __future__ import annotations


def cell(text: str) -> str:
    """Text in a Markdown table cell or list item: no control character or pipe breaks the row."""
    cleaned = "".join(c if c.isprintable() else " " for c in str(text))
    # < and > as entities: a Markdown viewer that renders HTML must not render an entrant's tags
    return cleaned.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def code(text: str) -> str:
    """Text inside `code` in a Markdown table or list: no backtick, pipe, newline or control character
    of an entrant's file name or log can end the span, the cell or the line."""
    cleaned = "".join(c if c.isprintable() else "\ufffd" for c in text)
    return cleaned.replace("`", "'").replace("|", "\\|")


def number(value: object, digits: int = 3) -> str:
    """A score or metric in a table: fixed digits, an exponent for what would show as zero, "—" for
    missing; integers (ranks) as they are."""
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}f}" if abs(value) >= 10**-digits or value == 0 else f"{value:.2e}"
    return str(value)
