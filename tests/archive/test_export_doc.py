"""docs/export.md documents every field an export writes."""

import io
import json
from pathlib import Path

from tests.factories import NOW, WordEngine, make_reader, make_site, make_staff

from rostra.actions.archive import export_author, export_site, import_archive
from rostra.actions.comments import post_comment
from rostra.actions.moderation import moderate
from rostra.archive.disqus import read_disqus
from rostra.domain.moderation import ModerationAction

DOC = Path(__file__).resolve().parents[2] / "docs" / "export.md"
ARCHIVES = Path(__file__).parent.parent / "fixtures" / "archives"


def _documented(section: str) -> set[str]:
    text = DOC.read_text(encoding="utf-8").split(f"**{section}**", 1)[1].split("\n\n", 2)[1]
    return {line.split("`")[1] for line in text.splitlines() if line.startswith("| `")}


def test_every_exported_field_is_documented(db):
    site = make_site(db)
    with (ARCHIVES / "disqus.xml").open("rb") as stream:
        import_archive(db, site=site, records=read_disqus(stream), now=NOW)
    out = io.BytesIO()
    export_site(db, site=site, out=out, now=NOW)
    fields: dict[str, set[str]] = {}
    for line in out.getvalue().splitlines()[1:]:
        record = json.loads(line)
        fields.setdefault(record.pop("type"), set()).update(record)
    for kind in ("story", "author", "comment"):
        assert fields[kind] == _documented(kind), kind


def test_every_field_of_what_the_engine_and_moderators_made_of_an_author_is_documented(db):
    site = make_site(db)
    alice = make_reader(db, site, "alice")
    posted = post_comment(db, WordEngine(), site=site, author_id=alice.author_id,
                          url="https://herald.example/a", body="A stupid idea.", now=NOW)
    moderate(db, site=site, staff=make_staff(db, site), comment_id=posted.comment.id,
             action=ModerationAction.APPROVE, version=posted.comment.version, now=NOW)
    out = io.BytesIO()
    export_author(db, site=site, ref=str(alice.author_id), out=out, now=NOW)
    fields: dict[str, set[str]] = {}
    for line in out.getvalue().splitlines()[1:]:
        record = json.loads(line)
        fields.setdefault(record.pop("type"), set()).update(record)
    for kind in ("signal", "example"):
        assert fields[kind] == _documented(kind), kind
