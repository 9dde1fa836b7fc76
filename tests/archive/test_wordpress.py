import io

import pytest

from rostra.archive.records import ArchiveError, ImportedComment, ImportedStory, Skipped
from rostra.archive.wordpress import read_wordpress
from rostra.domain.comments import CommentStatus


def _read(archives):
    with (archives / "wordpress.xml").open("rb") as stream:
        return list(read_wordpress(stream))


def _comments(records):
    return {r.external_id: r for r in records if isinstance(r, ImportedComment)}


def test_only_items_with_comments_become_stories(archives):
    stories = [r for r in _read(archives) if isinstance(r, ImportedStory)]
    assert [(s.external_id, s.closed) for s in stories] == [("10", False), ("20", True)]
    assert stories[0].url == "https://gazette.example/2023/05/bridge-reopens/"


def test_comment_approved_maps_to_statuses(archives):
    comments = _comments(_read(archives))
    assert comments["101"].status is CommentStatus.PUBLISHED
    assert comments["102"].status is CommentStatus.PENDING
    assert comments["103"].status is CommentStatus.SPAM
    assert comments["104"].status is CommentStatus.DELETED
    assert comments["105"].parent_external_id == "104"  # a reply to a trashed comment


def test_wordpress_line_breaks_become_paragraphs_and_bad_links_go(archives):
    first = _comments(_read(archives))["101"]
    assert first.html.startswith("<p>Finally!<br>It took them long enough.</p><p>Second")
    assert "javascript:" not in first.html
    assert first.created_at.isoformat() == "2023-05-01T10:15:00+00:00"  # the GMT field


def test_authors_by_user_id_then_email_then_name(archives):
    comments = _comments(_read(archives))
    assert comments["107"].author.external_id == "wordpress:user:id1"
    assert comments["102"].author.external_id == comments["105"].author.external_id  # email case
    assert comments["108"].author.external_id.startswith("wordpress:name:")
    assert comments["109"].author is None


def test_pingbacks_and_malformed_comments_are_skipped(archives):
    reasons = [r.reason for r in _read(archives) if isinstance(r, Skipped)]
    assert "pingback or trackback" in reasons
    assert "unknown comment_approved value 'maybe'" in reasons
    assert "comment without a valid comment_date_gmt" in reasons
    assert "comment without comment_id" in reasons
    assert "comment on an item without post_id or link" in reasons


def test_broken_wxr_is_an_archive_error():
    with pytest.raises(ArchiveError, match="not well-formed"):
        list(read_wordpress(io.BytesIO(b"<rss><channel><item><title>x</item></channel></rss>")))


def test_a_file_that_is_not_wxr_is_refused():
    with pytest.raises(ArchiveError, match="Not a WordPress export"):
        list(read_wordpress(io.BytesIO(b"<html><body>hello</body></html>")))
