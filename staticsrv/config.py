"""The one frozen configuration object.

Only the CLI builds a :class:`Config`; every other module receives it (or the
few fields it needs) as an argument, so there is a single source of truth for
defaults and no option is declared twice.
"""

from __future__ import annotations

from dataclasses import dataclass

KIB = 1024
MIB = 1024 * KIB


@dataclass(frozen=True, slots=True)
class Limits:
    """Protocol limits, all enforced by the pure parser and the server.

    The values follow what nginx and h11 use in practice; RFC 9112 §3 leaves
    the exact sizes to the server but asks for 414/431 when they are exceeded.
    """

    max_request_line: int = 8 * KIB  # longer request line -> 414 (RFC 9112 §3)
    max_head: int = 16 * KIB  # whole head including the request line -> 431 (RFC 6585 §5)
    max_headers: int = 100  # more header lines -> 431
    max_discard_body: int = 64 * KIB  # a GET body up to this size is read and dropped


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Per-connection deadlines in seconds; see the README's security section."""

    head: float = 10.0  # total time to receive one request head (anti-slowloris)
    keepalive: float = 15.0  # idle time allowed between two requests
    send: float = 30.0  # time a blocked send may wait for the client to read more
    shutdown_grace: float = 3.0  # in-flight responses finishing on SIGINT/SIGTERM


@dataclass(frozen=True, slots=True)
class Config:
    root: str  # absolute, symlink-free path of the served folder
    host: str = "127.0.0.1"
    port: int = 8080
    listing: bool = True
    dotfiles: bool = False
    quiet: bool = False
    # Cache-Control policy: None -> "no-cache" (revalidate, edits show at
    # once), 0 or more -> "max-age=N", and no_store -> "no-store".
    max_age: int | None = None
    no_store: bool = False
    compress: bool = True
    workers: int = 1
    loop: str = "auto"  # auto | asyncio | uvloop
    max_connections: int = 1024
    # Bodies up to cache_file_max bytes are kept in memory by the LRU reader;
    # larger ones are sent with sendfile(2) straight from the page cache.
    cache_file_max: int = 256 * KIB
    cache_entries: int = 256  # so the cache holds at most 64 MiB of bodies
    limits: Limits = Limits()
    timeouts: Timeouts = Timeouts()

    @property
    def cache_control(self) -> str:
        """The Cache-Control value for file responses (RFC 9111 §5.2.2)."""
        if self.no_store:
            return "no-store"
        if self.max_age is None:
            return "no-cache"
        return f"public, max-age={self.max_age}"

    @property
    def generated_cache_control(self) -> str:
        """For listings, redirects and error pages: never kept without asking.

        A folder listing changes with the folder, and a cached 301 or 404
        would outlive the very edit a developer is about to make.
        """
        return "no-store" if self.no_store else "no-cache"
