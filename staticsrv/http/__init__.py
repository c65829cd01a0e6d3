"""Sans-io HTTP: bytes in, values out, values in, bytes out.

Owns: request-head parsing (:mod:`.http11`, :mod:`.receivebuffer`,
:mod:`.chunked`), targets (:mod:`.target`), dates, conditionals, ranges,
content negotiation, status phrases, response values and the head renderer
(:mod:`.responses`), the generated HTML pages (:mod:`.pages`), routing
decisions (:mod:`.routing`), HTTP/2 header lists and frame bounds
(:mod:`.h2fields`, :mod:`.h2guard`, :mod:`.h2hpack`), HTTP Basic
(:mod:`.auth`) and the proxy's path mapping (:mod:`.proxymap`).
May import: the standard library only; nothing else of staticsrv.  No
sockets, files or clocks: every function here is tested as a pure function.
"""
