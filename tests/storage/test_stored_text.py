"""Text columns refuse what one of the databases cannot store, alike on both."""

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import StatementError
from tests.factories import make_site

from rostra.domain.errors import InvalidInput
from rostra.storage.tables import sites


@pytest.mark.parametrize("name", ["News\x00", "News \ud800"])
def test_a_nul_or_a_lone_surrogate_is_invalid_input_before_the_statement_runs(db, name):
    make_site(db, "news")
    with pytest.raises(StatementError) as caught, db.begin() as conn:
        conn.execute(sites.update().values(name=name))
    assert isinstance(caught.value.orig, InvalidInput)
    with db.connect() as conn:
        assert conn.execute(select(sites.c.name)).scalar_one() != name
        # Comparisons go through the same check: no database error, the same refusal.
        with pytest.raises(StatementError):
            conn.execute(select(func.count()).where(sites.c.slug == "news\x00"))


def test_ordinary_text_is_stored_as_given(db):
    make_site(db, "news")
    with db.begin() as conn:
        conn.execute(sites.update().values(name="Le café — 新闻 🌍"))
    with db.connect() as conn:
        assert conn.execute(select(sites.c.name)).scalar_one() == "Le café — 新闻 🌍"
