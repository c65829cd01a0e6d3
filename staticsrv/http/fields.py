"""Response fields a user may set (``-H``, ``_headers``): which names and values are sendable.

Pure.  A module of the sans-io HTTP layer so that the configuration (which
checks ``-H`` at start) and the site's rule files share one definition.
"""

from __future__ import annotations

import re

# Fields that frame or route the message: set only by the server itself
# (RFC 9112 §6, §9; RFC 9110 §6.6.1, §14.4).
PROTECTED = frozenset(
    {
        "content-length", "transfer-encoding", "connection", "keep-alive", "upgrade",
        "trailer", "te", "content-range", "date", "server", "proxy-connection",
        # The server picks the encoding per request (sidecars, on-the-fly
        # gzip): a fixed value would mislabel the other variants.
        "content-encoding",
    }
)  # fmt: skip
FIELD_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
# field-value: visible characters, SP and HTAB (RFC 9110 §5.5), latin-1 wide
# so that it can be sent as bytes at all.
_BAD_VALUE = re.compile(r"[^\t\x20-\x7e\x80-\xff]")


def check_field(name: str, value: str) -> str | None:
    """Why ``name: value`` cannot be a response field, or None if it can."""
    if not FIELD_NAME.match(name):
        return f"{name!r} is not a valid field name"
    if name.lower() in PROTECTED:
        return f"{name} is set by the server itself"
    if not value.strip():
        return f"{name} has an empty value"
    if _BAD_VALUE.search(value):
        return f"the value of {name} holds a line break or a control character"
    return None
