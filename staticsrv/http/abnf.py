"""The character classes and the host grammar of HTTP/1.1 (RFC 9110, RFC 9112, RFC 3986).

Owns: each class as the set of bytes ``bytes.translate(None, CLASS)``
deletes (the input is valid exactly when nothing is left: one C pass, no
regular expression), and :func:`valid_host`.  Pure; used by the parser.
"""

from __future__ import annotations

import ipaddress

# Character classes, as the set of bytes `translate` deletes.
DIGIT = b"0123456789"
ALPHA = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
HEXDIG = DIGIT + b"ABCDEFabcdef"
# token = 1*tchar (RFC 9110 §5.6.2)
TCHAR = DIGIT + ALPHA + b"!#$%&'*+-.^_`|~"
OBS_TEXT = bytes(range(0x80, 0x100))
# The request-target grammar (RFC 9112 §3.2) is checked only as far as the
# server needs: any visible ASCII plus obs-text, i.e. no SP, CTL or DEL.
# Percent-decoding and path normalisation are the path decoder's job.
TARGET_CHARS = bytes(range(0x21, 0x7F)) + OBS_TEXT
# field-value = VCHAR / obs-text / SP / HTAB (RFC 9110 §5.5), plus the CR and
# LF of the line ends: checking the whole head at once with this set is one C
# pass that rejects NUL and every other CTL (bare CR/LF are counted apart).
HEAD_CHARS = b"\t\r\n" + bytes(range(0x20, 0x7F)) + OBS_TEXT
# reg-name = *( unreserved / pct-encoded / sub-delims ) (RFC 3986 §3.2.2);
# an IPv4address is a subset of it.  "@" is absent, so userinfo is refused.
REG_NAME_CHARS = ALPHA + DIGIT + b"-._~" + b"!$&'()*+,;=" + b"%"
IPV6_CHARS = HEXDIG + b":."
# What a request line can hold at all: the target's characters and SP.
LINE_CHARS = TARGET_CHARS + b" "


def valid_pct_encoding(name: bytes) -> bool:
    """Every "%" starts a pct-encoded triplet (RFC 3986 §2.1)."""
    if b"%" not in name:
        return True
    # Only reached for the rare host that contains "%": one step per "%".
    return all(len(c) >= 2 and not c[:2].translate(None, HEXDIG) for c in name.split(b"%")[1:])


def valid_host(value: bytes) -> bool:
    """``uri-host [ ":" port ]`` with a non-empty host (RFC 9112 §3.2, RFC 3986 §3.2).

    The "http" and "https" schemes forbid an empty host (RFC 9110 §4.2.1),
    so ":80" is refused even though RFC 3986 allows an empty reg-name.
    IPvFuture literals and IPv6 zone identifiers are refused: no client
    sends them to a web server and accepting them only widens the surface.
    """
    if value.startswith(b"["):
        close = value.find(b"]")
        if close < 0:
            return False
        literal = value[1:close]
        if not literal or literal.translate(None, IPV6_CHARS):
            return False
        try:
            ipaddress.IPv6Address(literal.decode("ascii"))
        except ValueError:
            return False
        rest = value[close + 1 :]
        if not rest:
            return True
        if rest[:1] != b":":
            return False
        port = rest[1:]
    else:
        host, _, port = value.partition(b":")
        if not host or host.translate(None, REG_NAME_CHARS) or not valid_pct_encoding(host):
            return False
    # port = *DIGIT (RFC 3986 §3.2.3): "host:" with an empty port is valid.
    return not port.translate(None, DIGIT)
