"""Bounds on what an HTTP/2 client may make the server do, checked on the raw frames.

Owns: :class:`FrameGuard`, which reads only the 9-byte frame headers
(RFC 9113 §4.1) of the bytes a client sends, before h2's state machine
parses them, and says when a client crosses a bound: a header block
spread over CONTINUATION frames past :attr:`Bounds.header_block` (the
2024 CONTINUATION flood: h2 alone buffers up to 64 frames of 16 KiB),
streams reset faster than :attr:`Bounds.resets` per second (rapid reset,
CVE-2023-44487), PING and SETTINGS frames (each one costs an answer)
and empty frames (each costs work and carries nothing) past their rates.
Pure: bytes and a clock value in, a fixed reason out.  May not touch:
sockets, clocks, h2 itself.

The answer to a crossed bound is GOAWAY with ENHANCE_YOUR_CALM (RFC 9113
§7), as nginx, h2o and Go's server answer rapid reset.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PREFACE", "Bounds", "FrameGuard"]

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"  # RFC 9113 §3.4
_HEADER = 9
# Frame types and flags (RFC 9113 §6).
_DATA, _HEADERS, _PRIORITY, _RST_STREAM, _SETTINGS = 0, 1, 2, 3, 4
_PING, _CONTINUATION = 6, 9
_END_STREAM, _ACK, _END_HEADERS = 0x1, 0x1, 0x4


@dataclass(frozen=True, slots=True)
class Bounds:
    """Per connection; rates are counts per one-second window."""

    header_block: int = 64 * 1024  # bytes of one header block, compressed, all frames
    resets: int = 100  # RST_STREAM frames from the client
    control: int = 100  # PING and SETTINGS frames (not acknowledgements), PRIORITY
    empty: int = 100  # frames that carry nothing and end nothing


BOUNDS = Bounds()


class FrameGuard:
    """Follows the frame boundaries of a client's byte stream across ``feed`` calls."""

    __slots__ = ("_block", "_bounds", "_counts", "_head", "_preface", "_skip", "_window")

    def __init__(self, bounds: Bounds | None = None) -> None:
        self._bounds = BOUNDS if bounds is None else bounds
        self._preface = len(PREFACE)  # bytes of the preface still to pass (h2 checks them)
        self._head = b""  # a frame header received in part
        self._skip = 0  # payload bytes of the current frame still to pass
        self._block = -1  # bytes of the open header block; -1: none open
        self._window = -1  # the second the counts belong to
        self._counts = [0, 0, 0]  # resets, control, empty

    def feed(self, data: bytes, now: float) -> str | None:
        """None while within bounds, else why the connection must end (a fixed text)."""
        pos = 0
        size = len(data)
        if self._preface:
            pos = min(self._preface, size)
            self._preface -= pos
        while pos < size:
            if self._skip:
                step = min(self._skip, size - pos)
                self._skip -= step
                pos += step
                continue
            want = _HEADER - len(self._head)
            self._head += data[pos : pos + want]
            pos += want
            if len(self._head) < _HEADER:
                return None
            head, self._head = self._head, b""
            length = int.from_bytes(head[:3], "big")
            why = self._frame(head[3], head[4], length, now)
            if why is not None:
                return why
            self._skip = length
        return None

    def _count(self, which: int, limit: int, now: float) -> bool:
        second = int(now)
        if second != self._window:
            self._window = second
            self._counts = [0, 0, 0]
        self._counts[which] += 1
        return self._counts[which] > limit

    def _frame(self, kind: int, flags: int, length: int, now: float) -> str | None:
        bounds = self._bounds
        if kind in (_HEADERS, _CONTINUATION):
            self._block = max(self._block, 0) + length
            if self._block > bounds.header_block:
                return "header block too large"
            if flags & _END_HEADERS:
                self._block = -1
            elif length == 0 and self._count(2, bounds.empty, now):
                return "too many empty frames"
            return None
        if kind == _RST_STREAM:
            return "too many streams reset" if self._count(0, bounds.resets, now) else None
        if (kind in (_PING, _SETTINGS) and not flags & _ACK) or kind == _PRIORITY:
            return "too many control frames" if self._count(1, bounds.control, now) else None
        if kind == _DATA and length == 0 and not flags & _END_STREAM:
            return "too many empty frames" if self._count(2, bounds.empty, now) else None
        return None
