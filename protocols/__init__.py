"""Sans-I/O codecs for the protocols the gateway speaks.

Nothing in this package touches a socket, a clock, trio, Redis or the gateway's
configuration: bytes go in, typed events come out, and typed messages go back out as
bytes.  That keeps every codec testable without a network and reusable by the simulated
ILS, the benchmarks and any other tool.
"""
