"""Cost sharing and settlement: pure computations over a period's registry history.

Nothing here does I/O: the inputs are a period's loans (``gateway.history``), the
consortium's figures and cost configuration; the outputs are allocations and one
:class:`~gateway.settlement.statement.Statement` per library, which invoices, reports
and the on-chain settlement round all read.
"""
