"""Web origins (scheme://host[:port]) as browsers send them in the ``Origin`` header."""

from __future__ import annotations

from urllib.parse import urlsplit

from rostra.domain.errors import InvalidInput

_DEFAULT_PORTS = {"http": 80, "https": 443}


def normalise_origin(value: str) -> str:
    """``value`` as the browser would write it: lower-case, no path, no default port.

    Raises InvalidInput for anything that is not an http(s) origin.
    """
    text = value.strip()
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise InvalidInput(f"not a valid origin: {value!r}", field="origin") from exc
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if scheme not in _DEFAULT_PORTS or not host:
        raise InvalidInput(
            f"an origin looks like https://news.example.com, not {value!r}", field="origin"
        )
    if parts.username or parts.password or parts.query or parts.fragment:
        raise InvalidInput(f"an origin has no credentials, query or fragment: {value!r}",
                           field="origin")
    if parts.path not in ("", "/"):
        raise InvalidInput(f"an origin has no path: {value!r}", field="origin")
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    if port is None or port == _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"
