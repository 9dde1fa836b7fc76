"""docs/api.md names every endpoint of the OpenAPI document."""

from pathlib import Path

from tests.factories import WordEngine

from rostra.config import Settings
from rostra.web.app import create_app

DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"


def test_every_endpoint_is_in_the_api_guide():
    app = create_app(Settings(dev_mode=True, database_url="sqlite://"),
                     moderation_engine=WordEngine())
    guide = DOC.read_text(encoding="utf-8")
    missing = []
    for path in app.openapi()["paths"]:
        short = path.replace("/api/v1/sites/{site}/moderation", "…")
        if path not in guide and short not in guide:
            missing.append(path)
    assert missing == []
