"""Live reload (``--live``): watch files, tell open pages, inject the client.

Modules: :mod:`~staticsrv.site.inject` (pure: where the script tag goes),
:mod:`~staticsrv.live.settle` (pure: when a burst of changes is over),
:mod:`~staticsrv.live.events` (the event stream and the client script as
answers) and :mod:`~staticsrv.live.watch` (the watcher task, the only one
that imports ``watchfiles``).  Nothing here is imported or run unless the
configuration has ``live`` on, so without ``--live`` no answer changes.
"""
