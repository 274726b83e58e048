"""Statements that intake runs for every message, compiled once and run on the DBAPI cursor.

Place in the flow: the store's lowest layer under :mod:`mailbot.store.repo`.
Intake runs about ten statements for every message it files (its location
and key checks, its row, the report's incident and submission, the outbox
rows and their recipients, the message's outcome).  SQLAlchemy's execution
layer (parameter processing, the result object, events) cost about three
times what SQLite takes to run such a statement.  A :class:`Direct`
statement is a SQLAlchemy Core statement compiled once per dialect, with its
parameters' type processors (dates on SQLite, JSON everywhere) looked up at
that time; it then runs on the session's own DBAPI connection, inside the
session's transaction, as SQLAlchemy itself would run it.

Result values go through their types' processors as SQLAlchemy's would
(dates on SQLite, JSON).  Nothing here commits; nothing here flushes the session (as with Core statements on
``session.connection()``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.expression import Executable

#: ``session.info`` key of the (dialect, DBAPI connection) of the session's transaction
_RAW = "direct_connection"


_NO_DEFAULT = object()


@dataclass(frozen=True)
class _Compiled:
    sql: str
    #: one slot per placeholder, in order (SQLite) or by name (PostgreSQL):
    #: (name in the SQL, the caller's key, its type's processor, its default or _NO_DEFAULT)
    slots: tuple[tuple[str, str, Callable[[Any], Any] | None, Any], ...]
    positional: bool
    #: per result column, its type's processor (None: the driver's value is the value)
    results: tuple[Callable[[Any], Any] | None, ...]


class Direct:
    """A Core statement compiled once per dialect and run on the transaction's DBAPI cursor.

    ``column_keys`` names the columns an INSERT or UPDATE without explicit
    values sets: every row given must carry those keys (other keys are
    ignored), and the table's other columns take their constant defaults.
    """

    def __init__(self, statement: Executable, column_keys: Sequence[str] | None = None) -> None:
        self.statement: Any = statement  # an Executable ClauseElement (Insert, Update, Select)
        self.column_keys = list(column_keys) if column_keys is not None else None
        self._compiled: dict[str, _Compiled] = {}

    def _for(self, dialect: Dialect) -> _Compiled:
        found = self._compiled.get(dialect.name)
        if found is None:
            found = self._compiled[dialect.name] = self._compile(dialect)
        return found

    def _compile(self, dialect: Dialect) -> _Compiled:
        compiled: Any = self.statement.compile(dialect=dialect, column_keys=self.column_keys)
        if compiled.literal_execute_params or compiled.post_compile_params:
            raise TypeError("a direct statement cannot have expanding or literal-execute parameters")
        results = tuple(column.type.dialect_impl(dialect).result_processor(dialect, None)
                        for column in getattr(self.statement, "exported_columns", ()))
        key_of = {name: bind.key for bind, name in compiled.bind_names.items()}
        defaults: dict[str, Any] = {}
        processors: dict[str, Callable[[Any], Any]] = {}
        for bind in compiled.bind_names:
            if not bind.required:
                defaults[bind.key] = bind.effective_value
            proc = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if proc is not None:
                processors[bind.key] = proc
        # columns the statement does not set, with a Python-side default: SQLAlchemy computes
        # them at each execution; a constant is taken here, anything else must be given
        for column in [*compiled.insert_prefetch, *compiled.update_prefetch]:
            default = column.onupdate if column in compiled.update_prefetch else column.default
            if default is None or not default.is_scalar:
                raise TypeError(f"a direct statement must set {column} (its default is computed)")
            defaults[column.key] = default.arg
        names = compiled.positiontup if dialect.positional else list(key_of)
        slots = tuple((name, key_of[name], processors.get(key_of[name]),
                       defaults.get(key_of[name], _NO_DEFAULT)) for name in names)
        return _Compiled(sql=compiled.string, slots=slots, positional=dialect.positional,
                         results=results if any(results) else ())

    @staticmethod
    def _parameters(c: _Compiled, params: Mapping[str, Any]) -> Any:
        """The DBAPI parameters: a missing parameter without a default is a bug (KeyError)."""
        values = [params[key] if default is _NO_DEFAULT else params.get(key, default)
                  for _name, key, _proc, default in c.slots]
        for i, (_name, _key, proc, _default) in enumerate(c.slots):
            if proc is not None:
                values[i] = proc(values[i])
        if c.positional:
            return values
        return {slot[0]: value for slot, value in zip(c.slots, values, strict=True)}

    def _execute(self, session: Session, params: Mapping[str, Any]) -> tuple[Any, _Compiled]:
        dialect, dbapi = _raw(session)
        c = self._for(dialect)
        cur = dbapi.cursor()
        cur.execute(c.sql, self._parameters(c, params))
        return cur, c

    @staticmethod
    def _row(c: _Compiled, row: Sequence[Any]) -> tuple[Any, ...]:
        if not c.results:
            return tuple(row)
        return tuple(proc(value) if proc is not None else value
                     for proc, value in zip(c.results, row, strict=True))

    def first(self, session: Session, params: Mapping[str, Any]) -> tuple[Any, ...] | None:
        cur, c = self._execute(session, params)
        try:
            row = cur.fetchone()
        finally:
            cur.close()
        return self._row(c, row) if row is not None else None

    def scalar(self, session: Session, params: Mapping[str, Any]) -> Any:
        row = self.first(session, params)
        return row[0] if row is not None else None

    def all(self, session: Session, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        cur, c = self._execute(session, params)
        try:
            return [self._row(c, r) for r in cur.fetchall()]
        finally:
            cur.close()

    def run(self, session: Session, params: Mapping[str, Any]) -> None:
        self._execute(session, params)[0].close()

    def run_many(self, session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
        """Run once per row.  SQLite takes them in one ``executemany``; other databases go
        through SQLAlchemy, which batches them in multi-row statements."""
        if not rows:
            return
        dialect, dbapi = _raw(session)
        if dialect.name != "sqlite":
            keys = self.column_keys
            session.connection().execute(
                self.statement, [{k: r[k] for k in keys} for r in rows] if keys else list(rows))
            return
        c = self._for(dialect)
        cur = dbapi.cursor()
        try:
            cur.executemany(c.sql, [self._parameters(c, r) for r in rows])
        finally:
            cur.close()


def _raw(session: Session) -> tuple[Dialect, Any]:
    """The dialect and DBAPI connection of the session's transaction (begun if need be)."""
    raw: tuple[Dialect, Any] | None = session.info.get(_RAW)
    if raw is None:
        conn = session.connection()
        raw = session.info[_RAW] = (conn.dialect, conn.connection.dbapi_connection)
    return raw


def _forget(session: Session, _transaction: Any) -> None:
    session.info.pop(_RAW, None)


def track(factory: sessionmaker[Session]) -> None:
    """Forget a session's DBAPI connection when its transaction ends (the next one may get
    another connection from the pool)."""
    event.listen(factory, "after_transaction_end", _forget)
