"""Live reload (``--live``, ``--build``): watch files, run the build, tell open pages.

Owns: the watcher task (:mod:`.watch`, the only module that imports
``watchfiles``) and its poller for file systems without change events
(:mod:`.poll`, :mod:`.mounts`), when a burst of changes is over
(:mod:`.settle`, pure), which paths matter (:mod:`.paths`), the build
command (:mod:`.build`), and the event stream and the client script as
answers (:mod:`.events`, with ``live.js``).  The script's place in a page
is the site's business (:mod:`staticsrv.site.inject`).
May import: :mod:`staticsrv.site`, :mod:`staticsrv.http`,
:mod:`staticsrv.config`.  Imported only when the configuration has ``live``
on (the server plugs :class:`.events.Hub` into the handler as its
:class:`~staticsrv.site.extension.Endpoints`): without ``--live`` nothing
here loads and no answer changes.
"""
