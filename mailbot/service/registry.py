"""Shared read-only data for the service layer: the form catalog and the State registry.

Both are loaded once per configuration from the files the settings name
(``config/forms.toml``, ``config/states.toml``) and cached; mails and
reports use them to name States in the recipient's language and to turn a
filed submission back into the label/value pairs of its form.
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

from mailbot.config import Settings
from mailbot.domain.forms import FormCatalog, FormData, FormKind, render_blank, summary
from mailbot.domain.states import StateRegistry
from mailbot.service.app import read_toml
from mailbot.store.tables import Submission


@lru_cache(maxsize=8)
def _catalog(path: Path) -> FormCatalog:
    return FormCatalog.from_toml_data(read_toml(path))


@lru_cache(maxsize=8)
def _registry(path: Path) -> StateRegistry:
    return StateRegistry.from_toml_data(read_toml(path))


def catalog(settings: Settings) -> FormCatalog:
    return _catalog(settings.path(settings.desk.forms_file))


def registry(settings: Settings) -> StateRegistry:
    return _registry(settings.path(settings.desk.states_file))


def _typed(values: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in values.items():
        if isinstance(v, str) and len(v) == 10 and v[4:5] == "-" and v[7:8] == "-":
            try:
                out[k] = date.fromisoformat(v)
                continue
            except ValueError:
                pass
        out[k] = v
    return out


def form_data_of(sub: Submission) -> FormData:
    """A filed submission as the FormData it was filed from (for summaries)."""
    values = _typed(dict(sub.fields))
    return FormData(
        kind=FormKind(sub.kind), values=values, circulation=sub.circulation,
        circulation_defaulted=sub.circulation_defaulted,
        reference=str(values.get("reference")) if values.get("reference") else None,
        unknown_lines=tuple(sub.extra_lines or ()),
    )


def submission_summary(settings: Settings, sub: Submission, lang: str) -> list[tuple[str, str]]:
    return list(summary(catalog(settings), form_data_of(sub), lang, registry(settings)))


def followup_form(settings: Settings, reference: str, state_code: str, role: str, lang: str) -> str:
    """The follow-up form pre-filled with the reference, the State and its capacity."""
    reg = registry(settings)
    name = reg.get(state_code).display_name(lang) if state_code in reg else state_code
    prefill = {"reference": reference, "reporting_state": name,
               "capacity": role if role in ("host", "offender") else ""}
    return render_blank(catalog(settings), FormKind.FOLLOW_UP, lang, prefill)


def violation_form(settings: Settings, lang: str) -> str:
    return render_blank(catalog(settings), FormKind.VIOLATION, lang, None)
