"""Comment Markdown (a small subset) to sanitised HTML, rendered once when a comment is written."""

from __future__ import annotations

import nh3
from markdown_it import MarkdownIt

# Paragraphs, emphasis, code, quotes, lists and links; no images, headings, tables or raw HTML.
_md = (
    MarkdownIt("zero", {"html": False, "linkify": False, "breaks": True})
    .enable(["emphasis", "backticks", "blockquote", "list", "link", "newline", "escape", "fence"])
)

ALLOWED_TAGS = {"p", "br", "em", "strong", "code", "pre", "blockquote", "ul", "ol", "li", "a"}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}}
URL_SCHEMES = {"http", "https", "mailto"}


def render_markdown(text: str) -> str:
    """Render the comment Markdown subset and sanitise the result with an allow-list.

    Raw HTML in the source is escaped by the parser; nh3 is the second wall in case any
    renderer path ever lets markup through. Every link gets ``rel="nofollow noopener ugc"``.
    """
    html = _md.render(text)
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="nofollow noopener ugc",
    ).strip()
