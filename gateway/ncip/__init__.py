"""The NCIP edge: the responder resource-sharing systems post to."""
