"""Sans-io HTTP: bytes in, values out, values in, bytes out.

Owns: request-head parsing (:mod:`.http11`, :mod:`.receivebuffer`,
:mod:`.chunked`), targets (:mod:`.target`), dates, conditionals, ranges,
content negotiation, status phrases, response values and the head renderer
(:mod:`.responses`), and the generated HTML pages (:mod:`.pages`).
May import: the standard library only; nothing else of staticsrv.  No
sockets, files or clocks: every function here is tested as a pure function.
"""
