"""``mailbot forms check``: what intake would understand of a saved message's form.

The message is parsed and its form read exactly as intake reads it
(``service.reading.read_form``), then validated against the shipped State
registry; the sender's State comes from the focal-points file.  Nothing is
stored and no mail is sent: this is the Secretariat's and the missions' way to
see, before sending, what the desk will make of a report.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass

from mailbot.config import Settings
from mailbot.domain.forms import (
    FormCatalog,
    FormData,
    RawForm,
    SenderError,
    find_references,
    require_form,
    validate,
)
from mailbot.domain.states import StateRegistry
from mailbot.mail.parse import parse_message
from mailbot.service.admin import ImportError_, load_catalog, load_focal_points, load_registry
from mailbot.service.reading import read_form


@dataclass(frozen=True)
class FormCheck:
    """What was read: the sender, its State, the form, and either the data or the errors."""

    sender: str
    sender_state: str | None
    subject_references: tuple[str, ...]
    raw: RawForm | None
    data: FormData | None
    error: SenderError | None
    catalog: FormCatalog
    registry: StateRegistry


def sender_state(settings: Settings, registry: StateRegistry, address: str) -> str | None:
    """The State an address is registered for in the focal-points file, if any."""
    try:
        focal, _ = load_focal_points(settings, registry)
    except ImportError_:
        return None
    return next((fp.state for fp in focal if fp.address == address.lower()), None)


def check_form(settings: Settings, raw_bytes: bytes,
               known_references: Collection[str] | None = None) -> FormCheck:
    """Read and validate the form of a message; raises ParseError or ImportError_."""
    cat, reg = load_catalog(settings), load_registry(settings)
    mail = parse_message(raw_bytes)
    state = sender_state(settings, reg, mail.from_addr)
    raw = read_form(mail, cat)
    exists: Callable[[str], bool] = (
        (lambda ref: True) if known_references is None else (lambda ref: ref in known_references))
    data, error = None, None
    try:
        data = validate(require_form(raw, cat), cat, reg, sender_state=state, reference_exists=exists)
    except SenderError as err:
        error = err
    return FormCheck(sender=mail.from_addr, sender_state=state,
                     subject_references=tuple(find_references(mail.subject)), raw=raw,
                     data=data, error=error, catalog=cat, registry=reg)
