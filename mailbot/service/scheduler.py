"""APScheduler wiring: timers only.  The database holds what is due.

Jobs have fixed ids and ``replace_existing=True``; ``misfire_grace_time`` is
``None`` and ``coalesce`` is on, so a job missed while the service was down
runs once when it comes back instead of being silently dropped (APScheduler
3.11's default grace of one second would drop it).  The jobs: the obligation
sweep, the outbox dispatch (also woken at once after each intake batch), the
reporting-cycle dates and the Secretariat's daily digest.  Nothing is lost
if a job never runs: the next sweep finds the same rows due.  The scheduler
knows the jobs only through :class:`Jobs`, which the running service
(``service.runner``) provides; it imports nothing of the service.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from mailbot.config import PolicySettings

log = logging.getLogger("mailbot.scheduler")

JOB_DEFAULTS = {"misfire_grace_time": None, "coalesce": True, "max_instances": 1}


class Jobs(Protocol):
    """What the timers trigger: the running service provides these (``service.runner``)."""

    def sweep(self) -> int: ...

    def digest(self) -> bool: ...

    def open_cycles(self) -> int: ...

    async def dispatch_all(self) -> Any: ...


def build_scheduler(jobs: Jobs, policy: PolicySettings) -> Any:
    """An AsyncIOScheduler (on the running loop) with the desk's jobs; not yet started."""
    scheduler = AsyncIOScheduler(job_defaults=JOB_DEFAULTS, timezone="UTC")

    def sweep() -> None:
        jobs.sweep()

    def digest() -> None:
        jobs.digest()

    def cycles() -> None:
        jobs.open_cycles()

    async def dispatch() -> None:
        await jobs.dispatch_all()

    scheduler.add_job(sweep, IntervalTrigger(seconds=policy.sweep_interval), id="sweep-obligations",
                      replace_existing=True, next_run_time=_soon())
    scheduler.add_job(dispatch, IntervalTrigger(seconds=policy.dispatch_interval),
                      id="dispatch-outbox", replace_existing=True)
    scheduler.add_job(cycles, IntervalTrigger(hours=1), id="cycle-dates", replace_existing=True,
                      next_run_time=_soon())
    scheduler.add_job(digest, CronTrigger(hour=policy.digest_hour, minute=0), id="daily-digest",
                      replace_existing=True)
    return scheduler


def _soon() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)
