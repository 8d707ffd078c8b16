"""Helpers shared by the tests: ports and real services, the demo network, kiosks, NCIP peers."""
