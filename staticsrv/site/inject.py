"""Where the live-reload script goes in an HTML document, and putting it there: pure.

Owns: :data:`SCRIPT_TAG`, :func:`injection_point` and :func:`inject`.
May not touch: files, sockets, HTTP fields (the caller gives the injected
bytes their own validators and length).

The script goes before the first ``</head>``, else before the first
``</body>``, else at the very end: a page with neither tag still reloads
(live-server's #359 and #147).  A tag only counts where an HTML parser
would see one: not inside a comment, not inside the raw text of
``<script>``/``<style>`` (a ``"</head>"`` in a script string), not inside
a quoted attribute value.  Tag names are case-insensitive (HTML Standard
§13.1.2).  The markers are ASCII, so any ASCII-compatible encoding (UTF-8,
Latin-1, Shift_JIS...) is searched as bytes; a document that starts with a
UTF-16 byte order mark is searched and injected in UTF-16.
"""

from __future__ import annotations

import codecs
import re

SCRIPT_PATH = "/__staticsrv__/live.js"
SCRIPT_TAG = f'<script src="{SCRIPT_PATH}"></script>'.encode("ascii")

# Elements whose content the tokenizer reads as text up to their own end tag
# (HTML Standard §13.2.5: RAWTEXT, RCDATA and script data states).  With
# scripting on, <noscript> is RAWTEXT too.
_RAW_TEXT = frozenset(
    {b"script", b"style", b"textarea", b"title", b"xmp", b"iframe", b"noembed", b"noframes",
     b"noscript", b"plaintext"}
)  # fmt: skip
# A start tag with its attributes; quoted values may hold ">" and "</head>".
_START_TAG = re.compile(rb"""<([A-Za-z][^\s/>]*)(?:[^>"']|"[^"]*"|'[^']*')*>?""")
_END_TAG = re.compile(rb"</([A-Za-z][^\s/>]*)[^>]*>?")
_UTF16 = ((codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))


def _raw_text_end(data: bytes, name: bytes, start: int) -> int:
    """Where the raw text of element ``name`` opened before ``start`` ends."""
    if name == b"plaintext":
        return len(data)  # never ends (HTML Standard §13.2.5.5)
    pattern = re.compile(rb"</" + re.escape(name) + rb"(?=[\s/>]|$)", re.IGNORECASE)
    found = pattern.search(data, start)
    return found.start() if found else len(data)


def injection_point(data: bytes) -> int:
    """The offset at which the script tag goes (``len(data)``: the very end)."""
    body = -1
    i = 0
    n = len(data)
    while True:
        lt = data.find(b"<", i)
        if lt < 0 or lt + 1 >= n:
            break
        nxt = data[lt + 1 : lt + 2]
        if data.startswith(b"<!--", lt):
            end = data.find(b"-->", lt + 4)
            if end < 0:
                break  # the rest is a comment
            i = end + 3
        elif nxt in (b"!", b"?"):
            # A doctype, CDATA or a bogus comment: ends at the next ">".
            end = data.find(b">", lt)
            if end < 0:
                break
            i = end + 1
        elif nxt == b"/":
            m = _END_TAG.match(data, lt)
            if m is None:
                i = lt + 2
                continue
            name = m.group(1).lower()
            if name == b"head":
                return lt
            if name == b"body" and body < 0:
                body = lt
            i = m.end()
        elif nxt.isalpha():
            m = _START_TAG.match(data, lt)
            assert m is not None  # one letter always matches
            i = m.end()
            name = m.group(1).lower()
            # "<script/>" still opens a script: a self-closing flag on a
            # non-void element is ignored (HTML Standard §13.2.6.1).
            if name in _RAW_TEXT:
                i = _raw_text_end(data, name, i)
                if i >= n:
                    break
        else:
            i = lt + 1
    return body if body >= 0 else n


def inject(data: bytes) -> bytes:
    """``data`` with :data:`SCRIPT_TAG` at its :func:`injection_point`."""
    for bom, encoding in _UTF16:
        if data.startswith(bom):
            text = data[len(bom) :].decode(encoding, "surrogatepass")
            at = injection_point(text.encode("utf-8", "surrogatepass"))
            # Offsets differ between the two encodings: map back via the prefix.
            prefix = text.encode("utf-8", "surrogatepass")[:at].decode("utf-8", "surrogatepass")
            tag = SCRIPT_TAG.decode("ascii")
            out = prefix + tag + text[len(prefix) :]
            return bom + out.encode(encoding, "surrogatepass")
    at = injection_point(data)
    return data[:at] + SCRIPT_TAG + data[at:]
