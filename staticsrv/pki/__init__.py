"""The local certificate authority behind ``--https``, and the LAN names.

Owns: creating and keeping the CA and leaf certificates (:mod:`.certs`),
the modes and atomic writes of their files (:mod:`.cafiles`), and listing
this machine's LAN addresses (:mod:`.lan`).
May import: the standard library and ``cryptography``; nothing else of
staticsrv.
"""
