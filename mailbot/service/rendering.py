"""Rendering a queued mail at dispatch: its row's template, context and attachments to bytes.

Place in the flow: the outbox (``service.queueing``) stores each decision's
context as JSON (:func:`freeze`); the dispatcher, when it first claims the
row, renders it here (``mail.render``) and keeps the bytes, so a resend
reuses them.  Filing also renders a stored acknowledgement again to tell a
quoted summary from a new form.
"""

from __future__ import annotations

from datetime import date, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

from mailbot.store.tables import OutboxMessage

if TYPE_CHECKING:
    from mailbot.mail.render import RenderedMail, Renderer
    from mailbot.service.app import App


class MailRenderer:
    """Turns outbox rows into the bytes to send."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.settings = app.settings

    @cached_property
    def renderer(self) -> Renderer:
        """The templates, loaded when a mail is first rendered (a run with nothing to send
        never imports Jinja2)."""
        from mailbot.mail.render import Renderer

        return Renderer(self.settings.templates_dir)

    def render(self, row: OutboxMessage) -> RenderedMail:
        """The row's mail in words (subject and text), from its stored context."""
        return self.renderer.render(row.kind, row.lang, thaw(row.context))

    def render_row(self, row: OutboxMessage) -> bytes:
        """Render a queued decision into the bytes to send (once: a resend reuses them)."""
        from mailbot.mail.render import build_message

        rendered = self.render(row)
        files = [(name, ctype, self.app.blobs.get(digest)) for name, ctype, digest in row.attachment_refs]
        desk = self.settings.desk
        row.raw = build_message(
            rendered,
            from_addr=self.settings.smtp.from_address,
            from_name=self.settings.smtp.from_name,
            to=list(row.recipients),
            message_id=row.message_id,
            date=row.created_at,
            in_reply_to=row.in_reply_to,
            references=list(row.thread_references),
            auto_submitted=row.auto_submitted,
            loop_header=(desk.loop_header, desk.loop_value),
            attachments=files,
        )
        row.subject = rendered.subject
        return row.raw


_PLAIN = frozenset({str, int, float, bool})


def freeze(value: Any) -> Any:
    """A mail context as JSON: dates and times tagged so that :func:`thaw` restores them."""
    if value is None or type(value) in _PLAIN:  # most of a context: kept as it is
        return value
    if isinstance(value, datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, date):
        return {"$date": value.isoformat()}
    if isinstance(value, dict):
        return {str(k): freeze(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [freeze(v) for v in value]
    return value


def thaw(value: Any) -> Any:
    """The inverse of :func:`freeze`."""
    if isinstance(value, dict):
        if len(value) == 1 and "$datetime" in value:
            return datetime.fromisoformat(value["$datetime"])
        if len(value) == 1 and "$date" in value:
            return date.fromisoformat(value["$date"])
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, list):
        return [thaw(v) for v in value]
    return value
