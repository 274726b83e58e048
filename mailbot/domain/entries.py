"""Checks shared by the registry's data files: tables of entries, their keys, addresses.

``states`` validates ``states.toml`` and ``focal_points.toml`` with these;
each check appends a problem naming its entry (``focal_point #3``) to a
list, so that every problem of a file is reported at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

__all__ = [
    "address_problem",
    "check_address",
    "check_keys",
    "optional_text",
    "quoted",
    "show",
    "tables",
]

# Characters that have no place in a bare addr-spec as written in the config.
_ADDRESS_FORBIDDEN = frozenset(',<>;()[]\\":')


def quoted(items: Iterable[object]) -> str:
    return ", ".join(repr(item) for item in items)


def show(value: object) -> str:
    return repr(value) if isinstance(value, str) else f"{value!r} ({type(value).__name__})"


def optional_text(
    value: object, key: str, label: str, problems: list[str]
) -> tuple[bool, str | None]:
    """Check an optional string field: (valid, stripped text or None if absent)."""
    if value is None:
        return True, None
    if not isinstance(value, str) or not value.strip():
        problems.append(f"{key} in {label} must be a non-empty string, got {show(value)}")
        return False, None
    return True, value.strip()


def tables(
    data: Mapping[str, Any], key: str, problems: list[str]
) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Yield (label, table) for each entry of an array of tables."""
    entries = data.get(key, [])
    if not isinstance(entries, list):
        problems.append(f"{key!r} must be an array of tables ([[{key}]])")
        return
    for index, entry in enumerate(entries, start=1):
        label = f"{key} #{index}"
        if not isinstance(entry, Mapping):
            problems.append(f"{label} is not a table")
            continue
        yield label, entry


def check_keys(
    entry: Mapping[str, Any],
    label: str,
    allowed: frozenset[str],
    required: Sequence[str],
    problems: list[str],
) -> bool:
    ok = True
    unknown = sorted(set(entry) - allowed)
    if unknown:
        problems.append(f"unknown key(s) {quoted(unknown)} in {label}")
        ok = False
    missing = [key for key in required if key not in entry]
    if missing:
        problems.append(f"missing key(s) {quoted(missing)} in {label}")
        ok = False
    return ok


def check_address(
    value: object, label: str, first_use: dict[str, str], problems: list[str]
) -> str | None:
    """Validate and lower-case an address; record it to catch repeats."""
    if not isinstance(value, str):
        problems.append(f"malformed address {show(value)} in {label}: not a string")
        return None
    address = value.strip().lower()
    reason = address_problem(address)
    if reason is not None:
        problems.append(f"malformed address {value!r} in {label}: {reason}")
        return None
    if address in first_use:
        problems.append(
            f"duplicate address {address!r} in {label}; already in {first_use[address]}"
        )
        return None
    first_use[address] = label
    return address


def address_problem(address: str) -> str | None:
    """Why ``address`` is not a plausible bare addr-spec, or None."""
    if not address:
        return "empty"
    if any(char.isspace() for char in address):
        return "contains whitespace"
    bad = sorted({char for char in address if char in _ADDRESS_FORBIDDEN})
    if bad:
        return f"contains {''.join(bad)!r}; give the bare address without a display name"
    if address.count("@") != 1:
        return "must contain exactly one '@'"
    local, domain = address.split("@")
    if not local:
        return "empty local part"
    if local.startswith(".") or local.endswith(".") or ".." in local:
        return "misplaced '.' in local part"
    return domain_problem(domain)


def domain_problem(domain: str) -> str | None:
    """Why the domain of an address is not plausible, or None."""
    if domain == "localhost":
        return None
    if "." not in domain:
        return "domain must contain a '.' (or be 'localhost')"
    for label in domain.split("."):
        if not label:
            return "empty label in domain"
        if label.startswith("-") or label.endswith("-"):
            return f"domain label {label!r} starts or ends with '-'"
    return None
