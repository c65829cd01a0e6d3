"""Files that change while they are being served.

* A file truncated mid-transfer: the client must not hang waiting for bytes
  that will never come; it gets EOF before the promised Content-Length.
* A file replaced by rename-into-place (what editors and build tools do)
  while clients fetch it: every answer is one whole version, its validators
  (ETag, Content-Length) describe exactly the bytes sent, and no answer is
  cut short.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from staticsrv.http.conditional import make_etag
from staticsrv.site.reader import content_etag
from tests.client import Closed, Conn, fetch
from tests.e2e.load.conftest import RunServer

pytestmark = pytest.mark.load

MIB = 1024 * 1024
CLIENT_TIMEOUT = 10.0


@pytest.mark.parametrize("loop", ["auto", "asyncio"])
@pytest.mark.parametrize("keep", [0, MIB], ids=["to-empty", "to-1MiB"])
def test_truncated_while_sending_client_gets_eof_not_a_hang(
    run_server: RunServer, tmp_path: Path, keep: int, loop: str
) -> None:
    root = tmp_path / "site"
    root.mkdir()
    original = os.urandom(24 * MIB)
    path = root / "shrinking.bin"
    path.write_bytes(original)
    server = run_server(root, "--send-timeout", "5", "--loop", loop)
    with Conn(server.addr, timeout=CLIENT_TIMEOUT, rcvbuf=64 * 1024) as conn:
        conn.send(b"GET /shrinking.bin HTTP/1.1\r\nHost: localhost\r\n\r\n")
        head = conn.read_head()
        status, headers = head.status, head.headers
        assert status == 200 and int(headers["content-length"]) == len(original)
        os.truncate(path, keep)  # while the server is blocked on our full window
        start = time.monotonic()
        body, how = conn.read_to_eof(CLIENT_TIMEOUT)
        took = time.monotonic() - start
    assert how in ("eof", "reset"), f"client still waiting after {CLIENT_TIMEOUT} s"
    assert len(body) < len(original), "the promised length was reached from a shorter file"
    # What lies below the new end is the file's.  Past it, sendfile(2) may
    # already have queued page-cache pages that the truncation then zeroed:
    # zero-copy sends what the page holds when it leaves, so only the short
    # length (which the client sees) marks the answer as broken.
    assert body[:keep] == original[: min(keep, len(body))]
    # The shrunken file is served whole afterwards.
    assert fetch(server.addr, "/shrinking.bin").body == original[:keep]
    assert server.alive()
    print(f"\n[{loop}] truncated to {keep} B: client got {len(body)} B then {how} in {took:.2f} s")


VERSIONS = 6
RENAMES = 300
READERS = 8
MAX_REQUESTS_PER_READER = 3000
RACE_SECONDS = 30.0


@pytest.mark.parametrize(
    ("size", "grow"),
    [(4 * 1024, 1000), (4 * 1024, 0), (1 * MIB, 1000), (1 * MIB, 0)],
    ids=["cached-4KiB", "cached-4KiB-same-size", "sendfile-1MiB", "sendfile-1MiB-same-size"],
)
def test_rename_into_place_never_serves_a_mix(
    run_server: RunServer, tmp_path: Path, size: int, grow: int
) -> None:
    root = tmp_path / "site"
    root.mkdir()
    # Versions differ in every byte (and in length unless grow is 0), so any
    # mix or cut shows; same-size versions are what an editor usually saves.
    versions = [bytes([ord("A") + k]) * (size + grow * k) for k in range(VERSIONS)]
    target = root / "app.bin"
    etags: dict[str, bytes] = {}
    lock = threading.Lock()

    def install(k: int, n: int) -> None:
        tmp = root / f".tmp-{n}"
        tmp.write_bytes(versions[k])
        st = os.stat(tmp)
        with lock:
            etags[make_etag(st.st_ino, st.st_size, st.st_mtime_ns)] = versions[k]
            # Just written, so "racy" (reader.RACY_NS): a cached-size version's
            # ETag is then its content's, a larger one has none until it settles.
            etags[content_etag(versions[k])] = versions[k]
        os.replace(tmp, target)

    install(0, 0)
    server = run_server(root)
    writer_done = threading.Event()
    readers_running = threading.Event()
    deadline = time.monotonic() + RACE_SECONDS
    renames = 0

    def writer() -> None:
        nonlocal renames
        try:
            readers_running.wait(RACE_SECONDS)  # the race needs readers in flight
            # RENAMES at least, and on until a second version was served: under
            # churn most answers may be 503s, and a stale server never gets there.
            for n in itertools.count(1):
                if time.monotonic() > deadline:
                    break
                if n > RENAMES:
                    with lock:
                        if len(seen) >= 2:
                            break
                install(n % VERSIONS, n)
                renames = n
                time.sleep(0)  # allowed: a yield to the readers, so renames race them
        finally:
            writer_done.set()

    outcomes = {"whole": 0, "503": 0}
    problems: list[str] = []
    seen: set[bytes] = set()

    def judge(reply_status: int, headers: dict[str, str], body: bytes) -> None:
        with lock:
            if outcomes["whole"] + outcomes["503"] + len(problems) >= 4 * READERS:
                readers_running.set()
            if reply_status == 503 and "retry-after" in headers:
                outcomes["503"] += 1  # gave up under churn, and said so: allowed
                return
            tag = headers.get("etag")
            # A large racy version has no validator at all: nothing to pair.
            expected = etags.get(tag) if tag is not None else body if size > MIB // 4 else None
            if reply_status != 200 or body not in versions:
                problems.append(f"{reply_status}, {len(body)} bytes: not one version")
            elif expected != body:
                problems.append("the ETag of one version on the body of another")
            else:
                outcomes["whole"] += 1
                seen.add(body[:1])

    def reader(index: int) -> None:
        done = 0
        while not writer_done.is_set() and done < MAX_REQUESTS_PER_READER:
            try:
                with Conn(server.addr, timeout=CLIENT_TIMEOUT) as conn:
                    while not writer_done.is_set() and done < MAX_REQUESTS_PER_READER:
                        done += 1
                        reply = conn.request("/app.bin")
                        judge(reply.status, reply.headers, reply.body)
            except Closed as exc:
                with lock:
                    problems.append(f"cut short: {exc}")
            except OSError as exc:
                with lock:
                    problems.append(f"reader {index}: {exc!r}")

    w = threading.Thread(target=writer)
    rs = [threading.Thread(target=reader, args=(i,)) for i in range(READERS)]
    w.start()
    for r in rs:
        r.start()
    w.join(RACE_SECONDS + 30)
    for r in rs:
        r.join(30)
    assert not w.is_alive() and not any(r.is_alive() for r in rs)
    total = outcomes["whole"] + outcomes["503"] + len(problems)
    print(
        f"\n{size} B file ({'same size' if not grow else 'sizes differ'}), {renames} renames: "
        f"{outcomes['whole']}/{total} whole versions ({len(seen)} distinct), "
        f"{outcomes['503']} x 503, {len(problems)} broken"
    )
    kinds = Counter(p.split(":")[0] if p.startswith("cut") else p for p in problems)
    assert not problems, f"{len(problems)} of {total} answers broken: {dict(kinds)}"
    assert len(seen) >= 2, "the race was not exercised: only one version was ever served"
    assert server.alive()
    assert fetch(server.addr, "/app.bin").body == target.read_bytes()
