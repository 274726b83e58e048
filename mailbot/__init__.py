"""mailbot: the e-mail reporting desk for General Assembly resolution 61/31.

States report serious violations against diplomatic and consular missions by
e-mailing a structured form; the service stores every message, files it
against an incident, answers through an outbox, reminds States whose
follow-up reports are overdue and compiles the report to the General
Assembly.  The flow runs one way: fetch -> parse -> classify -> decide ->
persist (with the outbox) -> move the mail -> send.
"""

__version__ = "0.1.0"
