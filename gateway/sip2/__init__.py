"""The SIP2 edge: kiosk connections, terminal logins, routing and the SIP2 answers."""
