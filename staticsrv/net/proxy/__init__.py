"""Reverse proxying (``--proxy PATH=URL`` and ``_redirects`` 200 rules to full URLs).

Imported only when a proxy is configured or a ``_redirects`` rule proxies:
a server without either never loads these modules.  The pure parts
(:mod:`staticsrv.http.proxymap`, :mod:`.rewrite`, :mod:`.head`) have unit tests of their
own; :mod:`.client` (upstream connections) and :mod:`.forward` (one
exchange) are the I/O edge.
"""
