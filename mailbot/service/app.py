"""The application context: settings, database, blob store and registries, built once.

Every command and the long-running service start by building one
:class:`App` from the frozen settings; the pipeline stages receive what they
need from it explicitly.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from mailbot.config import Settings
from mailbot.store.blobs import BlobStore
from mailbot.store.db import Engine, Session, make_engine, session_factory, sessionmaker


def read_toml(path: Path) -> dict[str, Any]:
    with open(path, "rb") as fh:
        return tomllib.load(fh)


@dataclass
class App:
    """What every stage of the flow may need, built lazily from the settings."""

    settings: Settings
    _engine: Engine | None = field(default=None, repr=False)

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = make_engine(self.settings.database_url)
        return self._engine

    @cached_property
    def sessions(self) -> sessionmaker[Session]:
        return session_factory(self.engine)

    @cached_property
    def blobs(self) -> BlobStore:
        return BlobStore(self.settings.blob_dir)

    def config_file(self, name: str) -> Path:
        return self.settings.path(name)

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
