"""Comment Markdown (a small subset) to sanitised HTML, rendered once when a comment is written."""

from __future__ import annotations

import re
from collections.abc import Callable
from html import unescape
from typing import Any

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


# Imported archives (Disqus, WordPress) carry HTML written by other systems: it is cleaned with
# the same allow-list as rendered Markdown, and a plain-text copy becomes the comment's source.
_BLOCK_BREAK = re.compile(r"</(?:p|div|blockquote|li|pre|h[1-6])\s*>|<br\s*/?>", re.IGNORECASE)
_LINK = re.compile(
    r"""<a\b[^>]*?\bhref\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))[^>]*>(.*?)</a\s*>""",
    re.IGNORECASE | re.DOTALL,
)
_MANY_NEWLINES = re.compile(r"\n{3,}")
_TAG = re.compile(r"<[^>]*>")


def _foreign_html_cleaner() -> Callable[[str], str]:
    options: dict[str, Any] = {
        "tags": ALLOWED_TAGS,
        "attributes": ALLOWED_ATTRIBUTES,
        "url_schemes": URL_SCHEMES,
        "link_rel": "nofollow noopener ugc",
    }
    cleaner = getattr(nh3, "Cleaner", None)  # nh3 >= 0.3: build the allow-list once
    if cleaner is not None:
        return cleaner(**options).clean  # type: ignore[no-any-return]
    return lambda html: nh3.clean(html, **options)


_clean_foreign = _foreign_html_cleaner()


def sanitize_html(html: str) -> str:
    """Clean foreign HTML with the comment allow-list; links get ``rel="nofollow noopener ugc"``."""
    return _clean_foreign(html).strip()


def _link_as_text(match: re.Match[str]) -> str:
    href = match.group(1) or match.group(2) or match.group(3) or ""
    label = match.group(4)
    return label if not href or href in label else f"{label} ({href})"


def html_to_text(html: str) -> str:
    """Plain text of HTML that ``sanitize_html`` produced: block ends become line breaks,
    links keep their URL. (Tags are stripped, not parsed: clean HTML has no script or style.)"""
    marked = _BLOCK_BREAK.sub(lambda m: "\n" if m.group(0)[1] in "bB" else "\n\n", html)
    if "<a" in marked:
        marked = _LINK.sub(_link_as_text, marked)
    text = unescape(_TAG.sub("", marked)) if "<" in marked or "&" in marked else marked
    return _MANY_NEWLINES.sub("\n\n", text.replace("\r\n", "\n")).strip()
