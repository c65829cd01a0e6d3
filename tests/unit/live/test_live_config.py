"""The --live options in config.from_options (shared by the CLI and the API)."""

from __future__ import annotations

import logging
import os
import re
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


def test_live_overrides_cache_with_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, "staticsrv"):
        config = from_options(tmp_path, live=True, cache=3600)
    assert config.cache_control == "no-cache"
    [record] = caplog.records
    assert "--cache 3600" in record.getMessage() and "\n" not in record.getMessage()


def test_build_implies_live_and_watches_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = from_options(tmp_path / "site", build="mkdocs build")  # not made yet
    assert config.live and config.build == "mkdocs build"
    assert config.root == os.path.realpath(tmp_path / "site")
    assert config.watch == (os.path.realpath(tmp_path),)


def test_build_with_watch_watches_only_those(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    config = from_options(tmp_path / "site", build="make", watch=(str(tmp_path / "docs"),))
    assert config.watch == (os.path.realpath(tmp_path / "docs"),)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"build": "  "}, "--build: give the command"),
        ({"poll": True}, "--poll needs --live"),
        ({"live": True, "poll_interval": 5}, "--poll-interval: 5 is out of range"),
    ],
)
def test_bad_build_and_poll_options(
    tmp_path: Path, options: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        from_options(tmp_path, **options)


def test_build_refuses_a_root_holding_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="ROOT holds the current folder"):
        from_options(tmp_path, build="make")


def test_poll_is_kept_with_its_interval(tmp_path: Path) -> None:
    config = from_options(tmp_path, live=True, poll=True, poll_interval=1000)
    assert (config.poll, config.poll_interval) == (True, 1.0)
