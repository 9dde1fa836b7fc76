"""docs/export.md documents every field an export writes."""

import io
import json
from pathlib import Path

from tests.factories import NOW, make_site

from rostra.actions.archive import export_site, import_archive
from rostra.archive.disqus import read_disqus

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
