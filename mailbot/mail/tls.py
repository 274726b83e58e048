"""TLS for both wire adapters (IMAP and SMTP): verified, TLS 1.2 or newer, optional private CA."""

from __future__ import annotations

import ssl


def tls_context(ca_file: str) -> ssl.SSLContext:
    """A client context that verifies the server against ``ca_file`` (or the system's CAs)."""
    ctx = ssl.create_default_context(cafile=ca_file or None)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx
