"""Reporting cycles (paragraphs 11 (a) and 12): opening one sends the circular note to every State.

A cycle is opened by ``mailbot cycle open --session 83 --deadline 2028-05-15``
or, when the configuration names a cycle and its opening date, by the
scheduler on that date.  Opening records the cycle and queues the circular
note — the reminder of paragraph 10, the invitation to give views under
paragraph 12, the deadline and the blank forms — for every State with a
registered focal point, each in its working language, under the key
``circular:<session>:<State>`` so it is sent once.
"""

from __future__ import annotations

from datetime import date, datetime

from mailbot.domain.forms import FormKind, render_blank
from mailbot.domain.languages import default_languages
from mailbot.domain.mails import Circular, OutgoingMail
from mailbot.mail.formfiles import blank_pdf
from mailbot.service.app import App
from mailbot.service.outbox import cycle_label
from mailbot.service.queueing import Outbox
from mailbot.service.registry import catalog
from mailbot.store import cycle_rows, repo
from mailbot.store.db import transaction

FORM_KINDS = (FormKind.VIOLATION, FormKind.FOLLOW_UP, FormKind.VIEWS)


class CycleError(Exception):
    """The cycle cannot be opened as asked (it exists already, or the deadline is past)."""


def open_cycle(app: App, number: int, deadline: date, now: datetime) -> int:
    """Open cycle ``number`` and queue its circular note; returns how many notes were queued."""
    if deadline <= now.date():
        raise CycleError(f"the deadline {deadline} is not in the future")
    outbox = Outbox(app)
    cat = catalog(app.settings)
    with transaction(app.sessions) as session:
        if cycle_rows.cycle_by_session(session, number) is not None:
            raise CycleError(f"a cycle for session {number} exists already")
        cycle = cycle_rows.add_cycle(session, number, deadline, now)
        queued = 0
        forms_cache: dict[str, list[tuple[str, str, bytes]]] = {}
        for state in repo.states_with_focal_points(session):
            lang = default_languages().resolve(state.language)
            if lang not in forms_cache:
                forms_cache[lang] = [(f"{k.value}-{lang}.pdf", "application/pdf",
                                      blank_pdf(cat, k, lang)) for k in FORM_KINDS]
            out = outbox.put(session, OutgoingMail(
                Circular(
                    cycle=cycle_label(number),
                    ga_session=number,
                    deadline=deadline,
                    blank_forms=[{"title": cat.form(k).title.get(lang),
                                  "filename": f"{k.value}-{lang}.pdf",
                                  "text": render_blank(cat, k, lang)} for k in FORM_KINDS],
                ),
                key=f"circular:{number}:{state.code}", to=repo.focal_points_of(session, state.code),
                lang=lang, state_code=state.code, attachments=forms_cache[lang],
            ), now)
            queued += out
        cycle.circular_sent_at = now
        return queued


def open_scheduled_cycles(app: App, now: datetime) -> int:
    """Open the cycle the configuration names once its opening date has come."""
    p = app.settings.policy
    if not p.cycle_session or now.date() < date.fromisoformat(p.cycle_opens_on):
        return 0
    with app.sessions() as session:
        if cycle_rows.cycle_by_session(session, p.cycle_session) is not None:
            return 0
    return open_cycle(app, p.cycle_session, date.fromisoformat(p.cycle_deadline), now)
