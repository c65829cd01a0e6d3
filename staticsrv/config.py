"""The one frozen configuration, and the validation of every option.

Owns: :class:`Config` and its defaults, and :func:`from_options`, which turns
the user's options (the CLI's long names as keyword arguments) into a
``Config`` or a ``ValueError`` whose text is the one line the CLI prints.
The CLI and the embedding API both call it, so a default or a rule is
written once.  May not touch: sockets, the event loop, files (beyond the
existence checks on the root that validation needs).
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from staticsrv.frontdoor import FRONT_DOOR_DEFAULTS, auth_option, mount_options, proxy_options
from staticsrv.http.fields import check_field
from staticsrv.http.limits import Limits
from staticsrv.http.routing import allowed_host_pattern, parse_base
from staticsrv.optiontypes import check_root_type, check_types

if TYPE_CHECKING:
    from staticsrv.http.proxymap import ProxyMap

KIB = 1024
MIB = 1024 * KIB

log = logging.getLogger("staticsrv")

MAX_SECONDS = 86400.0  # a day: any longer deadline is a typo, not a choice
# RFC 9111 §1.2.2: caches treat larger delta-seconds as 2^31 anyway.
MAX_AGE_LIMIT = 2**31
MAX_WORKERS = 64
LOOPS = ("auto", "asyncio", "uvloop")


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
    # Serve symlinks whose target lies outside the root (a monorepo's shared
    # assets); off by default, because it trusts whoever wrote the tree.
    follow_symlinks: bool = False
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
    limits: Limits = field(default_factory=Limits)
    timeouts: Timeouts = field(default_factory=Timeouts)
    # Preview as deployed (README "Preview as deployed").
    port_fallback: bool = False  # no --port given: 8080 busy -> the next free up to 8099
    spa: str | None = None  # the page a missed navigation gets (relative to the root)
    clean_urls: bool = True  # /about -> about.html, as on GitHub Pages
    base: tuple[str, ...] = ()  # --base: the site lives under /a/b/
    site_rules: bool = True  # read _redirects and _headers from the root
    cors: bool = False
    headers: tuple[tuple[str, str], ...] = ()  # -H: on every answer
    # Host names answered besides IP literals and *.localhost; None: any.
    allowed_hosts: frozenset[str] | None = frozenset()
    qr: bool = False
    open_browser: bool = False
    # Live reload (--live): off by default, and then no response changes.
    live: bool = False
    watch: tuple[str, ...] = ()  # extra real paths watched besides the root
    ignore: tuple[str, ...] = ()  # globs whose changes reload nothing
    live_delay: float = 0.1  # seconds of quiet before a change is announced
    build: str | None = None  # --build: the shell command that makes the root from its sources
    poll: bool = False  # --poll: stat the watched trees instead of waiting for OS events
    poll_interval: float = 0.3  # seconds between two polling scans
    # HTTPS: either a certificate from the local CA (https), or the user's
    # own PEM files (absolute paths; the key may sit in the cert file).
    https: bool = False
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_key_password_file: str | None = None
    # HTTP/2 (RFC 9113) offered by ALPN beside HTTP/1.1 whenever TLS is on.
    http2: bool = True
    proxy: tuple[ProxyMap, ...] = ()  # --proxy PATH=URL: looked at before files
    proxy_timeout: float = 60.0  # seconds for an upstream's head -> 504
    proxy_insecure: bool = False  # https upstreams: skip certificate checks
    proxy_pass_auth: bool = False  # with --auth: send Authorization up too
    mounts: tuple[tuple[tuple[str, ...], str], ...] = ()  # --mount: (URL segments, real folder)
    auth: tuple[str, str] | None = field(default=None, repr=False)  # --auth (user, password)

    @property
    def scheme(self) -> str:
        return "https" if self.https or self.tls_cert is not None else "http"

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

    @property
    def body_budget(self) -> int:
        """Bytes of small bodies held in memory at most, by any one cache."""
        return self.cache_file_max * self.cache_entries


_TIMEOUTS = Timeouts()
_DEFAULT = Config(root="")

# The user's options: the CLI's long names (dashes as underscores) and their
# defaults.  click shows these defaults in --help; the embedding API takes
# the same names as keyword arguments.
DEFAULTS: dict[str, object] = {
    "host": _DEFAULT.host,
    "port": None,  # 8080, or the next free port up to 8099
    "no_listing": False,
    "dotfiles": False,
    "follow_symlinks": False,
    "cache": None,
    "no_cache": False,
    "no_compress": False,
    "workers": _DEFAULT.workers,
    "loop": _DEFAULT.loop,
    "max_connections": _DEFAULT.max_connections,
    "head_timeout": _TIMEOUTS.head,
    "keepalive_timeout": _TIMEOUTS.keepalive,
    "send_timeout": _TIMEOUTS.send,
    "quiet": False,
    "spa": None,
    "no_clean_urls": False,
    "base": "/",
    "no_rules": False,
    "cors": False,
    "header": (),
    "allowed_host": (),
    "qr": False,
    "open": False,
    "live": False,
    "watch": (),
    "ignore": (),
    "live_delay": 100,
    "build": None,
    "poll": False,
    "poll_interval": 300,
    "https": False,
    "tls_cert": None,
    "tls_key": None,
    "tls_key_password_file": None,
    "no_http2": False,
    **FRONT_DOOR_DEFAULTS,  # --proxy*, --mount, --auth*
}
PORT_FALLBACK = range(8080, 8100)  # tried in turn when no port is given


def _seconds(name: str, value: object) -> float:
    # float() takes "nan" and "inf", which would silently turn a deadline off.
    if isinstance(value, bool):  # an int to Python, but True is no number of seconds
        value = None
    if isinstance(value, int | float) and math.isfinite(value) and 0 < value <= MAX_SECONDS:
        return float(value)
    raise ValueError(f"--{name}: must be greater than 0 and at most {MAX_SECONDS:g}")


def check_port(value: object) -> int:
    text = str(value)
    # isascii: str.isdecimal() also takes other scripts' digits ("\u0663" is 3).
    if not (text.isascii() and text.isdecimal() and 0 <= int(text) <= 65535):
        raise ValueError(f"--port: {text!r} is not a port number (0 to 65535)")
    return int(text)


def check_root(root: str) -> str:
    """The real path of a servable root folder, or ValueError saying what is wrong."""
    if not root or not os.path.exists(root):
        raise ValueError(f"root {root!r} does not exist")
    if not os.path.isdir(root):
        raise ValueError(f"root {root!r} is not a folder")
    if not os.access(root, os.R_OK | os.X_OK):
        raise ValueError(f"root {root!r} is not readable")
    return os.path.realpath(root)


def has_module(name: str) -> bool:
    """Whether an optional dependency can be imported."""
    try:
        __import__(name)
    except ImportError:
        return False
    return True


def has_uvloop() -> bool:
    return has_module("uvloop")


def _strings(name: str, value: object) -> tuple[str, ...]:
    """A repeatable option's values (a lone string or path is one value, not its letters)."""
    if isinstance(value, str | os.PathLike):
        return (str(os.fspath(value)),)
    if isinstance(value, list | tuple) and all(isinstance(v, str | os.PathLike) for v in value):
        return tuple(str(os.fspath(v)) for v in value)
    raise ValueError(f"--{name}: give text, or a list of texts")


def _header(text: str) -> tuple[str, str]:
    """``-H "Name: value"``: refused at start if it could not be sent as is."""
    name, colon, value = text.partition(":")
    name, value = name.strip(), value.strip()
    why = check_field(name, value) if colon else f"{text!r} is not Name: value"
    if why is not None:
        raise ValueError(f"--header: {why}")
    return name, value


def _allowed_hosts(names: tuple[str, ...]) -> frozenset[str] | None:
    if any(name.strip().lower() == "all" for name in names):
        return None  # the user turned the check off
    return frozenset(allowed_host_pattern(name) for name in names)


def _spa(root: str, value: object) -> str | None:
    """The SPA page relative to the root; it must be a file inside it."""
    if value is None or value is False:
        return None
    text = "index.html" if value is True else str(value)
    segments = parse_base(text, "--spa")  # the same rules as any path: no "..", no dotfiles
    path = os.path.join(root, *segments)
    if not segments or not os.path.isfile(path):
        raise ValueError(
            f"--spa: {text!r} is not a file in the root "
            "(to name the root after --spa, write --spa=FILE or put the root first)"
        )
    return "/".join(segments)


def _int_in(name: str, value: object, low: int, high: int | None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"--{name}: {value!r} is not a whole number")
    if value < low or (high is not None and value > high):
        bound = f"from {low} to {high}" if high is not None else f"at least {low}"
        raise ValueError(f"--{name}: {value} is out of range ({bound})")
    return value


def from_options(root: str | os.PathLike[str] = ".", **options: object) -> Config:
    """Validate the user's options and build the one :class:`Config`.

    Keyword names are the CLI's long option names with underscores; unknown
    names, wrong values and contradictions raise ``ValueError`` with the
    one-line message the CLI prints.
    """
    unknown = sorted(set(options) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"unknown option {unknown[0]!r}")
    check_types(options)
    o = {**DEFAULTS, **options}
    cache = o["cache"]
    if cache is not None:
        cache = _int_in("cache", cache, 0, MAX_AGE_LIMIT)
    if cache is not None and o["no_cache"]:
        raise ValueError("--cache and --no-cache exclude each other")
    loop = str(o["loop"])
    if loop not in LOOPS:
        raise ValueError(f"--loop: {loop!r} is not one of {', '.join(LOOPS)}")
    if loop == "uvloop" and not has_uvloop():
        raise ValueError("--loop uvloop needs uvloop: pip install 'staticsrv[fast]'")
    host = str(o["host"])
    if not host:
        raise ValueError("--host: give an address or a name")
    tls = {name: _path(name, o[name]) for name in ("tls_cert", "tls_key", "tls_key_password_file")}
    if o["https"] and tls["tls_cert"]:
        raise ValueError("--https makes its own certificate: give --https or --tls-cert, not both")
    for name in ("tls_key", "tls_key_password_file"):
        if tls[name] and not tls["tls_cert"]:
            raise ValueError(f"--{name.replace('_', '-')} needs --tls-cert")
    if o["https"]:
        from staticsrv.pki.certs import NEEDS_EXTRA, has_cryptography

        if not has_cryptography():
            raise ValueError(NEEDS_EXTRA)
    if o["build"] and not os.path.exists(os.fspath(root)):
        # The build makes it; until then the server answers "building...".
        root = os.path.realpath(os.fspath(check_root_type(root)))
    else:
        root = check_root(check_root_type(root))
    if o["qr"] and not has_module("segno"):
        raise ValueError("--qr needs segno: pip install 'staticsrv[qr]'")
    from staticsrv.liveconfig import build_options, live_options

    build, poll, poll_interval = build_options(o, root)
    live, watch, ignore, live_delay = live_options(o)
    mounts = mount_options(_strings("mount", o["mount"]))
    watch = (*watch, *(f for _s, f in mounts if live and f not in watch))  # watched like the root
    if live and cache is not None:
        # A reload must never run yesterday's script from the browser's cache.
        log.warning("staticsrv: --live revalidates every answer: --cache %d ignored", cache)
        cache = None
    return Config(
        root=root,
        host=host,
        port=PORT_FALLBACK[0] if o["port"] is None else check_port(o["port"]),
        port_fallback=o["port"] is None,
        spa=_spa(root, o["spa"]),
        clean_urls=not o["no_clean_urls"],
        base=parse_base(str(o["base"])),
        site_rules=not o["no_rules"],
        cors=bool(o["cors"]),
        headers=tuple(_header(text) for text in _strings("header", o["header"])),
        allowed_hosts=_allowed_hosts(_strings("allowed-host", o["allowed_host"])),
        qr=bool(o["qr"]),
        open_browser=bool(o["open"]),
        listing=not o["no_listing"],
        dotfiles=bool(o["dotfiles"]),
        follow_symlinks=bool(o["follow_symlinks"]),
        quiet=bool(o["quiet"]),
        max_age=cache,
        no_store=bool(o["no_cache"]),
        compress=not o["no_compress"],
        workers=_int_in("workers", o["workers"], 1, MAX_WORKERS),
        loop=loop,
        max_connections=_int_in("max-connections", o["max_connections"], 1, None),
        timeouts=Timeouts(
            head=_seconds("head-timeout", o["head_timeout"]),
            keepalive=_seconds("keepalive-timeout", o["keepalive_timeout"]),
            send=_seconds("send-timeout", o["send_timeout"]),
        ),
        live=live,
        watch=watch,
        ignore=ignore,
        live_delay=live_delay,
        build=build,
        poll=poll,
        poll_interval=poll_interval,
        https=bool(o["https"]),
        tls_cert=tls["tls_cert"],
        tls_key=tls["tls_key"],
        tls_key_password_file=tls["tls_key_password_file"],
        http2=not o["no_http2"],
        proxy=proxy_options(_strings("proxy", o["proxy"])),
        proxy_timeout=_seconds("proxy-timeout", o["proxy_timeout"]),
        proxy_insecure=bool(o["proxy_insecure"]),
        proxy_pass_auth=bool(o["proxy_pass_auth"]),
        auth=auth_option(o["auth"], _path("auth_file", o["auth_file"])),
        mounts=mounts,
    )


def _path(name: str, value: object) -> str | None:
    """An absolute path (the server may change folders; workers start elsewhere)."""
    if value is None or value == "":
        return None
    if not isinstance(value, str | os.PathLike):
        raise ValueError(f"--{name.replace('_', '-')}: {value!r} is not a path")
    return str(os.path.abspath(os.fspath(value)))
