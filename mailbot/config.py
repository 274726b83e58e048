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

import ipaddress
import os
import re
import tomllib
from collections.abc import Mapping
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
    """A setting is missing or wrong; the message says which key and what was expected."""


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
    mask_addresses: bool = False
    log_level: str = "INFO"
    states_file: str = "states.toml"
    focal_points_file: str = "focal_points.toml"
    forms_file: str = "forms.toml"
    instruments_file: str = "instruments.toml"
    ratifications_file: str = "ratifications.csv"
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


def _coerce(section: str, key: str, value: Any, default: Any, from_env: bool) -> Any:
    """Convert ``value`` to the type of ``default`` or raise a ConfigError naming the key."""
    where = f"{section}.{key}"
    bad = ConfigError(f"{where}: got {value!r}, expected {_expected(default)}")
    if isinstance(default, bool):
        if from_env and isinstance(value, str):
            low = value.strip().lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off"):
                return False
            raise bad
        if not isinstance(value, bool):
            raise bad
        return value
    if isinstance(default, int):
        if from_env and isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                raise bad from None
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad
        return value
    if isinstance(default, tuple):
        if from_env and isinstance(value, str):
            return tuple(v.strip() for v in value.split(",") if v.strip())
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise bad
        return tuple(value)
    if not isinstance(value, str):
        raise bad
    return value


def _is_loopback(host: str) -> bool:
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


def _check(settings: Settings) -> None:
    """Cross-field checks that a type alone cannot express."""
    for section in ("mailbox", "smtp"):
        obj = getattr(settings, section)
        if obj.tls not in TLS_MODES:
            raise ConfigError(f"{section}.tls: got {obj.tls!r}, expected one of starttls, tls, none")
        if obj.tls == "none" and not _is_loopback(obj.host):
            raise ConfigError(
                f"{section}.tls: got 'none' for host {obj.host!r}; plain text is allowed only "
                "for loopback hosts, expected starttls or tls"
            )
        if not 0 < obj.port < 65536:
            raise ConfigError(f"{section}.port: got {obj.port!r}, expected a port from 1 to 65535")
    if not settings.mailbox.user:
        raise ConfigError("mailbox.user: missing, expected the IMAP login of the desk's mailbox")
    if not settings.mailbox.password:
        raise ConfigError(
            "mailbox.password: missing secret, expected MAILBOT_MAILBOX__PASSWORD in the "
            "environment or mailbox.password_file"
        )
    if settings.smtp.user and not settings.smtp.password:
        raise ConfigError(
            "smtp.password: missing secret for smtp.user, expected MAILBOT_SMTP__PASSWORD "
            "in the environment or smtp.password_file"
        )
    for key, value in (("smtp.from_address", settings.smtp.from_address),
                       ("desk.secretariat_review", settings.desk.secretariat_review),
                       *((f"desk.addresses[{i}]", a) for i, a in enumerate(settings.desk.addresses))):
        if not _ADDR_RE.match(value):
            raise ConfigError(f"{key}: got {value!r}, expected an e-mail address")
    if not settings.desk.addresses:
        raise ConfigError("desk.addresses: empty, expected at least the desk's own address")
    if settings.policy.offender_state_reminders not in ("normal", "gentle", "never"):
        raise ConfigError(
            f"policy.offender_state_reminders: got {settings.policy.offender_state_reminders!r}, "
            "expected normal, gentle or never"
        )
    if not re.fullmatch(r"[A-Z][A-Z0-9]{1,9}", settings.desk.reference_prefix):
        raise ConfigError(
            f"desk.reference_prefix: got {settings.desk.reference_prefix!r}, expected 2 to 10 "
            "capital letters or digits, starting with a letter"
        )
    for key in ("cycle_opens_on", "cycle_deadline"):
        value = getattr(settings.policy, key)
        if value:
            try:
                date.fromisoformat(value)
            except ValueError:
                raise ConfigError(f"policy.{key}: got {value!r}, expected a date like 2028-05-15") from None
    if bool(settings.policy.cycle_session) != bool(settings.policy.cycle_opens_on and
                                                    settings.policy.cycle_deadline):
        raise ConfigError("policy.cycle_session: cycle_session, cycle_opens_on and cycle_deadline "
                          "go together; expected all three or none")
    for key in ("reasonable_period_days", "reminder_interval_days", "daily_cap_per_address",
                "max_attachment_size", "retry_base_seconds"):
        if getattr(settings.policy, key) <= 0:
            raise ConfigError(f"policy.{key}: got {getattr(settings.policy, key)!r}, expected > 0")


def build_settings(
    data: Mapping[str, Any],
    environ: Mapping[str, str],
    config_file: Path,
    check: bool = True,
) -> Settings:
    """Build settings from parsed TOML and an environment; raise ConfigError on any problem."""
    unknown = set(data) - set(_SECTIONS)
    if unknown:
        name = sorted(unknown)[0]
        raise ConfigError(f"{name}: unknown section, expected one of {', '.join(_SECTIONS)}")
    built: dict[str, Any] = {}
    for section, cls in _SECTIONS.items():
        raw = data.get(section, {})
        if not isinstance(raw, Mapping):
            raise ConfigError(f"{section}: expected a table")
        defaults = cls()
        names = {f.name for f in fields(cls)}
        values: dict[str, Any] = {}
        for key, value in raw.items():
            if key not in names:
                raise ConfigError(f"{section}.{key}: unknown key, expected one of {', '.join(sorted(names))}")
            if (section, key) in _SECRETS:
                raise ConfigError(
                    f"{section}.{key}: secrets do not belong in the file; set "
                    f"{ENV_PREFIX}{section.upper()}__{key.upper()} or {section}.password_file"
                )
            values[key] = _coerce(section, key, value, getattr(defaults, key), from_env=False)
        prefix = f"{ENV_PREFIX}{section.upper()}__"
        for env_key, env_value in environ.items():
            if not env_key.startswith(prefix):
                continue
            key = env_key[len(prefix):].lower()
            if key not in names:
                raise ConfigError(f"{env_key}: unknown key {section}.{key}")
            values[key] = _coerce(section, key, env_value, getattr(defaults, key), from_env=True)
        obj = cls(**values)
        if section in ("mailbox", "smtp"):
            obj = _read_secret(section, obj)
        built[section] = obj
    for env_key in environ:
        if env_key.startswith(ENV_PREFIX) and "__" in env_key:
            section = env_key[len(ENV_PREFIX):].split("__", 1)[0].lower()
            if section not in _SECTIONS:
                raise ConfigError(f"{env_key}: unknown section {section!r}")
    settings = Settings(config_file=config_file.resolve(), **built)
    if check:
        _check(settings)
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
) -> Settings:
    """Read, merge and check the settings once, at start-up."""
    env = os.environ if environ is None else environ
    path = path or config_path(env)
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"configuration file {str(path)!r} not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    return build_settings(data, env, path, check=check)


def with_overrides(settings: Settings, **sections: Mapping[str, Any]) -> Settings:
    """A copy of ``settings`` with some values replaced (for the demo and for tests)."""
    changes: dict[str, Any] = {}
    for section, values in sections.items():
        changes[section] = replace(getattr(settings, section), **values)
    return replace(settings, **changes)
