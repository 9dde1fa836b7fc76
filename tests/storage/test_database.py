from datetime import UTC, datetime

import pytest
from sqlalchemy import insert, select

from rostra.storage.database import transaction
from rostra.storage.tables import sites


def test_transaction_commits_and_rolls_back(db):
    with transaction(db) as conn:
        conn.execute(
            insert(sites).values(
                slug="a", name="A", policy={}, settings={}, allowed_origins=[],
                created_at=datetime.now(UTC),
            )
        )
    with pytest.raises(RuntimeError), transaction(db) as conn:
        conn.execute(sites.delete())
        raise RuntimeError("boom")
    with db.connect() as conn:
        assert conn.execute(select(sites.c.slug)).scalars().all() == ["a"]
        assert conn.execute(select(sites.c.created_at)).scalar_one().tzinfo is not None
