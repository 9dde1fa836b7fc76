import pickle

import pytest
from tests.factories import NOW

from rostra.archive import background
from rostra.archive.background import read_file
from rostra.archive.disqus import read_disqus
from rostra.archive.records import ArchiveError
from rostra.archive.rostra_jsonl import encode_record, header, read_rostra
from rostra.archive.wordpress import read_wordpress


@pytest.mark.parametrize(
    ("name", "reader"),
    [("disqus.xml", read_disqus), ("wordpress.xml", read_wordpress)],
)
def test_a_reader_process_gives_the_same_records_in_the_same_order(archives, name, reader):
    path = archives / name
    with path.open("rb") as stream:
        here = list(reader(stream))
    progress = []
    there = list(read_file(reader, path, background=True, on_progress=progress.append))
    assert there == here
    assert progress[-1] == path.stat().st_size


def test_records_cross_in_chunks_with_progress_in_between(archives):
    many = b"".join(
        b'<thread xmlns:dsq="http://disqus.com/disqus-internals" dsq:id="%d">'
        b"<link>https://n.example/%d</link><title>T</title></thread>\n" % (i, i)
        for i in range(2500)
    )
    path = archives.parent / "many-threads.tmp.xml"
    path.write_bytes(b'<disqus xmlns="http://disqus.com">' + many + b"</disqus>")
    try:
        progress = []
        records = list(read_file(read_disqus, path, background=True, on_progress=progress.append))
    finally:
        path.unlink()
    assert [r.external_id for r in records] == [str(i) for i in range(2500)]
    assert len(progress) >= 3 and progress == sorted(progress)  # 1000 + 1000 + 500, then end


def test_a_broken_file_raises_the_readers_error_in_this_process(tmp_path):
    path = tmp_path / "broken.xml"
    path.write_bytes(
        b'<disqus xmlns="http://disqus.com" xmlns:dsq="http://disqus.com/disqus-internals">'
        b'<thread dsq:id="1"><link>https://n.example/1</link></thread><post'
    )
    here = []
    with pytest.raises(ArchiveError) as local:
        here.extend(read_file(read_disqus, path, background=False))
    there = []
    with pytest.raises(ArchiveError) as remote:
        there.extend(read_file(read_disqus, path, background=True))
    assert remote.value.message == local.value.message
    assert [r.external_id for r in there] == [r.external_id for r in here] == ["1"]


def test_stopping_early_ends_the_reader_process(archives, monkeypatch):
    children = []
    real = background.multiprocessing.get_context

    def remember(method):
        context = real(method)
        start = context.Process.start

        def started(process):
            children.append(process)
            start(process)

        monkeypatch.setattr(context.Process, "start", started)
        return context

    monkeypatch.setattr(background.multiprocessing, "get_context", remember)
    records = read_file(read_disqus, archives / "disqus.xml", background=True)
    first = next(records)
    assert children[0].is_alive() or children[0].exitcode == 0
    records.close()  # the consumer gives up: the child is stopped and joined
    assert first.external_id == "1001"
    assert not children[0].is_alive()


def test_small_files_are_read_in_this_process_big_ones_in_a_child(archives, monkeypatch):
    used = []
    monkeypatch.setattr(background, "_read_in_child",
                        lambda *args: used.append("child") or iter(()))  # fmt: skip
    path = archives / "disqus.xml"
    assert list(read_file(read_disqus, path))  # below MIN_BYTES: read here
    assert used == []
    monkeypatch.setattr(background, "MIN_BYTES", 1)
    assert list(read_file(read_disqus, path)) == []
    assert used == ["child"]


def test_records_pickle_to_equal_records(archives):
    with (archives / "disqus.xml").open("rb") as stream:
        records = list(read_disqus(stream))
    assert pickle.loads(pickle.dumps(records)) == records


def test_rostra_exports_read_in_a_child_too(tmp_path):
    path = tmp_path / "export.jsonl"
    site = {"slug": "s", "name": "S", "policy": {}, "settings": {}, "allowed_origins": []}
    story = encode_record("story", {"id": 1, "url": "https://n.example/1", "title": "One",
                                    "created_at": "2024-01-01T00:00:00+00:00"})  # fmt: skip
    path.write_bytes(header("site", site, NOW) + story + b"not json\n")
    with path.open("rb") as stream:
        here = list(read_rostra(stream))
    assert len(here) == 2  # the story, and the line skipped with a reason
    assert list(read_file(read_rostra, path, background=True)) == here
