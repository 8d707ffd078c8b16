"""Helpers shared by the tests: ports and real services, waiting (bounded polls, and
requests arriving at a simulated ILS), the demo network in process and as a user runs it
from the command line, kiosks, NCIP peers."""
