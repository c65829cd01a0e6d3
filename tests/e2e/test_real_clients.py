"""Real clients against the real server: pip on a PEP 503 index, git over dumb HTTP, curl.

These prove the promises users rely on without reading the code: a folder
of wheels is a package index for pip (over HTTP and over ``--https`` with
the local CA), a bare repository is clonable and fetchable by git's "dumb"
HTTP protocol, and curl's resume and conditional downloads work.  Every
client talks to loopback only, with its own time bound; pip is skipped where
it is not installed (curl and git are on every CI machine, but are skipped
too, with the reason, where missing).
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import sys
import time
import venv
import zipfile
from pathlib import Path

import pytest

from tests.conftest import Running, ServeFactory
from tests.waiting import poll_until

pytestmark = pytest.mark.one_scheme

NAME, VERSION = "tinypkg-qa", "0.1"
MODULE = "tinypkg_qa"
WHEEL = f"{MODULE}-{VERSION}-py3-none-any.whl"
TIMEOUT = 90  # per client run; each is a few requests on loopback


def _pip_available() -> bool:
    done = subprocess.run(
        [sys.executable, "-m", "pip", "--version"], capture_output=True, check=False, timeout=60
    )
    return done.returncode == 0


needs_pip = pytest.mark.skipif(not _pip_available(), reason="pip is not installed")
needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
needs_curl = pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")


def build_wheel(folder: Path) -> Path:
    """A minimal pure-Python wheel (PEP 427), written by hand: no build backend needed offline."""
    files = {
        f"{MODULE}/__init__.py": b"X = 42\n",
        f"{MODULE}-{VERSION}.dist-info/METADATA": (
            f"Metadata-Version: 2.1\nName: {NAME}\nVersion: {VERSION}\n".encode()
        ),
        f"{MODULE}-{VERSION}.dist-info/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    record.append(f"{MODULE}-{VERSION}.dist-info/RECORD,,")
    folder.mkdir(parents=True, exist_ok=True)
    wheel = folder / WHEEL
    with zipfile.ZipFile(wheel, "w") as zf:
        for path, data in files.items():
            zf.writestr(path, data)
        zf.writestr(f"{MODULE}-{VERSION}.dist-info/RECORD", "\n".join(record) + "\n")
    return wheel


def pip_env(tmp_path: Path) -> dict[str, str]:
    """pip with no user or site configuration and no CA bundle from the environment.

    ``REQUESTS_CA_BUNDLE`` (or ``PIP_CERT``) set by the machine would win over
    ``--cert`` inside pip, and ``PIP_INDEX_URL``/``PIP_FIND_LINKS`` would add
    other sources: the test sees only the server under test.
    """
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("PIP_") and k not in {"REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"}
    }
    env.update(
        PIP_CONFIG_FILE=os.devnull,
        PIP_NO_INPUT="1",
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        HOME=str(tmp_path / "home"),
    )
    return env


def pip(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cache = [] if "--cache-dir" in args else ["--no-cache-dir"]  # none unless asked for
    return subprocess.run(
        [sys.executable, "-m", "pip", *args, *cache, "--retries", "0", "--timeout", "10"],
        capture_output=True, text=True, env=pip_env(tmp_path), timeout=TIMEOUT, check=False,
    )  # fmt: skip


@pytest.fixture
def index(tmp_path: Path) -> Path:
    """A PEP 503 "simple" folder that is nothing but folders: the listings are the index."""
    root = tmp_path / "index"
    build_wheel(root / "simple" / NAME)
    return root


# ---------------------------------------------------------------- pip


@needs_pip
def test_pip_downloads_from_a_folder_served_as_a_simple_index(
    serve: ServeFactory, index: Path, tmp_path: Path
) -> None:
    srv = serve(index)
    out = tmp_path / "out"
    url = f"http://127.0.0.1:{srv.port}/simple/"
    done = pip(tmp_path, "download", "--no-deps", "--index-url", url, NAME, "-d", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    assert (out / WHEEL).read_bytes() == (index / "simple" / NAME / WHEEL).read_bytes()
    wanted = f'"GET /simple/{NAME}/{WHEEL} HTTP/1.1" 200'
    # The access log is written in the loop's turn after the answer: pip may be gone by then.
    poll_until("the download was logged", lambda: any(wanted in x for x in srv.log), 5.0)


@needs_pip
def test_pip_installs_from_the_index_into_a_fresh_venv(
    serve: ServeFactory, index: Path, tmp_path: Path
) -> None:
    srv = serve(index)
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)  # the running pip installs into it (--python)
    python = env_dir / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    url = f"http://127.0.0.1:{srv.port}/simple/"
    done = pip(tmp_path, "--python", str(python), "install", "--index-url", url, NAME)
    assert done.returncode == 0, done.stdout + done.stderr
    imported = subprocess.run(
        [str(python), "-c", f"import {MODULE}; print({MODULE}.X)"],
        capture_output=True, text=True, timeout=TIMEOUT, check=False,
    )  # fmt: skip
    assert imported.stdout == "42\n", imported.stderr


@needs_pip
def test_pip_find_links_on_a_listing(serve: ServeFactory, index: Path, tmp_path: Path) -> None:
    srv = serve(index)
    out = tmp_path / "out"
    links = f"http://127.0.0.1:{srv.port}/simple/{NAME}/"
    done = pip(
        tmp_path, "download", "--no-deps", "--no-index", "--find-links", links, NAME, "-d", str(out)
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert (out / WHEEL).is_file()


@needs_pip
def test_pip_over_https_with_the_local_ca_and_with_trusted_host(
    serve: ServeFactory, index: Path, tmp_path: Path
) -> None:
    srv = serve(index, https=True)
    ca = srv.server.ca_file
    assert ca is not None
    url = f"https://localhost:{srv.port}/simple/"
    out = tmp_path / "out"
    done = pip(
        tmp_path, "download", "--no-deps", "--cert", ca, "--index-url", url, NAME, "-d", str(out)
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert (out / WHEEL).is_file()
    # Without the CA the certificate is refused, and --trusted-host waives the check.
    refused = pip(tmp_path, "download", "--no-deps", "--index-url", url, NAME, "-d", str(out / "x"))
    assert refused.returncode != 0
    assert "CERTIFICATE_VERIFY_FAILED" in refused.stdout + refused.stderr
    trusted = pip(
        tmp_path, "download", "--no-deps", "--trusted-host", f"localhost:{srv.port}",
        "--index-url", url, NAME, "-d", str(out / "t"),
    )  # fmt: skip
    assert trusted.returncode == 0, trusted.stdout + trusted.stderr
    assert (out / "t" / WHEEL).is_file()


# ---------------------------------------------------------------- git (dumb HTTP)


def git(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    base = {
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }
    done = subprocess.run(
        ["git", "-c", "init.defaultBranch=main", "-c", "protocol.version=0", *args],
        cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT, check=False,
        env={**os.environ, "HOME": str(cwd or Path.cwd()), **base, **(env or {})},
    )  # fmt: skip
    assert done.returncode == 0, f"git {' '.join(args)}: {done.stderr}"
    return done.stdout


@pytest.fixture
def bare_repo(tmp_path: Path) -> tuple[Path, Path]:
    """A working repository with dot-named paths, and its bare clone ready for dumb HTTP."""
    work = tmp_path / "work"
    work.mkdir()
    git("init", "-q", cwd=work)
    (work / "README").write_text("one\n")
    (work / ".github").mkdir()
    (work / ".github" / "ci.yml").write_text("on: push\n")
    (work / ".gitignore").write_text("*.pyc\n")
    git("add", "-A", cwd=work)
    git("commit", "-qm", "one", cwd=work)
    root = tmp_path / "served"
    root.mkdir()
    git("clone", "-q", "--bare", str(work), str(root / "repo.git"), cwd=tmp_path)
    git("update-server-info", cwd=root / "repo.git")
    return work, root


def _commit_and_publish(work: Path, bare: Path, text: str) -> None:
    (work / "README").write_text(text)
    git("commit", "-qam", text.strip(), cwd=work)
    git("push", "-q", str(bare), "HEAD", cwd=work)
    git("update-server-info", cwd=bare)


@needs_git
def test_git_clones_and_fetches_a_bare_repository_over_dumb_http(
    serve: ServeFactory, bare_repo: tuple[Path, Path], tmp_path: Path
) -> None:
    work, root = bare_repo
    srv = serve(root)
    url = f"http://127.0.0.1:{srv.port}/repo.git"
    git("clone", "-q", url, "clone", cwd=tmp_path)
    clone = tmp_path / "clone"
    # Dot-named paths inside the repository travel as objects, not as dotfiles.
    assert (clone / ".github" / "ci.yml").read_text() == "on: push\n"
    assert (clone / ".gitignore").read_text() == "*.pyc\n"
    # After a gc (one pack, objects/info/packs) and a new commit, a fetch gets it.
    git("gc", "-q", cwd=root / "repo.git")
    _commit_and_publish(work, root / "repo.git", "two\n")
    git("pull", "-q", "--ff-only", cwd=clone)
    assert (clone / "README").read_text() == "two\n"
    assert git("log", "--format=%s", cwd=clone).split() == ["two", "one"]
    wanted = '"GET /repo.git/info/refs?service=git-upload-pack'
    poll_until("the smart probe was logged", lambda: any(wanted in x for x in srv.log), 5.0)


@needs_git
def test_git_clones_over_https_with_the_local_ca(
    serve: ServeFactory, bare_repo: tuple[Path, Path], tmp_path: Path
) -> None:
    _, root = bare_repo
    srv = serve(root, https=True)
    assert srv.server.ca_file is not None
    url = f"https://localhost:{srv.port}/repo.git"
    git("clone", "-q", url, "clone", cwd=tmp_path, env={"GIT_SSL_CAINFO": srv.server.ca_file})
    assert (tmp_path / "clone" / "README").read_text() == "one\n"


# ---------------------------------------------------------------- curl


def curl(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        ["curl", "--silent", "--show-error", "--max-time", "20", "--noproxy", "*", *args],
        capture_output=True, timeout=TIMEOUT, check=False,
    )  # fmt: skip


@needs_curl
def test_curl_resumes_a_download_and_asks_conditionally(srv: Running, tmp_path: Path) -> None:
    big = srv.root / "big.bin"
    url = f"http://127.0.0.1:{srv.port}/big.bin"
    part = tmp_path / "big.part"
    part.write_bytes(big.read_bytes()[:100_000])
    done = curl("-C", "-", "-o", str(part), "-w", "%{http_code}", url)
    assert (done.returncode, done.stdout) == (0, b"206"), done.stderr
    assert part.read_bytes() == big.read_bytes()
    # -z FILE: If-Modified-Since from the local copy's time; unchanged -> 304.
    now = time.time()
    os.utime(big, (now - 60, now - 60))
    os.utime(part, (now - 30, now - 30))
    done = curl("-z", str(part), "-o", os.devnull, "-w", "%{http_code}", url)
    assert done.stdout == b"304", done.stderr


@needs_curl
def test_curl_compressed_and_http10(srv: Running) -> None:
    text = (srv.root / "style.css").read_bytes()
    url = f"http://127.0.0.1:{srv.port}/style.css"
    done = curl("--compressed", "-D", "-", url)
    head, _, body = done.stdout.partition(b"\r\n\r\n")
    assert b"content-encoding: gzip" in head.lower()
    assert body == text  # curl decoded it
    done = curl("--http1.0", "-i", url)
    assert done.stdout.startswith(b"HTTP/1.1 200 OK\r\n")
    assert done.stdout.endswith(text)


@needs_curl
def test_curl_get_with_a_body_and_expect_100_continue_keeps_the_connection(
    srv: Running, tmp_path: Path
) -> None:
    # A GET with a small body (dropped by the server) and Expect: 100-continue,
    # twice on one connection: both answers are whole and the second request
    # is not read as the first one's body.
    body = tmp_path / "body"
    body.write_bytes(b"x" * 1000)
    url = f"http://127.0.0.1:{srv.port}/hello.txt"
    done = curl(
        "-X", "GET", "--data-binary", f"@{body}", "-H", "Expect: 100-continue",
        "-w", r"\n%{http_code} %{num_connects}\n", url, url,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout == b"hello world\n\n200 1\nhello world\n\n200 0\n"


@needs_pip
def test_pip_revalidates_a_find_links_listing_and_wheel_with_304(
    serve: ServeFactory, index: Path, tmp_path: Path
) -> None:
    # The promise of docs/serving.md: pip revalidates instead of downloading again.
    # pip keeps its HTTP cache for https:// pages, hence --https with the local CA.
    srv = serve(index, https=True)
    assert srv.server.ca_file is not None
    links = f"https://localhost:{srv.port}/simple/{NAME}/"
    for run in ("first", "second"):
        done = pip(
            tmp_path, "download", "--no-deps", "--no-index", "--cert", srv.server.ca_file,
            "--find-links", links, NAME, "-d", str(tmp_path / run),
            "--cache-dir", str(tmp_path / "cache"),
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr

    def statuses() -> list[str]:
        return [x.rsplit('" ', 1)[1].split()[0] for x in srv.log if "GET /simple/" in x]

    # The last line is written in the loop's turn after the answer: pip may be gone by then.
    poll_until("four answers logged", lambda: len(statuses()) >= 4, 5.0, detail=srv.log.copy)
    assert statuses() == ["200", "200", "304", "304"], srv.log
