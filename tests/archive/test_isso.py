import sqlite3

import pytest

from rostra.archive.isso import count_isso_records, read_isso
from rostra.archive.records import ArchiveError, ImportedComment, ImportedStory, Skipped
from rostra.domain.comments import CommentStatus


def _read(archives, **kw):
    return list(read_isso(archives / "isso.db", **kw))


def test_threads_become_stories_with_the_base_url(archives):
    stories = [r for r in _read(archives, base_url="https://harbour.example/")
               if isinstance(r, ImportedStory)]  # fmt: skip
    assert stories[0].url == "https://harbour.example/2023/11/harbour-plan/"
    assert stories[1].title == "Le café ferme — 40 ans après"
    assert stories[2].title == stories[2].url  # Isso allows a thread without a title


def test_markdown_is_rendered_and_raw_html_escaped(archives):
    comments = {r.external_id: r for r in _read(archives) if isinstance(r, ImportedComment)}
    assert "<em>fishing</em>" in comments["1"].html
    assert comments["2"].body == "Not for the residents <script>alert(1)</script>"
    assert "<script>" not in comments["2"].html


def test_modes_map_to_statuses_and_deleted_parents_keep_their_replies(archives):
    comments = {r.external_id: r for r in _read(archives) if isinstance(r, ImportedComment)}
    assert comments["4"].status is CommentStatus.DELETED
    assert comments["5"].parent_external_id == "4"
    assert comments["6"].status is CommentStatus.PENDING
    assert comments["8"].author.external_id == comments["9"].author.external_id


def test_bad_rows_are_skipped_with_reasons(archives):
    reasons = {r.reason for r in _read(archives) if isinstance(r, Skipped)}
    assert reasons == {"unknown mode 8", "invalid UTF-8 in comment"}


def test_counts_rows_for_the_progress_bar(archives):
    assert count_isso_records(archives / "isso.db") == 3 + 12


def test_an_sqlite_file_of_another_program_is_refused(tmp_path):
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE threads (id INTEGER, name TEXT)")
    with pytest.raises(ArchiveError, match="Not an Isso database"):
        list(read_isso(path))


def test_a_file_that_is_not_sqlite_is_refused(tmp_path):
    path = tmp_path / "comments.db"
    path.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(ArchiveError, match="Not an SQLite database"):
        list(read_isso(path))


def test_the_isso_file_is_opened_read_only(archives, tmp_path):
    copy = tmp_path / "isso.db"
    copy.write_bytes((archives / "isso.db").read_bytes())
    before = copy.read_bytes()
    list(read_isso(copy))
    assert copy.read_bytes() == before


def _damaged(archives, tmp_path, name, change):
    path = tmp_path / name
    path.write_bytes(change(bytearray((archives / "isso.db").read_bytes())))
    return path


def _bad_schema(data):
    # SQLite's error message then quotes bytes that are not UTF-8.
    at = data.find(b"CREATE TABLE")
    data[at : at + 12] = b"CREATE \xb4ABLE"
    return bytes(data)


def _bad_pages(data):
    # The schema on page 1 reads; every page after it is garbage.
    for i in range(4096, len(data), 7):
        data[i] = 0xAB
    return bytes(data)


@pytest.mark.parametrize("change", [_bad_schema, _bad_pages])
def test_a_damaged_isso_database_is_an_archive_error(archives, tmp_path, change):
    path = _damaged(archives, tmp_path, "damaged.db", change)
    with pytest.raises(ArchiveError):
        count_isso_records(path)
    with pytest.raises(ArchiveError):
        list(read_isso(path))
