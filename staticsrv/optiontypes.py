"""The Python type of every user option, checked before its value is.

Owns: which options are switches, numbers, text, paths, and the one-line
``ValueError`` for a value of the wrong type.  The command line hands
:func:`staticsrv.config.from_options` bools for its flags and text or
numbers for the rest, so only embedding code (``serve(dotfiles="off")``)
can get these wrong; a string there must not count as "true" the way
``bool("off")`` would, silently serving what the user meant to hide.
May not touch: anything but the values it is given.
"""

from __future__ import annotations

import os

# Switches: a bool and nothing else (not 0/1, not "yes"/"off").
BOOLS = frozenset(
    {
        "no_listing", "dotfiles", "follow_symlinks", "no_cache", "no_compress", "quiet",
        "no_clean_urls", "no_rules", "cors", "qr", "open", "live", "https", "no_http2",
        "proxy_insecure", "proxy_pass_auth", "poll",
    }
)  # fmt: skip
TEXTS = frozenset({"host", "loop", "base"})
# Whole numbers (a bool is not one, though Python counts it as an int);
# seconds are config._seconds's, which refuses bools and text too.
INTS = frozenset({"workers", "max_connections", "live_delay"})
INTS_OR_NONE = frozenset({"cache"})


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def check_types(options: dict[str, object]) -> None:
    """ValueError naming the first option whose value has the wrong type."""
    for name, value in options.items():
        if name in BOOLS and not isinstance(value, bool):
            raise ValueError(f"{_flag(name)}: {value!r} is not a bool (give True or False)")
        if name in TEXTS and not isinstance(value, str):
            raise ValueError(f"{_flag(name)}: {value!r} is not text")
        whole = isinstance(value, int) and not isinstance(value, bool)
        if (
            name in INTS | INTS_OR_NONE
            and not whole
            and not (value is None and name in INTS_OR_NONE)
        ):
            raise ValueError(f"{_flag(name)}: {value!r} is not a whole number")
        if name == "port" and not (value is None or isinstance(value, str) or type(value) is int):
            raise ValueError(f"--port: {value!r} is not a port number (0 to 65535)")
        if name == "spa" and not (value is None or isinstance(value, bool | str)):
            raise ValueError(f"--spa: {value!r} is not a file name (or True for index.html)")


def check_root_type(root: object) -> str:
    if not isinstance(root, str | os.PathLike):
        raise ValueError(f"root: {root!r} is not a path")
    return str(os.fspath(root))
