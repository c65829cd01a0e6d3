"""The site: from a parsed request to an answer.

Owns: the URL-to-path resolver, the file reader and its cache, MIME types,
file answers, listings, the 404 page, ``_redirects``/``_headers``, routing
(``--base``, clean URLs, SPA), the memo and the handler that decides.
May import: :mod:`staticsrv.http`, :mod:`staticsrv.config`.  Never sockets;
never :mod:`staticsrv.live` (live reload plugs in through
:mod:`.extension`, from above).
"""
