"""Clients of member ILSs behind the ``MemberIls`` protocol (SIP2 and NCIP), and the
balancing of a member's requests over its endpoints."""
