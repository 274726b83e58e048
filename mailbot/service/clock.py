"""The one place that reads the wall clock; everything else receives ``now``.

Times are naive UTC throughout (the database stores them without a zone, and
SQLite would drop one anyway), so comparisons never mix aware and naive values.
"""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)
