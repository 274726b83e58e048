"""Settings: read once from ``config/mailbot.toml`` plus the environment, checked, frozen.

Every command starts by calling :func:`load_settings`; the resulting frozen
:class:`Settings` is passed explicitly to whatever needs it.  A wrong value
fails here, at start-up, with a message naming the key, the value and what
was expected, never later in the middle of the flow.

Environment variables override any key: ``MAILBOT_<SECTION>__<KEY>`` (upper
case, a double underscore between section and key), for example
``MAILBOT_SMTP__PORT=2525`` or ``MAILBOT_POLICY__REASONABLE_PERIOD_DAYS=60``.
Secrets never need to be in the file: ``MAILBOT_MAILBOX__PASSWORD`` and
``MAILBOT_SMTP__PASSWORD``, or ``password_file`` pointing at a file that holds
the password.  ``MAILBOT_CONFIG`` names the configuration file itself.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = REPO_ROOT / "config" / "mailbot.toml"
ENV_PREFIX = "MAILBOT_"
TLS_MODES = ("starttls", "tls", "none")
_ADDR_RE = re.compile(r"^[^@\s<>,;\"]+@[A-Za-z0-9.-]+$")


class ConfigError(Exception):
    """Settings are missing or wrong: one line per problem, each naming the file (or the
    environment variable), the key and what was expected."""

    @property
    def problems(self) -> list[str]:
        return [str(a) for a in self.args]

    def __str__(self) -> str:
        return "\n".join(self.problems)


@dataclass(frozen=True)
class MailboxSettings:
    """The IMAP mailbox the desk watches (the Secretariat's reporting address)."""

    host: str = "127.0.0.1"
    port: int = 993
    tls: str = "tls"
    user: str = ""
    password: str = field(default="", repr=False)
    password_file: str = ""
    ca_file: str = ""
    inbox: str = "INBOX"
    processed: str = "Processed"
    quarantine: str = "Quarantine"
    ignored: str = "Ignored"
    batch_size: int = 100
    poll_interval: int = 180
    idle_renew: int = 1500
    timeout: int = 30
    max_message_size: int = 35 * 1024 * 1024
    parse_ahead: bool = True


@dataclass(frozen=True)
class SmtpSettings:
    """The SMTP server the outbox sends through."""

    host: str = "127.0.0.1"
    port: int = 587
    tls: str = "starttls"
    user: str = ""
    password: str = field(default="", repr=False)
    password_file: str = ""
    ca_file: str = ""
    from_address: str = "mailbot@example.test"
    from_name: str = "United Nations Secretariat, Office of Legal Affairs"
    timeout: int = 30
    batch_size: int = 200


@dataclass(frozen=True)
class DatabaseSettings:
    """Where filed data lives: an SQLite file by default, or any SQLAlchemy URL."""

    url: str = ""


@dataclass(frozen=True)
class StorageSettings:
    """The data directory: the SQLite file, the blob store and the demo's mail."""

    data_dir: str = "../var"


@dataclass(frozen=True)
class DeskSettings:
    """Who the desk is: its addresses, its identity in headers, its references."""

    addresses: tuple[str, ...] = ("mailbot@example.test",)
    secretariat_review: str = "secretariat@example.test"
    msgid_domain: str = "mailbot.example.test"
    loop_header: str = "X-Mailbot-Loop"
    loop_value: str = "mailbot"
    reference_prefix: str = "DCM"
    authserv_ids: tuple[str, ...] = ()
    trusted_relays: tuple[str, ...] = ()  # our hosts whose Received stand above the border's
    dkim_check: bool = True  # the desk checks DKIM itself when our servers gave no verdict
    dns_timeout: int = 5  # seconds, for the desk's DKIM key look-ups
    mask_addresses: bool = False
    log_level: str = "INFO"
    states_file: str = "states.toml"
    focal_points_file: str = "focal_points.toml"
    forms_file: str = "forms.toml"
    instruments_file: str = "instruments.toml"
    templates_dir: str = ""


@dataclass(frozen=True)
class PolicySettings:
    """Policy values the Secretariat may tune without a code change."""

    reasonable_period_days: int = 90
    reminder_interval_days: int = 30
    max_reminders: int = 3
    offender_state_reminders: str = "gentle"  # normal | gentle | never
    daily_cap_per_address: int = 20
    max_attachment_size: int = 20 * 1024 * 1024
    max_attachments_total: int = 30 * 1024 * 1024
    blocked_extensions: tuple[str, ...] = (
        "exe", "com", "bat", "cmd", "scr", "pif", "msi", "msp", "vbs", "vbe", "js", "jse",
        "wsf", "wsh", "ps1", "hta", "cpl", "jar", "dll", "lnk", "reg", "iso", "img",
    )
    circulation_attachment_limit: int = 5 * 1024 * 1024
    count_confidential_in_report: bool = False
    digest_hour: int = 7
    dispatch_interval: int = 30
    sweep_interval: int = 3600
    retry_base_seconds: int = 60
    retry_max_attempts: int = 8
    same_incident_place_similarity: int = 80
    circulation_grace_hours: int = 48
    confirmation_hours: int = 72  # how long a confirmation request's token stays valid
    reports_per_state_per_day: int = 5  # more from one State in 24 h are held for review
    cycle_session: int = 0
    cycle_opens_on: str = ""
    cycle_deadline: str = ""


@dataclass(frozen=True)
class Settings:
    """Every setting of one deployment, frozen after the checks in :func:`load_settings`."""

    config_file: Path
    mailbox: MailboxSettings = MailboxSettings()
    smtp: SmtpSettings = SmtpSettings()
    database: DatabaseSettings = DatabaseSettings()
    storage: StorageSettings = StorageSettings()
    desk: DeskSettings = DeskSettings()
    policy: PolicySettings = PolicySettings()

    def path(self, value: str) -> Path:
        """Resolve a path setting: relative paths are relative to the configuration file."""
        return _resolve(self.config_file, value)

    @property
    def data_dir(self) -> Path:
        return self.path(self.storage.data_dir)

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "blobs"

    @property
    def database_url(self) -> str:
        if self.database.url:
            return self.database.url
        return f"sqlite:///{self.data_dir / 'mailbot.db'}"

    @property
    def templates_dir(self) -> Path:
        if self.desk.templates_dir:
            return self.path(self.desk.templates_dir)
        return REPO_ROOT / "templates"


_SECTIONS: dict[str, type] = {
    "mailbox": MailboxSettings,
    "smtp": SmtpSettings,
    "database": DatabaseSettings,
    "storage": StorageSettings,
    "desk": DeskSettings,
    "policy": PolicySettings,
}
_SECRETS = {("mailbox", "password"), ("smtp", "password")}


@lru_cache(maxsize=256)
def _resolve(config_file: Path, value: str) -> Path:
    """A path setting made absolute (settings ask for the same few paths for every message)."""
    p = Path(value).expanduser()
    return p if p.is_absolute() else (config_file.parent / p).resolve()


def _expected(default: Any) -> str:
    if isinstance(default, bool):
        return "true or false"
    if isinstance(default, int):
        return "a whole number"
    if isinstance(default, tuple):
        return "a list of strings"
    return "a string"


class _Bad(Exception):
    """A value that does not fit its setting's type (the caller names the key)."""


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def _to_bool(value: Any, from_env: bool) -> bool:
    if from_env and isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
        return value.strip().lower() in _TRUE
    if not isinstance(value, bool):
        raise _Bad
    return value


def _to_int(value: Any, from_env: bool) -> int:
    if from_env and isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            raise _Bad from None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Bad
    return value


def _to_strings(value: Any, from_env: bool) -> tuple[str, ...]:
    if from_env and isinstance(value, str):
        return tuple(v.strip() for v in value.split(",") if v.strip())
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _Bad
    return tuple(value)


def _to_str(value: Any, from_env: bool) -> str:
    if not isinstance(value, str):
        raise _Bad
    return value


def _coerce(section: str, key: str, value: Any, default: Any, from_env: bool) -> Any:
    """Convert ``value`` to the type of ``default`` or raise a ConfigError naming the key."""
    convert = (_to_bool if isinstance(default, bool) else _to_int if isinstance(default, int)
               else _to_strings if isinstance(default, tuple) else _to_str)
    try:
        return convert(value, from_env)
    except _Bad:
        raise ConfigError(f"{section}.{key}: got {value!r}, expected {_expected(default)}") from None


def _is_loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _read_secret(section: str, obj: Any) -> Any:
    """Fill ``password`` from ``password_file`` when the environment did not give it."""
    if obj.password or not obj.password_file:
        return obj
    path = Path(obj.password_file).expanduser()
    try:
        secret = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(
            f"{section}.password_file: cannot read {str(path)!r} ({exc.strerror}); "
            "expected a readable file holding the password"
        ) from None
    return replace(obj, password=secret)


def _did_you_mean(word: str, choices: Iterable[str]) -> str:
    """``; did you mean X?`` for the closest of ``choices``, or nothing when none is close."""
    import difflib

    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.7)
    return f"; did you mean {close[0]}?" if close else ""


def _check_servers(settings: Settings) -> list[str]:
    problems = []
    for section in ("mailbox", "smtp"):
        obj = getattr(settings, section)
        if obj.tls not in TLS_MODES:
            problems.append(f"{section}.tls: got {obj.tls!r}, expected one of starttls, tls, none")
        elif obj.tls == "none" and not _is_loopback(obj.host):
            problems.append(
                f"{section}.tls: got 'none' for host {obj.host!r}; plain text is allowed only "
                "for loopback hosts, expected starttls or tls")
        if not 0 < obj.port < 65536:
            problems.append(f"{section}.port: got {obj.port!r}, expected a port from 1 to 65535")
    return problems


def _check_secrets(settings: Settings) -> list[str]:
    """What a command that connects to the mail servers needs: the login and its secrets."""
    problems = []
    if not settings.mailbox.user:
        problems.append("mailbox.user: missing, expected the IMAP login of the desk's mailbox")
    if not settings.mailbox.password:
        problems.append("mailbox.password: missing secret, expected MAILBOT_MAILBOX__PASSWORD in "
                        "the environment or mailbox.password_file")
    if settings.smtp.user and not settings.smtp.password:
        problems.append("smtp.password: missing secret for smtp.user, expected "
                        "MAILBOT_SMTP__PASSWORD in the environment or smtp.password_file")
    return problems


def _check_desk(settings: Settings) -> list[str]:
    problems = []
    for key, value in (("smtp.from_address", settings.smtp.from_address),
                       ("desk.secretariat_review", settings.desk.secretariat_review),
                       *((f"desk.addresses[{i}]", a) for i, a in enumerate(settings.desk.addresses))):
        if not _ADDR_RE.match(value):
            problems.append(f"{key}: got {value!r}, expected an e-mail address")
    if not settings.desk.addresses:
        problems.append("desk.addresses: empty, expected at least the desk's own address")
    if not re.fullmatch(r"[A-Z][A-Z0-9]{1,9}", settings.desk.reference_prefix):
        problems.append(f"desk.reference_prefix: got {settings.desk.reference_prefix!r}, expected "
                        "2 to 10 capital letters or digits, starting with a letter")
    return problems


def _check_policy(policy: PolicySettings) -> list[str]:
    problems = []
    if policy.offender_state_reminders not in ("normal", "gentle", "never"):
        problems.append(f"policy.offender_state_reminders: got {policy.offender_state_reminders!r}, "
                        "expected normal, gentle or never")
    for key in ("cycle_opens_on", "cycle_deadline"):
        value = getattr(policy, key)
        if value and not _is_date(value):
            problems.append(f"policy.{key}: got {value!r}, expected a date like 2028-05-15")
    if bool(policy.cycle_session) != bool(policy.cycle_opens_on and policy.cycle_deadline):
        problems.append("policy.cycle_session: cycle_session, cycle_opens_on and cycle_deadline "
                        "go together; expected all three or none")
    for key in ("reasonable_period_days", "reminder_interval_days", "daily_cap_per_address",
                "max_attachment_size", "retry_base_seconds"):
        if getattr(policy, key) <= 0:
            problems.append(f"policy.{key}: got {getattr(policy, key)!r}, expected > 0")
    return problems


def _is_date(value: str) -> bool:
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _check(settings: Settings, secrets: bool = True) -> list[str]:
    """Cross-field checks that a type alone cannot express; every problem found, in order."""
    return [*_check_servers(settings), *(_check_secrets(settings) if secrets else []),
            *_check_desk(settings), *_check_policy(settings.policy)]


def _file_values(section: str, cls: type, raw: Mapping[str, Any], problems: list[str]) -> dict[str, Any]:
    """The values of one section of the file, each checked; problems are appended."""
    defaults = cls()
    names = {f.name for f in fields(cls)}
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in names:
            problems.append(f"{section}.{key}: unknown key{_did_you_mean(key, names)}")
        elif (section, key) in _SECRETS:
            problems.append(f"{section}.{key}: secrets do not belong in the file; set "
                            f"{ENV_PREFIX}{section.upper()}__{key.upper()} or {section}.password_file")
        else:
            try:
                values[key] = _coerce(section, key, value, getattr(defaults, key), from_env=False)
            except ConfigError as exc:
                problems.append(str(exc))
    return values


def _env_values(section: str, cls: type, environ: Mapping[str, str], problems: list[str]) -> dict[str, Any]:
    """The values the environment gives one section (``MAILBOT_SECTION__KEY``)."""
    defaults = cls()
    names = {f.name for f in fields(cls)}
    prefix = f"{ENV_PREFIX}{section.upper()}__"
    values: dict[str, Any] = {}
    for env_key, env_value in environ.items():
        if not env_key.startswith(prefix):
            continue
        key = env_key[len(prefix):].lower()
        if key not in names:
            hint = _did_you_mean(key, names)
            problems.append(f"{env_key}: unknown key {section}.{key}{hint}")
            continue
        try:
            values[key] = _coerce(section, key, env_value, getattr(defaults, key), from_env=True)
        except ConfigError as exc:
            problems.append(f"{env_key}: {exc}")
    return values


def _unknown_sections(data: Mapping[str, Any], environ: Mapping[str, str]) -> list[str]:
    problems = [f"{name}: unknown section{_did_you_mean(name, _SECTIONS)}, expected one of "
                f"{', '.join(_SECTIONS)}" for name in sorted(set(data) - set(_SECTIONS))]
    for env_key in environ:
        if env_key.startswith(ENV_PREFIX) and "__" in env_key:
            section = env_key[len(ENV_PREFIX):].split("__", 1)[0].lower()
            if section not in _SECTIONS:
                problems.append(f"{env_key}: unknown section {section!r}"
                                f"{_did_you_mean(section, _SECTIONS)}")
    return problems


def _section(section: str, cls: type, data: Mapping[str, Any], environ: Mapping[str, str],
             problems: list[str]) -> Any:
    raw = data.get(section, {})
    if not isinstance(raw, Mapping):
        problems.append(f"{section}: expected a table")
        raw = {}
    values = _file_values(section, cls, raw, problems)
    values.update(_env_values(section, cls, environ, problems))
    obj = cls(**values)
    if section in ("mailbox", "smtp"):
        try:
            obj = _read_secret(section, obj)
        except ConfigError as exc:
            problems.append(str(exc))
    return obj


def build_settings(
    data: Mapping[str, Any],
    environ: Mapping[str, str],
    config_file: Path,
    check: bool = True,
    secrets: bool | None = None,
) -> Settings:
    """Build settings from parsed TOML and an environment; raise one ConfigError listing every
    problem.  ``check`` runs the cross-field checks; ``secrets`` (default: as ``check``) also
    demands the mailbox login and passwords, which only commands that connect need."""
    problems = _unknown_sections(data, environ)
    built = {section: _section(section, cls, data, environ, problems)
             for section, cls in _SECTIONS.items()}
    settings = Settings(config_file=config_file.resolve(), **built)
    if check:
        problems += _check(settings, check if secrets is None else secrets)
    if problems:
        raise ConfigError(*(p if p.startswith(ENV_PREFIX) else f"{config_file}: {p}"
                            for p in problems))
    return settings


def config_path(environ: Mapping[str, str] | None = None, explicit: str | None = None) -> Path:
    """The configuration file: ``--config``, else ``MAILBOT_CONFIG``, else ``config/mailbot.toml``."""
    env = os.environ if environ is None else environ
    if explicit:
        return Path(explicit)
    return Path(env.get("MAILBOT_CONFIG", str(DEFAULT_CONFIG)))


def load_settings(
    path: Path | None = None,
    environ: Mapping[str, str] | None = None,
    check: bool = True,
    secrets: bool | None = None,
) -> Settings:
    """Read, merge and check the settings once, at start-up (see :func:`build_settings`)."""
    env = os.environ if environ is None else environ
    path = path or config_path(env)
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"configuration file {str(path)!r} not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    return build_settings(data, env, path, check=check, secrets=secrets)


def with_overrides(settings: Settings, **sections: Mapping[str, Any]) -> Settings:
    """A copy of ``settings`` with some values replaced (for the demo and for tests)."""
    changes: dict[str, Any] = {}
    for section, values in sections.items():
        changes[section] = replace(getattr(settings, section), **values)
    return replace(settings, **changes)
