import io
from datetime import UTC, datetime

import pytest

from rostra.archive.records import ArchiveError, ImportedAuthor, ImportedComment, Skipped
from rostra.archive.rostra_jsonl import encode_record, header, read_rostra

WHEN = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


def _export(*lines: bytes) -> io.BytesIO:
    return io.BytesIO(header("site", {"slug": "news", "name": "News"}, WHEN) + b"".join(lines))


def _comment(**overrides):
    data = {"id": 7, "story_id": 1, "parent_id": None, "author_id": 3, "body": "hi",
            "html": "<p>hi</p>", "status": "published", "created_at": WHEN,
            "source": "rostra", "external_id": None}  # fmt: skip
    return encode_record("comment", {**data, **overrides})


AUTHOR = encode_record("author", {"id": 3, "kind": "sso", "external_id": "sub-1", "name": "Ann",
                                  "email": None, "created_at": WHEN})  # fmt: skip
STORY = encode_record("story", {"id": 1, "url": "https://n.example/a", "title": "A",
                                "created_at": WHEN})  # fmt: skip


def test_records_carry_keys_that_make_a_second_import_idempotent():
    records = list(read_rostra(_export(STORY, AUTHOR, _comment(), _comment(id=8, parent_id=7))))
    author = records[1]
    assert isinstance(author, ImportedAuthor) and author.external_id == "sub-1"
    first, reply = records[2], records[3]
    assert isinstance(first, ImportedComment)
    assert (first.source, first.external_id) == ("rostra", "news:7")
    assert (reply.parent_source, reply.parent_external_id) == ("rostra", "news:7")
    assert first.author is author


def test_bad_lines_are_skipped_and_the_rest_read():
    records = list(read_rostra(_export(
        STORY, b"{not json\n", b"[1, 2]\n", _comment(status="weird"), _comment(author_id=99),
        encode_record("planet", {}), AUTHOR, _comment(),
    )))  # fmt: skip
    reasons = [r.reason for r in records if isinstance(r, Skipped)]
    assert reasons == [
        "not valid JSON",
        "not a JSON object",
        "comment record with a missing or invalid status",
        "comment by an author not in the export",
        "unknown record type 'planet'",
    ]
    assert isinstance(records[-1], ImportedComment)


def test_html_in_the_file_is_sanitised_again():
    [_story, comment] = list(read_rostra(_export(STORY, _comment(author_id=None,
                                         html="<p>x<script>bad()</script></p>"))))  # fmt: skip
    assert comment.html == "<p>x</p>"


def test_a_file_without_the_header_is_refused():
    with pytest.raises(ArchiveError, match="Not a Rostra export"):
        list(read_rostra(io.BytesIO(STORY)))


def test_invalid_utf8_is_refused_with_the_line_number():
    with pytest.raises(ArchiveError, match="Line 3"):
        list(read_rostra(_export(STORY, b'{"type": "story", "title": "\xff"}\n')))


def test_a_line_over_the_limit_is_refused_without_reading_it_whole(monkeypatch):
    monkeypatch.setattr("rostra.archive.rostra_jsonl.MAX_LINE_BYTES", 1000)
    with pytest.raises(ArchiveError, match="longer than 1000 bytes"):
        list(read_rostra(_export(STORY, b'{"type": "story", "title": "' + b"x" * 5000 + b'"}\n')))
