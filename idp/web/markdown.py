"""Text a client asks a person to approve, as safe HTML for our own page.

BankID shows the same text in its app: plain, or in its `simpleMarkdownV1` (headings,
emphasis, bullets, tables, rules). Our summary page renders it with a CommonMark parser
(markdown-it-py) with raw HTML, links and images switched off: nothing in the text can add
markup, run script, load anything or send the person elsewhere. Plain text is escaped and
keeps its line breaks (the page's CSS)."""

from __future__ import annotations

from typing import Any

from markdown_it import MarkdownIt
from markupsafe import Markup, escape

_MARKDOWN = (
    MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    .enable("table")
    .disable(["link", "image", "autolink", "reference"])
)
#: The page's own headings are h1 and h2: the text's start at h3.
_HEADING_SHIFT = 2


def _shift_headings(md: MarkdownIt) -> None:
    def shifted(self: Any, tokens: Any, idx: int, options: Any, env: Any) -> str:
        token = tokens[idx]
        level = min(6, int(token.tag[1]) + _HEADING_SHIFT)
        token.tag = f"h{level}"
        return str(self.renderToken(tokens, idx, options, env))

    md.add_render_rule("heading_open", shifted)
    md.add_render_rule("heading_close", shifted)


_shift_headings(_MARKDOWN)


def approval_html(text: str, *, markdown: bool) -> Markup:
    """`text` as HTML that can be placed in a page as is."""
    if not markdown:
        return Markup('<p class="plain">{}</p>').format(escape(text))
    return Markup(_MARKDOWN.render(text))  # noqa: S704 - html=False, no links or images


__all__ = ["approval_html"]
