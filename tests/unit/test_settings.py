"""Reading the settings file (staticsrv.settings), without the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

from staticsrv.settings import find, parse

KNOWN = {"port": "port", "live-delay": "live_delay", "watch": "watch", "root": "root_opt"}


def test_long_names_with_dashes_or_underscores_map_to_parameters() -> None:
    got = parse('port = 0\nlive_delay = 50\nroot = "site"\n', "staticsrv.toml", (), KNOWN)
    assert got.values == {"port": 0, "live_delay": 50, "root_opt": "site"}


def test_an_unknown_key_is_refused_naming_the_file() -> None:
    with pytest.raises(ValueError, match=r"^x\.toml: unknown setting 'prot'"):
        parse("prot = 1\n", "x.toml", (), KNOWN)


def test_a_table_that_is_not_a_table_is_refused() -> None:
    with pytest.raises(ValueError, match="must be a table"):
        parse('[tool]\nstaticsrv = "x"\n', "pyproject.toml", ("tool", "staticsrv"), KNOWN)


def test_own_file_wins_over_pyproject(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.staticsrv]\nport = 1\n")
    (tmp_path / "staticsrv.toml").write_text("port = 2\n")
    found = find(str(tmp_path), KNOWN)
    assert found is not None and (found.shown, found.values) == ("staticsrv.toml", {"port": 2})


def test_no_file_or_no_table_is_none(tmp_path: Path) -> None:
    assert find(str(tmp_path), KNOWN) is None
    (tmp_path / "pyproject.toml").write_text("[tool.black]\nline-length = 100\n")
    assert find(str(tmp_path), KNOWN) is None
