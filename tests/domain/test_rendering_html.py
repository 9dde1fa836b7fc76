from rostra.domain.rendering import html_to_text, sanitize_html


def test_foreign_html_keeps_the_allow_list_only():
    html = '<p onclick="x()">Hi <b>there</b><script>alert(1)</script><a href="https://a.example">a</a></p>'
    assert sanitize_html(html) == (
        '<p>Hi there<a href="https://a.example" rel="nofollow noopener ugc">a</a></p>'
    )


def test_javascript_links_lose_their_href():
    assert "javascript" not in sanitize_html('<a href="javascript:alert(1)">x</a>')


def test_text_of_html_keeps_breaks_links_and_entities():
    html = '<p>Fish &amp; chips<br>today</p><p>See <a href="https://m.example">menu</a></p>'
    assert html_to_text(html) == "Fish & chips\ntoday\n\nSee menu (https://m.example)"


def test_text_of_a_bare_url_link_is_not_repeated():
    assert html_to_text('<a href="https://x.example">https://x.example</a>') == "https://x.example"
