"""The language table: every written language is complete, and a new one needs no code.

The second half adds a throwaway language ``xx`` in a temporary directory
(a copy of ``config/languages/``, ``config/forms.toml`` and ``templates/``
with ``xx`` added as data and templates) and shows that its labels are
read, its month names parse and a mail is written in it.
"""

from __future__ import annotations

import re
import shutil
import tomllib
from collections.abc import Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from mailbot.domain.forms import FormCatalog, FormKind, extract_form, parse_date, validate
from mailbot.domain.languages import (
    DEFAULT_DIR,
    LanguageError,
    Languages,
    default_languages,
    load_languages,
)
from mailbot.domain.states import StateRegistry
from mailbot.mail.render import Renderer, session_words

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFIG = REPO_ROOT / "config"
TEMPLATES = REPO_ROOT / "templates"

XX_MONTHS = ("unumo", "duomo", "triomo", "kvaromo", "kvinomo", "sesomo", "sepomo", "okomo",
             "naumo", "dekomo", "dekunumo", "dekduomo")


def _shape(data: Any, path: str = "") -> dict[str, str]:
    """Every key path of a language's data, with the type (and length of fixed lists)."""
    if isinstance(data, Mapping):
        out: dict[str, str] = {}
        for key, value in data.items():
            out.update(_shape(value, f"{path}.{key}" if path else key))
        return out
    return {path: type(data).__name__}


# ---------------------------------------------------------------------------
# Every written language is complete


def test_the_table_lists_the_six_official_languages() -> None:
    table = default_languages()
    assert table.codes == ("en", "fr", "es", "ar", "ru", "zh")
    assert table.written == ("en", "fr", "es")
    assert table.default == "en"
    assert table.language("ar").direction == "rtl"
    assert [table.resolve(code) for code in ("fr", "fr-CA", "ES", "ar", "zz", "")] == [
        "fr", "fr", "es", "en", "en", "en"
    ]


@pytest.mark.parametrize("lang", default_languages().written)
def test_every_written_language_has_every_key(lang: str) -> None:
    table = default_languages()
    english, own = table.words("en"), table.words(lang)
    missing = set(_shape(english)) - set(_shape(own))
    assert not missing, f"{lang}.toml lacks {sorted(missing)}"
    assert _shape(own) == {k: v for k, v in _shape(english).items() if k in _shape(own)}
    assert len(own["dates"]["months"]) == 12
    assert len(own["sessions"]["ordinals"]) == len(english["sessions"]["ordinals"])
    assert len(own["sizes"]["units"]) == len(english["sizes"]["units"])
    assert set(own["forms"]["messages"]) == set(english["forms"]["messages"])


@pytest.mark.parametrize("lang", default_languages().written)
def test_every_written_language_has_every_label_and_mail(lang: str) -> None:
    catalog = FormCatalog.from_toml_data(tomllib.loads((CONFIG / "forms.toml").read_text("utf-8")))
    texts = [catalog.instructions, catalog.end_marker]
    for spec in catalog.forms.values():
        texts += [spec.marker, spec.title]
        for field in spec.fields:
            texts.append(field.label)
            texts += [c.label for c in field.choices]
            if field.help.langs():
                texts.append(field.help)
    assert all(lang in text.langs() for text in texts)
    mails = {p.name for p in (TEMPLATES / "mail" / "en").iterdir()}
    assert {p.name for p in (TEMPLATES / "mail" / lang).iterdir()} == mails


def test_a_table_without_its_default_language_is_refused() -> None:
    with pytest.raises(LanguageError, match="default"):
        Languages.from_toml_data({"default": "xx", "language": [{"code": "xx"}]}, {})
    with pytest.raises(LanguageError, match="fallback"):
        Languages.from_toml_data(
            {"default": "en", "language": [{"code": "en", "fallback": "qq"}]}, {"en": {"a": 1}}
        )


# ---------------------------------------------------------------------------
# A new language is data and templates


def _xx_words() -> str:
    """``xx.toml``: English's file with other month names and another wording of one message."""
    text = (DEFAULT_DIR / "en.toml").read_text("utf-8")
    months = "months = [" + ", ".join(f'"{m}"' for m in XX_MONTHS) + "]"
    text = re.sub(r"^months = \[.*?\]", months, text, count=1, flags=re.S | re.M)
    text = re.sub(r'^missing = ".*"$', 'missing = "{label}: xx-mankas."', text, count=1, flags=re.M)
    return re.sub(r'^phrase = ".*"$', 'phrase = "{ordinal} xx-sesio"', text, count=1, flags=re.M)


def _with_xx(root: Path) -> tuple[Path, Path, Path]:
    """A copy of the language data, the forms and the templates, with ``xx`` added."""
    languages = root / "languages"
    shutil.copytree(DEFAULT_DIR, languages)
    with open(languages / "languages.toml", "a", encoding="utf-8") as fh:
        fh.write('\n[[language]]\ncode = "xx"\nname = "Xx"\ndirection = "ltr"\nfallback = "en"\n')
    (languages / "xx.toml").write_text(_xx_words(), encoding="utf-8")
    forms = root / "forms.toml"
    lines = []
    for line in (CONFIG / "forms.toml").read_text("utf-8").splitlines():
        lines.append(line)
        m = re.match(r'^label = "(.*)"$', line)
        if m:
            lines.append(f'label_xx = "Xx {m.group(1)}"')
    forms.write_text("\n".join(lines) + "\n", encoding="utf-8")
    templates = root / "templates"
    shutil.copytree(TEMPLATES, templates)
    (templates / "mail" / "xx").mkdir()
    for source in (templates / "mail" / "en").iterdir():
        text = source.read_text("utf-8").replace('"en/', '"xx/')
        if source.name == "held.subject.j2":
            text = text.replace("Communication held for review", "Xx-komuniko retenita")
        (templates / "mail" / "xx" / source.name).write_text(text, encoding="utf-8")
    return languages, forms, templates


@pytest.fixture
def xx(tmp_path: Path) -> tuple[Languages, FormCatalog, Path]:
    languages_dir, forms, templates = _with_xx(tmp_path)
    table = load_languages(languages_dir)
    catalog = FormCatalog.from_toml_data(tomllib.loads(forms.read_text("utf-8")), table)
    return table, catalog, templates


def _registry() -> StateRegistry:
    return StateRegistry.from_toml_data(tomllib.loads((CONFIG / "states.toml").read_text("utf-8")))


def test_a_new_language_is_in_the_table(xx: tuple[Languages, FormCatalog, Path]) -> None:
    table, _, _ = xx
    assert table.written == ("en", "fr", "es", "xx")
    assert table.resolve("xx") == "xx"
    assert default_languages().resolve("xx") == "en"  # the repository's table is untouched


def test_a_form_with_labels_and_months_in_the_new_language_is_read(
    xx: tuple[Languages, FormCatalog, Path],
) -> None:
    table, catalog, _ = xx
    text = (
        "Xx Reporting State: France\n"
        "Xx Date of the violation: 20 kvinomo 2026\n"
        "Xx Place of the violation: Paris\n"
    )
    raw = extract_form(text, catalog)
    assert raw is not None
    assert raw.kind is FormKind.VIOLATION and raw.lang == "xx"
    assert raw.values["date"] == "20 kvinomo 2026"
    assert parse_date("20 kvinomo 2026", table) == date(2026, 5, 20)
    assert parse_date("20 kvinomo 2026") == ("bad_date", ())  # unknown to the default table
    try:
        validate(raw, catalog, _registry(), sender_state="FRA", reference_exists=lambda _: False)
    except Exception as exc:  # other required fields are empty
        errors = getattr(exc, "errors", [])
        assert "date" not in {e.field for e in errors}
        missing = next(e for e in errors if e.code == "missing")
        assert missing.describe(catalog, "xx", FormKind.VIOLATION).endswith(": xx-mankas.")
        assert missing.describe(catalog, "xx", FormKind.VIOLATION).startswith("Xx ")
    else:  # pragma: no cover - the form above lacks required fields
        pytest.fail("a form without its required fields was accepted")


def test_a_mail_is_written_in_the_new_language(xx: tuple[Languages, FormCatalog, Path]) -> None:
    table, _, templates = xx
    renderer = Renderer(templates, languages=table)
    context = {
        "note_reference": "LA/COD/61-31/DCM-2026-0007",
        "note_date": date(2026, 11, 20),
        "state_name": "France",
        "confidential": False,
        "received_at": datetime(2026, 11, 20, 9, 30, tzinfo=UTC),
        "original_subject": "Follow-up",
        "reason": "no_incident",
        "reference": None,
    }
    mail = renderer.render("held", "xx", context)
    assert mail.lang == "xx"
    assert "Xx-komuniko retenita" in mail.subject
    assert "20 dekunumo 2026" in mail.text
    assert session_words(81, "xx", table) == "eighty-first xx-sesio"
