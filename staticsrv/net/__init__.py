"""Sockets: the transport, TLS, connections, the listener and the access log.

Owns: every socket (recv/send/sendfile, TLS over memory BIOs), the
per-connection loop and writer, the accept loop and the access log.
May import: :mod:`staticsrv.site`, :mod:`staticsrv.http`,
:mod:`staticsrv.config`, :mod:`staticsrv.pki`.
"""
