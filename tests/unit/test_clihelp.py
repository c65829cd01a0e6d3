"""``--help`` is grouped by topic, and every option has a topic."""

from __future__ import annotations

import click
from click.testing import CliRunner

from staticsrv.cli import command
from staticsrv.clihelp import OTHER, TOPICS, topic_of

GENERIC = {"--help", "--version"}


def test_every_option_of_the_command_line_is_under_a_topic() -> None:
    options = [p for p in command.params if isinstance(p, click.Option)]
    untopical = [p.opts for p in options if topic_of(p) == OTHER and not GENERIC & set(p.opts)]
    assert untopical == []


def test_help_shows_the_topics_in_order_with_their_options() -> None:
    out = CliRunner().invoke(command, ["--help"]).output
    shown = [title for title, _ in TOPICS if f"\n{title}:\n" in out]
    assert shown == [
        title
        for title, _ in TOPICS
        if any(topic_of(p) == title for p in command.params if isinstance(p, click.Option))
    ]
    positions = [out.index(f"\n{title}:\n") for title in shown]
    assert positions == sorted(positions)
    serving = out[out.index("\nServing:\n") : out.index("\nCaching and compression:\n")]
    assert "-p, --port" in serving
    assert "--cache" not in serving


def test_an_option_no_topic_names_is_still_listed_under_other() -> None:
    stray = click.Option(["--stray-option"], help="not in any topic")
    assert topic_of(stray) == OTHER
