"""Reading a State's form: intake's own step, which the parse-ahead worker also runs ahead.

Place in the flow: for a focal point's mail, after classification and before
filing.  :func:`read_form` looks in the body (text, then HTML), else in the
PDF, Word or text attachments.  The worker (``service.prepare``) calls
:func:`read_if_state_mail` on the messages it reads ahead and hands the
:class:`FormReading` over; filing reads the form itself when none was handed
over.
"""

from __future__ import annotations

from dataclasses import dataclass

from mailbot.domain.forms import FormCatalog, RawForm, find_form
from mailbot.domain.types import Classification, InboundMail, MailClass
from mailbot.mail.formfiles import form_from_attachment
from mailbot.mail.parse import html_to_text


@dataclass(frozen=True)
class FormReading:
    """A message's form as read: ``form`` None means it was looked for and none was found."""

    form: RawForm | None


def read_form(mail: InboundMail, catalog: FormCatalog) -> RawForm | None:
    """The form of a message: its body (text, then HTML), else its attachments.

    Attachments are read (a PDF's page text is slow) only when the body has no form.
    """
    in_body = find_form(mail, catalog, [], html_to_text=html_to_text)
    if (in_body is not None and in_body.kind is not None) or not mail.attachments:
        return in_body
    from_attachments = [f for a in mail.attachments
                        if (f := form_from_attachment(a, catalog)) is not None]
    return find_form(mail, catalog, from_attachments, html_to_text=html_to_text)


def read_if_state_mail(mail: InboundMail, cls: Classification | None,
                       catalog: FormCatalog | None) -> FormReading | None:
    """The form of a focal point's mail; None (not read) for any other mail."""
    if catalog is None or cls is None or cls.kind is not MailClass.STATE:
        return None
    return FormReading(read_form(mail, catalog))
