"""The Host check, the --base prefix, the SPA navigation rule and clean URLs."""

from __future__ import annotations

import re

import pytest

from staticsrv.http.routing import (
    allowed_host_pattern,
    host_allowed,
    html_candidate,
    is_navigation,
    parse_base,
    strip_base,
)
from staticsrv.http.target import Target
from tests.unit.heads import target


@pytest.mark.parametrize(
    "host",
    [
        "localhost",
        "localhost:8080",
        "LOCALHOST",
        "localhost.",
        "app.localhost:3000",
        "127.0.0.1",
        "127.0.0.1:8080",
        "192.168.1.20:8080",
        "[::1]:8080",
        "[::1]",
        "[fe80::1]",
        "",  # HTTP/1.0 without a name, or an empty Host
        None,
    ],
)
def test_ip_literals_and_localhost_names_are_answered(host: str | None) -> None:
    assert host_allowed(host, frozenset())


@pytest.mark.parametrize(
    "host",
    [
        "evil.com",
        "evil.com:8080",
        "localhost.evil.com",
        "127.0.0.1.nip.io",
        "my-laptop",
        "0x7f000001",  # not an IP literal in a URL's host
        "[not-an-ip]",
    ],
)
def test_other_names_are_refused(host: str) -> None:
    assert not host_allowed(host, frozenset())


def test_allowed_names_pass_with_any_port_and_case() -> None:
    allowed = frozenset({"my-laptop", "dev.example.com"})
    assert host_allowed("my-laptop:8080", allowed)
    assert host_allowed("Dev.Example.com", allowed)
    assert not host_allowed("example.com", allowed)


@pytest.mark.parametrize(
    ("text", "segments"),
    [("/project/", ("project",)), ("project", ("project",)), ("/a/b", ("a", "b")), ("/", ())],
)
def test_base_prefixes(text: str, segments: tuple[str, ...]) -> None:
    assert parse_base(text) == segments


@pytest.mark.parametrize("text", ["/../x/", "/.git/", "/a?b", "/a#b", "/%zz/"])
def test_unusable_base_prefixes_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="--base"):
        parse_base(text)


def test_strip_base_maps_inside_redirects_the_root_and_refuses_the_rest() -> None:
    base = ("project",)
    assert strip_base(base, target("/project/x/y.css")) == Target(("x", "y.css"), "", False)
    assert strip_base(base, target("/project/")) == Target((), "", True)
    assert strip_base(base, target("/project")) is True
    assert strip_base(base, target("/")) is True
    assert strip_base(base, target("/other/x")) is False
    assert strip_base(base, target("/projectx")) is False
    assert strip_base((), target("/x")) == target("/x")


HTML = {"accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


@pytest.mark.parametrize(
    ("method", "headers", "raw", "expected"),
    [
        ("GET", HTML, "/dashboard/settings", True),
        ("HEAD", HTML, "/dashboard", True),
        ("GET", HTML, "/", True),
        ("GET", HTML, "/users/", True),
        ("GET", HTML, "/users/john.doe", True),  # a route, whatever its last segment
        ("GET", {"sec-fetch-mode": "navigate", "accept": "*/*"}, "/users/a.b", True),
        ("HEAD", {"sec-fetch-mode": "navigate"}, "/x", True),
        ("GET", {"sec-fetch-mode": "no-cors", "accept": "*/*"}, "/app.js", False),  # a script
        ("GET", {"sec-fetch-mode": "cors", "accept": "*/*"}, "/data.json", False),  # fetch()
        ("POST", {"sec-fetch-mode": "navigate"}, "/form", False),
        ("GET", HTML, "/v1.2/notes", True),  # a dot in an earlier segment is fine
        ("GET", {"accept": "application/json"}, "/api/items", False),  # an XHR
        ("GET", {"accept": "*/*"}, "/dashboard", False),  # fetch() default
        ("GET", {}, "/dashboard", False),
        ("POST", HTML, "/dashboard", False),
    ],
)
def test_spa_navigation_rule(
    method: str, headers: dict[str, str], raw: str, expected: bool
) -> None:
    assert is_navigation(method, headers, target(raw)) is expected


def test_clean_url_candidate() -> None:
    assert html_candidate(target("/about")) == Target(("about.html",), "", False)
    assert html_candidate(target("/docs/intro?x=1")) == Target(("docs", "intro.html"), "x=1", False)
    assert html_candidate(target("/about/")) is None
    assert html_candidate(target("/")) is None
    assert html_candidate(target("/page.html")) is None


# ---------------------------------------------------------------- --allowed-host patterns


@pytest.mark.parametrize(
    ("text", "stored"),
    [
        ("mybox.local", "mybox.local"),
        (" MyBox.Local. ", "mybox.local"),
        (".example.com", ".example.com"),
        ("  .Example.COM ", ".example.com"),
    ],
)
def test_allowed_host_values_are_trimmed_and_lowered(text: str, stored: str) -> None:
    assert allowed_host_pattern(text) == stored


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("*.example.com", "--allowed-host: '*.example.com': no wildcards; write .example.com"),
        ("*", "--allowed-host: '*': no wildcards"),
        ("ex*.com", "--allowed-host: 'ex*.com': no wildcards"),
        (".", "--allowed-host: '.' is not a host name"),
        ("..example.com", "--allowed-host: '..example.com' is not a host name"),
        ("a b", "--allowed-host: 'a b' is not a host name"),
        ("   ", "--allowed-host: '   ' is not a host name"),
    ],
)
def test_allowed_host_patterns_other_than_a_leading_dot_are_refused(
    text: str, message: str
) -> None:
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        allowed_host_pattern(text)


@pytest.mark.parametrize(
    ("host", "ok"),
    [
        ("example.com", True),
        ("EXAMPLE.com:8080", True),
        ("example.com.", True),
        ("a.example.com", True),
        ("a.b.example.com:443", True),
        ("badexample.com", False),  # a suffix of the text, not of the labels
        ("example.com.evil.net", False),
        ("com", False),
        ("other.org", False),
    ],
)
def test_a_leading_dot_allows_the_domain_and_every_subdomain(host: str, ok: bool) -> None:
    assert host_allowed(host, frozenset({".example.com"})) is ok


def test_a_plain_name_does_not_allow_its_subdomains() -> None:
    assert not host_allowed("a.mybox.local", frozenset({"mybox.local"}))
    assert host_allowed("mybox.local", frozenset({"mybox.local"}))
