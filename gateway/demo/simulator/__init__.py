"""A simulated member ILS: a strict SIP2 server over an in-memory catalogue.

Used by ``interlend demo`` and by the tests, over real sockets.  It behaves like a
small, strict ILS: it refuses malformed SIP2, blocks patrons with blocks, refuses items
out to someone else or on hold for someone else, counts renewals, keeps fines.
"""
