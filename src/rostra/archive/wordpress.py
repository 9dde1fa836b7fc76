"""WordPress WXR exports (RSS 2.0 with the ``wp:`` namespace, versions 1.0 to 1.2), streamed.

Each ``<item>`` (a post or page) holds its ``<wp:comment>`` elements: comment_id,
comment_parent (0 for top level), comment_approved (1, 0, spam, trash), comment_type
(empty or "comment"; pingbacks and trackbacks are skipped), comment_author, _email, _url,
_IP, comment_user_id, comment_date_gmt and comment_content (HTML with WordPress's
"newline means line break" convention). Items without comments are not imported.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import IO

from lxml import etree

from rostra.archive.records import (
    ArchiveError,
    ArchiveRecord,
    ImportedComment,
    ImportedStory,
    Skipped,
    author_identity,
    oversized,
    parse_timestamp,
)
from rostra.domain.comments import CommentStatus
from rostra.domain.rendering import html_to_text, sanitize_html

SOURCE = "wordpress"
_WP_PREFIX = "{http://wordpress.org/export/"

STATUS_FOR_APPROVED: dict[str, CommentStatus] = {
    "1": CommentStatus.PUBLISHED,
    "approve": CommentStatus.PUBLISHED,
    "0": CommentStatus.PENDING,
    "hold": CommentStatus.PENDING,
    "spam": CommentStatus.SPAM,
    "trash": CommentStatus.DELETED,
    "post-trashed": CommentStatus.DELETED,
}

_BLOCK_TAG = re.compile(r"<(?:p|div|blockquote|ul|ol|pre)\b", re.IGNORECASE)
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")


def read_wordpress(stream: IO[bytes]) -> Iterator[ArchiveRecord]:
    """Stories (items with comments) and their comments; bad records become ``Skipped``."""
    context = etree.iterparse(
        stream,
        events=("end",),
        tag="item",
        resolve_entities=False,
        no_network=True,
        remove_comments=True,
        remove_pis=True,
        strip_cdata=True,
    )
    seen_item = False
    try:
        for _event, item in context:
            seen_item = True
            yield from _item(item)
            parent = item.getparent()
            item.clear(keep_tail=False)
            if parent is not None:
                while item.getprevious() is not None:
                    del parent[0]
    except etree.XMLSyntaxError as exc:
        raise ArchiveError(f"The WordPress export is not well-formed XML: {exc}") from exc
    if not seen_item:
        root = getattr(context, "root", None)
        if root is None or root.tag != "rss":
            found = "nothing" if root is None else f"<{etree.QName(root).localname}>"
            raise ArchiveError(f"Not a WordPress export (WXR): expected <rss>, found {found}")


def _local(tag: object) -> str | None:
    """Local name of an RSS or wp: element; None for other namespaces (dc:, content:, ...)."""
    if not isinstance(tag, str):
        return None
    if tag.startswith("{"):
        return tag.split("}", 1)[1] if tag.startswith(_WP_PREFIX) else None
    return tag


def _fields(element: etree._Element) -> dict[str, etree._Element]:
    fields: dict[str, etree._Element] = {}
    for child in element:
        name = _local(child.tag)
        if name is not None and name not in fields:
            fields[name] = child
    return fields


def _text(fields: dict[str, etree._Element], name: str) -> str:
    child = fields.get(name)
    return "" if child is None or child.text is None else child.text.strip()


def _item(item: etree._Element) -> Iterator[ArchiveRecord]:
    comments = [child for child in item if _local(child.tag) == "comment"]
    if not comments:
        return
    fields = _fields(item)
    post_id = _text(fields, "post_id")
    where = f"item post_id={post_id} (line {item.sourceline})"
    link = _text(fields, "link")
    if not post_id or not link:
        for comment in comments:
            yield Skipped("comment on an item without post_id or link", _comment_where(comment))
        yield Skipped("item without post_id or link", where)
        return
    if len(link) > 2048:
        yield Skipped("item link longer than 2048 characters", where)
        return
    yield ImportedStory(
        external_id=post_id,
        url=link,
        title=(_text(fields, "title") or link)[:500],
        created_at=parse_timestamp(_text(fields, "post_date_gmt")),
        closed=_text(fields, "comment_status") == "closed",
    )
    for comment in comments:
        yield _comment(comment, post_id)


def _comment_where(comment: etree._Element) -> str:
    ident = _text(_fields(comment), "comment_id")
    line = comment.sourceline
    return f"comment_id={ident} (line {line})" if ident else f"comment at line {line}"


def _comment(element: etree._Element, post_id: str) -> ImportedComment | Skipped:
    fields = _fields(element)
    ident = _text(fields, "comment_id")
    where = (
        f"comment_id={ident} (line {element.sourceline})"
        if ident
        else f"comment at line {element.sourceline}"
    )
    if not ident:
        return Skipped("comment without comment_id", where)
    if _text(fields, "comment_type") not in ("", "comment"):
        return Skipped("pingback or trackback", where)
    approved = _text(fields, "comment_approved")
    status = STATUS_FOR_APPROVED.get(approved)
    if status is None:
        return Skipped(f"unknown comment_approved value {approved[:20]!r}", where)
    created_at = parse_timestamp(_text(fields, "comment_date_gmt")) or parse_timestamp(
        _text(fields, "comment_date")
    )
    if created_at is None:
        return Skipped("comment without a valid comment_date_gmt", where)
    content = _text(fields, "comment_content")
    too_big = oversized(content)
    if too_big is not None:
        return Skipped(too_big.reason, where)
    parent = _text(fields, "comment_parent")
    user_id = _text(fields, "comment_user_id")
    html = sanitize_html(_autop(content))
    return ImportedComment(
        external_id=ident,
        story_external_id=post_id,
        parent_external_id=None if parent in ("", "0") else parent,
        author=author_identity(
            SOURCE,
            name=_text(fields, "comment_author"),
            email=_text(fields, "comment_author_email"),
            username=f"id{user_id}" if user_id not in ("", "0") else None,
        ),
        body=html_to_text(html),
        html=html,
        status=status,
        created_at=created_at,
        source=SOURCE,
        ip=_text(fields, "comment_author_IP")[:64] or None,
    )


def _autop(content: str) -> str:
    """WordPress shows blank-line-separated text as paragraphs and single newlines as breaks."""
    if _BLOCK_TAG.search(content):
        return content
    paragraphs = [p.strip() for p in _PARAGRAPH_BREAK.split(content) if p.strip()]
    return "".join("<p>" + p.replace("\n", "<br>") + "</p>" for p in paragraphs)
