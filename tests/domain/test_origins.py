import pytest

from rostra.domain.errors import InvalidInput
from rostra.domain.origins import normalise_origin


@pytest.mark.parametrize(("given", "origin"), [
    ("https://news.example", "https://news.example"),
    ("HTTPS://News.Example/", "https://news.example"),
    ("https://news.example:443", "https://news.example"),
    ("http://news.example:80", "http://news.example"),
    ("http://127.0.0.1:8001", "http://127.0.0.1:8001"),
    ("  https://news.example  ", "https://news.example"),
    ("http://[::1]:8080", "http://[::1]:8080"),
])
def test_origins_are_written_as_browsers_send_them(given, origin):
    assert normalise_origin(given) == origin


@pytest.mark.parametrize("bad", [
    "", "news.example", "ftp://news.example", "javascript:alert(1)", "https://",
    "https://news.example/article", "https://user:pw@news.example", "https://news.example?x=1",
    "https://news.example:99999", "null",
])
def test_non_origins_are_refused(bad):
    with pytest.raises(InvalidInput):
        normalise_origin(bad)
