"""The handler without sockets: a Request value and a temporary folder in, a Response out.

Every answer the server gives is decided here, so these tests cover the
decision tree (files, preconditions, ranges, 404 pages, redirects,
listings, methods) and the memo of final answers: a repeated request gets
an equal answer, and an edit, a rename-into-place or a new 404 page is seen
by the very next request.
"""

from __future__ import annotations

import errno
import gzip
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from staticsrv.config import Config
from staticsrv.http.http11 import Request
from staticsrv.http.responses import FileBody, Response
from staticsrv.site.handler import LOOKUPS, AddFields, Handler, Rule
from staticsrv.site.reader import FileChanged
from tests.unit.heads import request

HELLO = b"hello world\n"
CSS = b"body { color: red; }\n" * 100  # compressible and above the gzip minimum


def same(a: Response, b: Response) -> bool:
    """Equal answers: status, fields, body and close (Response compares by identity)."""
    return (a.status, a.fields, a.body, a.close) == (b.status, b.fields, b.body, b.close)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("<h1>home</h1>\n")
    (site / "hello.txt").write_bytes(HELLO)
    (site / "style.css").write_bytes(CSS)
    (site / ".env").write_text("SECRET=1\n")
    sub = site / "sub"
    sub.mkdir()
    (sub / "a.txt").write_text("a\n")
    (sub / ".hidden").write_text("h\n")
    return site


def make(root: Path, rules: Iterable[Rule] = (), **fields: object) -> Handler:
    config = Config(root=os.path.realpath(root), **fields)  # type: ignore[arg-type]
    return Handler(config, rules=rules)


@pytest.fixture
def handler(root: Path) -> Iterator[Handler]:
    h = make(root)
    yield h
    h.close()


# Files


async def test_a_file_is_200_with_its_bytes_type_length_and_validators(handler: Handler) -> None:
    resp = await handler.handle(request("/hello.txt"))
    assert resp.status == 200
    assert resp.body == HELLO
    assert resp.field("Content-Type") == "text/plain; charset=utf-8"
    assert resp.field("Content-Length") == str(len(HELLO))
    assert resp.field("Accept-Ranges") == "bytes"
    assert resp.field("Cache-Control") == "no-cache"
    etag = resp.field("ETag")
    assert etag is not None and etag.startswith('"')
    assert resp.field("Last-Modified") is not None
    assert not resp.close


async def test_the_root_serves_index_html(handler: Handler) -> None:
    resp = await handler.handle(request("/"))
    assert (resp.status, resp.body) == (200, b"<h1>home</h1>\n")


async def test_head_has_the_get_fields_and_no_body(handler: Handler) -> None:
    get = await handler.handle(request("/hello.txt"))
    head = await handler.handle(request("/hello.txt", "HEAD"))
    assert head.status == 200
    assert head.body == b""
    assert head.fields == get.fields  # Content-Length included (RFC 9110 §9.3.2)


async def test_if_none_match_is_304_with_validators_and_no_body(handler: Handler) -> None:
    etag = (await handler.handle(request("/hello.txt"))).field("ETag")
    assert etag is not None
    resp = await handler.handle(request("/hello.txt", headers={"If-None-Match": etag}))
    assert resp.status == 304
    assert resp.body == b""
    assert resp.field("ETag") == etag
    assert resp.field("Cache-Control") == "no-cache"


async def test_a_range_is_206_with_the_exact_bytes(handler: Handler) -> None:
    resp = await handler.handle(request("/hello.txt", headers={"Range": "bytes=0-4"}))
    assert resp.status == 206
    assert resp.body == HELLO[:5]
    assert resp.field("Content-Range") == f"bytes 0-4/{len(HELLO)}"
    assert resp.field("Content-Length") == "5"


async def test_multiple_ranges_are_multipart(handler: Handler) -> None:
    resp = await handler.handle(request("/hello.txt", headers={"Range": "bytes=0-1,6-7"}))
    assert resp.status == 206
    content_type = resp.field("Content-Type")
    assert content_type is not None and content_type.startswith("multipart/byteranges")
    assert isinstance(resp.body, bytes)
    assert b"he" in resp.body and b"wo" in resp.body
    assert resp.field("Content-Length") == str(len(resp.body))


async def test_an_unsatisfiable_range_is_416_with_the_size(handler: Handler) -> None:
    resp = await handler.handle(request("/hello.txt", headers={"Range": "bytes=100-"}))
    assert resp.status == 416
    assert resp.field("Content-Range") == f"bytes */{len(HELLO)}"
    assert resp.body == b""


async def test_a_failed_if_match_is_412(handler: Handler) -> None:
    resp = await handler.handle(request("/hello.txt", headers={"If-Match": '"other"'}))
    assert resp.status == 412
    assert resp.body == b""


async def test_gzip_is_chosen_when_accepted_and_round_trips(handler: Handler) -> None:
    resp = await handler.handle(request("/style.css", headers={"Accept-Encoding": "gzip"}))
    assert resp.status == 200
    assert resp.field("Content-Encoding") == "gzip"
    assert resp.field("Vary") == "Accept-Encoding"
    assert isinstance(resp.body, bytes)
    assert gzip.decompress(resp.body) == CSS


async def test_a_memoised_gzip_answer_is_not_given_to_a_client_that_refuses_gzip(
    handler: Handler,
) -> None:
    for _ in range(2):
        zipped = await handler.handle(request("/style.css", headers={"Accept-Encoding": "gzip"}))
        assert zipped.field("Content-Encoding") == "gzip"
    plain = await handler.handle(request("/style.css", headers={"Accept-Encoding": "identity"}))
    assert plain.field("Content-Encoding") is None
    assert plain.body == CSS


async def test_a_large_file_is_a_file_body_for_sendfile(root: Path) -> None:
    data = os.urandom(5000)
    (root / "big.bin").write_bytes(data)
    handler = make(root, cache_file_max=1024)
    try:
        for _ in range(2):  # never memoised: each answer owns a fresh descriptor
            resp = await handler.handle(request("/big.bin"))
            assert resp.status == 200
            assert isinstance(resp.body, FileBody)
            try:
                assert resp.body.length == len(data)
                assert resp.body.parts == ((0, len(data)),)
                assert os.pread(resp.body.fd, len(data) + 1, 0) == data
            finally:
                os.close(resp.body.fd)
            assert resp.field("Content-Length") == str(len(data))
        ranged = await handler.handle(request("/big.bin", headers={"Range": "bytes=10-19"}))
        assert isinstance(ranged.body, FileBody)
        try:
            assert (ranged.status, ranged.body.parts, ranged.body.length) == (206, ((10, 10),), 10)
        finally:
            os.close(ranged.body.fd)
        head = await handler.handle(request("/big.bin", "HEAD"))
        assert head.body == b""  # no descriptor opened for a HEAD
    finally:
        handler.close()


# 404, redirects, listings, hidden files


async def test_a_missing_file_gets_the_sites_not_found_page(handler: Handler, root: Path) -> None:
    (root / "not_found.html").write_text("<h1>custom 404</h1>\n")
    resp = await handler.handle(request("/missing.txt"))
    assert resp.status == 404
    assert resp.body == b"<h1>custom 404</h1>\n"
    assert resp.field("Content-Type") == "text/html; charset=utf-8"
    assert resp.field("Cache-Control") == "no-cache"
    assert resp.field("ETag") is None  # it stands for the missing resource, not the page


async def test_404_html_is_used_when_there_is_no_not_found_html(
    handler: Handler, root: Path
) -> None:
    (root / "404.html").write_text("<h1>gh 404</h1>\n")
    resp = await handler.handle(request("/missing.txt"))
    assert (resp.status, resp.body) == (404, b"<h1>gh 404</h1>\n")


async def test_the_builtin_404_page_when_the_site_has_none(handler: Handler) -> None:
    resp = await handler.handle(request("/missing.txt"))
    assert resp.status == 404
    assert isinstance(resp.body, bytes)
    assert b"404 Not Found" in resp.body
    assert resp.field("Content-Length") == str(len(resp.body))
    head = await handler.handle(request("/missing.txt", "HEAD"))
    assert (head.status, head.body) == (404, b"")


async def test_a_folder_without_slash_is_redirected_keeping_the_query(handler: Handler) -> None:
    resp = await handler.handle(request("/sub?x=1"))
    assert resp.status == 301
    assert resp.field("Location") == "/sub/?x=1"


async def test_a_folder_without_index_is_listed_without_dotfiles(handler: Handler) -> None:
    resp = await handler.handle(request("/sub/"))
    assert resp.status == 200
    assert isinstance(resp.body, bytes)
    assert b"a.txt" in resp.body
    assert b".hidden" not in resp.body
    assert resp.field("Content-Type") == "text/html; charset=utf-8"
    assert resp.field("Cache-Control") == "no-cache"


async def test_no_listing_gives_404(root: Path) -> None:
    handler = make(root, listing=False)
    try:
        assert (await handler.handle(request("/sub/"))).status == 404
    finally:
        handler.close()


async def test_dotfiles_are_hidden_unless_asked(handler: Handler, root: Path) -> None:
    assert (await handler.handle(request("/.env"))).status == 404
    shown = make(root, dotfiles=True)
    try:
        resp = await shown.handle(request("/.env"))
        assert (resp.status, resp.body) == (200, b"SECRET=1\n")
    finally:
        shown.close()


async def test_a_malformed_target_is_400(handler: Handler) -> None:
    assert (await handler.handle(request("/%ff"))).status == 400


# Methods


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
async def test_known_methods_are_405_with_allow(handler: Handler, method: str) -> None:
    resp = await handler.handle(request("/hello.txt", method))
    assert resp.status == 405
    assert resp.field("Allow") == "GET, HEAD, OPTIONS"


async def test_unknown_methods_are_501(handler: Handler) -> None:
    assert (await handler.handle(request("/hello.txt", "BREW"))).status == 501


async def test_options_is_204_with_allow(handler: Handler) -> None:
    resp = await handler.handle(request("/hello.txt", "OPTIONS"))
    assert resp.status == 204
    assert resp.field("Allow") == "GET, HEAD, OPTIONS"
    assert resp.body == b""


# The memo


async def test_a_repeated_request_gets_an_equal_answer(handler: Handler) -> None:
    for target in ("/hello.txt", "/missing.txt", "/sub/"):
        first = await handler.handle(request(target))
        again = await handler.handle(request(target))
        assert same(first, again), target


async def test_an_edit_is_seen_by_the_very_next_request(handler: Handler, root: Path) -> None:
    assert (await handler.handle(request("/hello.txt"))).body == HELLO
    assert (await handler.handle(request("/hello.txt"))).body == HELLO
    (root / "hello.txt").write_bytes(b"edited, and longer\n")
    assert (await handler.handle(request("/hello.txt"))).body == b"edited, and longer\n"


async def test_within_one_pass_of_the_loop_the_disk_is_looked_at_once(
    handler: Handler, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the server's hook, the requests of one pass share the pass's
    ``stat`` s; the next pass (the hook's callback has run) looks again."""
    ends: list[Callable[[], None]] = []
    handler.passes.next_pass = ends.append
    assert (await handler.handle(request("/hello.txt"))).body == HELLO  # pass 1
    assert len(ends) == 1
    stats: list[str] = []
    real_stat = os.stat

    def counted_stat(path: str, *args: object, **kwargs: object) -> os.stat_result:
        stats.append(path)
        return real_stat(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "stat", counted_stat)
    for _ in range(3):
        assert (await handler.handle(request("/hello.txt"))).body == HELLO
    assert stats == []  # neither the file nor the root (the rule files) again
    assert len(ends) == 1  # one hook per pass
    ends.pop()()  # the loop's next pass begins
    (root / "hello.txt").write_bytes(b"edited between passes\n")
    assert (await handler.handle(request("/hello.txt"))).body == b"edited between passes\n"
    assert str(root) in stats and len(ends) == 1


async def test_a_rename_into_place_is_seen_by_the_very_next_request(
    handler: Handler, root: Path
) -> None:
    old = await handler.handle(request("/hello.txt"))
    await handler.handle(request("/hello.txt"))
    new = root / "hello.txt.tmp"
    new.write_bytes(b"HELLO WORLD\n")  # same size: only the inode tells them apart
    os.replace(new, root / "hello.txt")
    resp = await handler.handle(request("/hello.txt"))
    assert resp.body == b"HELLO WORLD\n"
    assert resp.field("ETag") != old.field("ETag")


async def test_a_304_becomes_200_once_the_file_changes(handler: Handler, root: Path) -> None:
    etag = (await handler.handle(request("/hello.txt"))).field("ETag")
    assert etag is not None
    conditional = request("/hello.txt", headers={"If-None-Match": etag})
    assert (await handler.handle(conditional)).status == 304
    assert (await handler.handle(conditional)).status == 304
    (root / "hello.txt").write_bytes(b"changed content\n")
    assert (await handler.handle(conditional)).status == 200


async def test_a_memoised_404_sees_a_new_not_found_page_at_once(
    handler: Handler, root: Path
) -> None:
    for _ in range(2):
        builtin = await handler.handle(request("/missing.txt"))
        assert isinstance(builtin.body, bytes) and b"404 Not Found" in builtin.body
    (root / "not_found.html").write_text("<h1>new 404</h1>\n")
    assert (await handler.handle(request("/missing.txt"))).body == b"<h1>new 404</h1>\n"
    (root / "not_found.html").write_text("<h1>edited 404 page</h1>\n")
    assert (await handler.handle(request("/missing.txt"))).body == b"<h1>edited 404 page</h1>\n"
    (root / "not_found.html").unlink()
    back = await handler.handle(request("/missing.txt"))
    assert isinstance(back.body, bytes) and b"404 Not Found" in back.body


async def test_a_memoised_404_sees_the_file_once_it_exists(handler: Handler, root: Path) -> None:
    assert (await handler.handle(request("/later.txt"))).status == 404
    assert (await handler.handle(request("/later.txt"))).status == 404
    (root / "later.txt").write_text("now here\n")
    resp = await handler.handle(request("/later.txt"))
    assert (resp.status, resp.body) == (200, b"now here\n")


async def test_a_deleted_file_is_404_at_once(handler: Handler, root: Path) -> None:
    assert (await handler.handle(request("/hello.txt"))).status == 200
    assert (await handler.handle(request("/hello.txt"))).status == 200
    (root / "hello.txt").unlink()
    assert (await handler.handle(request("/hello.txt"))).status == 404


async def test_the_memo_holds_no_more_body_bytes_than_the_budget(root: Path) -> None:
    handler = make(root, cache_file_max=1024, cache_entries=4)
    budget = handler.config.body_budget
    assert budget == 4096
    try:
        for i in range(20):
            (root / f"f{i}.bin").write_bytes(bytes([i]) * 1000)
            resp = await handler.handle(request(f"/f{i}.bin"))
            assert resp.body == bytes([i]) * 1000
            assert 0 < handler.memo_bytes <= budget
        # The newest answers are still held and still right.
        assert (await handler.handle(request("/f19.bin"))).body == bytes([19]) * 1000
        assert (await handler.handle(request("/f0.bin"))).body == bytes([0]) * 1000
        assert handler.memo_bytes <= budget
    finally:
        handler.close()
    assert handler.memo_bytes == 0


# Rules: applied to every answer, memoised or not


TEST_FIELD = ("X-Test", "1")


def x_test_values(resp: Response) -> list[str]:
    return [value for name, value in resp.fields if name == "X-Test"]


async def test_a_rule_adds_its_field_to_every_answer_fast_path_or_not(root: Path) -> None:
    handler = make(root, rules=[AddFields((TEST_FIELD,))])
    try:
        ok = await handler.handle(request("/hello.txt"))
        etag = ok.field("ETag")
        assert etag is not None
        answers = {
            "200": ok,
            "repeated 200": await handler.handle(request("/hello.txt")),
            "304": await handler.handle(request("/hello.txt", headers={"If-None-Match": etag})),
            "repeated 304": await handler.handle(
                request("/hello.txt", headers={"If-None-Match": etag})
            ),
            "404": await handler.handle(request("/missing")),
            "repeated 404": await handler.handle(request("/missing")),
            "listing": await handler.handle(request("/sub/")),
            "206": await handler.handle(request("/hello.txt", headers={"Range": "bytes=0-1"})),
            "301": await handler.handle(request("/sub")),
            "405": await handler.handle(request("/hello.txt", "POST")),
            "OPTIONS": await handler.handle(request("/", "OPTIONS")),
            "HEAD": await handler.handle(request("/hello.txt", "HEAD")),
        }
        assert answers["304"].status == 304
        assert answers["404"].status == 404
        for name, resp in answers.items():
            assert x_test_values(resp) == ["1"], name
    finally:
        handler.close()


@dataclass(frozen=True, slots=True)
class EchoOrigin:
    """A rule that reads a request field: such requests must never be memoised."""

    reads: frozenset[str] = frozenset({"origin"})

    def apply(self, req: Request, resp: Response) -> Response:
        return resp.with_fields((("X-Origin", req.headers.get("origin", "-")),))


async def test_a_rule_that_reads_a_request_field_sees_every_request(root: Path) -> None:
    handler = make(root, rules=[EchoOrigin()])
    try:
        for origin in ("https://a.example", "https://b.example", "https://a.example"):
            resp = await handler.handle(request("/hello.txt", headers={"Origin": origin}))
            assert resp.field("X-Origin") == origin
        assert (await handler.handle(request("/hello.txt"))).field("X-Origin") == "-"
    finally:
        handler.close()


async def test_invalidate_forgets_every_memoised_answer(handler: Handler) -> None:
    await handler.handle(request("/hello.txt"))
    await handler.handle(request("/missing.txt"))
    assert handler.memo_bytes > 0
    handler.invalidate()
    assert handler.memo_bytes == 0
    assert (await handler.handle(request("/hello.txt"))).body == HELLO


async def test_a_memoised_symlink_swapped_to_another_file_is_seen_at_once(
    handler: Handler, root: Path, tmp_path: Path
) -> None:
    link = root / "link.txt"
    link.symlink_to(root / "hello.txt")
    for _ in range(2):
        assert (await handler.handle(request("/link.txt"))).body == HELLO
    swap(link, root / "sub" / "a.txt")
    assert (await handler.handle(request("/link.txt"))).body == b"a\n"
    secret = tmp_path / "secret.txt"
    secret.write_text("outside the root\n")
    swap(link, secret)
    assert (await handler.handle(request("/link.txt"))).status == 404


def swap(link: Path, target: Path) -> None:
    """Point ``link`` at ``target`` atomically (a new link renamed into place)."""
    fresh = link.with_name(link.name + ".new")
    fresh.symlink_to(target)
    os.replace(fresh, link)


# Failures: every one is a whole answer, with the rules applied


def failing_files(
    handler: Handler, monkeypatch: pytest.MonkeyPatch, exc: BaseException
) -> list[int]:
    calls: list[int] = []

    async def respond(req: Request, f: object) -> Response:
        calls.append(1)
        raise exc

    monkeypatch.setattr(handler.files, "respond", respond)
    return calls


async def test_a_permission_error_is_403(handler: Handler, monkeypatch: pytest.MonkeyPatch) -> None:
    failing_files(handler, monkeypatch, PermissionError(errno.EACCES, "denied"))
    resp = await handler.handle(request("/hello.txt"))
    assert resp.status == 403


async def test_out_of_descriptors_is_503_with_retry_after(
    handler: Handler, monkeypatch: pytest.MonkeyPatch
) -> None:
    failing_files(handler, monkeypatch, OSError(errno.EMFILE, "Too many open files"))
    resp = await handler.handle(request("/hello.txt"))
    assert resp.status == 503
    assert resp.field("Retry-After") == "1"
    # A passing shortage is never memoised: the next request tries again.
    monkeypatch.undo()
    assert (await handler.handle(request("/hello.txt"))).status == 200


async def test_a_file_that_keeps_changing_is_looked_up_a_few_times_then_503(
    handler: Handler, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = failing_files(handler, monkeypatch, FileChanged("churning"))
    resp = await handler.handle(request("/hello.txt"))
    assert resp.status == 503
    assert len(calls) == LOOKUPS


async def test_an_unexpected_error_is_a_500_that_closes_with_the_rules_applied(
    root: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    handler = make(root, rules=[AddFields((TEST_FIELD,))])
    try:
        failing_files(handler, monkeypatch, RuntimeError("a bug"))
        resp = await handler.handle(request("/hello.txt"))
        assert resp.status == 500
        assert resp.close
        assert x_test_values(resp) == ["1"]
        assert "RuntimeError: a bug" in caplog.text
        monkeypatch.undo()
        assert (await handler.handle(request("/hello.txt"))).status == 200  # not memoised
    finally:
        handler.close()


class _Broken:
    reads: frozenset[str] = frozenset()

    def apply(self, req: Request, resp: Response) -> Response:
        raise RuntimeError("a broken rule")


async def test_a_rule_that_raises_gives_a_500_that_closes_not_a_dead_connection(
    root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    handler = make(root, rules=[_Broken()])
    try:
        resp = await handler.handle(request("/hello.txt"))
        assert (resp.status, resp.close) == (500, True)
        assert "a broken rule" in caplog.text
    finally:
        handler.close()


# ---------------------------------------------------------------- the quick path's door


def test_the_memo_key_is_none_where_only_the_tree_may_answer(root: Path) -> None:
    handler = make(root, rules=[AddFields((("X-A", "1"),), reads=frozenset({"cookie"}))])
    assert handler.memo_key(request("/hello.txt")) == ("GET", "/hello.txt", None, False)
    assert handler.memo_key(request("/hello.txt", if_none_match='"x"', accept_encoding="gzip")) == (
        "GET",
        "/hello.txt",
        '"x"',
        True,
    )
    assert (
        handler.memo_key(request("/hello.txt", host="evil.example")) is None
    )  # the 403 is the tree's
    assert handler.memo_key(request("/hello.txt", range="bytes=0-1")) is None
    assert handler.memo_key(request("/hello.txt", if_modified_since="x")) is None
    assert handler.memo_key(request("/hello.txt", cookie="a=1")) is None  # a rule reads it


async def test_memo_hit_is_what_handle_stored_until_the_file_changes(
    handler: Handler, root: Path
) -> None:
    req = request("/hello.txt")
    key = handler.memo_key(req)
    assert key is not None
    assert handler.memo_hit(key) is None  # nothing decided yet
    first = await handler.handle(req)
    hit = handler.memo_hit(key)
    assert hit is not None and hit.response is first
    (root / "hello.txt").write_bytes(b"changed, and longer\n")
    handler.passes.arrived()  # a later request: a pass of its own
    assert handler.memo_hit(key) is None
    assert (await handler.handle(req)).body == b"changed, and longer\n"


def test_a_proxied_path_has_no_memo_key(root: Path) -> None:
    from staticsrv.http.proxymap import parse_proxy

    handler = make(root, proxy=(parse_proxy("/api=http://127.0.0.1:9"),))
    assert handler.memo_key(request("/api/users?x=1")) is None
    assert handler.memo_key(request("/api")) is None
    assert handler.memo_key(request("/apix")) == ("GET", "/apix", None, False)
