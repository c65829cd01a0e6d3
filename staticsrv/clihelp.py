"""``--help`` grouped by topic: serving, caching, live reload, preview, proxy, HTTPS, limits.

Owns: the order in which option topics are shown and which topic each
option belongs to.  click lists options in declaration order under one
heading; a newcomer looking for "how do I proxy /api" should find a
heading that says so.  An option not named here is still shown, under
"Other options", so a new option can never vanish from ``--help``.
May not touch: parsing or validating options (click and :mod:`staticsrv.config`).
"""

from __future__ import annotations

import click

# Topic headings in the order --help shows them, each with its long options.
TOPICS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "Serving",
        (
            "--root", "--host", "--port", "--no-listing", "--dotfiles", "--follow-symlinks",
            "--mount", "--quiet", "--open", "--qr",
        ),
    ),
    ("Caching and compression", ("--cache", "--no-cache", "--no-compress")),
    (
        "Live reload and builds",
        ("--live", "--watch", "--ignore", "--live-delay", "--build", "--poll", "--poll-interval"),
    ),
    (
        "Preview as deployed",
        (
            "--spa", "--no-clean-urls", "--base", "--no-rules", "--cors", "--header",
            "--allowed-host", "--auth", "--auth-file",
        ),
    ),
    (
        "Proxy",
        ("--proxy", "--proxy-timeout", "--proxy-insecure", "--proxy-pass-auth"),
    ),
    (
        "HTTPS",
        (
            "--https", "--tls-cert", "--tls-key", "--tls-key-password-file", "--no-http2",
            "--print-ca",
        ),
    ),
    (
        "Limits and performance",
        (
            "--workers", "--loop", "--max-connections", "--head-timeout", "--keepalive-timeout",
            "--send-timeout",
        ),
    ),
)  # fmt: skip
OTHER = "Other options"


def topic_of(param: click.Parameter) -> str:
    """The heading an option is listed under (:data:`OTHER` if no topic names it)."""
    names = set(getattr(param, "opts", ())) | set(getattr(param, "secondary_opts", ()))
    for title, options in TOPICS:
        if names.intersection(options):
            return title
    return OTHER


class GroupedCommand(click.Command):
    """A click command whose ``--help`` lists its options under topic headings."""

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        groups: dict[str, list[tuple[str, str]]] = {}
        for param in self.get_params(ctx):
            if not isinstance(param, click.Option):
                continue  # ROOT is shown in the usage line
            record = param.get_help_record(ctx)
            if record is not None:
                groups.setdefault(topic_of(param), []).append(record)
        for title in (*(t for t, _ in TOPICS), OTHER):
            rows = groups.get(title)
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)
