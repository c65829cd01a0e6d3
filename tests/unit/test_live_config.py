"""The --live options in config.from_options (shared by the CLI and the API)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from staticsrv.config import from_options


def test_live_is_off_by_default_and_then_watches_nothing(tmp_path: Path) -> None:
    config = from_options(tmp_path)
    assert not config.live
    assert config.watch == ()


def test_live_options_are_mapped(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    config = from_options(
        tmp_path, live=True, watch=[str(src), str(src)], ignore=("*.map",), live_delay=250
    )
    assert config.live
    assert config.watch == (os.path.realpath(src),)  # real, and once
    assert config.ignore == ("*.map",)
    assert config.live_delay == 0.25


def test_a_single_watch_path_is_one_path_not_its_letters(tmp_path: Path) -> None:
    config = from_options(tmp_path, live=True, watch=str(tmp_path))
    assert config.watch == (os.path.realpath(tmp_path),)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"watch": ["."]}, "need --live"),
        ({"live": True, "live_delay": 10_001}, "--live-delay"),
        ({"live": True, "live_delay": True}, "--live-delay"),
        ({"live": True, "ignore": [""]}, "--ignore"),
        ({"live": True, "workers": 2}, "one process"),
        ({"live": True, "watch": ["/definitely/not/here"]}, "does not exist"),
    ],
)
def test_bad_live_options_say_what_is_wrong(
    tmp_path: Path, options: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        from_options(tmp_path, **options)
