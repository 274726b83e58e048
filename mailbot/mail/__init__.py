"""Adapters for the wire: IMAP watching and fetching, MIME parsing, rendering and SMTP."""
