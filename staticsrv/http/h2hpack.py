"""HPACK (RFC 7541) for answers, without the dynamic table: each field's bytes are cached.

Owns: :class:`FieldEncoder`, the encoder h2 uses for the server's header
blocks.  With no dynamic table, a field's encoding depends on the field
alone (a static-table index, or a literal, Huffman-coded), so it is
computed once and a header block is a join of cached bytes: h2's own
encoder, which searches and grows the table field by field, was the
largest single cost per HTTP/2 request.  Fields are sent "never
indexed", so the client's table stays empty; every block after a change
of the client's SETTINGS_HEADER_TABLE_SIZE (and the first) starts with a
dynamic table size update to 0 (RFC 7541 §6.3), so a client that lowers
its table is answered as §4.2 asks.  The cost is a few bytes per answer
that the table would have saved (Date, ETag).

:class:`BlockDecoder` is the decoder h2 uses for requests.  A header block
that inserts nothing into the dynamic table (every field indexed, or a
literal not indexed) decodes to the same list for as long as the table
is unchanged, and a client repeating a request sends exactly such a block
(a browser for every asset of one shape, a load generator always): the
list is cached by the block's bytes and the table's generation, as the
HTTP/1.1 loop caches the parse of an identical head.  Any insertion or
resize starts a new generation.
May not touch: sockets, h2's state.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from hpack import Decoder, Encoder, NeverIndexedHeaderTuple
from hpack.table import HeaderTable

__all__ = ["BlockDecoder", "FieldEncoder"]

MAX_FIELDS = 4096  # cached encodings; the cache starts over when full
_SIZE_ZERO = b"\x20"  # dynamic table size update, 0 (RFC 7541 §6.3: 001 + 5-bit integer)


class FieldEncoder(Encoder):
    def __init__(self) -> None:
        super().__init__()
        self._fields: dict[Any, bytes] = {}
        self._resized = True  # the first block says the table is 0

    @property
    def header_table_size(self) -> int:
        return 0

    @header_table_size.setter
    def header_table_size(self, value: int) -> None:
        self._resized = True  # the client changed its setting: say 0 again

    def encode(self, headers: Iterable[Any], huffman: bool = True) -> bytes:
        cache = self._fields
        out = [_SIZE_ZERO] if self._resized else []
        self._resized = False
        for field in headers:
            data = cache.get(field)
            if data is None:
                if len(cache) >= MAX_FIELDS:
                    cache.clear()
                name, value = field[0], field[1]
                data = super().encode([NeverIndexedHeaderTuple(name, value)], huffman)
                cache[field] = data
            out.append(data)
        return b"".join(out)


MAX_BLOCKS = 512  # cached decoded blocks


class _Table(HeaderTable):
    """The dynamic table, counting its changes."""

    def __init__(self) -> None:
        super().__init__()
        self.generation = 0

    def add(self, name: bytes, value: bytes) -> None:
        self.generation += 1
        super().add(name, value)

    @property
    def maxsize(self) -> int:
        return self._maxsize

    @maxsize.setter
    def maxsize(self, newmax: int) -> None:
        self.generation += 1
        HeaderTable.maxsize.fset(self, newmax)  # type: ignore[attr-defined]


class BlockDecoder(Decoder):
    def __init__(self, max_header_list_size: int) -> None:
        super().__init__(max_header_list_size)
        self.header_table = self._table = _Table()
        self._blocks: dict[tuple[int, bytes], list[Any]] = {}

    def decode(self, data: bytes, raw: bool = False) -> Any:
        table = self._table
        key = (table.generation, bytes(data))
        hit = self._blocks.get(key)
        if hit is not None and raw:
            return list(hit)
        headers = super().decode(data, raw)
        if raw and table.generation == key[0]:  # nothing inserted: the same next time
            if len(self._blocks) >= MAX_BLOCKS:
                self._blocks.clear()
            self._blocks[key] = list(headers)
        return headers
