"""Report forms: the catalog, tolerant reading, validation, blank forms and summaries.

The fixture table reads every ``tests/fixtures/forms/*.eml`` through the real
parse stage and compares what the desk understood with the hand-written
``<name>.expected.json`` beside it.
"""

from __future__ import annotations

import copy
import json
import tomllib
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from mailbot.domain.forms import (
    LANGUAGES,
    REFERENCE_RE,
    FieldError,
    FormCatalog,
    FormCatalogError,
    FormData,
    FormKind,
    RawForm,
    SenderError,
    extract_form,
    find_form,
    find_references,
    parse_date,
    parse_yesno,
    render_blank,
    require_form,
    summary,
    validate,
)
from mailbot.domain.states import StateRegistry, parse_focal_points
from mailbot.domain.types import InboundMail
from mailbot.mail.formfiles import form_from_attachment
from mailbot.mail.parse import html_to_text, parse_message

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "forms"
EML = sorted(FIXTURES.glob("*.eml"))


def _toml(name: str) -> dict[str, Any]:
    with open(ROOT / "config" / name, "rb") as fh:
        return tomllib.load(fh)


@pytest.fixture(scope="module")
def data() -> dict[str, Any]:
    return _toml("forms.toml")


@pytest.fixture(scope="module")
def catalog(data: dict[str, Any]) -> FormCatalog:
    return FormCatalog.from_toml_data(data)


@pytest.fixture(scope="module")
def registry() -> StateRegistry:
    return StateRegistry.from_toml_data(_toml("states.toml"))


def always(_ref: str) -> bool:
    return True


def check(raw: RawForm | None, catalog: FormCatalog, registry: StateRegistry,
          sender: str | None = "FRA", refs: set[str] | None = None) -> FormData:
    form = require_form(raw, catalog)
    return validate(form, catalog, registry, sender_state=sender,
                    reference_exists=(lambda r: r in refs) if refs is not None else always)


def codes(err: SenderError) -> list[tuple[str, str]]:
    return [(e.field, e.code) for e in err.errors]


# ---------------------------------------------------------------------------
# The fixture table


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def test_there_is_a_fixture_for_every_case() -> None:
    names = {p.stem for p in EML}
    assert len(names) >= 20
    for p in EML:
        assert p.with_suffix(".expected.json").exists(), p.name
    expected = [json.loads(p.with_suffix(".expected.json").read_text()) for p in EML]
    error_codes = {e["code"] for x in expected for e in x["errors"]}
    assert error_codes >= {"missing", "bad_date", "ambiguous_date", "unknown_state",
                           "unknown_reference", "bad_choice", "not_entitled", "no_form"}
    assert {x["source"].split(":")[0] for x in expected if x["source"]} == {
        "body", "attachment"}
    assert {x["kind"] for x in expected} == {"violation", "follow_up", "views", None}


@pytest.mark.parametrize("path", EML, ids=[p.stem for p in EML])
def test_fixture(path: Path, catalog: FormCatalog, registry: StateRegistry) -> None:
    expected = json.loads(path.with_suffix(".expected.json").read_text(encoding="utf-8"))
    mail = parse_message(path.read_bytes())
    attachment_forms = [f for f in (form_from_attachment(a, catalog) for a in mail.attachments)
                        if f is not None]
    raw = find_form(mail, catalog, attachment_forms, html_to_text=html_to_text)
    if expected["kind"] is None:
        assert raw is None
    else:
        assert raw is not None
        assert raw.kind == FormKind(expected["kind"])
        assert raw.source == expected["source"]
        assert raw.values == expected["raw"]
        assert list(raw.unknown_lines) == expected["unknown_lines"]
    known = set(expected["known_references"])
    if expected["errors"]:
        with pytest.raises(SenderError) as info:
            check(raw, catalog, registry, expected["sender_state"], known)
        got = [(e.field, e.code) for e in info.value.errors]
        assert got == [(e["field"], e["code"]) for e in expected["errors"]]
        for err, exp in zip(info.value.errors, expected["errors"], strict=True):
            assert list(err.suggestions) == exp["suggestions"]
            assert err.message
        return
    result = check(raw, catalog, registry, expected["sender_state"], known)
    assert {k: _jsonable(v) for k, v in result.values.items()} == expected["values"]
    assert result.circulation == expected["circulation"]
    assert result.circulation_defaulted == expected["circulation_defaulted"]
    assert result.claimed_state == expected["claimed_state"]


def test_fixture_senders_are_the_registered_focal_points(registry: StateRegistry) -> None:
    focal, _ = parse_focal_points(_toml("focal_points.toml"), registry)
    by_address = {fp.address: fp.state for fp in focal}
    for path in EML:
        expected = json.loads(path.with_suffix(".expected.json").read_text(encoding="utf-8"))
        mail = parse_message(path.read_bytes())
        assert by_address.get(mail.from_addr) == expected["sender_state"], path.name


# ---------------------------------------------------------------------------
# The catalog


def test_catalog_has_the_agreed_fields(catalog: FormCatalog) -> None:
    assert catalog.form(FormKind.VIOLATION).names == (
        "reporting_state", "date", "place", "host_state", "affected", "affected_kind",
        "sending_state", "description", "persons_harmed", "offenders", "offender_state",
        "measures_taken", "circulate", "contact")
    assert catalog.form(FormKind.FOLLOW_UP).names == (
        "reporting_state", "reference", "capacity", "measures_justice", "proceedings_status",
        "final_outcome", "measures_prevention", "circulate", "contact")
    assert catalog.form(FormKind.VIEWS).names == ("reporting_state", "views", "circulate",
                                                  "contact")
    kinds = {c.key for c in catalog.form(FormKind.VIOLATION).field("affected_kind").choices}
    assert kinds == {"diplomatic_mission", "consular_post", "representative",
                     "international_organization"}
    capacity = catalog.form(FormKind.FOLLOW_UP).field("capacity")
    assert {c.key for c in capacity.choices} == {"host", "offender"}
    assert catalog.form(FormKind.FOLLOW_UP).require_one_of == (
        ("measures_justice", "proceedings_status", "measures_prevention"),)
    required = {f.name for f in catalog.form(FormKind.VIOLATION).fields if f.required}
    assert required == {"reporting_state", "date", "place", "host_state", "affected",
                        "affected_kind", "sending_state", "description"}


def test_every_label_has_english_french_and_spanish(catalog: FormCatalog) -> None:
    for spec in catalog.forms.values():
        for lang in ("en", "fr", "es"):
            assert spec.marker.get(lang) and spec.title.get(lang)
        for f in spec.fields:
            assert set(f.label.langs()) >= {"en", "fr", "es"}, f.name
            assert set(f.help.langs()) >= {"en", "fr", "es"}, f.name


def _broken(data: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(data)


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        (lambda d: d["forms"]["violation"]["fields"][1].update(type="number"),
         "form 'violation' field 'date': type 'number'"),
        (lambda d: d["forms"]["views"]["fields"][1].pop("label"),
         "form 'views' field 'views': missing label"),
        (lambda d: d["forms"]["views"]["fields"].append(
            dict(d["forms"]["views"]["fields"][0])),
         "form 'views' field 'reporting_state': defined twice"),
        (lambda d: d["forms"]["violation"]["fields"][5].pop("choices"),
         "form 'violation' field 'affected_kind': a choice field needs"),
        (lambda d: d["forms"]["follow_up"].update(require_one_of=[["nothing"]]),
         "form 'follow_up': require_one_of names unknown field 'nothing'"),
        (lambda d: d["forms"].update(minutes=d["forms"]["views"]),
         "form 'minutes': unknown kind"),
        (lambda d: d["forms"].pop("views"), "form 'views': missing"),
        (lambda d: d["forms"]["views"]["fields"][3].update(label="Reporting State"),
         "label 'Reporting State' is also the label of field 'reporting_state'"),
        (lambda d: d["forms"]["views"]["fields"][3].update(label_xx="?"),
         "form 'views' field 'contact': unknown key(s) label_xx"),
        (lambda d: d["forms"]["views"]["fields"][2].update(required="yes"),
         "form 'views' field 'circulate': required must be true or false"),
    ],
)
def test_catalog_errors_name_the_form_and_field(
    data: dict[str, Any], change: Any, needle: str
) -> None:
    broken = _broken(data)
    change(broken)
    with pytest.raises(FormCatalogError) as info:
        FormCatalog.from_toml_data(broken)
    assert any(needle in p for p in info.value.problems), info.value.problems


def test_other_official_languages_are_accepted_and_fall_back_to_english(
    data: dict[str, Any],
) -> None:
    changed = _broken(data)
    changed["forms"]["views"]["fields"][3]["label_ru"] = "Контактное лицо"
    cat = FormCatalog.from_toml_data(changed)
    contact = cat.form(FormKind.VIEWS).field("contact")
    assert contact.label.get("ru") == "Контактное лицо"
    assert contact.label.get("zh") == "Contact person"
    raw = extract_form("Reporting State: Kenya\nКонтактное лицо: Иван", cat)
    assert raw is not None and raw.values["contact"] == "Иван"


# ---------------------------------------------------------------------------
# Blank forms round-trip


PREFILL: dict[FormKind, dict[str, str]] = {
    FormKind.VIOLATION: {
        "reporting_state": "Kenya", "date": "20 November 2026", "place": "Nairobi, Gigiri",
        "host_state": "Kenya", "affected": "Embassy of Japan", "affected_kind": "consular post",
        "sending_state": "Japan",
        "description": "First line of the facts.\nSecond line.\n\nA second paragraph.",
        "persons_harmed": "A guard, slightly injured", "offenders": "Three persons",
        "offender_state": "Kenya", "measures_taken": "Investigation opened",
        "circulate": "no", "contact": "Ms A. Wanjiru, +254 20 000 000",
    },
    FormKind.FOLLOW_UP: {
        "reporting_state": "India", "reference": "DCM-2026-0007", "capacity": "host",
        "measures_justice": "Two arrests.", "proceedings_status": "Trial pending.",
        "final_outcome": "no", "measures_prevention": "More patrols.\nNew cameras.",
        "circulate": "yes", "contact": "R. Sharma",
    },
    FormKind.VIEWS: {
        "reporting_state": "Japan", "views": "Line one.\nLine two.", "circulate": "yes",
        "contact": "H. Tanaka",
    },
}


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("kind", list(FormKind))
def test_render_blank_round_trips(catalog: FormCatalog, kind: FormKind, lang: str) -> None:
    text = render_blank(catalog, kind, lang, prefill=PREFILL[kind])
    raw = extract_form(text, catalog)
    assert raw is not None
    assert raw.kind == kind
    assert raw.values == PREFILL[kind]
    assert raw.unknown_lines == ()


@pytest.mark.parametrize("lang", ["en", "fr", "es"])
@pytest.mark.parametrize("kind", list(FormKind))
def test_blank_form_reads_as_empty(catalog: FormCatalog, kind: FormKind, lang: str) -> None:
    text = render_blank(catalog, kind, lang)
    assert text.splitlines()[0] == catalog.form(kind).marker.get(lang)
    raw = extract_form(text, catalog)
    assert raw is not None and raw.kind == kind
    assert raw.values == {} and raw.unknown_lines == ()


def test_blank_form_quoted_in_a_reply_and_filled_inside_the_quote(
    catalog: FormCatalog, registry: StateRegistry
) -> None:
    blank = render_blank(catalog, FormKind.VIEWS, "fr")
    filled = blank.replace("[l'État qui présente ce rapport]: ____",
                           "[l'État qui présente ce rapport]: Sénégal")
    filled = filled.replace("[sur les lignes suivantes]: ____",
                            "[sur les lignes suivantes]:\nPlus de formation.")
    quoted = "Voici nos vues.\n\nLe 2 févr. 2027, Desk a écrit :\n" + "".join(
        f"> {line}\n" for line in filled.splitlines())
    data = check(extract_form(quoted, catalog), catalog, registry, "SEN")
    assert data.values == {"reporting_state": "SEN", "views": "Plus de formation."}
    assert data.circulation == "circulate" and data.circulation_defaulted


def test_sender_error_keeps_what_was_understood_for_a_prefilled_reply(
    catalog: FormCatalog, registry: StateRegistry
) -> None:
    text = "VIEWS — General Assembly resolution 61/31, para. 12\nReporting State: Jpan\n" \
           "Views on measures needed or already taken: more guards\n"
    with pytest.raises(SenderError) as info:
        check(extract_form(text, catalog), catalog, registry, "JPN")
    err = info.value
    assert err.kind == FormKind.VIEWS and err.raw is not None
    assert codes(err) == [("reporting_state", "unknown_state")]
    assert err.errors[0].suggestions[0] == "Japan"
    again = render_blank(catalog, FormKind.VIEWS, "en", prefill=err.raw.values)
    assert extract_form(again, catalog) == RawForm(FormKind.VIEWS, err.raw.values, (), "body",
                                                   "en")


# ---------------------------------------------------------------------------
# Tolerant reading


@pytest.mark.parametrize(
    "line",
    [
        "Reporting State: Kenya",
        "REPORTING STATE: Kenya",
        "reporting state : Kenya",
        "Reporting State:Kenya",
        "1. Reporting State: Kenya",
        "(a) Reporting State: Kenya",
        "a) Reporting State: Kenya",
        "* Reporting State: Kenya",
        "Reporting State | Kenya",
        "Reporting State| Kenya",
        "| Reporting State | Kenya |",
        "Reporting State * [the State making this report]: Kenya",
        "État auteur du rapport : Kenya",
        "ETAT AUTEUR DU RAPPORT: Kenya",
        "Estado que informa: Kenya",
        "reporting_state: Kenya",
        "**Reporting State:** Kenya",
    ],
)
def test_labels_are_recognised_in_many_shapes(catalog: FormCatalog, line: str) -> None:
    text = f"{line}\nViews on measures needed or already taken: none needed\n"
    raw = extract_form(text, catalog)
    assert raw is not None and raw.kind == FormKind.VIEWS
    assert raw.values["reporting_state"] == "Kenya"


def test_value_on_the_following_lines(catalog: FormCatalog) -> None:
    text = ("VIEWS — General Assembly resolution 61/31, para. 12\n\nReporting State:\n\nKenya\n\n"
            "Views on measures needed or already taken\n  Line one\n  Line two\n\n"
            "Contact person:\nJ. Mwangi\n\nSome unrelated line\n")
    raw = extract_form(text, catalog)
    assert raw is not None
    assert raw.values == {"reporting_state": "Kenya", "views": "Line one\nLine two",
                          "contact": "J. Mwangi"}
    assert raw.unknown_lines == ("Some unrelated line",)


def test_a_label_inside_a_sentence_is_not_a_label(catalog: FormCatalog) -> None:
    text = ("VIEWS — General Assembly resolution 61/31, para. 12\nReporting State: Kenya\n"
            "Views on measures needed or already taken:\n"
            "Contact person details are kept by the mission.\n")
    raw = extract_form(text, catalog)
    assert raw is not None
    assert raw.values["views"] == "Contact person details are kept by the mission."
    assert "contact" not in raw.values


def test_placeholders_count_as_empty(catalog: FormCatalog) -> None:
    text = ("Reporting State: ____\nViews on measures needed or already taken: [on the lines "
            "below]\nMay these views be circulated to all States? [yes/no]\nContact person: "
            "..........\n")
    raw = extract_form(text, catalog)
    assert raw is not None and raw.values == {}


def test_no_form_in_an_ordinary_letter(catalog: FormCatalog) -> None:
    assert extract_form("Dear colleagues,\nThe reporting State will write soon.\n", catalog) \
        is None
    assert extract_form("Reporting State: Kenya\n", catalog) is None  # one label is not a form
    assert extract_form("", catalog) is None


def test_kind_is_recognised_from_the_labels_alone(catalog: FormCatalog) -> None:
    raw = extract_form("Reporting State: Kenya\nReference of the incident: DCM-2026-0001\n"
                       "Reporting as: host\n", catalog)
    assert raw is not None and raw.kind == FormKind.FOLLOW_UP
    unclear = extract_form("Reporting State: Kenya\nContact person: J. M.\n", catalog)
    assert unclear is not None and unclear.kind is None
    with pytest.raises(SenderError) as info:
        require_form(unclear, catalog)
    assert codes(info.value) == [("", "no_form")]
    assert "could not tell which form" in info.value.errors[0].message


def test_signature_and_disclaimer_end_the_form(catalog: FormCatalog) -> None:
    text = ("Please see below.\n\nReporting State: Kenya\nViews on measures needed or already "
            "taken:\nMore guards.\n-- \nJ. Mwangi\nReporting State: Uganda\n")
    raw = extract_form(text, catalog)
    assert raw is not None
    assert raw.values == {"reporting_state": "Kenya", "views": "More guards."}
    assert raw.unknown_lines == ("Please see below.",)
    text2 = text.replace("-- \n", "This e-mail and any attachments are confidential.\n")
    raw2 = extract_form(text2, catalog)
    assert raw2 is not None and raw2.values["views"] == "More guards."


def test_filled_copy_wins_over_the_quoted_blank(catalog: FormCatalog) -> None:
    filled = render_blank(catalog, FormKind.VIEWS, "en", PREFILL[FormKind.VIEWS])
    blank = render_blank(catalog, FormKind.VIEWS, "en")
    text = filled.replace("END OF FORM\n", "") + "\n" + "".join(
        f"> {line}\n" for line in blank.splitlines())
    raw = extract_form(text, catalog)
    assert raw is not None and raw.values == PREFILL[FormKind.VIEWS]


# ---------------------------------------------------------------------------
# find_form


def _mail(text: str = "", html: str | None = None) -> InboundMail:
    return InboundMail(message_id="<x@y>", from_addr="fp.ken@example.test", text=text,
                       html=html)


def test_find_form_body_then_html_then_attachments(catalog: FormCatalog) -> None:
    form_text = render_blank(catalog, FormKind.VIEWS, "en", PREFILL[FormKind.VIEWS])
    attached = RawForm(FormKind.VIOLATION, {"place": "x"}, (), "attachment:a.pdf")
    body = find_form(_mail(form_text), catalog, [attached], html_to_text=html_to_text)
    assert body is not None and body.source == "body" and body.kind == FormKind.VIEWS
    html = ("<table><tr><td>Reporting State</td><td>Kenya</td></tr>"
            "<tr><td>Views on measures needed or already taken</td><td>More</td></tr></table>")
    from_html = find_form(_mail("See the table (plain text lost it).", html), catalog, [],
                          html_to_text=html_to_text)
    assert from_html is not None and from_html.source == "html"
    assert from_html.values == {"reporting_state": "Kenya", "views": "More"}
    from_attachment = find_form(_mail("Report attached."), catalog, [attached], html_to_text=html_to_text)
    assert from_attachment is attached
    assert find_form(_mail("Hello"), catalog, [], html_to_text=html_to_text) is None


# ---------------------------------------------------------------------------
# Typed values


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-20", date(2026, 11, 20)),
        ("20 November 2026", date(2026, 11, 20)),
        ("20 Nov 2026", date(2026, 11, 20)),
        ("November 20, 2026", date(2026, 11, 20)),
        ("Friday 20 November 2026", date(2026, 11, 20)),
        ("20 novembre 2026", date(2026, 11, 20)),
        ("1er mars 2026", date(2026, 3, 1)),
        ("20 de noviembre de 2026", date(2026, 11, 20)),
        ("20/11/2026", date(2026, 11, 20)),
        ("20.11.2026", date(2026, 11, 20)),
        ("11/20/2026", date(2026, 11, 20)),  # the day > 12 tells the order
        ("05/05/2026", date(2026, 5, 5)),  # both readings are the same day
        ("05/06/2026", ("ambiguous_date", (date(2026, 6, 5), date(2026, 5, 6)))),
        ("yesterday", ("bad_date", ())),
        ("last Tuesday", ("bad_date", ())),
        ("20 November", ("bad_date", ())),
        ("November 2026", ("bad_date", ())),
        ("31/02/2026", ("bad_date", ())),
        ("2026-02-30", ("bad_date", ())),
        ("in two weeks", ("bad_date", ())),
        ("20 Blah 2026", ("bad_date", ())),
    ],
)
def test_parse_date(text: str, expected: object) -> None:
    assert parse_date(text) == expected


@pytest.mark.parametrize(
    ("text", "circulation", "expected"),
    [
        ("yes", False, True), ("Yes.", False, True), ("oui", False, True),
        ("Sí", False, True), ("si", False, True), ("true", False, True),
        ("no", False, False), ("Non", False, False), ("false", False, False),
        ("[x] yes [ ] no", False, True), ("Yes [ ]  No [X]", False, False),
        ("☒ Oui ☐ Non", False, True), ("yes/no", False, None), ("maybe", False, None),
        ("", False, None),
        ("Please circulate", True, True), ("may be circulated", True, True),
        ("Do not circulate", True, False), ("CONFIDENTIAL", True, False),
        ("ne pas diffuser", True, False), ("Confidentiel", True, False),
        ("no distribuir", True, False), ("Confidential - please do not circulate", True, False),
        ("Do not circulate", False, None),
    ],
)
def test_parse_yesno(text: str, circulation: bool, expected: bool | None) -> None:
    assert parse_yesno(text, circulation=circulation) is expected


VIOLATION_BASE = {
    "reporting_state": "France", "date": "2026-10-01", "place": "Paris", "host_state": "FRA",
    "affected": "Embassy of Kenya", "affected_kind": "diplomatic mission",
    "sending_state": "Kenya", "description": "Facts.",
}


def violation(**changes: str) -> RawForm:
    values = {**VIOLATION_BASE, **changes}
    return RawForm(FormKind.VIOLATION, {k: v for k, v in values.items() if v}, (), "body")


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("diplomatic_mission", "diplomatic_mission"), ("Diplomatic Mission", "diplomatic_mission"),
        ("Embassy", "diplomatic_mission"), ("poste consulaire", "consular_post"),
        ("Oficina consular", "consular_post"), ("consulate general", "consular_post"),
        ("[x] representative", "representative"),
        ("the residence of a representative", "representative"),
        ("organisation internationale", "international_organization"),
    ],
)
def test_choices_by_key_label_alias_or_tick(
    catalog: FormCatalog, registry: StateRegistry, text: str, key: str
) -> None:
    assert check(violation(affected_kind=text), catalog, registry).values["affected_kind"] == key


def test_bad_choice_lists_the_answers(catalog: FormCatalog, registry: StateRegistry) -> None:
    with pytest.raises(SenderError) as info:
        check(violation(affected_kind="garden"), catalog, registry)
    err = info.value.errors[0]
    assert (err.field, err.code) == ("affected_kind", "bad_choice")
    assert "Kind of mission or representative" in err.message
    assert "diplomatic mission; consular post; representative; international organization" \
        in err.message


def test_states_and_organizations(catalog: FormCatalog, registry: StateRegistry) -> None:
    data = check(violation(host_state="République française", sending_state="Allemagne"),
                 catalog, registry)
    assert data.values["host_state"] == "FRA"
    assert data.values["sending_state"] == {"state": "DEU"}
    org = check(violation(sending_state="United Nations Development Programme",
                          affected_kind="international organization"), catalog, registry)
    assert org.values["sending_state"] == {"organization": "United Nations Development Programme"}
    with pytest.raises(SenderError) as info:
        check(violation(sending_state="Kenia"), catalog, registry)
    err = info.value.errors[0]
    assert (err.field, err.code) == ("sending_state", "unknown_state")
    assert "Kenya" in err.suggestions
    assert "international organization" in err.message


def test_unknown_state_with_nothing_to_suggest(
    catalog: FormCatalog, registry: StateRegistry
) -> None:
    with pytest.raises(SenderError) as info:
        check(violation(host_state="Qwxz"), catalog, registry)
    err = info.value.errors[0]
    assert err.code == "unknown_state" and err.suggestions == ()
    assert "Did you mean" not in err.message


def test_every_problem_is_listed(catalog: FormCatalog, registry: StateRegistry) -> None:
    raw = violation(reporting_state="Frnace", date="07/08/2026", place="",
                    affected_kind="shop", sending_state="")
    with pytest.raises(SenderError) as info:
        validate(raw, catalog, registry, sender_state=None, reference_exists=always)
    assert codes(info.value) == [
        ("", "not_entitled"), ("reporting_state", "unknown_state"),
        ("date", "ambiguous_date"), ("place", "missing"), ("affected_kind", "bad_choice"),
        ("sending_state", "missing"),
    ]
    ambiguous = info.value.errors[2]
    assert "7 August 2026" in ambiguous.message and "8 July 2026" in ambiguous.message


def test_references(catalog: FormCatalog, registry: StateRegistry) -> None:
    assert find_references("Re: [DCM-2026-0007] Notice; see also OLA-2025-12345") == [
        "DCM-2026-0007", "OLA-2025-12345"]
    assert find_references("DCM-26-7 and XDCM-2026-0007X") == []
    assert REFERENCE_RE.fullmatch("A1-2026-0001") is not None
    base = {"reporting_state": "Kenya", "capacity": "host", "measures_justice": "Arrests."}

    def follow(ref: str) -> RawForm:
        return RawForm(FormKind.FOLLOW_UP, {**base, "reference": ref}, (), "body")

    data = check(follow("our ref. dcm-2026-0007"), catalog, registry, "KEN", {"DCM-2026-0007"})
    assert data.reference == "DCM-2026-0007" and data.values["reference"] == "DCM-2026-0007"
    for ref in ("DCM-2026-0008", "the incident in May"):
        with pytest.raises(SenderError) as info:
            check(follow(ref), catalog, registry, "KEN", {"DCM-2026-0007"})
        assert codes(info.value) == [("reference", "unknown_reference")]


def test_follow_up_needs_one_of_the_measures(catalog: FormCatalog, registry: StateRegistry) -> None:
    raw = RawForm(FormKind.FOLLOW_UP, {"reporting_state": "Kenya", "reference": "DCM-2026-0001",
                                       "capacity": "offender"}, (), "body")
    with pytest.raises(SenderError) as info:
        check(raw, catalog, registry, "KEN")
    assert codes(info.value) == [("measures_justice", "missing")]
    message = info.value.errors[0].message
    for label in ("Measures taken to bring the offender to justice",
                  "Status or outcome of the proceedings", "Measures taken to prevent a repetition"):
        assert label in message
    ok = RawForm(FormKind.FOLLOW_UP, {**raw.values, "proceedings_status": "Pending"}, (), "body")
    assert check(ok, catalog, registry, "KEN").values["capacity"] == "offender"


@pytest.mark.parametrize(
    ("text", "circulation", "defaulted"),
    [
        (None, "circulate", True), ("", "circulate", True), ("yes", "circulate", False),
        ("no", "confidential", False), ("Do not circulate", "confidential", False),
        ("ask our capital first", "pending", False),
    ],
)
def test_circulation(
    catalog: FormCatalog, registry: StateRegistry, text: str | None, circulation: str,
    defaulted: bool,
) -> None:
    raw = violation(circulate=text) if text is not None else violation()
    data = check(raw, catalog, registry)
    assert (data.circulation, data.circulation_defaulted) == (circulation, defaulted)
    if circulation == "pending":
        assert "circulate" not in data.values


def test_claimed_state_is_not_an_error(catalog: FormCatalog, registry: StateRegistry) -> None:
    assert check(violation(), catalog, registry, "FRA").claimed_state is None
    assert check(violation(), catalog, registry, "DEU").claimed_state == "FRA"


def test_not_entitled_without_a_registered_state(
    catalog: FormCatalog, registry: StateRegistry
) -> None:
    with pytest.raises(SenderError) as info:
        check(violation(), catalog, registry, None)
    assert codes(info.value) == [("", "not_entitled")]
    assert "registered" in info.value.errors[0].message


def test_messages_in_french_and_spanish(catalog: FormCatalog, registry: StateRegistry) -> None:
    with pytest.raises(SenderError) as info:
        check(violation(date="05/06/2026", place=""), catalog, registry)
    ambiguous, missing = info.value.errors
    fr = ambiguous.describe(catalog, "fr", FormKind.VIOLATION)
    assert fr.startswith("Date de la violation :") and "5 juin 2026" in fr
    es = missing.describe(catalog, "es", FormKind.VIOLATION)
    assert es.startswith("Lugar de la violación:") and "obligatorio" in es
    assert missing.describe(catalog, "zh") == missing.message


def test_field_error_is_a_plain_value() -> None:
    err = FieldError("date", "missing", "Date: required")
    assert err.suggestions == () and err == FieldError("date", "missing", "Date: required")


# ---------------------------------------------------------------------------
# Summary


def test_summary_in_the_reporting_language(catalog: FormCatalog, registry: StateRegistry) -> None:
    data = check(violation(offender_state="Allemagne", circulate="non"), catalog, registry)
    pairs = dict(summary(catalog, data, "fr", registry))
    assert pairs["État auteur du rapport"] == "France"
    assert pairs["Date de la violation"] == "1er octobre 2026"
    assert pairs["Nature de la mission ou du représentant"] == "mission diplomatique"
    assert pairs["État où se trouvent les auteurs présumés"] == "Allemagne"
    assert pairs["État d'envoi ou organisation"] == "Kenya"
    assert pairs["Ce rapport peut-il être communiqué à tous les États"] == "Non"
    default = dict(summary(catalog, check(violation(), catalog, registry), "en", registry))
    assert default["May this report be circulated to all States"].startswith("Yes (no answer")
    assert "Persons harmed" not in default


def test_folding_ascii_takes_a_shortcut_to_the_same_result() -> None:
    """Labels, markers and lines are compared folded; ASCII text folds by a table, which
    must agree with the general rule (letters and digits kept, one space between words)."""
    import random
    import re

    from mailbot.domain.forms.folding import fold as _fold

    def by_the_rule(text: str) -> str:
        return re.sub(r"[\W_]+", " ", text.casefold()).strip()

    rng = random.Random(6131)
    alphabet = [chr(i) for i in range(128)] + list("aeiou etn") * 4
    samples = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60))) for _ in range(3000)]
    samples += ["Date of the incident:", "  3. Place: Nairobi, Riverside Drive 12", "__x__y__",
                "\x1c\x1d\x1e\x1fword\x0b\x0cword", "", "   ", "A_B-C.D", "Kind regards,"]
    for text in samples:
        assert _fold(text) == by_the_rule(text), repr(text)
    assert _fold("Fecha del incidente") == "fecha del incidente"
    assert _fold("Lieu de l'incident : Épinal") == "lieu de l incident epinal"  # the general path
