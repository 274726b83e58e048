"""Tests for the State registry (mailbot.domain.states) and its shipped data."""

from __future__ import annotations

import copy
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from mailbot.domain.states import (
    WORKING_LANGUAGES,
    FocalPoint,
    RegistryError,
    SecretariatAddress,
    StateInfo,
    StateRegistry,
    normalise,
    parse_focal_points,
)

CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"

DEMO_STATES = ("FRA", "DEU", "BRA", "JPN", "KEN", "MEX", "CAN", "IND", "ESP", "SEN", "ARG", "EGY")


def _load(name: str) -> dict[str, Any]:
    with (CONFIG_DIR / name).open("rb") as handle:
        return tomllib.load(handle)


@pytest.fixture(scope="module")
def registry() -> StateRegistry:
    return StateRegistry.from_toml_data(_load("states.toml"))


# --------------------------------------------------------------------------
# The shipped registry


def test_shipped_registry_has_every_member_and_observer_state(registry: StateRegistry) -> None:
    states = list(registry)
    assert len(registry) == len(states) == 195
    assert {s.code for s in states if s.observer} == {"VAT", "PSE"}
    assert sum(not s.observer for s in states) == 193
    codes = [s.code for s in states]
    assert len(set(codes)) == len(codes)
    assert all(re.fullmatch(r"[A-Z]{3}", code) for code in codes)
    names = [s.name for s in states]
    assert len(set(names)) == len(names)
    assert {s.language for s in states} <= WORKING_LANGUAGES


def test_every_shipped_state_lists_its_alpha2_code_first(registry: StateRegistry) -> None:
    alpha2 = [state.aliases[0] if state.aliases else "" for state in registry]
    assert all(re.fullmatch(r"[A-Z]{2}", code) for code in alpha2)
    assert len(set(alpha2)) == len(alpha2)
    for state in registry:
        assert registry.lookup(state.aliases[0]) is state


def test_every_shipped_name_looks_up_its_own_state(registry: StateRegistry) -> None:
    for state in registry:
        for text in state.names():
            assert registry.lookup(text) is state, (state.code, text)


@pytest.mark.parametrize(
    ("code", "name", "name_fr", "name_es", "language"),
    [
        ("FRA", "France", "France", "Francia", "fr"),
        ("DEU", "Germany", "Allemagne", "Alemania", "en"),
        ("ESP", "Spain", "Espagne", "España", "es"),
        ("EGY", "Egypt", "Égypte", "Egipto", "ar"),
        ("RUS", "Russian Federation", "Fédération de Russie", "Federación de Rusia", "ru"),
        ("CHN", "China", "Chine", "China", "zh"),
        ("SEN", "Senegal", "Sénégal", "Senegal", "fr"),
        ("CIV", "Côte d'Ivoire", "Côte d'Ivoire", "Côte d'Ivoire", "fr"),
        ("TUR", "Türkiye", "Türkiye", "Türkiye", "en"),
        (
            "GBR",
            "United Kingdom of Great Britain and Northern Ireland",
            "Royaume-Uni de Grande-Bretagne et d'Irlande du Nord",
            "Reino Unido de Gran Bretaña e Irlanda del Norte",
            "en",
        ),
        (
            "NLD",
            "Netherlands (Kingdom of the)",
            "Pays-Bas (Royaume des)",
            "Países Bajos (Reino de los)",
            "en",
        ),
        ("VAT", "Holy See", "Saint-Siège", "Santa Sede", "en"),
        ("PSE", "State of Palestine", "État de Palestine", "Estado de Palestina", "ar"),
    ],
)
def test_shipped_entries(
    registry: StateRegistry, code: str, name: str, name_fr: str, name_es: str, language: str
) -> None:
    state = registry.get(code)
    assert (state.name, state.name_fr, state.name_es, state.language) == (
        name,
        name_fr,
        name_es,
        language,
    )


def test_shipped_focal_points_cover_the_demo_states(registry: StateRegistry) -> None:
    focal_points, secretariat = parse_focal_points(_load("focal_points.toml"), registry)
    assert [fp.state for fp in focal_points] == list(DEMO_STATES)
    assert [fp.address for fp in focal_points] == [
        f"fp.{code.lower()}@example.test" for code in DEMO_STATES
    ]
    assert secretariat == [
        SecretariatAddress("officer@example.test", "Codification Division officer"),
        SecretariatAddress("secretariat@example.test", None),
    ]


# --------------------------------------------------------------------------
# Normalisation and lookup


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("France", "france"),
        ("  COTE   D'IVOIRE ", "cote divoire"),
        ("côte d’ivoire", "cote divoire"),
        ("Iran (Islamic Republic of)", "iran islamic republic of"),
        ("iran, islamic republic of", "iran islamic republic of"),
        ("Guinea–Bissau", "guinea bissau"),
        ("U.S.A.", "usa"),
        ("The Netherlands", "netherlands"),
        ("Trinidad & Tobago", "trinidad and tobago"),
        ("Türkiye", "turkiye"),
        ("«Sénégal»", "senegal"),
        ("theatre", "theatre"),
        ("", ""),
    ],
)
def test_normalise(text: str, expected: str) -> None:
    assert normalise(text) == expected


@pytest.mark.parametrize(
    ("text", "code"),
    [
        # ISO codes, any case
        ("FRA", "FRA"),
        (" deu ", "DEU"),
        ("FR", "FRA"),
        ("gb", "GBR"),
        ("US", "USA"),
        # English, French and Spanish UN names
        ("Republic of Korea", "KOR"),
        ("Viet Nam", "VNM"),
        ("Allemagne", "DEU"),
        ("Alemania", "DEU"),
        ("Turquie", "TUR"),
        ("Royaume-Uni", "GBR"),
        ("Reino Unido", "GBR"),
        ("Estados Unidos de América", "USA"),
        ("États-Unis d'Amérique", "USA"),
        ("Países Bajos (Reino de los)", "NLD"),
        ("Saint-Siège", "VAT"),
        ("Estado de Palestina", "PSE"),
        # accents, case and punctuation ignored
        ("COTE D'IVOIRE", "CIV"),
        ("côte d’ivoire", "CIV"),
        ("Cote d'Ivoire", "CIV"),
        ("ESTADOS UNIDOS DE AMERICA", "USA"),
        ("etats-unis d’amerique", "USA"),
        ("iran, islamic republic of", "IRN"),
        ("Iran (Islamic Republic of)", "IRN"),
        ("the Netherlands", "NLD"),
        ("Guinea Bissau", "GNB"),
        ("St. Lucia", "LCA"),
        ("Trinidad & Tobago", "TTO"),
        ("U.S.A.", "USA"),
        ("Turkiye", "TUR"),
        # formal names
        ("French Republic", "FRA"),
        ("Hellenic Republic", "GRC"),
        ("United Mexican States", "MEX"),
        # former names
        ("Swaziland", "SWZ"),
        ("Turkey", "TUR"),
        ("Czech Republic", "CZE"),
        ("Burma", "MMR"),
        ("Cape Verde", "CPV"),
        ("Ivory Coast", "CIV"),
        ("Macedonia", "MKD"),
        ("The former Yugoslav Republic of Macedonia", "MKD"),
        # common English variants
        ("USA", "USA"),
        ("UK", "GBR"),
        ("Russia", "RUS"),
        ("South Korea", "KOR"),
        ("North Korea", "PRK"),
        ("Iran", "IRN"),
        ("Syria", "SYR"),
        ("Bolivia", "BOL"),
        ("Venezuela", "VEN"),
        ("Tanzania", "TZA"),
        ("Laos", "LAO"),
        ("Vietnam", "VNM"),
        ("Moldova", "MDA"),
        ("Micronesia", "FSM"),
        ("Brunei", "BRN"),
        ("Holy See", "VAT"),
        ("Vatican", "VAT"),
        ("Palestine", "PSE"),
        # the two Congos are told apart
        ("Congo", "COG"),
        ("DR Congo", "COD"),
    ],
)
def test_lookup(registry: StateRegistry, text: str, code: str) -> None:
    state = registry.lookup(text)
    assert state is not None, text
    assert state.code == code


@pytest.mark.parametrize(
    "text", ["", "   ", "()", "Korea", "Zaire", "Atlantis", "Kosovo", "Taiwan"]
)
def test_lookup_misses(registry: StateRegistry, text: str) -> None:
    assert registry.lookup(text) is None


@pytest.mark.parametrize(
    ("text", "first"),
    [
        ("Frnace", "FRA"),
        ("Germny", "DEU"),
        ("Untied States", "USA"),
        ("Phillipines", "PHL"),
        ("Cote dIvore", "CIV"),
        ("Venezuala", "VEN"),
        ("Kazakstan", "KAZ"),
        ("Niger", "NER"),
    ],
)
def test_suggest_ranks_the_intended_state_first(
    registry: StateRegistry, text: str, first: str
) -> None:
    suggestions = registry.suggest(text)
    assert suggestions, text
    assert suggestions[0].code == first
    assert len(suggestions) <= 3
    assert len({s.code for s in suggestions}) == len(suggestions)


def test_suggest_offers_each_candidate_once_within_the_limit(registry: StateRegistry) -> None:
    codes = [s.code for s in registry.suggest("Guinea", limit=3)]
    assert codes[0] == "GIN"
    assert set(codes) == {"GIN", "GNQ", "GNB"}
    assert {s.code for s in registry.suggest("Korea")} >= {"KOR", "PRK"}
    assert len(registry.suggest("Guinea", limit=1)) == 1


@pytest.mark.parametrize(("text", "limit"), [("qwxzv", 3), ("", 3), ("France", 0)])
def test_suggest_returns_nothing(registry: StateRegistry, text: str, limit: int) -> None:
    assert registry.suggest(text, limit=limit) == []


@pytest.mark.parametrize(
    ("lang", "expected"),
    [
        ("en", "Germany"),
        ("fr", "Allemagne"),
        ("es", "Alemania"),
        ("fr-CA", "Allemagne"),
        ("ES", "Alemania"),
        ("ar", "Germany"),
        ("zh", "Germany"),
    ],
)
def test_display_name(registry: StateRegistry, lang: str, expected: str) -> None:
    assert registry.get("DEU").display_name(lang) == expected


def test_get_contains_and_iteration(registry: StateRegistry) -> None:
    assert registry.get("fra").name == "France"
    assert "FRA" in registry
    assert "pse" in registry
    assert "XYZ" not in registry
    assert 42 not in registry
    with pytest.raises(KeyError, match="XYZ"):
        registry.get("XYZ")
    assert next(iter(registry)).code == "AFG"


# --------------------------------------------------------------------------
# Validation of states.toml data


def _entry(code: str, name: str, **extra: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "code": code,
        "name": name,
        "name_fr": name,
        "name_es": name,
        "aliases": [code[:2]],
        "language": "en",
        "observer": False,
    }
    entry.update(extra)
    return entry


def _data() -> dict[str, Any]:
    return {
        "state": [
            _entry("FRA", "France", name_es="Francia", language="fr"),
            _entry("DEU", "Germany", name_fr="Allemagne", name_es="Alemania"),
            _entry("VAT", "Holy See", observer=True, aliases=["VA", "Vatican"]),
        ]
    }


def test_minimal_data_loads() -> None:
    registry = StateRegistry.from_toml_data(_data())
    assert [s.code for s in registry] == ["FRA", "DEU", "VAT"]
    assert registry.get("VAT") == StateInfo(
        code="VAT",
        name="Holy See",
        name_fr="Holy See",
        name_es="Holy See",
        formal_name=None,
        aliases=("VA", "Vatican"),
        language="en",
        observer=True,
    )


def test_optional_keys_default() -> None:
    data = {
        "state": [
            {
                "code": "KEN",
                "name": "Kenya",
                "name_fr": "Kenya",
                "name_es": "Kenya",
                "language": "en",
            }
        ]
    }
    state = StateRegistry.from_toml_data(data).get("KEN")
    assert (state.formal_name, state.aliases, state.observer) == (None, (), False)


def _set(index: int, key: str, value: Any) -> Any:
    def mutate(data: dict[str, Any]) -> None:
        data["state"][index][key] = value

    return mutate


def _delete(index: int, key: str) -> Any:
    def mutate(data: dict[str, Any]) -> None:
        del data["state"][index][key]

    return mutate


def _append(entry: dict[str, Any]) -> Any:
    def mutate(data: dict[str, Any]) -> None:
        data["state"].append(entry)

    return mutate


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (_set(1, "nmae", "x"), r"unknown key\(s\) 'nmae' in state #2 \(DEU\)"),
        (_delete(1, "name_fr"), r"missing key\(s\) 'name_fr' in state #2 \(DEU\)"),
        (_delete(0, "code"), r"missing key\(s\) 'code' in state #1 \(\?\)"),
        (_set(1, "code", "DE"), r"bad code 'DE' in state #2 \(DE\)"),
        (_set(1, "code", "deu"), r"bad code 'deu' in state #2 \(deu\)"),
        (_set(1, "code", 276), r"code in state #2 \(\?\) must be a non-empty string"),
        (_set(1, "language", "de"), r"bad language 'de' in state #2 \(DEU\)"),
        (_set(1, "name", ""), r"name in state #2 \(DEU\) must be a non-empty string"),
        (_set(1, "name", " Germany"), r"name ' Germany' in state #2 \(DEU\) has surrounding"),
        (_set(1, "aliases", "DE"), r"aliases in state #2 \(DEU\) must be an array"),
        (_set(1, "aliases", ["DE", 3]), r"alias 3 \(int\) in state #2 \(DEU\)"),
        (_set(1, "observer", "no"), r"observer in state #2 \(DEU\) must be true or false"),
        (_set(1, "formal_name", ""), r"formal_name in state #2 \(DEU\) must be a non-empty"),
        (
            _append(_entry("FRA", "French Republic")),
            r"duplicate code 'FRA' in state #4 \(FRA\); already used by state #1",
        ),
        (
            _set(1, "aliases", ["DE", "FRANCÉ"]),
            r"name 'FRANCÉ' in state #2 \(DEU\) is already used by state #1 \(FRA\)",
        ),
        (
            _set(2, "aliases", ["VA", "de"]),
            r"name 'de' in state #3 \(VAT\) is already used by state #2 \(DEU\)",
        ),
        (_set(2, "aliases", ["(.)"]), r"name '\(\.\)' in state #3 \(VAT\) is empty once"),
    ],
)
def test_validation_errors_name_the_entry(mutate: Any, message: str) -> None:
    data = copy.deepcopy(_data())
    mutate(data)
    with pytest.raises(RegistryError, match=message):
        StateRegistry.from_toml_data(data)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, r"no \[\[state\]\] entries"),
        ({"state": []}, r"non-empty array of tables"),
        ({"state": {"code": "FRA"}}, r"non-empty array of tables"),
        ({"state": ["FRA"]}, r"state #1 is not a table"),
        ({**_data(), "states": []}, r"unknown top-level key\(s\) 'states'"),
    ],
)
def test_structural_errors(data: dict[str, Any], message: str) -> None:
    with pytest.raises(RegistryError, match=message):
        StateRegistry.from_toml_data(data)


def test_every_problem_is_reported_at_once() -> None:
    data = copy.deepcopy(_data())
    data["state"][0]["language"] = "xx"
    data["state"][1]["code"] = "D1"
    data["state"][2]["colour"] = "white"
    with pytest.raises(RegistryError) as caught:
        StateRegistry.from_toml_data(data)
    assert len(caught.value.problems) == 3
    assert isinstance(caught.value, ValueError)
    assert "3 problems" in str(caught.value)


def test_constructor_rejects_clashing_states() -> None:
    france = StateInfo("FRA", "France", "France", "Francia", aliases=("FR",), language="fr")
    rival = StateInfo("FRX", "Metropolitan France", "France", "Francia")
    with pytest.raises(RegistryError, match=r"state #2 \(FRX\) is already used by state #1"):
        StateRegistry([france, rival])


# --------------------------------------------------------------------------
# Focal points


@pytest.fixture(scope="module")
def small_registry() -> StateRegistry:
    return StateRegistry.from_toml_data(_data())


def _focal_data(*addresses: tuple[str, Any]) -> dict[str, Any]:
    return {
        "focal_point": [{"state": state, "address": address} for state, address in addresses],
        "secretariat": [{"address": "officer@example.test", "name": "Officer"}],
    }


def test_focal_points_are_normalised(small_registry: StateRegistry) -> None:
    data = {
        "focal_point": [
            {"state": "fra", "address": " FP.FRA@Example.TEST ", "name": "Mission of France"},
            {"state": "FRA", "address": "deputy.fra@example.test"},
            {"state": "DEU", "address": "fp.deu@localhost"},
        ],
        "secretariat": [{"address": "Officer@Example.test"}],
    }
    focal_points, secretariat = parse_focal_points(data, small_registry)
    assert focal_points == [
        FocalPoint("FRA", "fp.fra@example.test", "Mission of France"),
        FocalPoint("FRA", "deputy.fra@example.test", None),
        FocalPoint("DEU", "fp.deu@localhost", None),
    ]
    assert secretariat == [SecretariatAddress("officer@example.test", None)]


def test_empty_focal_point_data_is_allowed(small_registry: StateRegistry) -> None:
    assert parse_focal_points({}, small_registry) == ([], [])


def test_unknown_state_is_named_with_its_entry(small_registry: StateRegistry) -> None:
    data = _focal_data(
        ("FRA", "fp.fra@example.test"),
        ("DEU", "fp.deu@example.test"),
        ("XYZ", "fp.xyz@example.test"),
    )
    with pytest.raises(RegistryError, match=r"unknown State 'XYZ' in focal_point #3"):
        parse_focal_points(data, small_registry)


@pytest.mark.parametrize(
    "address",
    [
        "fp.fra.example.test",
        "fp@fra@example.test",
        "@example.test",
        "fp.fra@",
        "fp fra@example.test",
        "fp.fra@example",
        "Mission <fp.fra@example.test>",
        "fp.fra@example.test, fp.deu@example.test",
        ".fp@example.test",
        "fp..fra@example.test",
        "fp.fra@example..test",
        "fp.fra@-example.test",
        "",
        42,
    ],
)
def test_malformed_address_is_named_with_its_entry(
    small_registry: StateRegistry, address: Any
) -> None:
    data = _focal_data(("FRA", "fp.fra@example.test"), ("DEU", address))
    with pytest.raises(RegistryError, match=r"malformed address .* in focal_point #2"):
        parse_focal_points(data, small_registry)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            _focal_data(("FRA", "fp.fra@example.test"), ("DEU", "FP.FRA@example.test")),
            r"duplicate address 'fp.fra@example.test' in focal_point #2; "
            r"already in focal_point #1",
        ),
        (
            _focal_data(("FRA", "officer@example.test")),
            r"duplicate address 'officer@example.test' in secretariat #1; "
            r"already in focal_point #1",
        ),
        (
            {"focal_point": [{"state": "FRA", "adress": "fp.fra@example.test"}]},
            r"unknown key\(s\) 'adress' in focal_point #1",
        ),
        (
            {"focal_point": [{"address": "fp.fra@example.test"}]},
            r"missing key\(s\) 'state' in focal_point #1",
        ),
        (
            {"focal_point": [{"state": "FRA", "address": "fp.fra@example.test", "name": 7}]},
            r"name in focal_point #1 must be a non-empty string",
        ),
        ({"secretariat": [{"name": "Officer"}]}, r"missing key\(s\) 'address' in secretariat #1"),
        ({"focal_points": []}, r"unknown top-level key\(s\) 'focal_points'"),
        ({"focal_point": {"state": "FRA"}}, r"'focal_point' must be an array of tables"),
        ({"focal_point": ["fp.fra@example.test"]}, r"focal_point #1 is not a table"),
        ({"focal_point": [{"state": 250, "address": "a@example.test"}]}, r"unknown State 250"),
    ],
)
def test_focal_point_errors(
    small_registry: StateRegistry, data: dict[str, Any], message: str
) -> None:
    with pytest.raises(RegistryError, match=message):
        parse_focal_points(data, small_registry)
