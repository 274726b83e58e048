"""The loopback mail stack (Dovecot + Postfix) that the integration tests run against.

See :mod:`stack` for the servers, users and addresses it provides.
"""

from .stack import MailStack, MailStackError

__all__ = ["MailStack", "MailStackError"]
