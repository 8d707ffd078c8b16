"""A simulated member ILS: strict SIP2 and NCIP servers over one in-memory catalogue.

Used by ``interlend demo`` and by the tests, over real sockets.  It behaves like a
small, strict ILS: it refuses malformed SIP2 or NCIP, blocks patrons with blocks,
refuses items out to someone else or on hold for someone else, counts renewals, keeps
fines.  A loan made over one protocol shows over the other.
"""
