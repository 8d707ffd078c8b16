"""The outside world behind small ``typing.Protocol`` interfaces.

Member ILS clients, the state store and the ledger each get a Protocol here and one
implementation per backend, so that real and embedded implementations swap freely.
"""
