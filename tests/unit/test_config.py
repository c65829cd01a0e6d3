"""from_options: every option's check and its one-line message, defaults, the mapping to Config.

The CLI prints these messages after ``staticsrv: error:`` and the embedding
API raises them as ValueError, so each is asserted word for word.
"""

from __future__ import annotations

import os
from pathlib import Path

import click
import pytest

from staticsrv import cli, config
from staticsrv.config import DEFAULTS, MAX_AGE_LIMIT, Config, Timeouts, from_options
from tests.patching import replace


def test_defaults_give_the_default_config(tmp_path: Path) -> None:
    got = from_options(tmp_path)
    # No port given: 8080, or the next free one up to 8099.
    assert got == Config(root=os.path.realpath(tmp_path), port_fallback=True)
    assert (got.host, got.port, got.workers, got.loop) == ("127.0.0.1", 8080, 1, "auto")
    assert (got.listing, got.dotfiles, got.compress, got.quiet) == (True, False, True, False)
    assert got.cache_control == "no-cache"
    assert got.generated_cache_control == "no-cache"
    assert got.timeouts == Timeouts()
    assert got.body_budget == got.cache_file_max * got.cache_entries


def test_every_option_has_a_cli_flag_with_the_same_default() -> None:
    params = {p.name: p for p in cli.command.params if isinstance(p, click.Option)}
    for name, default in DEFAULTS.items():
        assert name in params, name
        cli_default = params[name].default
        if name == "port":
            # None: not given, so a busy 8080 falls back to the next free port.
            assert cli_default is None and default is None
        elif isinstance(default, bool):
            assert params[name].is_flag and default is False, name
        elif params[name].multiple:
            assert default == (), name  # repeatable: none given unless asked
        else:
            assert cli_default == default, name


def test_options_map_onto_the_config(tmp_path: Path) -> None:
    got = from_options(
        str(tmp_path),
        host="0.0.0.0",
        port="0",
        no_listing=True,
        dotfiles=True,
        cache=60,
        no_compress=True,
        workers=2,
        loop="asyncio",
        max_connections=7,
        head_timeout=1,
        keepalive_timeout=2.5,
        send_timeout=3,
        quiet=True,
    )
    assert got == Config(
        root=os.path.realpath(tmp_path),
        host="0.0.0.0",
        port=0,
        listing=False,
        dotfiles=True,
        quiet=True,
        max_age=60,
        compress=False,
        workers=2,
        loop="asyncio",
        max_connections=7,
        timeouts=Timeouts(head=1.0, keepalive=2.5, send=3.0),
    )
    assert got.cache_control == "public, max-age=60"
    assert isinstance(got.timeouts.head, float)


def test_no_cache_is_no_store_everywhere(tmp_path: Path) -> None:
    got = from_options(tmp_path, no_cache=True)
    assert got.no_store
    assert got.cache_control == "no-store"
    assert got.generated_cache_control == "no-store"


def test_cache_zero_is_max_age_zero(tmp_path: Path) -> None:
    assert from_options(tmp_path, cache=0).cache_control == "public, max-age=0"


def test_the_root_is_made_real(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    assert from_options(tmp_path / "link").root == os.path.realpath(tmp_path / "real")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"bogus": 1}, "unknown option 'bogus'"),
        ({"cache": "10"}, "--cache: '10' is not a whole number"),
        ({"cache": True}, "--cache: True is not a whole number"),
        ({"cache": -1}, f"--cache: -1 is out of range (from 0 to {MAX_AGE_LIMIT})"),
        (
            {"cache": MAX_AGE_LIMIT + 1},
            f"--cache: {MAX_AGE_LIMIT + 1} is out of range (from 0 to {MAX_AGE_LIMIT})",
        ),
        ({"cache": 10, "no_cache": True}, "--cache and --no-cache exclude each other"),
        ({"loop": "tokio"}, "--loop: 'tokio' is not one of auto, asyncio, uvloop"),
        ({"host": ""}, "--host: give an address or a name"),
        ({"port": 70000}, "--port: '70000' is not a port number (0 to 65535)"),
        ({"port": "abc"}, "--port: 'abc' is not a port number (0 to 65535)"),
        ({"port": -1}, "--port: '-1' is not a port number (0 to 65535)"),
        # str.isdecimal() takes any script's digits; a port is ASCII digits only.
        ({"port": "\u0663"}, "--port: '\u0663' is not a port number (0 to 65535)"),
        ({"workers": 0}, "--workers: 0 is out of range (from 1 to 64)"),
        ({"workers": 65}, "--workers: 65 is out of range (from 1 to 64)"),
        ({"workers": 1.5}, "--workers: 1.5 is not a whole number"),
        ({"max_connections": 0}, "--max-connections: 0 is out of range (at least 1)"),
        ({"head_timeout": 0}, "--head-timeout: must be greater than 0 and at most 86400"),
        ({"head_timeout": -1.0}, "--head-timeout: must be greater than 0 and at most 86400"),
        (
            {"keepalive_timeout": float("nan")},
            "--keepalive-timeout: must be greater than 0 and at most 86400",
        ),
        (
            {"send_timeout": float("inf")},
            "--send-timeout: must be greater than 0 and at most 86400",
        ),
        ({"send_timeout": 86401}, "--send-timeout: must be greater than 0 and at most 86400"),
        ({"send_timeout": "5"}, "--send-timeout: must be greater than 0 and at most 86400"),
    ],
)
def test_each_bad_value_is_one_clear_message(
    tmp_path: Path, options: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError) as info:
        from_options(tmp_path, **options)
    assert str(info.value) == message


def test_limits_are_inclusive(tmp_path: Path) -> None:
    got = from_options(
        tmp_path,
        port=65535,
        workers=64,
        cache=MAX_AGE_LIMIT,
        send_timeout=86400,
        head_timeout=0.001,
    )
    assert (got.port, got.workers, got.max_age) == (65535, 64, MAX_AGE_LIMIT)
    assert got.timeouts.send == 86400.0


def test_uvloop_asked_but_not_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    asked = replace(monkeypatch, config, "has_uvloop", lambda: False)
    with pytest.raises(ValueError) as info:
        from_options(tmp_path, loop="uvloop")
    assert asked, "from_options did not ask config.has_uvloop"
    assert str(info.value) == "--loop uvloop needs uvloop: pip install 'staticsrv[fast]'"
    assert from_options(tmp_path, loop="auto").loop == "auto"  # auto falls back quietly


def test_a_missing_root(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(ValueError) as info:
        from_options(missing)
    assert str(info.value) == f"root {str(missing)!r} does not exist"
    with pytest.raises(ValueError) as info:
        from_options("")
    assert str(info.value) == "root '' does not exist"


def test_a_root_that_is_a_file(tmp_path: Path) -> None:
    f = tmp_path / "f.txt"
    f.write_text("x")
    with pytest.raises(ValueError) as info:
        from_options(f)
    assert str(info.value) == f"root {str(f)!r} is not a folder"


def test_an_unreadable_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Forced: a superuser (as in many CI containers) can read a chmod 0 folder.
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    with pytest.raises(ValueError) as info:
        from_options(tmp_path)
    assert str(info.value) == f"root {str(tmp_path)!r} is not readable"
