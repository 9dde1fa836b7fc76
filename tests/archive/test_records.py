"""What every import passes through before it is written: texts a database can store."""

from datetime import UTC, datetime

from rostra.archive.records import (
    ImportedAuthor,
    ImportedComment,
    ImportedStory,
    Skipped,
    storable,
)
from rostra.domain.comments import CommentStatus

WHEN = datetime(2024, 1, 1, tzinfo=UTC)


def _comment(body="fine", author=None, **fields):
    return ImportedComment("c1", "s1", None, author, body, f"<p>{body}</p>",
                           CommentStatus.PUBLISHED, WHEN, "isso", **fields)


def test_clean_records_pass_through_untouched():
    story = ImportedStory("s1", "https://news.example/a", "Title")
    comment = _comment(author=ImportedAuthor("isso:name:x", "Erin"))
    assert storable(story) is story and storable(comment) is comment
    skipped = Skipped("reason", "where")
    assert storable(skipped) is skipped


def test_names_emails_and_titles_are_cleaned():
    author = ImportedAuthor("isso:name:x", "Er\x00in", "e\x00rin@example.org")
    cleaned = storable(_comment(author=author))
    assert isinstance(cleaned, ImportedComment)
    assert (cleaned.author.name, cleaned.author.email) == ("Erin", "erin@example.org")
    assert storable(ImportedAuthor("k", "\x00")).name == "Anonymous"
    story = storable(ImportedStory("s1", "https://news.example/a", "Half \ud800 a pair"))
    assert story.title == "Half \ufffd a pair"


def test_texts_ids_and_urls_that_cannot_be_stored_are_skipped_with_reasons():
    assert storable(_comment("NUL \x00")) == Skipped("NUL character in comment", "comment id='c1'")
    assert storable(_comment("\udc80")).reason == "lone surrogate (not UTF-8) in comment"
    assert storable(_comment(ip="1.2.3.4\x00")).reason == "NUL character in comment"
    story = storable(ImportedStory("s1", "https://news.example/\x00", "Title"))
    assert story == Skipped("NUL character in story", "story id='s1'")
