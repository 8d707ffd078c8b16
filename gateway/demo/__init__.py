"""The embedded demo: the simulated member ILSs, the demo network and the codec's self-check."""
