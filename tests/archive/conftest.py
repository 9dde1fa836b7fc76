from __future__ import annotations

from pathlib import Path

import pytest

ARCHIVES = Path(__file__).parent.parent / "fixtures" / "archives"


@pytest.fixture
def archives() -> Path:
    """The folder of small export files written from each format's documentation."""
    return ARCHIVES
