"""A period's settlement rendered for people and for machines, and its invoices.

Everything here reads a :class:`~gateway.settlement.result.Settlement` and writes
text: a terminal table, CSV and JSON with stable names (``docs/reports.md``), one
self-contained HTML page with its charts, and one invoice per library with the
netting statement.  Nothing here computes a settlement (``gateway.settlement`` does)
or does I/O (the command line writes the files; ``adapters.billing`` posts them).
"""
