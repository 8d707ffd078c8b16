"""Clients of member ILSs behind the ``MemberIls`` protocol (SIP2 now; NCIP later)."""
