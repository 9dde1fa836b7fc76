import io

import pytest

from rostra.archive.disqus import read_disqus
from rostra.archive.records import ArchiveError, ImportedComment, ImportedStory, Skipped
from rostra.domain.comments import CommentStatus


def _read(archives):
    with (archives / "disqus.xml").open("rb") as stream:
        return list(read_disqus(stream))


def _comments(records):
    return {r.external_id: r for r in records if isinstance(r, ImportedComment)}


def test_threads_become_stories_and_threads_without_a_link_are_skipped(archives):
    records = _read(archives)
    stories = [r for r in records if isinstance(r, ImportedStory)]
    assert [s.external_id for s in stories] == ["1001", "1002", "1003"]
    assert stories[0].title == "Élections 2024 — les résultats"
    assert stories[1].closed is True
    skipped = {r.reason for r in records if isinstance(r, Skipped)}
    assert {"thread without a link", "thread without dsq:id"} <= skipped


def _with_thread_1001_deleted(archives):
    data = (archives / "disqus.xml").read_bytes()
    start = data.index(b'<thread dsq:id="1001">')
    flag = data.index(b"<isDeleted>false</isDeleted>", start)
    assert flag < data.index(b"</thread>", start)
    return data[:flag] + b"<isDeleted>true</isDeleted>" + data[flag + 28 :]


def test_a_deleted_thread_is_a_closed_story_whose_posts_keep_their_statuses(archives):
    records = list(read_disqus(io.BytesIO(_with_thread_1001_deleted(archives))))
    stories = {r.external_id: r for r in records if isinstance(r, ImportedStory)}
    assert (stories["1001"].closed, stories["1003"].closed) == (True, False)
    assert {k: c.status for k, c in _comments(records).items()} == {
        k: c.status for k, c in _comments(_read(archives)).items()
    }


def test_html_bodies_are_sanitised_and_a_text_source_kept(archives):
    first = _comments(_read(archives))["5001"]
    assert "<script" not in first.html and "onerror" not in first.html and "<img" not in first.html
    assert 'rel="nofollow noopener ugc"' in first.html
    assert first.body.startswith("Turnout was higher than expected.")
    assert "the numbers (https://stats.example/turnout)" in first.body


def test_escaped_html_outside_cdata_reads_the_same(archives):
    escaped = _comments(_read(archives))["5011"]
    assert escaped.html == "<p>Escaped, not CDATA &amp; still fine</p>"
    assert escaped.author is None


def test_statuses_parents_and_unicode(archives):
    comments = _comments(_read(archives))
    assert comments["5006"].status is CommentStatus.DELETED
    assert comments["5008"].status is CommentStatus.SPAM
    assert comments["5007"].parent_external_id == "5006"
    assert comments["5010"].author.name == "Érin Ünal 🌍"
    assert "予算 😡🔥" in comments["5010"].body


def test_the_same_person_is_one_author_whatever_the_name(archives):
    comments = _comments(_read(archives))
    assert comments["5001"].author.external_id == comments["5003"].author.external_id
    assert comments["5002"].author.external_id == comments["5004"].author.external_id
    assert "bob@" not in comments["5002"].author.external_id  # the email is hashed in the key


def test_malformed_posts_are_skipped_with_reasons(archives):
    reasons = [r.reason for r in _read(archives) if isinstance(r, Skipped)]
    assert "post without a valid createdAt" in reasons
    assert "post without dsq:id" in reasons
    assert "post without a thread reference" in reasons


def test_broken_xml_is_an_archive_error_after_the_good_records():
    data = (
        b'<disqus xmlns="http://disqus.com" xmlns:dsq="http://disqus.com/disqus-internals">'
        b'<thread dsq:id="1"><link>https://a.example/</link></thread><post dsq:id="2"><message>'
    )
    seen = []
    with pytest.raises(ArchiveError, match="not well-formed"):
        for record in read_disqus(io.BytesIO(data)):
            seen.append(record)
    assert [type(r) for r in seen] == [ImportedStory]


def test_invalid_utf8_is_an_archive_error():
    data = (
        b'<?xml version="1.0" encoding="utf-8"?><disqus xmlns="http://disqus.com">'
        b"<category><title>\xff\xfe</title></category></disqus>"
    )
    with pytest.raises(ArchiveError):
        list(read_disqus(io.BytesIO(data)))


def test_another_xml_file_is_refused():
    with pytest.raises(ArchiveError, match="Not a Disqus export"):
        list(read_disqus(io.BytesIO(b"<rss><channel/></rss>")))


def test_a_huge_text_node_is_refused_not_loaded():
    huge = b"x" * (11 * 1024 * 1024)
    data = (
        b'<disqus xmlns="http://disqus.com" xmlns:dsq="http://disqus.com/disqus-internals">'
        b'<post dsq:id="1"><message>' + huge + b"</message></post></disqus>"
    )
    with pytest.raises(ArchiveError):
        list(read_disqus(io.BytesIO(data)))


def test_a_long_message_under_the_parser_limit_is_skipped():
    data = (
        b'<disqus xmlns="http://disqus.com" xmlns:dsq="http://disqus.com/disqus-internals">'
        b'<post dsq:id="1"><message>' + b"y" * 300_000 + b"</message>"
        b'<createdAt>2020-01-01T00:00:00Z</createdAt><thread dsq:id="1"/></post></disqus>'
    )
    [skipped] = list(read_disqus(io.BytesIO(data)))
    assert skipped.reason.startswith("body longer than")


def test_external_entities_are_not_resolved(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP SECRET")
    data = (
        f'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file://{secret}">]>'
        '<disqus xmlns="http://disqus.com" xmlns:dsq="http://disqus.com/disqus-internals">'
        '<thread dsq:id="1"><link>https://a.example/</link><title>&x;</title></thread></disqus>'
    ).encode()
    records = list(read_disqus(io.BytesIO(data)))
    assert all("TOP SECRET" not in getattr(r, "title", "") for r in records)
