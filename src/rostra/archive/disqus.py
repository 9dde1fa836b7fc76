"""Disqus XML exports, read as a stream.

The format (help.disqus.com, "Comments export"): a ``<disqus>`` root in the
``http://disqus.com`` namespace holding ``<category>``, then ``<thread dsq:id>`` elements
(link, title, createdAt, isClosed, isDeleted) and ``<post dsq:id>`` elements (message as
HTML in CDATA, createdAt, isDeleted, isSpam, author name/email/username, ipAddress,
``<thread dsq:id>`` and an optional ``<parent dsq:id>``).

A deleted thread becomes a closed story: nobody can comment there any more, and its posts
keep the statuses of their own (the page may still be online; a moderator can remove them),
so nothing the archive holds is lost or hidden without a decision.

Each top-level element is cleared once read, so memory stays flat on a file of any size.
"""

from __future__ import annotations

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

NS = "{http://disqus.com}"
DSQ_ID = "{http://disqus.com/disqus-internals}id"
SOURCE = "disqus"
_ROOT = NS + "disqus"
_THREAD = NS + "thread"
_POST = NS + "post"


def read_disqus(stream: IO[bytes]) -> Iterator[ArchiveRecord]:
    """Stories and comments of a Disqus export, in file order; bad records become ``Skipped``."""
    context = etree.iterparse(
        stream,
        events=("end",),
        tag=(_THREAD, _POST),
        resolve_entities=False,
        no_network=True,
        remove_comments=True,
        remove_pis=True,
    )
    seen_root = False
    try:
        for _event, element in context:
            parent = element.getparent()
            if parent is None or parent.tag != _ROOT:
                continue  # the <thread dsq:id/> reference inside a <post>
            seen_root = True
            if element.tag == _THREAD:
                yield _story(element)
            else:
                yield _comment(element)
            element.clear(keep_tail=False)
            while element.getprevious() is not None:
                del parent[0]
    except etree.XMLSyntaxError as exc:
        raise ArchiveError(f"The Disqus export is not well-formed XML: {exc}") from exc
    if not seen_root:
        root = getattr(context, "root", None)
        if root is None or root.tag != _ROOT:
            found = "nothing" if root is None else f"<{etree.QName(root).localname}>"
            raise ArchiveError(
                f'Not a Disqus export: expected <disqus xmlns="http://disqus.com">, found {found}'
            )


def _fields(element: etree._Element) -> dict[str, etree._Element]:
    return {child.tag[len(NS) :]: child for child in element if isinstance(child.tag, str)}


def _text(fields: dict[str, etree._Element], name: str) -> str | None:
    child = fields.get(name)
    return None if child is None else child.text


def _flag(fields: dict[str, etree._Element], name: str) -> bool:
    return (_text(fields, name) or "").strip().lower() == "true"


def _where(element: etree._Element, kind: str) -> str:
    ident = element.get(DSQ_ID)
    return (
        f"{kind} dsq:id={ident} (line {element.sourceline})"
        if ident
        else f"{kind} at line {element.sourceline}"
    )


def _story(element: etree._Element) -> ImportedStory | Skipped:
    where = _where(element, "thread")
    ident = element.get(DSQ_ID)
    if not ident:
        return Skipped("thread without dsq:id", where)
    fields = _fields(element)
    link = (_text(fields, "link") or "").strip()
    if not link:
        return Skipped("thread without a link", where)
    if len(link) > 2048:
        return Skipped("thread link longer than 2048 characters", where)
    title = (_text(fields, "title") or "").strip() or link
    return ImportedStory(
        external_id=ident,
        url=link,
        title=title[:500],
        created_at=parse_timestamp(_text(fields, "createdAt")),
        closed=_flag(fields, "isClosed") or _flag(fields, "isDeleted"),
    )


def _comment(element: etree._Element) -> ImportedComment | Skipped:
    ident = element.get(DSQ_ID)
    if not ident:
        return Skipped("post without dsq:id", _where(element, "post"))
    fields = _fields(element)
    thread = fields.get("thread")
    thread_id = thread.get(DSQ_ID) if thread is not None else None
    if not thread_id:
        return Skipped("post without a thread reference", _where(element, "post"))
    created_at = parse_timestamp(_text(fields, "createdAt"))
    if created_at is None:
        return Skipped("post without a valid createdAt", _where(element, "post"))
    message = _text(fields, "message") or ""
    too_big = oversized(message)
    if too_big is not None:
        return Skipped(too_big.reason, _where(element, "post"))
    parent = fields.get("parent")
    parent_id = parent.get(DSQ_ID) if parent is not None else None
    author_el = fields.get("author")
    author = None
    if author_el is not None:
        author_fields = _fields(author_el)
        author = author_identity(
            SOURCE,
            name=_text(author_fields, "name"),
            email=_text(author_fields, "email"),
            username=_text(author_fields, "username"),
        )
    if _flag(fields, "isDeleted"):
        status = CommentStatus.DELETED
    elif _flag(fields, "isSpam"):
        status = CommentStatus.SPAM
    elif (_text(fields, "isApproved") or "true").strip().lower() == "false":
        status = CommentStatus.PENDING
    else:
        status = CommentStatus.PUBLISHED
    html = sanitize_html(message)
    return ImportedComment(
        external_id=ident,
        story_external_id=thread_id,
        parent_external_id=parent_id or None,
        author=author,
        body=html_to_text(html),
        html=html,
        status=status,
        created_at=created_at,
        source=SOURCE,
        ip=(_text(fields, "ipAddress") or "").strip()[:64] or None,
    )
