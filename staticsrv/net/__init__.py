"""Sockets: the transport, TLS, HTTP/1.1 and HTTP/2 connections, the listener, the proxy.

Owns: every socket (recv/send/sendfile, TLS over memory BIOs), the
per-connection loops (:mod:`.connection` for HTTP/1.1, :mod:`.h2conn` for
HTTP/2) and writer, the accept loop (:mod:`.server`), the access log, and
the proxy's upstream side (:mod:`.proxy`, over the same transports).
May import: :mod:`staticsrv.live` (lazily, with ``--live``),
:mod:`staticsrv.site`, :mod:`staticsrv.http`, :mod:`staticsrv.config`,
:mod:`staticsrv.pki`.  The server plugs live reload's endpoints and the
proxy into the handler (:mod:`staticsrv.site.extension`).
"""
