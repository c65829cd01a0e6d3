"""from_options refuses values of the wrong type, as the command line refuses bad text.

The embedding API passes Python values straight in: ``dotfiles="off"`` must be
a ValueError naming the option, never a truthy string that turns it on.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from staticsrv.config import DEFAULTS, from_options
from staticsrv.optiontypes import BOOLS, INTS, TEXTS


@pytest.mark.parametrize("name", sorted(BOOLS))
@pytest.mark.parametrize("value", ["off", "no", "false", "", "x", 0, 1, None])
def test_a_switch_takes_a_bool_only(tmp_path: Path, name: str, value: object) -> None:
    flag = "--" + name.replace("_", "-")
    with pytest.raises(ValueError, match="^" + re.escape(f"{flag}: {value!r} is not a bool")):
        from_options(tmp_path, **{name: value})


def test_every_switch_default_is_a_bool_and_every_bool_default_is_a_switch() -> None:
    assert {n for n, v in DEFAULTS.items() if isinstance(v, bool)} == BOOLS


@pytest.mark.parametrize("name", sorted(INTS | {"cache"}))
@pytest.mark.parametrize("value", [True, "3", 2.0])
def test_a_whole_number_option_takes_an_int_only(tmp_path: Path, name: str, value: object) -> None:
    flag = "--" + name.replace("_", "-")
    with pytest.raises(ValueError, match="^" + re.escape(f"{flag}: {value!r} is not a whole")):
        from_options(tmp_path, **{name: value})


@pytest.mark.parametrize("name", ["head_timeout", "keepalive_timeout", "send_timeout"])
@pytest.mark.parametrize("value", [True, "3", None])
def test_a_seconds_option_takes_a_number_only(tmp_path: Path, name: str, value: object) -> None:
    flag = "--" + name.replace("_", "-")
    with pytest.raises(ValueError, match=f"^{flag}: must be greater than 0"):
        from_options(tmp_path, **{name: value})


@pytest.mark.parametrize("name", sorted(TEXTS))
def test_a_text_option_takes_text_only(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match=f"^--{name}: 1 is not text"):
        from_options(tmp_path, **{name: 1})


@pytest.mark.parametrize(("value", "ok"), [(0, True), ("0", True), (True, False), (8.0, False)])
def test_port_takes_an_int_or_its_text(tmp_path: Path, value: object, ok: bool) -> None:
    if ok:
        assert from_options(tmp_path, port=value).port == 0
    else:
        with pytest.raises(ValueError, match=r"^--port: "):
            from_options(tmp_path, port=value)


def test_spa_takes_true_a_name_or_none(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("app")
    assert from_options(tmp_path, spa=True).spa == "index.html"
    assert from_options(tmp_path, spa="index.html").spa == "index.html"
    assert from_options(tmp_path, spa=None).spa is None
    with pytest.raises(ValueError, match=r"^--spa: 1 is not a file name"):
        from_options(tmp_path, spa=1)


def test_the_root_must_be_a_path(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"^root: 3 is not a path"):
        from_options(3)  # type: ignore[arg-type]


def test_right_types_still_pass(tmp_path: Path) -> None:
    got = from_options(tmp_path, dotfiles=True, cors=False, cache=60, head_timeout=1)
    assert (got.dotfiles, got.cors, got.max_age, got.timeouts.head) == (True, False, 60, 1.0)


@pytest.mark.parametrize("spaced", [" all ", "ALL", "all"])
def test_all_turns_the_host_check_off_whatever_its_spaces(tmp_path: Path, spaced: str) -> None:
    assert from_options(tmp_path, allowed_host=spaced).allowed_hosts is None


def test_allowed_host_stores_domain_patterns(tmp_path: Path) -> None:
    got = from_options(tmp_path, allowed_host=[" .Example.com ", "mybox.local"])
    assert got.allowed_hosts == frozenset({".example.com", "mybox.local"})
    with pytest.raises(ValueError, match=r"^--allowed-host: '\*\.example\.com': no wildcards"):
        from_options(tmp_path, allowed_host="*.example.com")
