"""The SSO signing example in docs/identity.md produces tokens Rostra accepts."""

import re
from datetime import UTC, datetime
from pathlib import Path

from rostra.domain.accounts import KeyAlgorithm, SiteKey
from rostra.web.auth import SSO_REQUIRED_CLAIMS, verify_sso_token

DOC = Path(__file__).resolve().parents[1] / "docs" / "identity.md"


def test_the_python_signing_example_works():
    text = DOC.read_text(encoding="utf-8")
    example = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    namespace: dict = {}
    exec(example, namespace)  # noqa: S102 - our own documentation
    now = datetime.now(UTC)
    key = SiteKey(id=1, site_id=1, kid="k1", algorithm=KeyAlgorithm.HS256,
                  secret="s" * 48, created_at=now, revoked_at=None)
    token = namespace["rostra_token"]({"id": 7, "name": "Alice", "email": "a@example.com"},
                                      "k1", "s" * 48)
    identity = verify_sso_token(token, [key], now)
    assert (identity.sub, identity.name, identity.email) == ("7", "Alice", "a@example.com")


def test_every_required_claim_is_documented():
    text = DOC.read_text(encoding="utf-8")
    for claim in SSO_REQUIRED_CLAIMS:
        assert f"| `{claim}` | yes |" in text
