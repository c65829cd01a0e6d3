"""--proxy in front of a real framework: Starlette under uvicorn (login cookie, WebSocket)."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Iterator

import pytest

from staticsrv.http.proxymap import parse_proxy
from tests.client import Conn, get
from tests.conftest import ServeFactory

starlette = pytest.importorskip("starlette")
uvicorn = pytest.importorskip("uvicorn")
websockets = pytest.importorskip("websockets")

from starlette.applications import Starlette  # noqa: E402
from starlette.requests import Request  # noqa: E402
from starlette.responses import JSONResponse, RedirectResponse, Response  # noqa: E402
from starlette.routing import Route, WebSocketRoute  # noqa: E402
from starlette.websockets import WebSocket  # noqa: E402


async def login(request: Request) -> Response:
    form = await request.body()
    resp = RedirectResponse(url=str(request.url_for("me")), status_code=303)
    if form == b"user=ada":
        resp.set_cookie(
            "session", "ada", domain="backend.test", secure=True, samesite="none", httponly=True
        )
    return resp


async def me(request: Request) -> Response:
    return JSONResponse({"user": request.cookies.get("session")})


async def echo(ws: WebSocket) -> None:
    await ws.accept()
    try:
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                return
            if message.get("bytes") is not None:
                await ws.send_bytes(message["bytes"])
            else:
                await ws.send_text("echo: " + message["text"])
    except Exception:
        return


PAGE = """<!doctype html>
<html><head><title>app</title><link rel="stylesheet" href="/style.css"></head>
<body><h1 id="title">server-rendered</h1><p id="echo"></p>
<script>
const ws = new WebSocket(`ws://${location.host}/api/ws`);
ws.onopen = () => ws.send("from the browser");
ws.onmessage = (e) => { document.getElementById("echo").textContent = e.data; };
</script></body></html>
"""


async def page(request: Request) -> Response:
    return Response(PAGE, media_type="text/html")


APP = Starlette(
    routes=[
        Route("/api/page", page),
        Route("/api/login", login, methods=["POST"]),
        Route("/api/me", me, name="me"),
        WebSocketRoute("/api/ws", echo),
    ]
)


@pytest.fixture(scope="module")
def starlette_origin() -> Iterator[str]:
    """Starlette under uvicorn on a listening socket of ours: connections queue at once."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(APP, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@pytest.mark.one_scheme
def test_login_session_sticks_through_the_proxy(serve: ServeFactory, starlette_origin: str) -> None:
    srv = serve(proxy=(parse_proxy(f"/api={starlette_origin}"),))
    with Conn(srv.addr) as conn:
        conn.send(
            b"POST /api/login HTTP/1.1\r\nHost: localhost:%d\r\nContent-Length: 8\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\n\r\nuser=ada" % srv.port
        )
        resp = conn.read_response()
        assert resp.status == 303
        # uvicorn builds the URL from Host (the upstream's): rewritten to ours.
        assert resp.header("location") == f"http://localhost:{srv.port}/api/me"
        cookie = resp.header("set-cookie")
        assert cookie is not None
        assert "domain" not in cookie.lower() and "secure" not in cookie.lower()
        assert "samesite=lax" in cookie.lower()
        value = cookie.split(";")[0]
        me = conn.request("/api/me", headers={"Cookie": value})
        assert json.loads(me.body) == {"user": "ada"}


@pytest.mark.one_scheme
def test_websocket_echo_through_the_proxy(serve: ServeFactory, starlette_origin: str) -> None:
    srv = serve(proxy=(parse_proxy(f"/api={starlette_origin}"),))

    async def talk() -> list[str | bytes]:
        from websockets.asyncio.client import connect

        got: list[str | bytes] = []
        async with connect(f"ws://127.0.0.1:{srv.port}/api/ws") as ws:
            for text in ("hello", "x" * 100_000):
                await ws.send(text)
                got.append(await ws.recv())
            await ws.send(b"\x00\x01binary")
            got.append(await ws.recv())
        return got

    got = asyncio.run(talk())
    assert got == ["echo: hello", "echo: " + "x" * 100_000, b"\x00\x01binary"]
    # The server keeps serving after the tunnel closed.
    assert get(srv.addr, "/hello.txt").status == 200
